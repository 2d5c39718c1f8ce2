/**
 * The values orch uses from a resolved ssh config, with OpenSSH 9.2's defaults and token expansion, in
 * the form `ssh -G` prints them (renderG: the tests compare it with the real `ssh -G` line by line).
 */
import { resolveSshConfig, SshConfigError, type ResolveInput } from './sshconfig.ts'
import { expandCommand, expandPath, percentExpand, TokenError, COMMAND_TOKENS, type LocalInfo, type RemoteInfo } from './sshtokens.ts'

export type StrictMode = 'true' | 'false' | 'ask' | 'accept-new'

export interface SshSettings {
  /** Lower case, HostName's %h expanded. */
  host: string
  original: string
  port: number
  user: string
  /** As written (ssh -G prints them unexpanded); ssh's default list when none was given. */
  identityFiles: string[]
  identityFilesExplicit: boolean
  identitiesOnly: boolean
  /** Expanded, or SSH_AUTH_SOCK / none / $VAR as written; undefined when not set. */
  identityAgent?: string
  /** Expanded (`none` stays). */
  userKnownHostsFiles: string[]
  globalKnownHostsFiles: string[]
  hostKeyAlias?: string
  strictHostKeyChecking: StrictMode
  hashKnownHosts: boolean
  /** Seconds; null: none (the OS decides). */
  connectTimeout: number | null
  serverAliveInterval: number
  serverAliveCountMax: number
  /** As written; `none` means unset. */
  proxyJump?: string
  /** As written, tokens unexpanded (ssh -G); proxyCommandLine() expands. */
  proxyCommand?: string
  bindAddress?: string
  /** Expanded. */
  controlPath?: string
  local: LocalInfo
}

/** ssh's default IdentityFile list, in its order. */
export const DEFAULT_IDENTITY_FILES = ['id_rsa', 'id_ecdsa', 'id_ecdsa_sk', 'id_ed25519', 'id_ed25519_sk', 'id_xmss', 'id_dsa'].map((f) => `~/.ssh/${f}`)

function wrap<T>(f: () => T): T {
  try {
    return f()
  } catch (e) {
    if (e instanceof TokenError) throw new SshConfigError(e.message)
    throw e
  }
}

export function remoteOf(s: Pick<SshSettings, 'host' | 'original' | 'port' | 'user' | 'hostKeyAlias'>): RemoteInfo {
  return { host: s.host, original: s.original, port: s.port, user: s.user, keyAlias: s.hostKeyAlias }
}

export function sshSettings(input: ResolveInput): SshSettings {
  const r = resolveSshConfig(input)
  const o = r.options
  const one = (k: string) => o.get(k)?.[0]
  const local = input.local
  const port = Number(one('port') ?? 22)
  const user = one('user') ?? local.user
  const hostKeyAlias = one('hostkeyalias')
  const rem: RemoteInfo = { host: r.hostname, original: input.host, port, user, keyAlias: hostKeyAlias }
  const ids = o.get('identityfile') ?? []
  const pj = one('proxyjump')
  const pc = one('proxycommand')
  const ct = one('connecttimeout')
  return wrap(() => ({
    host: r.hostname,
    original: input.host,
    port,
    user,
    identityFiles: ids.length ? ids : DEFAULT_IDENTITY_FILES,
    identityFilesExplicit: ids.length > 0,
    identitiesOnly: one('identitiesonly') === 'yes',
    identityAgent: agentPath(one('identityagent'), local, rem),
    userKnownHostsFiles: (o.get('userknownhostsfile') ?? ['~/.ssh/known_hosts', '~/.ssh/known_hosts2']).map((f) =>
      f === 'none' ? f : expandPath(f, local, rem, 'UserKnownHostsFile'),
    ),
    globalKnownHostsFiles: o.get('globalknownhostsfile') ?? ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'],
    hostKeyAlias,
    strictHostKeyChecking: (one('stricthostkeychecking') ?? 'ask') as StrictMode,
    hashKnownHosts: one('hashknownhosts') === 'yes',
    connectTimeout: ct === undefined || ct === 'none' ? null : Number(ct),
    serverAliveInterval: Number(one('serveraliveinterval') ?? 0),
    serverAliveCountMax: Number(one('serveralivecountmax') ?? 3),
    proxyJump: pj && pj.toLowerCase() !== 'none' ? pj : undefined,
    proxyCommand: pc && pc !== 'none' ? pc : undefined,
    bindAddress: one('bindaddress'),
    controlPath: one('controlpath') && one('controlpath') !== 'none' ? expandPath(one('controlpath')!, local, rem, 'ControlPath') : undefined,
    local,
  }))
}

