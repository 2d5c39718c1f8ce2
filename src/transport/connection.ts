/**
 * Connection over ssh2: one SSH connection per host (through ProxyJump hops when configured), one
 * persistent `/bin/sh` on it for every command (and one become shell, root's or ansible_become_user's, opened once
 * via sudo or su).
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { posix } from 'node:path'
import { Duplex } from 'node:stream'
import ssh2 from 'ssh2'
import type { Client as ClientT, ClientChannel, SFTPWrapper, Stats } from 'ssh2'
import { raw, sh } from '../net/shell.ts'
import { planAuth, type AuthPlan } from './auth.ts'
import { batchScript, newMarker, printfLiteral, splitBatch, type BatchPart } from './framing.ts'
import {
  algorithmsForKeyType,
  appendKnownHost,
  checkHostKey,
  fingerprint,
  keyTypeLabel,
  keyTypeOf,
  knownHostsName,
  knownKeyTypes,
} from './known-hosts.ts'
import { resolveJump, resolveTarget, type ConnectOptions, type ResolvedHop } from './options.ts'
import { RemoteShell, ShellClosedError, type RawResult } from './remote-shell.ts'
import { RoundTripCounter } from './roundtrips.ts'
import { BecomeError, HostKeyError, UnreachableError, type Connection, type ExecOptions, type ExecResult, type TransportStats } from './types.ts'

const { Client } = ssh2

/** ExecResult with the bytes as they came (binary output). */
export interface RawExecResult {
  code: number
  stdout: Buffer
  stderr: Buffer
  durationMs: number
  timedOut: boolean
}

/** Hooks the pool uses to share limits and jump host connections. */
export interface ConnectDeps {
  /**
   * Runs one handshake (TCP + SSH + auth) to the sshd at `endpoint` (host:port, and the jump hosts in
   * front of it); the pool caps how many run at once per endpoint.
   */
  handshake?: <T>(endpoint: string, fn: () => Promise<T>) => Promise<T>
  /** Returns a (shared) client for a jump host; `open` opens a fresh one. Default: own, closed with the connection. */
  jump?: (key: string, open: () => Promise<ClientT>) => Promise<ClientT>
}

const DEFAULT_HOST_KEY_ALGOS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
]

const MAX_HOPS = 8

class SftpUnavailable extends Error {}

export function hopLabel(h: ResolvedHop): string {
  return `${h.user}@${h.host.includes(':') ? `[${h.host}]` : h.host}:${h.port}`
}

export function hopKey(h: ResolvedHop): string {
  return `${h.user}@${h.host}:${h.port}`
}

/** Keys accepted (accept-new) by this process, so that parallel connects don't append twice. */
const appended = new Set<string>()

