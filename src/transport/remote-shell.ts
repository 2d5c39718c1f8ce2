/**
 * One persistent `/bin/sh` on an SSH session channel (exec, no pty), running framed commands
 * one after another (see framing.ts). Optionally the shell is the become user's (root by default),
 * opened once via sudo or su, the password fed on stdin (never on a command line).
 */
import type { Client, ClientChannel } from 'ssh2'
import { argv, quote } from '../net/shell.ts'
import { MarkerScanner, SHELL_UMASK, frameCommand, newMarker, type FrameSpec } from './framing.ts'
import { BecomeError } from './types.ts'

export { BecomeError }

export interface RawResult {
  code: number
  stdout: Buffer
  stderr: Buffer
  durationMs: number
  timedOut: boolean
}

/** The shell went away while a command ran (the connection may still be fine). */
export class ShellClosedError extends Error {
  constructor(
    message: string,
    readonly code: number | null,
    readonly stdout: Buffer,
    readonly stderr: Buffer,
  ) {
    super(message)
    this.name = 'ShellClosedError'
  }
}

interface Pending {
  out: MarkerScanner
  err: MarkerScanner
  start: number
  timer?: NodeJS.Timeout
  timeoutMs?: number
  resolve(r: RawResult): void
  reject(e: Error): void
}

/** Slack on top of a remote-enforced timeout before the controller gives up on the shell. */
const BACKSTOP_MS = 5000

function execChannel(client: Client, command: string): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    try {
      client.exec(command, (err, ch) => (err ? reject(err) : resolve(ch)))
    } catch (e) {
      reject(e as Error)
    }
  })
}

export interface ShellOpenOptions {
  hostName: string
  /** Open the shell as another user: sudo -u USER, or su USER (util-linux su reads the password from stdin). */
  become?: { method: 'sudo' | 'su'; user: string }
  becomePassword?: string
  timeoutMs: number
}

export class RemoteShell {
  pid = 0
  uid = -1
  /**
   * A `timeout` that understands `-k` works on the target (remote-enforced command timeouts); undefined
   * until the first command that wants one asks (most runs never do: one process less per connection).
   */
  hasTimeout: boolean | undefined = undefined
  /** `base64` exists on the target (faster uploads of big files through the shell). */
  hasBase64 = false
  closed = false
  exitCode: number | null = null
  private pending: Pending | null = null
  /** Output that arrived while no command ran (a background process of an earlier command). */
  strayBytes = 0

  private constructor(
    private readonly channel: ClientChannel,
    readonly hostName: string,
  ) {}

  static async open(client: Client, o: ShellOpenOptions): Promise<RemoteShell> {
    const authMark = newMarker()
    const b = o.become
    // su prints its own prompt (LC_ALL=C: "Password: "); sudo prints ours.
    const prompt = b?.method === 'su' ? 'Password: ' : `[orch-sudo-${authMark.slice(-12)}] `
    const inner = `printf '%s\\n' ${quote(authMark)}; exec /bin/sh`
    // The login shell only ever sees one `exec`: its rc files and its own syntax do not matter.
    const command = !b
      ? 'exec /bin/sh'
      : b.method === 'sudo'
        ? 'exec ' + argv(['sudo', '-S', '-H', '-p', prompt, '-u', b.user, '--', '/bin/sh', '-c', inner])
        : 'LC_ALL=C exec ' + argv(['su', b.user, '-c', inner])
    const channel = await execChannel(client, command)
    channel.on('error', () => {
      /* surfaced through 'close' */
    })
    const shell = new RemoteShell(channel, o.hostName)
    await shell.start(o, b ? { authMark, prompt, tool: b.method } : null)
    return shell
  }