function agentPath(v: string | undefined, l: LocalInfo, r: RemoteInfo): string | undefined {
  if (v === undefined || v === 'none' || v === 'SSH_AUTH_SOCK' || v.startsWith('$')) return v
  return expandPath(v, l, r, 'IdentityAgent')
}

/** An IdentityFile as ssh loads it (`ssh -v`: "identity file ..."): ~, ${VAR}, %-tokens; relative stays relative. */
export function expandIdentityFile(s: SshSettings, f: string): string {
  return wrap(() => expandPath(f, s.local, remoteOf(s), 'IdentityFile'))
}

/** The ProxyCommand to run (tokens %h %n %p %r %% expanded; names with shell metacharacters refused). */
export function proxyCommandLine(s: SshSettings): string | undefined {
  if (!s.proxyCommand) return undefined
  return wrap(() => expandCommand(s.proxyCommand!, COMMAND_TOKENS, s.local, remoteOf(s), `ProxyCommand for ${s.original}`))
}

/** ProxyJump's hops, first first, with %h %n %p %r %% expanded (no shell is involved). */
export function proxyJumpList(s: SshSettings): string[] {
  if (!s.proxyJump) return []
  return wrap(() => s.proxyJump!.split(',').map((x) => percentExpand(x.trim(), COMMAND_TOKENS, s.local, remoteOf(s), `ProxyJump for ${s.original}`)))
}

/** The lines `ssh -G` prints for the keywords orch uses. */
export function renderG(s: SshSettings): string[] {
  const out = [`host ${s.original}`, `hostname ${s.host}`, `port ${s.port}`, `user ${s.user}`]
  for (const f of s.identityFiles) out.push(`identityfile ${f}`)
  out.push(`identitiesonly ${s.identitiesOnly ? 'yes' : 'no'}`)
  if (s.identityAgent !== undefined) out.push(`identityagent ${s.identityAgent}`)
  out.push(`userknownhostsfile ${s.userKnownHostsFiles.join(' ')}`)
  out.push(`globalknownhostsfile ${s.globalKnownHostsFiles.join(' ')}`)
  if (s.hostKeyAlias !== undefined) out.push(`hostkeyalias ${s.hostKeyAlias}`)
  out.push(`stricthostkeychecking ${s.strictHostKeyChecking}`)
  out.push(`hashknownhosts ${s.hashKnownHosts ? 'yes' : 'no'}`)
  out.push(`connecttimeout ${s.connectTimeout ?? 'none'}`)
  out.push(`serveraliveinterval ${s.serverAliveInterval}`)
  out.push(`serveralivecountmax ${s.serverAliveCountMax}`)
  if (s.proxyJump) out.push(`proxyjump ${s.proxyJump}`)
  if (s.proxyCommand) out.push(`proxycommand ${s.proxyCommand}`)
  if (s.bindAddress) out.push(`bindaddress ${s.bindAddress}`)
  if (s.controlPath) out.push(`controlpath ${s.controlPath}`)
  return out
}

/** Keywords renderG covers (the tests keep these lines of the real `ssh -G`). */
export const RENDERED = [
  'host',
  'hostname',
  'port',
  'user',
  'identityfile',
  'identitiesonly',
  'identityagent',
  'userknownhostsfile',
  'globalknownhostsfile',
  'hostkeyalias',
  'stricthostkeychecking',
  'hashknownhosts',
  'connecttimeout',
  'serveraliveinterval',
  'serveralivecountmax',
  'proxyjump',
  'proxycommand',
  'bindaddress',
  'controlpath',
]