/** Verify a host key against known_hosts; returns the error to refuse with, or null. */
export function verifyHostKey(hostName: string, hop: ResolvedHop, key: Buffer, log?: (m: string) => void): HostKeyError | null {
  if (hop.hostKeyChecking === 'off') return null
  const name = hop.hostKeyAlias ?? knownHostsName(hop.host, hop.port)
  const files = [...hop.knownHostsFiles, ...hop.globalKnownHostsFiles]
  const type = keyTypeOf(key)
  const label = keyTypeLabel(type)
  const fp = fingerprint(key)
  const v = checkHostKey(files, [name], key)
  const userFile = hop.knownHostsFiles[0]
  switch (v.status) {
    case 'ok':
      return null
    case 'revoked':
      return new HostKeyError(
        hostName,
        `${hostName}: the ${label} host key of ${name} (${fp}) is marked as revoked in ${v.file}:${v.line}. ` +
          `This could mean that a stolen key is being used to impersonate this host. Refusing to connect.`,
      )
    case 'changed':
    case 'other-type':
      return new HostKeyError(
        hostName,
        [
          `${hostName}:`,
          '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
          '@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @',
          '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
          'IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!',
          'Someone could be eavesdropping on you right now (man-in-the-middle attack)!',
          'It is also possible that a host key has just been changed.',
          `The fingerprint for the ${label} key sent by the remote host ${name} is ${fp}.`,
          v.status === 'changed'
            ? `Offending ${keyTypeLabel(v.knownType)} key in ${v.file}:${v.line}`
            : `${name} is known with a ${keyTypeLabel(v.knownType)} key in ${v.file}:${v.line}, but presented a ${label} key.`,
          `If the change is expected, remove the old entry with: ssh-keygen -f "${v.file}" -R "${name}"`,
          `Host key for ${name} has changed and orch refuses to connect (host_key_checking=${hop.hostKeyChecking}).`,
        ].join('\n'),
      )
    case 'unknown': {
      if (hop.hostKeyChecking === 'accept-new' && userFile) {
        const k = `${userFile}\0${name}\0${key.toString('base64')}`
        if (!appended.has(k)) {
          appended.add(k)
          try {
            appendKnownHost(userFile, name, key, hop.hashKnownHosts)
          } catch (e) {
            return new HostKeyError(hostName, `${hostName}: cannot add the host key of ${name} to ${userFile}: ${(e as Error).message}`)
          }
          log?.(`Permanently added '${name}' (${label}) to the list of known hosts (${userFile}).`)
        }
        return null
      }
      const scan = `ssh-keyscan ${hop.hashKnownHosts ? '-H ' : ''}${hop.port !== 22 ? `-p ${hop.port} ` : ''}${hop.host} >> ${userFile ?? '~/.ssh/known_hosts'}`
      return new HostKeyError(
        hostName,
        `${hostName}: host key verification failed: no key for ${name} in ${files.join(', ')} ` +
          `(the server's ${label} key fingerprint is ${fp}). Verify the fingerprint, then add the key with: ${scan} ` +
          `(or use host_key_checking=accept-new to trust it on first use).`,
      )
    }
  }
}

function isRetryable(e: Error & { level?: string; code?: string }): boolean {
  if (e instanceof HostKeyError) return false
  if (e.level === 'client-authentication' || e.level === 'agent') return false
  if (e.code === 'ENOTFOUND') return false
  if (e.level === 'client-socket' || e.level === 'client-timeout') return true
  return /Connection lost before handshake|ECONNRESET|ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|Channel open failure|Timed out/i.test(
    e.message,
  )
}

/** A Duplex over a ProxyCommand child (one process per connection, not per command). */
function proxyCommandSocket(command: string): Duplex {
  const child = spawn('/bin/sh', ['-c', command], { stdio: ['pipe', 'pipe', 'inherit'] })
  const d = Duplex.from({ readable: child.stdout!, writable: child.stdin! })
  d.on('close', () => {
    if (child.exitCode === null) child.kill()
  })
  child.on('error', (e) => d.destroy(e))
  return d
}

/** A direct-tcpip channel through a jump host, given up after timeoutMs (a late channel is closed). */
function forwardOut(client: ClientT, host: string, port: number, timeoutMs: number): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    let done = false
    const timer = setTimeout(() => {
      done = true
      const e = new Error(`Timed out after ${timeoutMs} ms opening a forward to ${host}:${port} through the jump host`) as Error & { level?: string }
      e.level = 'client-timeout'
      reject(e)
    }, timeoutMs)
    try {
      client.forwardOut('127.0.0.1', 0, host, port, (err, ch) => {
        clearTimeout(timer)
        if (done) {
          ch?.close()
          return
        }
        done = true
        if (err) reject(err)
        else resolve(ch)
      })
    } catch (e) {
      clearTimeout(timer)
      done = true
      reject(e as Error)
    }
  })
}

interface Opened {
  client: ClientT
  /** Jump clients this connection owns (closed with it). */
  owned: ClientT[]
  handshakeMs: number
  /** Round trips on the last hop's stream (roundtrips.ts). */
  roundTrips: RoundTripCounter
}

/**
 * ssh2 answers OpenSSH's hostkeys-00 announcement (sent after auth) by asking the server to prove every
 * host key it has: one more round trip and a signature per key on the server, for a list orch never uses
 * (known_hosts is not updated: UpdateHostKeys is not supported). OpenSSH's client asks only with
 * UpdateHostKeys; so does orch: never.
 */
function skipHostKeysProof(c: ClientT): void {
  const proto = (c as unknown as { _protocol?: { openssh_hostKeysProve?: unknown } })._protocol
  if (proto && typeof proto.openssh_hostKeysProve === 'function') proto.openssh_hostKeysProve = () => undefined
}

