/** file: a regular file with exactly this content (and mode/owner), or no file at all. */
import { sh } from '../net/shell.ts'
import { ArgError, TaskFailed, task, type Change, type Resource, type Task } from '../engine/types.ts'
import {
  displayContent,
  fileUndo,
  metaChanges,
  mustSucceed,
  needAbsPath,
  needMode,
  needOneOf,
  needOwner,
  readFile,
  writeFileScript,
  type FileState,
} from '../engine/taskkit.ts'
import { argSpec, parseArgs } from '../argspec.ts'

export interface FileArgs {
  path: string
  /** Required with state 'present'. */
  content?: string | Buffer
  /** Default: keep the existing mode; 0644 for a new file. */
  mode?: number | string
  /** 'user' or 'user:group'. Default: keep (new files: the connecting/become user). */
  owner?: string
  state?: 'present' | 'absent'
}

export const FILE_SPEC = argSpec(
  'file',
  {
    path: { type: 'path', parse: needAbsPath, required: true },
    content: { type: 'raw', check: (c: unknown) => (typeof c === 'string' || Buffer.isBuffer(c) ? undefined : 'a string or a Buffer'), desc: "required with state 'present'" },
    mode: { type: 'raw', parse: needMode, desc: 'default: keep the existing mode; 0644 for a new file' },
    owner: { type: 'str', parse: needOwner, desc: "'user' or 'user:group'" },
    state: { type: 'str', choices: ['present', 'absent'], default: 'present' },
  },
  { required_if: [['state', 'present', ['content']]] },
)

export function file(args: FileArgs): Task<FileState> {
  const a = args ?? ({} as FileArgs)
  const state = a.state ?? 'present'
  let path = a.path
  let mode: string | undefined
  let content: Buffer = Buffer.alloc(0)

  const resource: Resource<FileState> = {
    module: 'file',
    name: `file ${a.path}${state === 'absent' ? ' absent' : ''}`,
    validate() {
      const p = parseArgs(FILE_SPEC, a)
      path = p.path
      if (p.state === 'present') content = Buffer.isBuffer(p.content) ? p.content : Buffer.from(p.content as string, 'utf8')
      mode = p.mode as string | undefined
    },
    readAhead: true,
    async read(ctx) {
      const s = await readFile(ctx, path)
      if (s.kind === 'dir' || s.kind === 'other') throw new TaskFailed(`${path} exists and is not a regular file (${s.kind === 'dir' ? 'directory' : s.type})`)
      if (s.kind === 'toolarge') throw new TaskFailed(`${path} is larger than 8 MiB: file() manages small files only`)
      return s
    },
    diff(s) {
      if (state === 'absent') return s.kind === 'file' ? [{ what: `remove ${path}`, before: displayContent(s.content), after: '' }] : []
      if (s.kind === 'absent') {
        const out: Change[] = [{ what: `create ${path}`, before: '', after: displayContent(content) }]
        out.push({ what: 'mode', after: mode ?? '0644' })
        if (a.owner) out.push({ what: 'owner', after: a.owner })
        return out
      }
      if (s.kind !== 'file') return []
      const out: Change[] = []
      if (!s.content.equals(content)) out.push({ what: `content ${path}`, before: displayContent(s.content), after: displayContent(content) })
      return out.concat(metaChanges(s, mode, a.owner))
    },
    undo(s) {
      return fileUndo(path, s)
    },
    async apply(ctx, s, changes) {
      if (state === 'absent') {
        mustSucceed(await ctx.run(sh`rm -f -- ${path}`), `removing ${path}`)
        return
      }
      if (s.kind === 'absent' || changes.some((c) => c.what.startsWith('content '))) {
        const m = mode ?? (s.kind === 'file' ? s.mode : '0644')
        const owner = a.owner ?? (s.kind === 'file' ? `${s.uid}:${s.gid}` : undefined)
        mustSucceed(await ctx.run(writeFileScript(path, m, owner, content, a.owner === undefined)), `writing ${path}`)
        return
      }
      const cmds: string[] = []
      if (mode && changes.some((c) => c.what === 'mode')) cmds.push(sh`chmod ${mode} -- ${path}`)
      if (a.owner && changes.some((c) => c.what === 'owner')) cmds.push(sh`chown ${a.owner} -- ${path}`)
      if (cmds.length) mustSucceed(await ctx.run(cmds.join(' && ')), `setting mode/owner of ${path}`)
    },
  }
  return task(resource)
}
