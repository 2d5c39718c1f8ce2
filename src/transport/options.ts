/**
 * What a connection needs, and how it is resolved like Ansible + OpenSSH do it: explicit inventory
 * values (ansible_host/port/user/...) win, then ssh_common_args (`-o Key=Value`, `-J`, `-p`, ...),
 * then ~/.ssh/config (Host patterns, first value wins), then OpenSSH's defaults.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { homedir, userInfo } from 'node:os'
import { basename, dirname, isAbsolute, join, resolve } from 'node:path'
import SSHConfig from 'ssh-config'
import type { HostKeyChecking } from './known-hosts.ts'

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
}

// ---------------------------------------------------------------------------------------------
// ssh_common_args

/** Split a command line like a POSIX shell would (quotes and backslashes), no expansion. */
export function shellSplit(s: string): string[] {
  const out: string[] = []
  let cur = ''
  let inWord = false
  let i = 0
  while (i < s.length) {
    const c = s[i]
    if (c === "'") {
      const j = s.indexOf("'", i + 1)
      if (j < 0) throw new Error(`unterminated ' in ssh args: ${s}`)
      cur += s.slice(i + 1, j)
      inWord = true
      i = j + 1
    } else if (c === '"') {
      i++
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length && '"\\$`\n'.includes(s[i + 1])) i++
        cur += s[i++]
      }
      if (i >= s.length) throw new Error(`unterminated " in ssh args: ${s}`)
      i++
      inWord = true
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[i + 1]
      inWord = true
      i += 2
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur)
      cur = ''
      inWord = false
      i++
    } else {
      cur += c
      inWord = true
      i++
    }
  }
  if (inWord) out.push(cur)
  return out
}

/** ssh options given on the "command line", lower-cased keys, first value wins (like OpenSSH). */
export type ArgOptions = Record<string, string[]>

const FLAGS_WITH_VALUE = new Set(['-c', '-D', '-E', '-e', '-I', '-L', '-m', '-O', '-Q', '-R', '-S', '-W', '-w', '-B'])