class Connector {
  constructor(
    private readonly o: ConnectOptions,
    private readonly deps: ConnectDeps,
  ) {}

  private log(m: string) {
    this.o.debug?.(`${this.o.hostName}: ${m}`)
  }

  /** One TCP+SSH handshake+auth, no retries. */
  private handshake(hop: ResolvedHop, sock: Duplex | undefined, viaLabel: string, auth: AuthPlan, counter: RoundTripCounter): Promise<ClientT> {
    const { o } = this
    const names = [hop.hostKeyAlias ?? knownHostsName(hop.host, hop.port)]
    const known = hop.hostKeyChecking === 'off' ? [] : knownKeyTypes([...hop.knownHostsFiles, ...hop.globalKnownHostsFiles], names)
    const preferred = known.flatMap(algorithmsForKeyType).filter((a) => DEFAULT_HOST_KEY_ALGOS.includes(a))
    const serverHostKey = [...new Set([...preferred, ...DEFAULT_HOST_KEY_ALGOS])]
    return new Promise<ClientT>((resolve, reject) => {
      const c = new Client()
      let hostKeyError: HostKeyError | null = null
      let settled = false
      const fail = (e: Error & { level?: string }) => {
        if (settled) return
        // A key that could not sign (wrong passphrase, agent gone): ssh2 goes on with the next one.
        if (e.level === 'agent') {
          if (!auth.notes.includes(e.message)) auth.notes.push(e.message)
          return
        }
        settled = true
        c.end()
        const err = (hostKeyError ?? e) as Error & { level?: string }
        if (err instanceof HostKeyError) return reject(err)
        if (err.level === 'client-authentication') {
          const wrapped = new Error(
            `Permission denied for ${hopLabel(hop)}${viaLabel}: all authentication methods failed` +
              (auth.notes.length ? ` (${auth.notes.join('; ')})` : ''),
          ) as Error & { level?: string }
          wrapped.level = 'client-authentication'
          return reject(wrapped)
        }
        reject(err)
      }
      c.on('error', fail)
      c.once('close', () => fail(new Error(`connection to ${hopLabel(hop)}${viaLabel} closed during the handshake`)))
      c.once('ready', () => {
        if (settled) return
        settled = true
        counter.ready()
        c.removeListener('error', fail)
        c.on('error', () => {
          /* the owner listens from now on */
        })
        resolve(c)
      })
      try {
        c.connect({
          host: hop.host,
          port: hop.port,
          sock,
          username: hop.user,
          readyTimeout: hop.connectTimeoutMs,
          ...(hop.bindAddress && !sock ? { localAddress: hop.bindAddress } : {}),
          ...(hop.family === 4 ? { forceIPv4: true } : hop.family === 6 ? { forceIPv6: true } : {}),
          keepaliveInterval: hop.keepaliveIntervalMs,
          keepaliveCountMax: hop.keepaliveCountMax,
          authHandler: auth.handler,
          algorithms: { serverHostKey: serverHostKey as never },
          hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
            hostKeyError = verifyHostKey(o.hostName, hop, key, (m) => this.log(m))
            verify(hostKeyError === null)
          },
          debug: o.debug ? (m: string) => o.debug!(`${o.hostName}: ${m}`) : undefined,
        })
        if (!sock) c.setNoDelay(true)
        counter.attach(c)
        skipHostKeysProof(c)
      } catch (e) {
        fail(e as Error)
      }
    })
  }

  target!: ResolvedHop

  /** Open a hop (after its own jump hosts), with retries and backoff on network failures. */
  async open(hop: ResolvedHop, depth: number, jumpFor?: ResolvedHop): Promise<Opened> {
    if (depth > MAX_HOPS) throw new Error(`more than ${MAX_HOPS} ProxyJump hops (a loop in the ssh config?)`)
    const { o, deps } = this
    const owned: ClientT[] = []
    let jump: ClientT | null = null
    let viaLabel = ''
    if (hop.proxyJump.length) {
      const jh = resolveJump(hop.proxyJump, o)
      viaLabel = ` via ${hopLabel(jh)}`
      const openJump = async () => (await this.open(jh, depth + 1, hop)).client
      if (deps.jump) jump = await deps.jump(hopKey(jh) + '|' + jh.proxyJump.join(','), openJump)
      else {
        const r = await this.open(jh, depth + 1, hop)
        jump = r.client
        owned.push(...r.owned, r.client)
      }
    }
    // Keys are loaded (and passphrases asked) once, before taking a handshake slot.
    const auth = planAuth(hop, hop === this.target ? o.password : undefined, o.passphrase)
    const retries = o.retries ?? 2
    const baseDelay = o.retryDelayMs ?? 300
    for (let attempt = 0; ; attempt++) {
      const t0 = performance.now()
      const counter = new RoundTripCounter()
      try {
        const endpoint = `${hop.host}:${hop.port}${hop.proxyJump.length ? ` via ${hop.proxyJump.join(',')}` : ''}`
        const client = await (deps.handshake ?? ((_e, f) => f()))(endpoint, async () => {
          const sock = jump ? await forwardOut(jump, hop.host, hop.port, hop.connectTimeoutMs) : hop.proxyCommand ? proxyCommandSocket(hop.proxyCommand) : undefined
          return this.handshake(hop, sock, viaLabel, auth, counter)
        })
        return { client, owned, handshakeMs: performance.now() - t0, roundTrips: counter }
      } catch (e) {
        const err = e as Error
        if (!isRetryable(err) || attempt >= retries) {
          for (const c of owned) c.end()
          if (err instanceof HostKeyError) throw err
          const what = jumpFor ? `jump host ${hopLabel(hop)} (ProxyJump for ${hopLabel(jumpFor)})` : hopLabel(hop)
          const msg = `${o.hostName}: failed to connect to ${what}${viaLabel}: ${err.message}` + (attempt ? ` (after ${attempt + 1} attempts)` : '')
          throw Object.assign(new UnreachableError(o.hostName, msg), { cause: err })
        }
        const delay = Math.min(baseDelay * 2 ** attempt, 10_000) * (0.75 + Math.random() * 0.5)
        this.log(`connect to ${hopLabel(hop)} failed (${err.message}); retrying in ${Math.round(delay)} ms`)
        await new Promise((r) => setTimeout(r, delay))
      }
    }
  }
}

