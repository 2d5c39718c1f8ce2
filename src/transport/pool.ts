/**
 * Connections for many hosts: opened once per host and reused, at most `forks` being opened at a
 * time, and at most `maxHandshakes` unauthenticated SSH handshakes in flight to any one sshd (host:port,
 * through the same jump hosts; default 8, below sshd's MaxStartups 10:30:100, so inventory names that
 * all lead to one sshd don't get connections dropped by it). Different sshds are not held back by each
 * other: 20 hosts start their handshakes together (with one global cap of 8, the last of 20 lab hosts
 * started ~0.2 s after the first on the bench). Jump hosts are shared: 50 hosts behind one bastion use one
 * connection to it.
 */
import PQueue from 'p-queue'
import type { Client as ClientT } from 'ssh2'
import { connect, type SshConnection } from './connection.ts'
import { connectLocal } from './local.ts'
import type { ConnectOptions } from './options.ts'
import { UnreachableError, type Connection, type TransportStats } from './types.ts'

export interface PoolOptions {
  /** How many hosts are connected to at the same time (Ansible's forks; default 5). */
  forks?: number
  /** Concurrent handshakes not yet authenticated, per sshd (default 8). */
  maxHandshakes?: number
  /** Connect options per inventory host name (a function, or the list of every host's options). */
  resolve: ((hostName: string) => ConnectOptions) | ConnectOptions[]
}

export class ConnectionPool {
  private readonly opening = new PQueue({ concurrency: 5 })
  /** One queue per sshd endpoint (see the top of this file). */
  private readonly handshakes = new Map<string, PQueue>()
  private readonly maxHandshakes: number
  private readonly conns = new Map<string, Promise<SshConnection>>()
  private readonly jumps = new Map<string, Promise<ClientT>>()
  private readonly everOpened = new Map<string, SshConnection[]>()
  private closed = false
  /** Counters, for tests and --verbose output. */
  readonly stats = { handshakes: 0, inFlight: 0, peakInFlight: 0, connections: 0, peakPerEndpoint: 0 }

  private readonly resolve: (hostName: string) => ConnectOptions

  constructor(opts: PoolOptions) {
    const r = opts.resolve
    if (typeof r === 'function') this.resolve = r
    else {
      const byName = new Map(r.map((o) => [o.hostName, o]))
      this.resolve = (h) => {
        const o = byName.get(h)
        if (!o) throw new UnreachableError(h, `${h}: no connection options for this host`)
        return o
      }
    }
    this.opening.concurrency = Math.max(1, opts.forks ?? 5)
    this.maxHandshakes = Math.max(1, opts.maxHandshakes ?? 8)
  }

  /** The open connection to a host (opened on first use; reopened if it died). */
  get(hostName: string): Promise<SshConnection> {
    if (this.closed) return Promise.reject(new UnreachableError(hostName, `${hostName}: the connection pool is closed`))
    const cur = this.conns.get(hostName)
    if (cur) {
      return cur.then(
        (c) => (c.alive ? c : this.reopen(hostName, cur)),
        (e) => Promise.reject(e),
      )
    }
    return this.open(hostName)
  }

  private reopen(hostName: string, stale: Promise<SshConnection>): Promise<SshConnection> {
    if (this.conns.get(hostName) !== stale) return this.get(hostName)
    return this.open(hostName)
  }

  /** Forget a failed/closed host so that the next get() tries again. */
  forget(hostName: string): void {
    const p = this.conns.get(hostName)
    this.conns.delete(hostName)
    p?.then((c) => c.close()).catch(() => undefined)
  }

  private open(hostName: string): Promise<SshConnection> {
    let o: ConnectOptions
    try {
      o = this.resolve(hostName)
    } catch (e) {
      return Promise.reject(e)
    }
    const p = this.opening.add(
      () =>
        o.connection === 'local' ? connectLocal(o) : connect(o, {
          handshake: (endpoint, fn) => {
            const q = this.handshakeQueue(endpoint)
            return q.add(async () => {
              this.stats.handshakes++
              this.stats.peakInFlight = Math.max(this.stats.peakInFlight, ++this.stats.inFlight)
              // The queue's own count of what it runs now (this one included).
              this.stats.peakPerEndpoint = Math.max(this.stats.peakPerEndpoint, q.pending)
              try {
                return await fn()
              } finally {
                this.stats.inFlight--
              }
            }) as never
          },
          jump: (key, openJump) => this.jump(key, openJump),
        }),

    ) as Promise<SshConnection>
    this.conns.set(hostName, p)
    p.then((c) => {
      this.stats.connections++
      this.everOpened.set(hostName, [...(this.everOpened.get(hostName) ?? []), c])
    }, () => undefined)
    // A failed connect is not cached forever: the next get() after this one settles retries.
    p.catch(() => {
      if (this.conns.get(hostName) === p) this.conns.delete(hostName)
    })
    return p
  }

  private handshakeQueue(endpoint: string): PQueue {
    let q = this.handshakes.get(endpoint)
    if (!q) this.handshakes.set(endpoint, (q = new PQueue({ concurrency: this.maxHandshakes })))
    return q
  }

  private jump(key: string, openJump: () => Promise<ClientT>): Promise<ClientT> {
    const cur = this.jumps.get(key)
    if (cur) return cur
    const p = openJump()
    this.jumps.set(key, p)
    const drop = () => {
      if (this.jumps.get(key) === p) this.jumps.delete(key)
    }
    p.then((c) => c.once('close', drop), drop)
    return p
  }

  /** Open connections to many hosts (at most `forks` at once): host name -> connection or error. */
  async openAll(hostNames: string[]): Promise<Map<string, SshConnection | UnreachableError>> {
    const out = new Map<string, SshConnection | UnreachableError>()
    await Promise.all(
      hostNames.map((h) =>
        this.get(h).then(
          (c) => void out.set(h, c),
          (e) => void out.set(h, e instanceof UnreachableError ? e : new UnreachableError(h, `${h}: ${(e as Error).message}`)),
        ),
      ),
    )
    return out
  }

  /** Round trips and commands per host so far, over every connection opened to it (a reopened one too). */
  transportStats(): Record<string, TransportStats> {
    const out: Record<string, TransportStats> = {}
    for (const [h, cs] of this.everOpened) {
      const sum: TransportStats = { roundTrips: 0, handshakeRoundTrips: 0, keepalives: 0, commands: 0 }
      for (const c of cs) {
        const t = (c as Connection).transportStats
        if (!t) continue
        sum.roundTrips += t.roundTrips
        sum.handshakeRoundTrips += t.handshakeRoundTrips
        sum.keepalives += t.keepalives
        sum.commands += t.commands
      }
      out[h] = sum
    }
    return out
  }

  /** Connections open right now. */
  get size(): number {
    return this.conns.size
  }

  /**
   * Close every connection. `wait: false` (a process about to exit): say goodbye and go, without waiting
   * for each server to close its end (sshd tearing the sessions down, ~15 ms at the end of a 20-host run).
   */
  async closeAll(opts: { wait?: boolean } = {}): Promise<void> {
    this.closed = true
    const conns = [...this.conns.values()]
    this.conns.clear()
    await Promise.all(conns.map((p) => p.then((c) => c.close(opts)).catch(() => undefined)))
    const jumps = [...this.jumps.values()]
    this.jumps.clear()
    await Promise.all(jumps.map((p) => p.then((c) => c.end()).catch(() => undefined)))
  }
}
