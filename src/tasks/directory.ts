/** directory: a directory present (with mode/owner) or absent. */
import { posix } from 'node:path'
import { quote, sh } from '../net/shell.ts'
import { TaskFailed, task, type Change, type Resource, type Task, type Undo } from '../engine/types.ts'
import { metaChanges, mustSucceed, needAbsPath, needMode, needOwner, type Meta } from '../engine/taskkit.ts'
import { argSpec, parseArgs } from '../argspec.ts'

export interface DirectoryArgs {
  path: string
  /** Mode of the directory itself (parents created on the way get the default). */
  mode?: number | string
  owner?: string
  state?: 'present' | 'absent'
}

type DirState =
  | ({ kind: 'dir'; empty: boolean } & Meta)
  | { kind: 'absent'; /** deepest ancestor that exists */ existing: string }
  | { kind: 'other'; type: string }

export const DIRECTORY_SPEC = argSpec('directory', {
  path: { type: 'path', parse: needAbsPath, required: true },
  mode: { type: 'raw', parse: needMode, desc: 'mode of the directory itself (parents created on the way get the default)' },
  owner: { type: 'str', parse: needOwner, desc: "'user' or 'user:group'" },
  state: { type: 'str', choices: ['present', 'absent'], default: 'present' },
})

export function directory(args: DirectoryArgs): Task<DirState> {
  const a = args ?? ({} as DirectoryArgs)
  const state = a.state ?? 'present'
  let path = a.path
  let mode: string | undefined

  /** Directories mkdir -p creates, deepest first. */
  const created = (existing: string): string[] => {
    const out: string[] = []
    for (let d = path; d !== existing && d !== '/' && d !== '.'; d = posix.dirname(d)) out.push(d)
    return out
  }

  const resource: Resource<DirState> = {
    module: 'directory',
    name: `directory ${a.path}${state === 'absent' ? ' absent' : ''}`,
    validate() {
      const p = parseArgs(DIRECTORY_SPEC, a)
      path = p.path
      mode = p.mode
    },
    readAhead: true,
    async read(ctx) {
      const p = quote(path)
      const script =
        // Emptiness by globbing and the nearest existing parent by parameter expansion: builtins, not ls/dirname.
        `if [ -d ${p} ] && [ ! -L ${p} ]; then echo "dir $(stat -c '%a %U %G %u %g' -- ${p})"; ` +
        `e=empty; for f in ${p}/* ${p}/.[!.]* ${p}/..?*; do if [ -e "$f" ] || [ -L "$f" ]; then e=full; break; fi; done; echo $e; ` +
        `elif [ -e ${p} ] || [ -L ${p} ]; then echo "other $(stat -c %F -- ${p})"; ` +
        `else d=${p}; while [ ! -e "$d" ] && [ "$d" != / ]; do d=\${d%/*}; d=\${d:-/}; done; echo absent; printf '%s\\n' "$d"; fi`
      const out = mustSucceed(await ctx.run(script), `reading ${path}`).stdout.split('\n')
      const [kind, ...f] = out[0].trim().split(' ')
      if (kind === 'dir') return { kind, mode: f[0].padStart(4, '0'), owner: f[1], group: f[2], uid: f[3], gid: f[4], empty: out[1]?.trim() === 'empty' }
      if (kind === 'absent') return { kind, existing: out[1] ?? '/' }
      if (kind === 'other') return { kind, type: f.join(' ') }
      throw new TaskFailed(`unexpected output reading ${path}: ${out[0]}`)
    },
    diff(s) {
      if (s.kind === 'other') throw new TaskFailed(`${path} exists and is not a directory (${s.type})`)
      if (state === 'absent') return s.kind === 'dir' ? [{ what: `remove directory ${path}${s.empty ? '' : ' and everything in it'}` }] : []
      if (s.kind === 'absent') {
        const out: Change[] = [{ what: `create directory ${path}`, before: 'absent', after: 'directory' }]
        if (mode) out.push({ what: 'mode', after: mode })
        if (a.owner) out.push({ what: 'owner', after: a.owner })
        return out
      }
      return metaChanges(s, mode, a.owner)
    },
    undo(s): Undo | null {
      if (s.kind === 'absent' && state === 'present') {
        const dirs = created(s.existing)
        return { description: `remove ${dirs.join(', ')} (created; only if still empty)`, script: sh`rmdir -- ${dirs}` }
      }
      if (s.kind === 'dir' && state === 'absent') {
        if (s.empty) return { description: `recreate empty directory ${path}`, script: sh`mkdir -p -- ${path} && chmod ${s.mode} ${path} && chown ${`${s.uid}:${s.gid}`} ${path}` }
        return {
          description: `restore directory ${path} from the copy saved before removal`,
          backup: sh`cp -a -- ${path} "$ORCH_BACKUP"`,
          script: sh`rm -rf -- ${path} && cp -a -- "$ORCH_BACKUP" ${path}`,
        }
      }
      if (s.kind === 'dir') return { description: `restore mode ${s.mode} and owner ${s.owner}:${s.group} of ${path}`, script: sh`chmod ${s.mode} ${path} && chown ${`${s.uid}:${s.gid}`} ${path}` }
      return null
    },
    async apply(ctx, s) {
      if (state === 'absent') {
        mustSucceed(await ctx.run(sh`rm -rf -- ${path}`), `removing ${path}`)
        return
      }
      const cmds: string[] = []
      // A new directory gets its mode from mkdir -m (one process, not mkdir + chmod); parents it creates get
      // the default mode, as with mkdir -p then chmod.
      if (s.kind === 'absent') cmds.push(mode ? sh`mkdir -p -m ${mode} -- ${path}` : sh`mkdir -p -- ${path}`)
      else if (mode) cmds.push(sh`chmod ${mode} ${path}`)
      if (a.owner) cmds.push(sh`chown ${a.owner} ${path}`)
      mustSucceed(await ctx.run(cmds.join(' && ')), `${s.kind === 'absent' ? 'creating' : 'updating'} ${path}`)
    },
  }
  return task(resource)
}