/** Open a connection to one host. Throws UnreachableError (HostKeyError for host key problems). */
export async function connect(o: ConnectOptions, deps: ConnectDeps = {}): Promise<SshConnection> {
  let target: ResolvedHop
  try {
    target = resolveTarget(o)
  } catch (e) {
    throw new UnreachableError(o.hostName, `${o.hostName}: ${(e as Error).message}`)
  }
  const c = new Connector(o, deps)
  c.target = target
  let opened: Opened
  try {
    opened = await c.open(target, 0)
  } catch (e) {
    if (e instanceof UnreachableError) throw e
    throw new UnreachableError(o.hostName, `${o.hostName}: ${(e as Error).message}`)
  }
  return new SshConnection(o, target, opened.client, opened.owned, opened.handshakeMs, opened.roundTrips)
}

export class SshConnection implements Connection {
  readonly hostName: string
  private _alive = true
  private deathReason = ''
  private userShell: RemoteShell | null = null
  private rootShell: RemoteShell | null = null
  private becomeFailure: BecomeError | null = null
  private tail: Promise<unknown> = Promise.resolve()
  /** Commands sent so far (a batch is one): see Connection.commandsSent. */
  private sent = 0

  constructor(
    private readonly options: ConnectOptions,
    /** The resolved target (host, port, user, jumps...). */
    readonly target: ResolvedHop,
    private readonly client: ClientT,
    private readonly owned: ClientT[],
    /** Time of the last hop's TCP + SSH handshake + auth. */
    readonly handshakeMs: number,
    private readonly counter?: RoundTripCounter,
  ) {
    this.hostName = options.hostName
    const lost = (why: string) => () => this.die(why)
    client.on('error', (e: Error) => this.die(e.message))
    client.on('end', lost('the server closed the connection'))
    client.on('close', lost('the connection closed'))
    for (const j of owned) j.on('close', lost('the jump host connection closed'))
  }

  get alive(): boolean {
    return this._alive
  }

