/** Opening one SSH client to a host: ProxyJump hops, ProxyCommand, host key checks, retries with backoff. */
import { spawn } from 'node:child_process'
import { Duplex } from 'node:stream'
import ssh2 from 'ssh2'
import type { Client as ClientT, ClientChannel } from 'ssh2'
import { planAuth, type AuthPlan } from './auth.ts'
import { hopKey, hopLabel, verifyHostKey } from './hostkey.ts'
import { algorithmsForKeyType, knownHostsName, knownKeyTypes } from './known-hosts.ts'
import { resolveJump, type ConnectOptions, type ResolvedHop } from './options.ts'
import { RoundTripCounter } from './roundtrips.ts'
import { HostKeyError, UnreachableError } from './types.ts'

const { Client } = ssh2

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

export interface Opened {
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

export class Connector {
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
