/**
 * sysctl: a kernel parameter at runtime (/proc/sys) and, with persist, in /etc/sysctl.d/<file>.conf.
 * One round trip to read both; undo restores the old runtime value and the old file.
 */
import { quote, sh } from '../net/shell.ts'
import { ArgError, TaskFailed, task, type Change, type Resource, type Task, type Undo } from '../engine/types.ts'
import {
  displayContent,
  fileUndo,
  mustSucceed,
  parseFileState,
  readFileScript,
  sectionMark,
  splitSections,
  writeFileScript,
  type FileState,
} from '../engine/taskkit.ts'
import { editLines } from './lineinfile.ts'

export interface SysctlArgs {
  /** 'net.ipv4.ip_forward' (or the slash form 'net/ipv4/conf/eth0.100/forwarding'). */
  name: string
  value: string | number | boolean
  /** true (default): /etc/sysctl.d/99-orch.conf; a string: /etc/sysctl.d/<string>.conf; false: runtime only. */
  persist?: boolean | string
}

interface SysctlState {
  runtime: string
  conf?: FileState
}

export const SYSCTL_NAME = /^[a-z0-9_.\-/]+$/
const normalize = (v: string) => v.trim().split(/\s+/).join(' ')
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** /proc/sys path of a sysctl name: dots separate unless the name uses slashes (then dots are literal). */
export function procPath(name: string): string {
  return '/proc/sys/' + (name.includes('/') ? name : name.replace(/\./g, '/'))
}

export function sysctl(name: string, value: string | number | boolean, opts?: { persist?: boolean | string }): Task<SysctlState>
export function sysctl(args: SysctlArgs): Task<SysctlState>
export function sysctl(a: string | SysctlArgs, v?: string | number | boolean, o?: { persist?: boolean | string }): Task<SysctlState> {
  const args: SysctlArgs = typeof a === 'string' ? { name: a, value: v as SysctlArgs['value'], persist: o?.persist } : (a ?? ({} as SysctlArgs))
  const name = args.name
  const want = () => normalize(typeof args.value === 'boolean' ? (args.value ? '1' : '0') : String(args.value))
  const persist = args.persist ?? true
  const confFile = persist === false ? undefined : `/etc/sysctl.d/${persist === true ? '99-orch' : String(persist).replace(/\.conf$/, '')}.conf`
  const lineRe = () => new RegExp(`^\\s*-?${escapeRe(name)}\\s*=`)
  const confLine = () => `${name} = ${want()}`

  const newConf = (s: SysctlState): string | undefined => {
    if (!confFile || !s.conf) return undefined
    const before = s.conf.kind === 'file' ? s.conf.content.toString('utf8') : ''
    return editLines(before, { line: confLine(), regexp: lineRe(), state: 'present' })
  }

  const resource: Resource<SysctlState> = {
    module: 'sysctl',
    name: `sysctl ${name}=${String(args.value)}`,
    validate() {
      if (typeof name !== 'string' || !SYSCTL_NAME.test(name) || /(^[./])|([./]$)|\.\.|\/\//.test(name))
        throw new ArgError('sysctl.name', "a sysctl name like 'net.ipv4.ip_forward' (^[a-z0-9_.\\-/]+$)", name)
      const val = args.value
      if (!(typeof val === 'number' && Number.isFinite(val)) && typeof val !== 'boolean' && !(typeof val === 'string' && val.trim() !== '' && !/[\n\0]/.test(val)))
        throw new ArgError('sysctl.value', 'a number, a boolean or a one-line string', val)
      if (typeof persist === 'string' && !/^[A-Za-z0-9_.-]+$/.test(persist.replace(/\.conf$/, '')))
        throw new ArgError('sysctl.persist', "true, false or a file name like '60-forwarding' (for /etc/sysctl.d/<name>.conf)", persist)
      if (typeof persist !== 'string' && typeof persist !== 'boolean') throw new ArgError('sysctl.persist', 'a boolean or a file name', persist)
    },
    readAhead: true,
    async read(ctx) {
      const p = quote(procPath(name))
      // cat, not the shell's read: dash reads a byte at a time, and /proc/sys files answer a read at an
      // offset past 0 with end-of-file (ip_local_port_range would read as "3").
      let script = `if [ -r ${p} ]; then cat ${p} || exit 3; else echo "orch: no such sysctl" >&2; exit 4; fi`
      if (confFile) script += `; ${sectionMark}; ${readFileScript(confFile)}`
      const r = await ctx.run(script)
      if (r.code === 4) throw new TaskFailed(`unknown sysctl ${name} (no ${procPath(name)} on ${ctx.host.name})`, { rc: r.code, stderr: r.stderr })
      mustSucceed(r, `reading sysctl ${name}`)
      const [runtime, conf] = splitSections(r.stdout)
      const s: SysctlState = { runtime: normalize(runtime) }
      if (confFile) {
        s.conf = parseFileState(conf ?? '', confFile)
        if (s.conf.kind !== 'file' && s.conf.kind !== 'absent') throw new TaskFailed(`${confFile} is not a regular file`)
      }
      return s
    },
    diff(s) {
      const out: Change[] = []
      if (s.runtime !== want()) out.push({ what: `${name} (runtime)`, before: s.runtime, after: want() })
      const nc = newConf(s)
      if (confFile && nc !== undefined) {
        const before = s.conf?.kind === 'file' ? s.conf.content.toString('utf8') : ''
        if (s.conf?.kind === 'absent' || nc !== before) out.push({ what: `${s.conf?.kind === 'absent' ? 'create' : 'content'} ${confFile}`, before: displayContent(before), after: displayContent(nc) })
      }
      return out
    },
    undo(s, changes): Undo | null {
      const parts: string[] = []
      const desc: string[] = []
      if (changes.some((c) => c.what.endsWith('(runtime)'))) {
        parts.push(sh`printf '%s\\n' ${s.runtime} > ${procPath(name)}`)
        desc.push(`${name}=${s.runtime}`)
      }
      if (confFile && s.conf && changes.some((c) => c.what.endsWith(confFile))) {
        const u = fileUndo(confFile, s.conf)
        if (u) {
          parts.push(u.script)
          desc.push(u.description)
        }
      }
      return parts.length ? { description: desc.join('; '), script: parts.join(' && ') } : null
    },
    async apply(ctx, s, changes) {
      const parts: string[] = []
      let stdin: string | undefined
      if (changes.some((c) => c.what.endsWith('(runtime)'))) parts.push(sh`printf '%s\\n' ${want()} > ${procPath(name)}`)
      if (confFile && changes.some((c) => c.what.endsWith(confFile))) {
        stdin = newConf(s)
        const owner = s.conf?.kind === 'file' ? `${s.conf.uid}:${s.conf.gid}` : undefined
        parts.push(sh`mkdir -p /etc/sysctl.d`, writeFileScript(confFile, s.conf?.kind === 'file' ? s.conf.mode : '0644', owner, undefined, true))
      }
      mustSucceed(await ctx.run(parts.join(' && '), stdin !== undefined ? { stdin } : {}), `setting ${name}`)
    },
  }
  return task(resource)
}
