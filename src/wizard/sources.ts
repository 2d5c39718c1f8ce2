/**
 * Where the wizard's hosts come from: `--host [name=][user@]address[:port]`, the Host entries of an ssh
 * config file, or `vagrant ssh-config` output (ssh config syntax too). Pure parsing, plus reading files
 * and running `vagrant ssh-config` when asked to.
 */
import { execFile } from 'node:child_process'
import { accessSync, constants, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import SSHConfig from 'ssh-config'
import { UsageError } from '../errors.ts'
import { readWithIncludes } from '../transport/options.ts'

/** One host as the user named it, before anything is resolved or connected. */
export interface HostEntry {
  /** Inventory name asked for (name= in --host, the ssh config alias); else chosen from the facts. */
  name?: string
  /** What ssh is called with: an address, a DNS name or an ssh config alias. */
  address: string
  user?: string
  port?: number
  /** Private key file. */
  key?: string
  source: 'flag' | 'typed' | 'ssh-config' | 'vagrant'
  /** ssh config that resolves `address` (vagrant: the saved ssh-config output). */
  sshConfigPath?: string | null
}

const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/
const USER_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/
const HOST_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}$/

export function isValidInventoryName(s: string): boolean {
  return NAME_RE.test(s)
}

export function validAddress(s: string): boolean {
  return HOST_RE.test(s) || (/^[0-9a-fA-F:.]+$/.test(s) && s.includes(':'))
}

export function validUser(s: string): boolean {
  return USER_RE.test(s)
}

/** Why a port string is not a port, or null. */
export function portProblem(s: string): string | null {
  if (!/^\d{1,5}$/.test(s) || Number(s) < 1 || Number(s) > 65535) return 'a port is an integer from 1 to 65535'
  return null
}

/**
 * `[name=][user@]address[:port]`; IPv6 addresses in brackets: `root@[fd00::1]:2222`.
 * Throws UsageError naming the flag and what was expected.
 */
export function parseHostSpec(spec: string, flag = '--host'): HostEntry {
  const bad = (why: string) => new UsageError(`${flag} ${JSON.stringify(spec)}: ${why} (expected [name=][user@]address[:port])`)
  let s = spec.trim()
  const e: HostEntry = { address: '', source: 'flag' }
  const eq = s.indexOf('=')
  if (eq >= 0) {
    const name = s.slice(0, eq)
    if (!isValidInventoryName(name)) throw bad(`inventory name ${JSON.stringify(name)}: letters, digits, _ . - only`)
    e.name = name
    s = s.slice(eq + 1)
  }
  const at = s.lastIndexOf('@')
  if (at >= 0) {
    const user = s.slice(0, at)
    if (!validUser(user)) throw bad(`user ${JSON.stringify(user)} is not a valid user name`)
    e.user = user
    s = s.slice(at + 1)
  }
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(s)
  let port: string | undefined
  if (v6) {
    e.address = v6[1]
    port = v6[2]
  } else {
    const m = /^([^:]+)(?::(\d*))?$/.exec(s)
    if (!m) throw bad('an IPv6 address needs brackets: [fd00::1]:22')
    e.address = m[1]
    port = m[2]
  }
  if (!e.address || !validAddress(e.address)) throw bad(`address ${JSON.stringify(e.address)} is not a host name or IP address`)
  if (port !== undefined) {
    const p = portProblem(port)
    if (p) throw bad(p)
    e.port = Number(port)
  }
  return e
}

/** Text of an ssh config with its Include lines spliced in, read exactly as the transport reads it. */
function readConfigText(path: string): string {
  try {
    return readWithIncludes(path, homedir()) ?? ''
  } catch (e) {
    throw new UsageError((e as Error).message)
  }
}

export interface ConfigHost {
  /** The Host pattern (an alias without wildcards). */
  alias: string
  hostName?: string
  user?: string
  port?: string
}

/** Host entries of ssh config text that name one host (no *, ?, ! patterns), in file order. */
export function configHostsFromText(text: string): ConfigHost[] {
  let cfg: ReturnType<typeof SSHConfig.parse>
  try {
    cfg = SSHConfig.parse(text)
  } catch (e) {
    throw new UsageError(`cannot parse ssh config: ${(e as Error).message}`)
  }
  const out: ConfigHost[] = []
  const seen = new Set<string>()
  for (const section of cfg) {
    const s = section as unknown as { param?: string; value: unknown; config?: Array<{ param?: string; value?: unknown }> }
    if (s.param?.toLowerCase() !== 'host') continue
    const values = Array.isArray(s.value) ? s.value.map((v: { val: string }) => v.val) : [String(s.value)]
    const get = (k: string) => {
      const line = s.config?.find((c) => c.param?.toLowerCase() === k)
      return line && typeof line.value === 'string' ? line.value : undefined
    }
    for (const alias of values) {
      if (!alias || /[*?!]/.test(alias) || seen.has(alias)) continue
      seen.add(alias)
      out.push({ alias, hostName: get('hostname'), user: get('user'), port: get('port') })
    }
  }
  return out
}

export function configHosts(path: string): ConfigHost[] {
  return configHostsFromText(readConfigText(path))
}

/** Pick hosts from a list by comma-separated names or `all`; unknown names are an error. */
export function selectConfigHosts(all: ConfigHost[], names: string, flag: string, file: string): ConfigHost[] {
  if (names.trim() === 'all') {
    if (!all.length) throw new UsageError(`${flag} all: ${file} names no host (Host entries without wildcards)`)
    return all
  }
  const wanted = names.split(',').map((s) => s.trim()).filter(Boolean)
  if (!wanted.length) throw new UsageError(`${flag}: expected comma-separated Host names from ${file}, or all`)
  const missing = wanted.filter((w) => !all.some((h) => h.alias === w))
  if (missing.length) {
    throw new UsageError(`${flag}: ${missing.join(', ')} not found in ${file} (it names: ${all.map((h) => h.alias).join(', ') || 'no host'})`)
  }
  return wanted.map((w) => all.find((h) => h.alias === w)!)
}

/** Is a command on PATH? */
export function onPath(cmd: string, path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(':').filter(Boolean)) {
    const p = join(dir, cmd)
    try {
      accessSync(p, constants.X_OK)
      return p
    } catch {
      /* not here */
    }
  }
  return null
}

/**
 * `vagrant ssh-config` output: from a file (`--vagrant FILE`), else by running the command in `cwd`
 * when vagrant is installed. Throws UsageError with what to do otherwise.
 */
export async function vagrantSshConfig(file: string | undefined, cwd: string): Promise<{ text: string; origin: string }> {
  if (file) {
    try {
      return { text: readFileSync(file, 'utf8'), origin: file }
    } catch (e) {
      throw new UsageError(`--vagrant ${file}: ${(e as Error).message}`)
    }
  }
  if (!onPath('vagrant')) {
    throw new UsageError('--vagrant: vagrant is not installed here; save `vagrant ssh-config` output where it is and pass --vagrant FILE')
  }
  const text = await new Promise<string>((resolve, reject) => {
    execFile('vagrant', ['ssh-config'], { cwd, timeout: 120_000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new UsageError(`vagrant ssh-config failed in ${cwd}: ${(stderr || err.message).trim().split('\n').slice(-3).join(' / ')}`))
      else resolve(stdout)
    })
  })
  return { text, origin: `vagrant ssh-config (in ${cwd})` }
}