export function parseSshArgs(args: string | string[] | undefined): ArgOptions {
  const words = args === undefined ? [] : Array.isArray(args) ? args : shellSplit(args)
  const out: ArgOptions = {}
  const add = (k: string, v: string) => (out[k.toLowerCase()] ??= []).push(v)
  for (let i = 0; i < words.length; i++) {
    const w = words[i]
    const m = /^-([oJplFib])(.*)$/.exec(w)
    if (m) {
      const val = m[2] !== '' ? m[2] : words[++i]
      if (val === undefined) throw new Error(`ssh args: ${w} needs a value`)
      switch (m[1]) {
        case 'o': {
          const kv = /^\s*([A-Za-z0-9]+)\s*(?:=\s*|\s+)(.*)$/.exec(val)
          if (!kv) throw new Error(`ssh args: bad option -o ${val}`)
          add(kv[1], kv[2].trim())
          break
        }
        case 'J':
          add('ProxyJump', val)
          break
        case 'p':
          add('Port', val)
          break
        case 'l':
          add('User', val)
          break
        case 'F':
          add('__configfile', val)
          break
        case 'i':
          add('IdentityFile', val)
          break
        case 'b':
          add('BindAddress', val)
          break
      }
    } else if (FLAGS_WITH_VALUE.has(w)) {
      i++ // -L/-R/... : not relevant for orch
    }
    // Other flags (-C, -q, -v, -4, -T, ...) do not change how orch connects.
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// ~/.ssh/config

const configCache = new Map<string, SSHConfig>()

function globMatch(pattern: string, name: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${re}$`).test(name)
}

/** Text of a config file with its `Include`s spliced in (globs in the file name; relative to the file's dir). */
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
      if (!isAbsolute(p)) p = join(dirname(path), p)
      const dir = dirname(p)
      const base = basename(p)
      let files: string[]
      if (/[*?]/.test(base)) {
        try {
          files = readdirSync(dir)
            .filter((f) => globMatch(base, f))
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

function loadConfig(path: string | null, home: string): SSHConfig | null {
  if (!path) return null
  const text = readWithIncludes(path, home)
  if (text === null) return null
  const hit = configCache.get(text)
  if (hit) return hit
  let parsed: SSHConfig
  try {
    parsed = SSHConfig.parse(text)
  } catch (e) {
    throw new Error(`cannot parse ssh config ${path}: ${(e as Error).message}`)
  }
  if (configCache.size > 50) configCache.clear()
  configCache.set(text, parsed)
  return parsed
}

/** ~/.ssh/config values for a host (lower-cased keys). */
export function computeConfig(path: string | null, host: string, user?: string, home = homedir()): Record<string, string | string[]> {
  const cfg = loadConfig(path, home)
  if (!cfg) return {}
  // Match exec is not evaluated: orch never runs local commands from a config it reads.
  return cfg.compute(user ? { Host: host, User: user } : { Host: host }, { ignoreCase: true, matchExec: false })
}

// ---------------------------------------------------------------------------------------------

function first(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined
  return Array.isArray(v) ? v[0] : v
}

function all(v: string | string[] | undefined): string[] {
  if (v === undefined) return []
  return Array.isArray(v) ? v : [v]
}

function localUser(): string {
  try {
    return userInfo().username
  } catch {
    return process.env.USER ?? 'root'
  }
}

export function expandTokens(s: string, t: { home: string; host: string; port: number; user: string; original: string }): string {
  return s
    .replace(/^~(?=\/|$)/, t.home)
    .replace(/%([%dhprunCLlik])/g, (m, c: string) => {
      switch (c) {
        case '%':
          return '%'
        case 'd':
          return t.home
        case 'h':
          return t.host
        case 'p':
          return String(t.port)
        case 'r':
          return t.user
        case 'u':
          return localUser()
        case 'n':
          return t.original
        default:
          return m
      }
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
  /** -o options / flags that apply to this hop. */
  args: ArgOptions
  /** Explicit ProxyJump for this hop (a -J list's earlier hops). */
  proxyJump?: string[]
}

/** Resolve one hop against explicit values, args and the ssh config. */
export function resolveHop(req: HopRequest, base: ConnectOptions): ResolvedHop {
  const home = base.homeDir ?? homedir()
  const args = req.args
  const configPath =
    first(args['__configfile']) ?? (base.sshConfigPath === undefined ? join(home, '.ssh', 'config') : base.sshConfigPath)
  const explicitUser = req.user ?? first(args['user'])
  const cfg = computeConfig(
    configPath ? expandTokens(configPath, { home, host: req.host, port: 22, user: '', original: req.host }) : null,
    req.host,
    explicitUser,
    home,
  )
  const pick = (key: string): string | undefined => first(args[key]) ?? first(cfg[key])
  const pickAll = (key: string): string[] => (args[key]?.length ? args[key] : all(cfg[key]))

  const host = pick('hostname') ? pick('hostname')!.replace(/%h/g, req.host) : req.host
  const portStr = req.port !== undefined ? String(req.port) : pick('port')
  const port = portStr ? Number(portStr) : 22
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`bad port ${JSON.stringify(portStr)} for ${req.host}`)
  const user = explicitUser ?? first(cfg['user']) ?? localUser()
  const tok = { home, host, port, user, original: req.host }
  // Like ssh: ~ and %-tokens are expanded, a relative path is relative to the current directory.
  const expandPath = (p: string) => resolve(expandTokens(p.replace(/^"(.*)"$/, '$1'), tok))

  const explicitIds = [
    ...(req.privateKeyFile ? [req.privateKeyFile] : []),
    ...(args['identityfile'] ?? []),
    ...all(cfg['identityfile']),
  ]
  const identityFilesExplicit = explicitIds.length > 0
  const identityFiles = (identityFilesExplicit ? explicitIds : ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => `~/.ssh/${f}`))
    .filter((f) => f.toLowerCase() !== 'none')
    .map(expandPath)

  let agentSocket: string | null
  if (base.agentSocket !== undefined) agentSocket = base.agentSocket
  else {
    const ia = pick('identityagent')
    if (ia === undefined || ia === 'SSH_AUTH_SOCK') agentSocket = process.env.SSH_AUTH_SOCK || null
    else if (ia.toLowerCase() === 'none') agentSocket = null
    else agentSocket = ia.startsWith('$') ? process.env[ia.slice(1)] || null : expandPath(ia)
  }

  const splitFiles = (v: string[]) => v.flatMap((x) => x.split(/\s+/)).filter(Boolean)
  const knownHostsFiles = base.knownHostsFiles?.length
    ? base.knownHostsFiles
    : pickAll('userknownhostsfile').length
      ? splitFiles(pickAll('userknownhostsfile')).filter((f) => f !== 'none').map(expandPath)
      : [join(home, '.ssh', 'known_hosts'), join(home, '.ssh', 'known_hosts2')]
  const globalKnownHostsFiles = base.globalKnownHostsFiles
    ? base.globalKnownHostsFiles
    : pickAll('globalknownhostsfile').length
      ? splitFiles(pickAll('globalknownhostsfile')).filter((f) => f !== 'none').map(expandPath)
      : ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']

  const hostKeyChecking =
    normalizeChecking(base.hostKeyChecking) ?? normalizeChecking(pick('stricthostkeychecking')) ?? 'strict'

  const ct = pick('connecttimeout')
  const connectTimeoutMs = base.connectTimeoutMs ?? (ct ? Number(ct) * 1000 : 10_000)
  const sai = pick('serveraliveinterval')
  const sac = pick('serveralivecountmax')
  const keepaliveIntervalMs = base.keepaliveIntervalMs ?? (sai && Number(sai) > 0 ? Number(sai) * 1000 : 5000)
  const keepaliveCountMax = base.keepaliveCountMax ?? (sac ? Number(sac) : 3)

  let proxyJump: string[] = []
  if (req.proxyJump) proxyJump = req.proxyJump
  else {
    const pj = pick('proxyjump')
    if (pj && pj.toLowerCase() !== 'none') proxyJump = pj.split(',').map((s) => s.trim()).filter(Boolean)
  }
  let proxyCommand: string | undefined
  const pc = pick('proxycommand')
  if (pc && pc.toLowerCase() !== 'none' && proxyJump.length === 0) proxyCommand = expandTokens(pc, tok)

  return {
    spec: req.host,
    host,
    port,
    user,
    identityFiles: [...new Set(identityFiles)],
    identityFilesExplicit,
    identitiesOnly: (pick('identitiesonly') ?? 'no').toLowerCase() === 'yes',
    agentSocket,
    knownHostsFiles,
    globalKnownHostsFiles,
    hostKeyAlias: pick('hostkeyalias'),
    hostKeyChecking,
    hashKnownHosts: (pick('hashknownhosts') ?? 'no').toLowerCase() === 'yes',
    connectTimeoutMs,
    keepaliveIntervalMs,
    keepaliveCountMax,
    proxyJump,
    proxyCommand,
    bindAddress: pick('bindaddress'),
  }
}

/** The target hop for a host. */
export function resolveTarget(o: ConnectOptions): ResolvedHop {
  return resolveHop(
    { host: o.address, port: o.port, user: o.user, privateKeyFile: o.privateKeyFile, args: parseSshArgs(o.sshCommonArgs) },
    o,
  )
}

/**
 * A jump host: `-J a,b` reaches b through a (OpenSSH: ssh -J a -W %h:%p b). A jump host gets its
 * own config (User/Port/IdentityFile/ProxyJump for its pattern), and the target's -F, known_hosts
 * and host key policy; not the target's explicit port/user/key.
 */
export function resolveJump(jumps: string[], o: ConnectOptions): ResolvedHop {
  const spec = jumps[jumps.length - 1]
  const j = parseJumpSpec(spec)
  const targetArgs = parseSshArgs(o.sshCommonArgs)
  const args: ArgOptions = {}
  for (const k of ['__configfile', 'stricthostkeychecking', 'userknownhostsfile', 'globalknownhostsfile']) {
    if (targetArgs[k]) args[k] = targetArgs[k]
  }
  const hop = resolveHop(
    { host: j.host, port: j.port, user: j.user, args, proxyJump: jumps.length > 1 ? jumps.slice(0, -1) : undefined },
    o,
  )
  hop.spec = spec
  // The target's explicit key is a last resort for the bastion (often the same key); tried after the hop's own.
  if (o.privateKeyFile && !hop.identityFiles.includes(o.privateKeyFile)) hop.identityFiles.push(o.privateKeyFile)
  return hop
}
