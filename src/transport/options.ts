/**
 * What a connection needs, and how it is resolved like Ansible + OpenSSH do it: explicit inventory
 * values (ansible_host/port/user/...) win, then ssh_common_args (`-o Key=Value`, `-J`, `-p`, ...),
 * then ~/.ssh/config (Host patterns, first value wins), then OpenSSH's defaults.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { basename, dirname, isAbsolute, join, resolve } from 'node:path'
import type { HostKeyChecking } from './known-hosts.ts'
import { mapSshArgs, shellSplit, type SshArgs } from './sshargs.ts'
import { matchPattern, SshConfigError } from './sshconfig.ts'
import { expandIdentityFile, proxyCommandLine, proxyJumpList, sshSettings, type SshSettings } from './sshsettings.ts'
import { localInfo } from './sshtokens.ts'

export type { HostKeyChecking }

export type PassphraseSource = string | ((keyFile: string) => string | undefined | Promise<string | undefined>)

export interface ConnectOptions {
  /** Inventory name (messages, pool key). */
  hostName: string
  /** ansible_host: what ssh is called with; ~/.ssh/config Host patterns match this. */
  address: string
  port?: number
  user?: string
  privateKeyFile?: string
  /** ansible_password: password / keyboard-interactive auth. */
  password?: string
  /** Passphrase for encrypted private keys, or a callback asked once per key file. */
  passphrase?: PassphraseSource
  /** ansible_ssh_common_args: `-o ProxyJump=..`, `-J`, `-o StrictHostKeyChecking=..`, `-o UserKnownHostsFile=..`, `-p`, `-l`, `-i`, `-F`. */
  sshCommonArgs?: string | string[]
  /** Run commands as root through sudo when the login user is not root. */
  become?: boolean
  becomePassword?: string
  /** ansible_become_user (default root) and ansible_become_method (default sudo). */
  becomeUser?: string
  becomeMethod?: 'sudo' | 'su'
  /** ansible_connection: 'local' runs on the controller (transport/local.ts); default ssh. */
  connection?: 'ssh' | 'local'
  /** Leave undefined to let sshCommonArgs / ~/.ssh/config (StrictHostKeyChecking) decide; default strict. */
  hostKeyChecking?: HostKeyChecking | boolean
  /** Replaces UserKnownHostsFile (the first one is where accept-new writes). */
  knownHostsFiles?: string[]
  /** Replaces GlobalKnownHostsFile (default /etc/ssh/ssh_known_hosts, read only). */
  globalKnownHostsFiles?: string[]
  /** TCP connect + SSH handshake + auth (default 10 s, or ConnectTimeout from the config). */
  connectTimeoutMs?: number
  /** ssh config file; default ~/.ssh/config; null: none. A missing file is fine. */
  sshConfigPath?: string | null
  /** System ssh config; default /etc/ssh/ssh_config when neither sshConfigPath nor -F is given (as ssh); null: none. */
  systemSshConfigPath?: string | null
  /** Default 5000 ms / 3 (ServerAliveInterval / ServerAliveCountMax from the config if set). */
  keepaliveIntervalMs?: number
  keepaliveCountMax?: number
  /** Connect attempts after the first one, on network failures only (default 2). */
  retries?: number
  /** First backoff delay, doubled per attempt (default 300 ms). */
  retryDelayMs?: number
  /** ssh-agent socket; default IdentityAgent from the config, else $SSH_AUTH_SOCK; null: no agent. */
  agentSocket?: string | null
  /** Home directory for ~ and default files (default os.homedir()). */
  homeDir?: string
  debug?: (message: string) => void
}

/** One SSH hop, fully resolved. */
export interface ResolvedHop {
  /** As given (jump spec or address), for messages. */
  spec: string
  host: string
  port: number
  user: string
  identityFiles: string[]
  /** IdentityFile came from the options/args/config (otherwise the defaults are used). */
  identityFilesExplicit: boolean
  identitiesOnly: boolean
  agentSocket: string | null
  knownHostsFiles: string[]
  globalKnownHostsFiles: string[]
  hostKeyAlias?: string
  hostKeyChecking: HostKeyChecking
  hashKnownHosts: boolean
  connectTimeoutMs: number
  keepaliveIntervalMs: number
  keepaliveCountMax: number
  /** Jump hosts, first hop first. */
  proxyJump: string[]
  proxyCommand?: string
  /** Local address to connect from (BindAddress / -b), like OpenSSH. */
  bindAddress?: string
  /** -4 / -6 / AddressFamily. */
  family?: 4 | 6
}

// ---------------------------------------------------------------------------------------------
// ssh args (sshargs.ts) in the old shape: lower-cased keys -> values, for messages and tests.

export { shellSplit }

/** ssh options given on the "command line", lower-cased keys, in order (first value wins, like OpenSSH). */
export type ArgOptions = Record<string, string[]>