  /** The login shell runs as root (known after the first command; undefined before). */
  get isRoot(): boolean | undefined {
    return this.userShell && !this.userShell.closed ? this.userShell.uid === 0 : undefined
  }

  private die(why: string): void {
    if (!this._alive) return
    this._alive = false
    this.deathReason = why
    const err = this.unreachable()
    this.userShell?.abort(err)
    this.rootShell?.abort(err)
    this.client.end()
    for (const j of this.owned) j.end()
  }

  private unreachable(): UnreachableError {
    return new UnreachableError(this.hostName, `${this.hostName}: connection to ${hopLabel(this.target)} lost: ${this.deathReason || 'closed'}`)
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(fn, fn)
    this.tail = p.catch(() => undefined)
    return p
  }

  private async shell(become: boolean): Promise<RemoteShell> {
    if (!this._alive) throw this.unreachable()
    const timeoutMs = Math.max(this.target.connectTimeoutMs, 10_000)
    if (!this.userShell || this.userShell.closed) {
      this.userShell = null
      try {
        this.userShell = await RemoteShell.open(this.client, { hostName: this.hostName, timeoutMs })
      } catch (e) {
        if (!this._alive) throw this.unreachable()
        // No shell (nologin, broken /bin/sh, MaxSessions...): the host can't be worked on.
        throw new UnreachableError(this.hostName, `${this.hostName}: cannot start /bin/sh on ${hopLabel(this.target)}: ${(e as Error).message}`)
      }
    }
    const user = this.options.becomeUser ?? 'root'
    // Root needs no sudo to be root; to become another user it does.
    if (!become || (this.userShell.uid === 0 && user === 'root')) return this.userShell
    if (this.becomeFailure) throw this.becomeFailure
    if (!this.rootShell || this.rootShell.closed) {
      this.rootShell = null
      try {
        this.rootShell = await RemoteShell.open(this.client, {
          hostName: this.hostName,
          become: { method: this.options.becomeMethod ?? 'sudo', user },
          becomePassword: this.options.becomePassword,
          timeoutMs: Math.max(timeoutMs, 30_000),
        })
      } catch (e) {
        if (!this._alive) throw this.unreachable()
        // Don't hammer sudo (and faillock) with a password we know is wrong.
        if (e instanceof BecomeError && /incorrect|no become password/.test(e.message)) this.becomeFailure = e
        throw e
      }
    }
    return this.rootShell
  }

  private async execRaw(script: string, opts: ExecOptions & { bare?: boolean }): Promise<RawExecResult> {
    this.sent++
    const become = opts.become ?? this.options.become ?? false
    let shell: RemoteShell
    try {
      shell = await this.shell(become)
    } catch (e) {
      if (!this._alive) throw this.unreachable()
      throw e
    }
    const stdin = opts.stdin === undefined ? undefined : Buffer.isBuffer(opts.stdin) ? opts.stdin : Buffer.from(opts.stdin)
    try {
      const r: RawResult = await shell.run({ script, stdin, timeoutMs: opts.timeoutMs, timeoutOnController: opts.timeoutOnController, bare: opts.bare })
      return r
    } catch (e) {
      if (!this._alive || e instanceof UnreachableError) throw this.unreachable()
      if (e instanceof ShellClosedError) {
        // The command took its shell down (kill $$, ...): report it as a failed command; the next
        // command gets a fresh shell.
        return {
          code: e.code ?? 255,
          stdout: e.stdout,
          stderr: Buffer.concat([e.stderr, Buffer.from(`\norch: the remote shell exited while running the command (${e.message})\n`)]),
          durationMs: 0,
          timedOut: false,
        }
      }
      throw e
    }
  }

  get commandsSent(): number {
    return this.sent
  }

  /** Round trips on the wire so far (roundtrips.ts), and the commands sent (a batch is one). */
  get transportStats(): TransportStats {
    return { ...(this.counter?.stats ?? { roundTrips: 0, handshakeRoundTrips: 0, keepalives: 0 }), commands: this.sent }
  }

