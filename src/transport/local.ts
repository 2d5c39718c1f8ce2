/**
 * ansible_connection=local: the host is the controller. The same Connection as over ssh (SshConnection:
 * one persistent /bin/sh, framing, batches, become through one sudo/su shell, uploads through the shell),
 * with each "channel" a local `/bin/sh -c COMMAND` child instead of an ssh exec channel. Children are
 * ended by closing their stdin (the shell exits) and, on close, killed by PID.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { userInfo } from 'node:os'
import type { Client as ClientT } from 'ssh2'
import { SshConnection } from './connection.ts'
import type { ConnectOptions, ResolvedHop } from './options.ts'
import { UnreachableError } from './types.ts'

/** What RemoteShell uses of an ssh2 ClientChannel, over a child process. */
class LocalChannel extends EventEmitter {
  readonly stderr: NodeJS.ReadableStream
  private exited = false

  constructor(private readonly proc: ChildProcessWithoutNullStreams) {
    super()
    this.stderr = proc.stderr
    proc.stdout.on('data', (d: Buffer) => this.emit('data', d))
    proc.stdin.on('error', () => undefined) // EPIPE after the shell exited: its 'close' tells the story
    proc.on('error', (e) => this.emit('error', e))
    proc.on('exit', (code, signal) => {
      this.exited = true
      this.emit('exit', code ?? (signal ? 128 : null))
    })
    proc.on('close', () => this.emit('close'))
  }

  write(data: string | Buffer): boolean {
    return this.exited ? false : this.proc.stdin.write(data)
  }

  end(data?: string): void {
    if (!this.exited) this.proc.stdin.end(data)
  }

  signal(name: string): void {
    this.kill(`SIG${name}` as NodeJS.Signals)
  }

  close(): void {
    if (!this.exited) this.proc.stdin.end()
    // A shell busy in a command would not read the EOF: end it (and only it) by PID.
    setTimeout(() => this.kill('SIGKILL'), 2000).unref()
  }

  private kill(sig: NodeJS.Signals): void {
    if (this.exited || !this.proc.pid) return
    try {
      process.kill(this.proc.pid, sig)
    } catch {
      /* gone */
    }
  }
}

/** What SshConnection uses of an ssh2 Client: exec (a local child), no sftp, end. */
class LocalClient extends EventEmitter {
  private readonly channels = new Set<LocalChannel>()
  private ended = false

  exec(command: string, cb: (err: Error | undefined, ch: LocalChannel) => void): void {
    if (this.ended) throw new Error('the local connection is closed')
    const proc = spawn('/bin/sh', ['-c', command], { stdio: ['pipe', 'pipe', 'pipe'] })
    const ch = new LocalChannel(proc)
    this.channels.add(ch)
    ch.once('close', () => this.channels.delete(ch))
    cb(undefined, ch)
  }

  sftp(cb: (err: Error) => void): void {
    cb(new Error('a local connection writes files through its shell'))
  }

  end(): void {
    if (this.ended) return
    this.ended = true
    for (const ch of this.channels) ch.close()
    setImmediate(() => this.emit('close'))
  }
}

/** A connection to the controller itself, with the host's become settings. */
export function connectLocal(o: ConnectOptions): SshConnection {
  let user: string
  try {
    user = userInfo().username
  } catch (e) {
    throw new UnreachableError(o.hostName, `${o.hostName}: local connection: ${(e as Error).message}`)
  }
  const target: ResolvedHop = {
    spec: 'local',
    host: 'localhost',
    port: 0,
    user,
    identityFiles: [],
    identityFilesExplicit: false,
    identitiesOnly: false,
    agentSocket: null,
    knownHostsFiles: [],
    globalKnownHostsFiles: [],
    hostKeyChecking: 'off',
    hashKnownHosts: false,
    connectTimeoutMs: o.connectTimeoutMs ?? 10_000,
    keepaliveIntervalMs: 0,
    keepaliveCountMax: 0,
    proxyJump: [],
  }
  return new SshConnection(o, target, new LocalClient() as unknown as ClientT, [], 0)
}