  private async start(o: ShellOpenOptions, sudo: { authMark: string; prompt: string; tool: 'sudo' | 'su' } | null): Promise<void> {
    const ch = this.channel
    const ready = newMarker()
    const init =
      'PATH="${PATH:-/usr/bin:/bin}:/usr/local/sbin:/usr/sbin:/sbin"; export PATH; unset ENV BASH_ENV CDPATH; ' +
      `LC_ALL=C; export LC_ALL; umask ${SHELL_UMASK}\n` +
      // No process at all on a target with /proc: every connection pays this. The uid comes from /proc
      // (builtin read; id -u where /proc is missing); `timeout` is probed when first needed (probeTimeout).
      `u=; while read -r k a b c; do if [ "$k" = Uid: ]; then u=$b; break; fi; done < /proc/self/status 2>/dev/null; [ -n "$u" ] || u=$(id -u); ` +
      `b=0; command -v base64 >/dev/null 2>&1 && b=1; ` +
      `printf '%s %s %s %s\\n' ${quote(ready)} "$$" "$u" "$b"; unset u b k a c; ` +
      `printf '%s\\n' ${quote(ready)} >&2\n`
    let out = Buffer.alloc(0)
    let err = Buffer.alloc(0)
    let stage: 'auth' | 'init' = sudo ? 'auth' : 'init'
    let passwordSent = false
    const scrub = (s: string) => (o.becomePassword ? s.split(o.becomePassword).join('********') : s)
    ch.on('exit', (code: number | null) => {
      this.exitCode = code
    })

    await new Promise<void>((resolve, reject) => {
      let done = false
      const finish = (e?: Error) => {
        if (done) return
        done = true
        clearTimeout(timer)
        ch.removeListener('data', onOut)
        ch.stderr.removeListener('data', onErr)
        ch.removeListener('close', onClose)
        if (e) {
          try {
            ch.close()
          } catch {
            /* already closed */
          }
          reject(e)
        } else resolve()
      }
      const timer = setTimeout(
        () =>
          finish(
            sudo && stage === 'auth'
              ? new BecomeError(o.hostName, `no answer from ${sudo.tool} within ${o.timeoutMs} ms: ${scrub(err.toString().trim()) || '(no output)'}`)
              : new Error(`the shell did not start within ${o.timeoutMs} ms`),
          ),
        o.timeoutMs,
      )
      const check = () => {
        if (stage === 'auth' && sudo) {
          const prompts = err.toString('latin1').split(sudo.prompt).length - 1
          if (prompts > 0 && !passwordSent) {
            if (o.becomePassword === undefined) return finish(new BecomeError(o.hostName, `${sudo.tool} asks for a password and no become password was given`))
            if (/[\r\n]/.test(o.becomePassword)) return finish(new BecomeError(o.hostName, 'the become password contains a line break'))
            passwordSent = true
            ch.write(o.becomePassword + '\n')
          } else if (prompts > 1) {
            return finish(new BecomeError(o.hostName, `incorrect ${sudo.tool} password`))
          }
          const i = out.indexOf(sudo.authMark + '\n')
          if (i >= 0) {
            out = out.subarray(i + sudo.authMark.length + 1)
            err = Buffer.alloc(0)
            stage = 'init'
            ch.write(init)
          }
        }
        if (stage === 'init') {
          const i = out.indexOf(ready + ' ')
          const nl = i >= 0 ? out.indexOf(0x0a, i) : -1
          if (nl >= 0 && err.includes(ready + '\n')) {
            const [pid, uid, hasBase64] = out.toString('latin1', i + ready.length + 1, nl).split(' ')
            this.hasBase64 = hasBase64 === '1'
            this.pid = Number(pid)
            this.uid = Number(uid)
            finish()
          }
        }
      }
      const onOut = (d: Buffer) => {
        out = Buffer.concat([out, d])
        check()
      }
      const onErr = (d: Buffer) => {
        err = Buffer.concat([err, d])
        check()
      }
      const onClose = () => {
        const said = [err.toString(), out.toString()].map((t) => t.trim()).filter(Boolean).join(' / ')
        const msg = scrub(said.replace(/\[orch-sudo-[0-9a-f]+\] /g, '').replace(/^Password: /, '')).slice(-1000)
        if (sudo?.tool === 'su' && stage === 'auth' && /Authentication failure/i.test(msg) && passwordSent) return finish(new BecomeError(o.hostName, 'incorrect su password'))
        if (sudo && stage === 'auth') {
          finish(new BecomeError(o.hostName, msg || `${sudo.tool} exited with code ${this.exitCode ?? '?'}`))
        } else finish(new Error(`the shell exited during startup (code ${this.exitCode ?? '?'}): ${msg || '(no output)'}`))
      }
      ch.on('data', onOut)
      ch.stderr.on('data', onErr)
      ch.on('close', onClose)
      if (!sudo) ch.write(init)
    })

    ch.on('data', (d: Buffer) => this.onData(d, false))
    ch.stderr.on('data', (d: Buffer) => this.onData(d, true))
    ch.on('close', () => this.onClose())
  }

  private onData(d: Buffer, isErr: boolean): void {
    const p = this.pending
    if (!p) {
      this.strayBytes += d.length
      return
    }
    if (isErr) p.err.push(d)
    else p.out.push(d)
    this.maybeDone()
  }

