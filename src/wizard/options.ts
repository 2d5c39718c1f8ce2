/** The wizard's flags and environment, what its question groups share, and the flags' syntax checks. */
import { homedir, userInfo } from 'node:os'
import { isAbsolute, join, relative, resolve } from 'node:path'
import { UsageError } from '../errors.ts'
import { networkOf, parseCidr4 } from '../net/ip.ts'
import type { Asker } from './ask.ts'
import type { StagedKnownHosts } from './hostkey.ts'
import { GROUP } from './render.ts'
import { portProblem, validUser } from './sources.ts'
import { STRATEGIES } from './suggest.ts'

export interface WizardOptions {
  /** --host [name=][user@]address[:port], repeatable. */
  host?: string[]
  user?: string
  port?: string
  key?: string
  /** ssh config to read (imports and resolution); default ~/.ssh/config. */
  sshConfig?: string
  /** Hosts to import from the ssh config: comma-separated Host names, or all. */
  sshHosts?: string
  /** Import `vagrant ssh-config`: true runs it, a string is a file holding its output. */
  vagrant?: string | boolean
  knownHosts?: string
  acceptHostKeys?: boolean
  strategy?: string
  clusterCidr?: string
  overlayCidr?: string
  vxlanVni?: string
  vxlanPort?: string
  /** Encrypt between the hosts: the wireguard strategy. */
  encrypt?: boolean
  lanPool?: string
  lanGateway?: string
  bridgeName?: string
  ovsBridge?: string
  containerImage?: string
  containerPull?: string
  format?: string
  out?: string
  force?: boolean
  run?: string
  playbook?: string
  yes?: boolean
  /** Seconds for each SSH connect. */
  connectTimeout?: string
}

export interface WizardEnv {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?(m: boolean): unknown }
  stdout: NodeJS.WritableStream & { isTTY?: boolean }
  stderr: NodeJS.WritableStream
  cwd: string
  /** Runs `orch run ...` (default: spawns bin/orch.js with the terminal inherited); resolves to its exit code. */
  runOrch?(args: string[]): Promise<number>
  /** A child `orch run` is under way (SIGINT is then its to handle). */
  onChild?(running: boolean): void
  /** The files were written (a cancellation after this point leaves them). */
  onWritten?(paths: string[]): void
}

export const c = (on: boolean) => ({
  bold: (s: string) => (on ? `\x1b[1m${s}\x1b[22m` : s),
  dim: (s: string) => (on ? `\x1b[2m${s}\x1b[22m` : s),
  green: (s: string) => (on ? `\x1b[32m${s}\x1b[39m` : s),
  yellow: (s: string) => (on ? `\x1b[33m${s}\x1b[39m` : s),
  red: (s: string) => (on ? `\x1b[31m${s}\x1b[39m` : s),
})

export function localUser(): string {
  try {
    return userInfo().username
  } catch {
    return process.env.USER ?? 'root'
  }
}

export const expandHome = (p: string) => p.replace(/^~(?=\/|$)/, homedir())

export function absFrom(cwd: string, p: string): string {
  return isAbsolute(expandHome(p)) ? expandHome(p) : resolve(cwd, p)
}

export function validCidrNet(s: string, maxPrefix = 30): true | string {
  const c = parseCidr4(s)
  if (!c) return 'expected an IPv4 network like 10.244.0.0/16'
  if (c.addr !== c.network) return `host bits set: the network is ${networkOf(c)}`
  if (c.prefix > maxPrefix) return `too small: at most /${maxPrefix}`
  return true
}

/** Checks of the flags' syntax, before anything else happens. */
export function checkFlags(o: WizardOptions): void {
  const bad = (flag: string, v: unknown, expected: string) => new UsageError(`${flag} ${JSON.stringify(v)}: expected ${expected}`)
  if (o.port !== undefined && portProblem(String(o.port))) throw bad('--port', o.port, 'an integer from 1 to 65535')
  if (o.user !== undefined && !validUser(o.user)) throw bad('--user', o.user, 'a user name')
  if (o.strategy !== undefined && !(STRATEGIES as readonly string[]).includes(o.strategy)) throw bad('--strategy', o.strategy, STRATEGIES.join('|'))
  if (o.encrypt && o.strategy !== undefined && o.strategy !== 'wireguard') throw new UsageError(`--encrypt: the encrypted strategy is wireguard, not --strategy ${o.strategy}`)
  if (o.format !== undefined && !['ini', 'yaml'].includes(o.format)) throw bad('--format', o.format, 'ini|yaml')
  if (o.run !== undefined && !['check', 'apply', 'none'].includes(o.run)) throw bad('--run', o.run, 'check|apply|none')
  if (o.containerPull !== undefined && !['never', 'missing'].includes(o.containerPull)) throw bad('--container-pull', o.containerPull, 'never|missing')
  for (const [flag, v, max] of [
    ['--cluster-cidr', o.clusterCidr, 24],
    ['--overlay-cidr', o.overlayCidr, 30],
    ['--lan-pool', o.lanPool, 30],
  ] as const) {
    if (v === undefined) continue
    const r = validCidrNet(v, max)
    if (r !== true) throw new UsageError(`${flag} ${JSON.stringify(v)}: ${r}`)
  }
  if (o.vxlanVni !== undefined && !(/^\d+$/.test(o.vxlanVni) && +o.vxlanVni >= 1 && +o.vxlanVni <= 16777215)) throw bad('--vxlan-vni', o.vxlanVni, 'an integer from 1 to 16777215')
  if (o.vxlanPort !== undefined && portProblem(o.vxlanPort)) throw bad('--vxlan-port', o.vxlanPort, 'an integer from 1 to 65535')
  if (o.connectTimeout !== undefined && !(/^\d+$/.test(o.connectTimeout) && +o.connectTimeout >= 1)) throw bad('--connect-timeout', o.connectTimeout, 'seconds (an integer >= 1)')
  if (o.lanGateway !== undefined && !/^\d{1,3}(\.\d{1,3}){3}$/.test(o.lanGateway)) throw bad('--lan-gateway', o.lanGateway, 'an IPv4 address')
  for (const [flag, v] of [
    ['--bridge-name', o.bridgeName],
    ['--ovs-bridge', o.ovsBridge],
  ] as const) {
    if (v !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/.test(v)) throw bad(flag, v, 'an interface name (1-15 characters)')
  }
}

export function outputPaths(cwd: string, out: string, format: string): { inventory: string; groupVars: string } {
  const dir = absFrom(cwd, out)
  return { inventory: join(dir, format === 'yaml' ? 'hosts.yml' : 'hosts.ini'), groupVars: join(dir, 'group_vars', `${GROUP}.yml`) }
}

/** A path as shown to the user: relative to cwd when below it. */
export const relFrom = (cwd: string) => (f: string) => (relative(cwd, f).startsWith('..') ? f : relative(cwd, f))

export type Color = ReturnType<typeof c>

/** What every question group of one wizard run shares. */
export interface WizardCtx {
  o: WizardOptions
  env: WizardEnv
  ask: Asker
  interactive: boolean
  /** Private temp directory of this run (staged known_hosts, a saved vagrant ssh-config). */
  staging: string
  say: (s?: string) => void
  color: Color
  kh: StagedKnownHosts
  knownHostsTarget: string
  defaultKnownHosts: string
  sshConfigPath: string | undefined
  connectTimeoutMs: number
}