export function parseSshArgs(args: string | string[] | undefined): ArgOptions {
  const a = mapSshArgs(args)
  const out: ArgOptions = {}
  for (const [k, v] of a.cmdline) (out[k] ??= []).push(v.join(' '))
  if (a.configFile) out['__configfile'] = [a.configFile]
  return out
}

/** Text of a config file with its `Include`s spliced in, for the wizard's list of Host aliases (globs; relative to ~/.ssh as ssh). */
export function readWithIncludes(path: string, home: string, depth = 0): string | null {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw new Error(`cannot read ssh config ${path}: ${(e as Error).message}`)
  }
  if (depth > 16) throw new Error(`ssh config ${path}: Include nested too deeply`)
  return text.replace(/^[ \t]*include[ \t=]+(.+)$/gim, (_line, args: string) => {
    const parts: string[] = []
    for (const arg of shellSplit(args)) {
      let p = arg.replace(/^~(?=\/|$)/, home)
      if (!isAbsolute(p)) p = join(home, '.ssh', p)
      const dir = dirname(p)
      const base = basename(p)
      let files: string[]
      if (/[*?]/.test(base)) {
        try {
          files = readdirSync(dir)
            .filter((f) => matchPattern(f, base))
            .sort()
            .map((f) => join(dir, f))
        } catch {
          files = []
        }
      } else files = [p]
      for (const f of files) {
        const t = readWithIncludes(f, home, depth + 1)
        if (t !== null) parts.push(`# included from ${f}\n${t}`)
      }
    }
    return parts.join('\n')
  })
}

export function normalizeChecking(v: string | boolean | undefined): HostKeyChecking | undefined {
  if (v === undefined) return undefined
  if (v === true) return 'strict'
  if (v === false) return 'off'
  switch (v.toLowerCase()) {
    case 'strict':
    case 'yes':
    case 'ask':
    case 'true':
      return 'strict'
    case 'accept-new':
      return 'accept-new'
    // OpenSSH's "no" would also connect despite a changed key; orch never does that except with off.
    case 'no':
    case 'off':
    case 'false':
      return 'off'
    default:
      throw new Error(`StrictHostKeyChecking: expected yes|accept-new|no, got ${JSON.stringify(v)}`)
  }
}

export function parseJumpSpec(spec: string): { host: string; port?: number; user?: string } {
  let s = spec.trim().replace(/^ssh:\/\//, '')
  let user: string | undefined
  const at = s.lastIndexOf('@')
  if (at >= 0) {
    user = s.slice(0, at)
    s = s.slice(at + 1)
  }
  let host = s
  let port: number | undefined
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s)
  if (v6) {
    host = v6[1]
    port = v6[2] ? Number(v6[2]) : undefined
  } else {
    const m = /^([^:]+):(\d+)$/.exec(s)
    if (m) {
      host = m[1]
      port = Number(m[2])
    }
  }
  if (!host) throw new Error(`bad ProxyJump host: ${JSON.stringify(spec)}`)
  return { host, port, user }
}

export interface HopRequest {
  /** What ssh is called with (address, or a jump host spec's host). */
  host: string
  port?: number
  user?: string
  privateKeyFile?: string
  /** Command-line options that apply to this hop. */
  args: SshArgs
  /** Explicit ProxyJump for this hop (a -J list's earlier hops). */
  proxyJump?: string[]
}

const TO_CHECKING: Record<string, HostKeyChecking> = { true: 'strict', ask: 'strict', false: 'off', 'accept-new': 'accept-new' }
/** The key types ssh2 can use, among ssh's default IdentityFiles (in ssh's order). */
const USABLE_DEFAULT_KEYS = ['~/.ssh/id_rsa', '~/.ssh/id_ecdsa', '~/.ssh/id_ed25519']

/** The ssh config (sshconfig.ts) for one hop: explicit values first on the "command line", as Ansible puts them. */
export function hopSettings(req: HopRequest, base: ConnectOptions): SshSettings {
  const local = localInfo(base.homeDir)
  const userConfig = req.args.configFile ?? (base.sshConfigPath === undefined ? join(local.home, '.ssh', 'config') : base.sshConfigPath)
  // ssh reads /etc/ssh/ssh_config unless -F is given; a test (or the caller) naming a config reads only that.
  const systemConfig =
    base.systemSshConfigPath !== undefined ? base.systemSshConfigPath : req.args.configFile !== undefined || base.sshConfigPath !== undefined ? null : '/etc/ssh/ssh_config'
  const cmdline: Array<[string, string[]]> = []
  if (req.port !== undefined) cmdline.push(['port', [String(req.port)]])
  if (req.user !== undefined) cmdline.push(['user', [req.user]])
  if (req.privateKeyFile) cmdline.push(['identityfile', [req.privateKeyFile]])
  if (req.proxyJump) cmdline.push(['proxyjump', [req.proxyJump.join(',')]], ['proxycommand', ['none']])
  cmdline.push(...req.args.cmdline)
  try {
    return sshSettings({ host: req.host, cmdline, userConfig: userConfig ? userConfig.replace(/^~(?=\/|$)/, local.home) : null, systemConfig, local })
  } catch (e) {
    if (e instanceof SshConfigError) throw new SshConfigError(`${base.hostName}: ssh config: ${e.message}`)
    throw e
  }
}