  private maybeDone(): void {
    const p = this.pending
    if (!p || p.out.foundAt < 0 || p.err.foundAt < 0) return
    const nl = p.out.after.indexOf(0x0a)
    if (nl < 0) return
    const code = Number(p.out.after.toString('latin1', 0, nl))
    this.pending = null
    clearTimeout(p.timer)
    const durationMs = performance.now() - p.start
    // `timeout` exits 124 (TERM) or 137 (KILL after the grace period) when it fired.
    const timedOut = p.timeoutMs !== undefined && (code === 124 || code === 137) && durationMs >= p.timeoutMs * 0.95
    p.resolve({ code: timedOut ? 124 : code, stdout: p.out.data(), stderr: p.err.data(), durationMs, timedOut })
  }

  private onClose(): void {
    this.closed = true
    const p = this.pending
    if (!p) return
    this.pending = null
    clearTimeout(p.timer)
    p.reject(new ShellClosedError(`remote shell exited (code ${this.exitCode ?? 'unknown'})`, this.exitCode, p.out.data(), p.err.data()))
  }

  /**
   * Whether `timeout -k` works here: it does when it gets as far as failing to run a program that does not
   * exist (127); without -k it fails on the option (GNU 125, busybox 1). One round trip, once per shell.
   */
  private async probeTimeout(): Promise<boolean> {
    const r = await this.send({ script: 'command -v timeout >/dev/null 2>&1 || exit 1; timeout -k 1 5 /nonexistent/orch-probe >/dev/null 2>&1; [ $? = 127 ]' })
    return (this.hasTimeout = r.code === 0)
  }

  /** Run one framed command. The caller serializes calls. */
  async run(spec: FrameSpec): Promise<RawResult> {
    if (spec.timeoutMs !== undefined && !(spec.timeoutMs > 0)) spec = { ...spec, timeoutMs: undefined }
    if (spec.timeoutMs !== undefined && !spec.timeoutOnController && this.hasTimeout === undefined && !this.closed && !this.pending) await this.probeTimeout()
    return this.send(spec)
  }

  private send(spec: FrameSpec): Promise<RawResult> {
    if (this.closed) return Promise.reject(new ShellClosedError('remote shell is closed', this.exitCode, Buffer.alloc(0), Buffer.alloc(0)))
    if (this.pending) return Promise.reject(new Error('RemoteShell.run called while a command is running'))
    const marker = newMarker()
    const remoteTimeout = spec.timeoutMs !== undefined && this.hasTimeout && !spec.timeoutOnController ? spec.timeoutMs : undefined
    const text = frameCommand(marker, { ...spec, timeoutMs: remoteTimeout })
    return new Promise<RawResult>((resolve, reject) => {
      const p: Pending = {
        out: new MarkerScanner(Buffer.from(marker + ':')),
        err: new MarkerScanner(Buffer.from(marker + '\n')),
        start: performance.now(),
        timeoutMs: spec.timeoutMs,
        resolve,
        reject,
      }
      if (spec.timeoutMs !== undefined) {
        // Backstop: the target has no `timeout`, or the command ignores it (D state, ...): give up on
        // this shell (a fresh one serves the next command) and report the timeout.
        const limit = remoteTimeout !== undefined ? spec.timeoutMs + 1000 + BACKSTOP_MS : spec.timeoutMs
        p.timer = setTimeout(() => {
          if (this.pending !== p) return
          this.pending = null
          this.closed = true
          try {
            this.channel.signal('KILL')
          } catch {
            /* not supported */
          }
          this.channel.close()
          const note = Buffer.from(`\norch: command timed out after ${spec.timeoutMs} ms; its shell was abandoned\n`)
          resolve({
            code: 124,
            stdout: p.out.data(),
            stderr: Buffer.concat([p.err.data(), note]),
            durationMs: performance.now() - p.start,
            timedOut: true,
          })
        }, limit)
      }
      this.pending = p
      this.channel.write(text)
    })
  }

  /** Fail the running command (the connection died). */
  abort(e: Error): void {
    const p = this.pending
    this.closed = true
    if (!p) return
    this.pending = null
    clearTimeout(p.timer)
    p.reject(e)
  }

  close(): void {
    if (this.closed && !this.pending) {
      try {
        this.channel.close()
      } catch {
        /* gone */
      }
      return
    }
    this.closed = true
    try {
      this.channel.end('exit\n')
    } catch {
      /* gone */
    }
    try {
      this.channel.close()
    } catch {
      /* gone */
    }
  }
}