  /**
   * Several scripts in one round trip, one after another in one subshell (framing.ts batchScript): one
   * result each. A script after one that ended the batch (`exit`), never run, reads as a failure (255,
   * "the batch ended before this script did").
   */
  runBatch(parts: Array<{ script: string; stdin?: string | Buffer }>, opts: ExecOptions = {}): Promise<ExecResult[]> {
    return this.enqueue(async () => {
      const markers = parts.map(() => newMarker())
      const end = newMarker()
      const framed: BatchPart[] = parts.map((p) => ({ script: p.script, stdin: p.stdin === undefined ? undefined : Buffer.isBuffer(p.stdin) ? p.stdin : Buffer.from(p.stdin) }))
      const r = await this.execRaw(batchScript(framed, markers, end), { ...opts, stdin: undefined, bare: true })
      return splitBatch(r.stdout, r.stderr, markers, end).map((x) =>
        x
          ? { code: x.code, stdout: x.stdout.toString('utf8'), stderr: x.stderr.toString('utf8'), durationMs: r.durationMs, timedOut: false }
          : { code: r.code === 0 ? 255 : r.code, stdout: '', stderr: `orch: the batch ended before this script did\n${r.stderr.toString('utf8').slice(-2000)}`, durationMs: r.durationMs, timedOut: r.timedOut },
      )
    })
  }

  /** Like run(), with stdout/stderr as bytes. */
  runRaw(script: string, opts: ExecOptions = {}): Promise<RawExecResult> {
    return this.enqueue(() => this.execRaw(script, opts))
  }