/** Resolve one hop against explicit values, args and the ssh config. */
export function resolveHop(req: HopRequest, base: ConnectOptions): ResolvedHop {
  try {
    return resolveHopIn(req, base)
  } catch (e) {
    if (e instanceof SshConfigError && !e.message.startsWith(`${base.hostName}: `)) throw new SshConfigError(`${base.hostName}: ${e.message}`)
    throw e
  }
}

function resolveHopIn(req: HopRequest, base: ConnectOptions): ResolvedHop {
  const s = hopSettings(req, base)
  // Like ssh: ~, ${VAR} and %-tokens are expanded; a relative path is relative to the current directory.
  const ids = (s.identityFilesExplicit ? s.identityFiles : USABLE_DEFAULT_KEYS).filter((f) => f.toLowerCase() !== 'none').map((f) => resolve(expandIdentityFile(s, f)))

  let agentSocket: string | null
  const ia = s.identityAgent
  if (base.agentSocket !== undefined) agentSocket = base.agentSocket
  else if (ia === undefined || ia === 'SSH_AUTH_SOCK') agentSocket = process.env.SSH_AUTH_SOCK || null
  else if (ia === 'none') agentSocket = null
  else agentSocket = ia.startsWith('$') ? process.env[ia.slice(1)] || null : resolve(ia)

  const files = (v: string[]) => v.filter((f) => f !== 'none').map((f) => resolve(f))
  const knownHostsFiles = base.knownHostsFiles?.length ? base.knownHostsFiles : files(s.userKnownHostsFiles)
  const globalKnownHostsFiles = base.globalKnownHostsFiles ?? files(s.globalKnownHostsFiles)
  const hostKeyChecking = normalizeChecking(base.hostKeyChecking) ?? TO_CHECKING[s.strictHostKeyChecking] ?? 'strict'

  const proxyJump = proxyJumpList(s)
  return {
    spec: req.host,
    host: s.host,
    port: s.port,
    user: s.user,
    identityFiles: [...new Set(ids)],
    identityFilesExplicit: s.identityFilesExplicit,
    identitiesOnly: s.identitiesOnly,
    agentSocket,
    knownHostsFiles,
    globalKnownHostsFiles,
    hostKeyAlias: s.hostKeyAlias,
    hostKeyChecking,
    hashKnownHosts: s.hashKnownHosts,
    connectTimeoutMs: base.connectTimeoutMs ?? (s.connectTimeout ? s.connectTimeout * 1000 : 10_000),
    keepaliveIntervalMs: base.keepaliveIntervalMs ?? (s.serverAliveInterval > 0 ? s.serverAliveInterval * 1000 : 5000),
    keepaliveCountMax: base.keepaliveCountMax ?? s.serverAliveCountMax,
    proxyJump,
    // ProxyJump and ProxyCommand: the first one obtained wins (sshconfig.ts keeps only that one).
    proxyCommand: proxyJump.length ? undefined : proxyCommandLine(s),
    bindAddress: s.bindAddress,
    family: req.args.family,
  }
}

/** The ssh args of a connection (ansible_ssh_*_args, --ssh-common-args, --ssh-extra-args), mapped or refused. */
export function connectArgs(o: ConnectOptions): SshArgs {
  return mapSshArgs(o.sshCommonArgs)
}

/** The target hop for a host. */
export function resolveTarget(o: ConnectOptions): ResolvedHop {
  return resolveHop({ host: o.address, port: o.port, user: o.user, privateKeyFile: o.privateKeyFile, args: connectArgs(o) }, o)
}

/**
 * A jump host: `-J a,b` reaches b through a (OpenSSH: ssh -J a -W %h:%p b). A jump host gets its
 * own config (User/Port/IdentityFile/ProxyJump for its pattern), and the target's -F, known_hosts,
 * host key policy and address family; not the target's explicit port/user/key.
 */
export function resolveJump(jumps: string[], o: ConnectOptions): ResolvedHop {
  const spec = jumps[jumps.length - 1]
  const j = parseJumpSpec(spec)
  const target = connectArgs(o)
  const keep = new Set(['stricthostkeychecking', 'userknownhostsfile', 'globalknownhostsfile'])
  const args: SshArgs = { cmdline: target.cmdline.filter(([k]) => keep.has(k)), configFile: target.configFile, family: target.family }
  const hop = resolveHop({ host: j.host, port: j.port, user: j.user, args, proxyJump: jumps.length > 1 ? jumps.slice(0, -1) : undefined }, o)
  hop.spec = spec
  // The target's explicit key is a last resort for the bastion (often the same key); tried after the hop's own.
  if (o.privateKeyFile && !hop.identityFiles.includes(o.privateKeyFile)) hop.identityFiles.push(o.privateKeyFile)
  return hop
}
