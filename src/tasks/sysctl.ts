/**
 * sysctl: a kernel parameter at runtime (/proc/sys) and, with persist, in /etc/sysctl.d/<file>.conf.
 * One round trip reads both; the plan is a sysctl step and a file step (model/runtime.ts renders apply
 * and undo: the old runtime value and the old file come back).
 */
import { ArgError, TaskFailed } from '../errors.ts'
import { argSpec, parseArgs } from '../argspec.ts'
import type { Task } from '../engine/types.ts'
import { fileReader, normalizeWords, procPath, sysctlReader } from '../model/facts.ts'
import { compose, mapReader } from '../model/read.ts'
import type { Step } from '../model/steps.ts'
import { plannedTask, type Planned } from '../model/task.ts'
import { editLines } from './lineinfile.ts'

export { procPath } from '../model/facts.ts'

export interface SysctlArgs {
  /** 'net.ipv4.ip_forward' (or the slash form 'net/ipv4/conf/eth0.100/forwarding'). */
  name: string
  value: string | number | boolean
  /** true (default): /etc/sysctl.d/99-orch.conf; a string: /etc/sysctl.d/<string>.conf; false: runtime only. */
  persist?: boolean | string
}

/** The arguments checked and typed. */
export interface Sysctl {
  name: string
  value: string
  /** /etc/sysctl.d/<name>.conf, or undefined (runtime only). */
  confFile?: string
}

export const SYSCTL_NAME = /^[a-z0-9_.\-/]+$/
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

function sysctlName(variable: string, name: unknown): string {
  if (typeof name !== 'string' || !SYSCTL_NAME.test(name) || /(^[./])|([./]$)|\.\.|\/\//.test(name))
    throw new ArgError(variable, "a sysctl name like 'net.ipv4.ip_forward' (^[a-z0-9_.\\-/]+$)", name)
  return name
}

function sysctlPersist(variable: string, persist: unknown): boolean | string {
  if (typeof persist === 'string' && !/^[A-Za-z0-9_.-]+$/.test(persist.replace(/\.conf$/, '')))
    throw new ArgError(variable, "true, false or a file name like '60-forwarding' (for /etc/sysctl.d/<name>.conf)", persist)
  if (typeof persist !== 'string' && typeof persist !== 'boolean') throw new ArgError(variable, 'a boolean or a file name', persist)
  return persist
}

export const SYSCTL_SPEC = argSpec('sysctl', {
  name: { type: 'str', required: true, parse: sysctlName, desc: "'net.ipv4.ip_forward' (or the slash form)" },
  value: {
    type: 'scalar',
    required: true,
    expected: 'a number, a boolean or a one-line string',
    check: (x: string | number | boolean) => (typeof x === 'string' && (x.trim() === '' || /[\n\0]/.test(x)) ? 'a number, a boolean or a one-line string' : undefined),
  },
  persist: { type: 'raw', parse: sysctlPersist, default: true, desc: 'true: /etc/sysctl.d/99-orch.conf; a string: /etc/sysctl.d/<string>.conf; false: runtime only' },
})

export function parseSysctlArgs(args: SysctlArgs): Sysctl {
  const { name, value: val, persist } = parseArgs(SYSCTL_SPEC, args)
  return {
    name,
    value: normalizeWords(typeof val === 'boolean' ? (val ? '1' : '0') : String(val)),
    ...(persist === false ? {} : { confFile: `/etc/sysctl.d/${persist === true ? '99-orch' : persist.replace(/\.conf$/, '')}.conf` }),
  }
}

export const sysctlFacts = (a: Sysctl) => compose({ runtime: sysctlReader(a.name), ...(a.confFile ? { conf: fileReader(a.confFile) } : {}) })
type SysctlFacts = { runtime: string | null; conf?: import('../engine/taskkit.ts').FileState }

/** Pure: the runtime step that brings the host's facts to the arguments. */
export function planSysctl(f: SysctlFacts, a: Sysctl, host: string): Step[] {
  if (f.runtime === null) throw new TaskFailed(`unknown sysctl ${a.name} (no ${procPath(a.name)} on ${host})`, { rc: 4 })
  return f.runtime !== a.value ? [{ kind: 'sysctl', name: a.name, value: a.value, before: f.runtime }] : []
}

/** Pure: the conf file in /etc/sysctl.d (written at commit: systemd-sysctl applies it at boot). */
export function persistSysctl(f: SysctlFacts, a: Sysctl): Step[] {
  const steps: Step[] = []
  if (a.confFile && f.conf) {
    const conf = f.conf
    if (conf.kind !== 'file' && conf.kind !== 'absent') throw new TaskFailed(`${a.confFile} is not a regular file`)
    const before = conf.kind === 'file' ? conf.content.toString('utf8') : ''
    const content = editLines(before, { line: `${a.name} = ${a.value}`, regexp: new RegExp(`^\\s*-?${escapeRe(a.name)}\\s*=`), state: 'present' })
    if (conf.kind === 'absent' || content !== before)
      steps.push({
        kind: 'file',
        path: a.confFile,
        content,
        mode: conf.kind === 'file' ? conf.mode : '0644',
        ...(conf.kind === 'file' ? { owner: `${conf.uid}:${conf.gid}`, keepOwner: true } : {}),
        mkdir: '/etc/sysctl.d',
        before: conf,
      })
  }
  return steps
}

export function sysctl(name: string, value: string | number | boolean, opts?: { persist?: boolean | string }): Task<Planned<SysctlFacts>>
export function sysctl(args: SysctlArgs): Task<Planned<SysctlFacts>>
export function sysctl(a: string | SysctlArgs, v?: string | number | boolean, o?: { persist?: boolean | string }): Task<Planned<SysctlFacts>> {
  const args: SysctlArgs = typeof a === 'string' ? { name: a, value: v as SysctlArgs['value'], persist: o?.persist } : (a ?? ({} as SysctlArgs))
  return plannedTask<Sysctl, SysctlFacts>({
    module: 'sysctl',
    name: `sysctl ${args.name}=${String(args.value)}`,
    parseArgs: () => parseSysctlArgs(args),
    reader: (x) => mapReader(sysctlFacts(x), (f) => f as SysctlFacts),
    reading: (x) => `reading sysctl ${x.name}`,
    plan: planSysctl,
    persist: persistSysctl,
    applying: (x) => `setting ${x.name}`,
    readAhead: true,
  })
}