  run(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return this.enqueue(async () => {
      const r = await this.execRaw(script, opts)
      return { code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), durationMs: r.durationMs, timedOut: r.timedOut }
    })
  }

  /**
   * Write a file atomically: a temp file next to it (exclusive create, random name), its exact mode,
   * then rename over the target. As the login user this goes over SFTP on the same connection (one
   * channel opened once, ~1 ms per small file); as root through sudo (become) it goes through the
   * root shell: builtin printf with octal escapes for small files, base64 for big ones.
   */
  upload(remotePath: string, content: string | Buffer, mode = 0o644, opts: { become?: boolean } = {}): Promise<void> {
    const data = Buffer.isBuffer(content) ? content : Buffer.from(content)
    return this.enqueue(async () => {
      const become = opts.become ?? this.options.become ?? false
      const shell = await this.shell(false).catch((e) => {
        if (!this._alive) throw this.unreachable()
        throw e
      })
      if ((!become || (shell.uid === 0 && (this.options.becomeUser ?? 'root') === 'root')) && this.sftpUsable) {
        // Counted like a command (the shell path's execRaw counts itself).
        this.sent++
        try {
          return await this.uploadSftp(remotePath, data, mode)
        } catch (e) {
          if (!this._alive) throw this.unreachable()
          if (!(e instanceof SftpUnavailable)) throw e
          this.sftpUsable = false
        }
      }
      const r = await this.execRaw(this.uploadScript(remotePath, data, mode, shell.hasBase64), { become })
      if (r.code !== 0) {
        throw new Error(`${this.hostName}: upload to ${remotePath} failed (rc ${r.code}): ${r.stderr.toString('utf8').trim()}`)
      }
    })
  }

  private sftpUsable = true
  private sftpChannel: Promise<SFTPWrapper> | null = null

  private sftp(): Promise<SFTPWrapper> {
    if (!this.sftpChannel) {
      const p = new Promise<SFTPWrapper>((resolve, reject) => {
        this.client.sftp((err, s) => (err ? reject(new SftpUnavailable(err.message)) : resolve(s)))
      })
      this.sftpChannel = p
      p.then(
        (s) => {
          s.on('error', () => undefined)
          s.once('close', () => {
            if (this.sftpChannel === p) this.sftpChannel = null
          })
        },
        () => {
          if (this.sftpChannel === p) this.sftpChannel = null
        },
      )
    }
    return this.sftpChannel
  }

  private async uploadSftp(remotePath: string, data: Buffer, mode: number): Promise<void> {
    const s = await this.sftp()
    const call = <T = void>(f: (cb: (err: Error | null | undefined, v?: T) => void) => void) =>
      new Promise<T>((resolve, reject) => f((err, v) => (err ? reject(err) : resolve(v as T))))
    const tmp = posix.join(posix.dirname(remotePath), `.${posix.basename(remotePath)}.orch-${randomBytes(6).toString('hex')}.tmp`)
    const fail = (what: string, e: unknown) => {
      if (!this._alive) return this.unreachable()
      return new Error(`${this.hostName}: upload to ${remotePath} failed: ${what}: ${(e as Error).message}`)
    }
    let isDir = false
    try {
      isDir = (await call<Stats>((cb) => s.stat(remotePath, cb as never))).isDirectory()
    } catch {
      /* does not exist yet */
    }
    if (isDir) throw new Error(`${this.hostName}: upload to ${remotePath} failed: ${remotePath}: is a directory`)
    let handle: Buffer
    try {
      handle = await call<Buffer>((cb) => s.open(tmp, 'wx', { mode: 0o600 }, cb as never))
    } catch (e) {
      throw fail(`cannot create ${tmp}`, e)
    }
    try {
      for (let off = 0; off < data.length; off += 256 * 1024) {
        const len = Math.min(256 * 1024, data.length - off)
        await call((cb) => s.write(handle, data, off, len, off, cb as never))
      }
      await call((cb) => s.fchmod(handle, mode & 0o7777, cb as never))
      await call((cb) => s.close(handle, cb as never))
      await call((cb) => s.ext_openssh_rename(tmp, remotePath, cb as never))
    } catch (e) {
      await call((cb) => s.close(handle, cb as never)).catch(() => undefined)
      await call((cb) => s.unlink(tmp, cb as never)).catch(() => undefined)
      // No posix-rename@openssh.com (not OpenSSH): the shell does it.
      if (/does not support/i.test((e as Error).message)) throw new SftpUnavailable((e as Error).message)
      throw fail('write', e)
    }
  }

  private uploadScript(remotePath: string, data: Buffer, mode: number, hasBase64: boolean): string {
    const tmp = posix.join(posix.dirname(remotePath), `.${posix.basename(remotePath)}.orch-${randomBytes(6).toString('hex')}.tmp`)
    const m = (mode & 0o7777).toString(8).padStart(4, '0')
    let write: string
    if (hasBase64 && data.length > 16 * 1024) {
      const eof = `ORCH_EOF_${randomBytes(8).toString('hex')}`
      const b64 = data.toString('base64').replace(/.{1,76}/g, '$&\n')
      write = sh`base64 -d > ${tmp} <<'${raw(eof)}'` + `\n${b64}${eof}\n`
    } else {
      write = sh`printf ${raw(printfLiteral(data))} > ${tmp}`
    }
    // umask 077 + set -C: the temp file is created exclusively and private until it has its mode.
    return (
      sh`if [ -d ${remotePath} ]; then echo ${`${remotePath}: is a directory`} >&2; exit 1; fi; umask 077; set -C\n` +
      `{ ${write}\n}` +
      sh` && chmod ${m} ${tmp} && mv -f ${tmp} ${remotePath} || { rc=$?; rm -f ${tmp}; exit $rc; }`
    )
  }

  /** Read a remote file (bytes). */
  async download(remotePath: string, opts: { become?: boolean } = {}): Promise<Buffer> {
    const r = await this.runRaw(sh`cat -- ${remotePath}`, { become: opts.become })
    if (r.code !== 0) throw new Error(`${this.hostName}: cannot read ${remotePath} (rc ${r.code}): ${r.stderr.toString('utf8').trim()}`)
    return r.stdout
  }

  /** The underlying ssh2 client (SFTP, port forwards...). */
  get sshClient(): ClientT {
    return this.client
  }

  /**
   * End the session. By default it waits (up to 2 s) for the server to close the connection; with `wait:
   * false` it only sends the disconnect (the kernel delivers it, then the FIN, even if the process exits).
   */
  async close(opts: { wait?: boolean } = {}): Promise<void> {
    if (!this._alive && !this.client) return
    this.deathReason = 'closed by orch'
    const wasAlive = this._alive
    this._alive = false
    const err = this.unreachable()
    this.userShell?.abort(err)
    this.rootShell?.abort(err)
    this.userShell?.close()
    this.rootShell?.close()
    if (wasAlive && opts.wait === false) this.client.end()
    else if (wasAlive) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2000)
        this.client.once('close', () => {
          clearTimeout(t)
          resolve()
        })
        this.client.end()
      })
    }
    for (const j of this.owned) j.end()
  }
}

