/**
 * ssh_config(5) TOKENS, ~ and ${VAR} as OpenSSH 9.2 expands them, per keyword. Pure: the local facts
 * (home, user, uid, host name) come in a LocalInfo so tests can compare with `ssh -G` / `ssh -v`.
 */
import { createHash } from 'node:crypto'
import { homedir, hostname, userInfo } from 'node:os'

export interface LocalInfo {
  /** %d, and ~ (OpenSSH uses the passwd entry, not $HOME). */
  home: string
  /** %u */
  user: string
  /** %i */
  uid: number
  /** %l (gethostname); %L is it up to the first dot. */
  hostname: string
}

export function localInfo(home?: string): LocalInfo {
  let user = process.env.USER ?? 'root'
  let uid = typeof process.getuid === 'function' ? process.getuid() : 0
  let h = home
  try {
    const u = userInfo()
    user = u.username
    uid = u.uid
    h ??= u.homedir
  } catch {
    h ??= homedir()
  }
  return { home: h ?? homedir(), user, uid, hostname: hostname() }
}

/** What the remote-side tokens stand for. */
export interface RemoteInfo {
  /** %h: the host name after HostName (lower case). */
  host: string
  /** %n: the host as given. */
  original: string
  port: number
  /** %r */
  user: string
  /** %k: HostKeyAlias or the original host. */
  keyAlias?: string
}

/** %C: the SHA1 of %l%h%p%r (OpenSSH 9.2; 9.4 added %j). */
export function connectionHash(l: LocalInfo, r: RemoteInfo): string {
  return createHash('sha1').update(`${l.hostname}${r.host}${r.port}${r.user}`).digest('hex')
}

/** Token sets per keyword (ssh_config(5) TOKENS). */
export const PATH_TOKENS = '%CdhikLlnpru'
export const COMMAND_TOKENS = '%hnpr'
export const HOSTNAME_TOKENS = '%h'

export class TokenError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'TokenError'
  }
}

/** Expands `%x` for the tokens in `allowed`; an unknown token is an error, as in ssh. */
export function percentExpand(s: string, allowed: string, l: LocalInfo, r: RemoteInfo, what: string, wrap: (v: string, t: string) => string = (v) => v): string {
  return s.replace(/%(.?)/g, (_m, c: string) => {
    if (!c || !allowed.includes(c)) throw new TokenError(`${what}: unknown token %${c} in ${JSON.stringify(s)} (allowed: ${[...allowed].map((x) => '%' + x).join(' ')})`)
    let v: string
    switch (c) {
      case '%':
        return '%'
      case 'C':
        v = connectionHash(l, r)
        break
      case 'd':
        v = l.home
        break
      case 'h':
        v = r.host
        break
      case 'i':
        v = String(l.uid)
        break
      case 'k':
        v = r.keyAlias ?? r.original
        break
      case 'L':
        v = l.hostname.split('.')[0]
        break
      case 'l':
        v = l.hostname
        break
      case 'n':
        v = r.original
        break
      case 'p':
        v = String(r.port)
        break
      case 'r':
        v = r.user
        break
      case 'u':
        v = l.user
        break
      default:
        v = ''
    }
    return wrap(v, c)
  })
}

/** `~/x` (and `~`) to the home directory; `~user/` is refused (orch does not look up other users). */
export function tildeExpand(s: string, l: LocalInfo, what: string): string {
  if (!s.startsWith('~')) return s
  const m = /^~([^/]*)(\/.*)?$/.exec(s)!
  if (m[1] !== '') {
    if (m[1] === l.user) return l.home + (m[2] ?? '')
    throw new TokenError(`${what}: ~${m[1]} (another user's home) is not supported; write the path out`)
  }
  return l.home + (m[2] ?? '')
}

/** `${VAR}` from the environment; an undefined one is an error, as in ssh. */
export function envExpand(s: string, what: string, env: NodeJS.ProcessEnv = process.env): string {
  return s.replace(/\$\{([^}]*)\}/g, (_m, name: string) => {
    const v = env[name]
    if (v === undefined) throw new TokenError(`${what}: environment variable \${${name}} is not set`)
    return v
  })
}

/** IdentityFile, UserKnownHostsFile, ControlPath, IdentityAgent, CertificateFile: ~, then ${VAR}, then %-tokens. */
export function expandPath(s: string, l: LocalInfo, r: RemoteInfo, what: string): string {
  return percentExpand(envExpand(tildeExpand(s, l, what), what), PATH_TOKENS, l, r, what)
}

/**
 * OpenSSH 9.6's rule for host and user names that reach a shell (ProxyCommand, Match exec): no shell
 * metacharacters, no whitespace or control characters, no leading '-'. OpenSSH 9.2 pastes %h/%r in
 * unquoted, so a hostile inventory name would run commands on the controller: orch refuses it instead.
 */
export function shellSafeName(v: string): boolean {
  return v !== '' && !v.startsWith('-') && !/[\s'`"$\\;&<>|(){},*?!#~\x00-\x1f\x7f]/.test(v)
}

/** ProxyCommand / Match exec: %h %n %p %r %% (or the path set for exec), each value checked by shellSafeName. */
export function expandCommand(s: string, allowed: string, l: LocalInfo, r: RemoteInfo, what: string): string {
  return percentExpand(s, allowed, l, r, what, (v, t) => {
    if ('hnru'.includes(t) && !shellSafeName(v))
      throw new TokenError(
        `${what}: %${t} would put ${JSON.stringify(v)} into a shell command; host and user names there may not contain spaces, quotes or any of ;&|<>()$\`\\{},*?!#~ or start with '-'`,
      )
    return v
  })
}
