/**
 * Connection over ssh2: one SSH connection per host (through ProxyJump hops when configured), one
 * persistent `/bin/sh` on it for every command (and one become shell, root's or ansible_become_user's, opened once
 * via sudo or su).
 */
import { randomBytes } from 'node:crypto'
import { posix } from 'node:path'
import type { Client as ClientT, SFTPWrapper, Stats } from 'ssh2'
import { raw, sh } from '../net/shell.ts'
import { Connector, type ConnectDeps, type Opened } from './connector.ts'
import { batchScript, newMarker, printfLiteral, splitBatch, type BatchPart } from './framing.ts'
import { hopLabel } from './hostkey.ts'
import { resolveTarget, type ConnectOptions, type ResolvedHop } from './options.ts'
import { RemoteShell, ShellClosedError, type RawResult } from './remote-shell.ts'
import type { RoundTripCounter } from './roundtrips.ts'
import { BecomeError, UnreachableError, type Connection, type ExecOptions, type ExecResult, type TransportStats } from './types.ts'

export type { ConnectDeps } from './connector.ts'
export { hopKey, hopLabel, verifyHostKey } from './hostkey.ts'

/** ExecResult with the bytes as they came (binary output). */
export interface RawExecResult {
  code: number
  stdout: Buffer
  stderr: Buffer
  durationMs: number
  timedOut: boolean
}

class SftpUnavailable extends Error {}

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

