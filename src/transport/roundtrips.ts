/**
 * Round trips counted on the wire: how many times a connection waited for its server. Over a real network
 * each one costs a round-trip time, whatever the command does, so this is the figure latency multiplies.
 *
 * The rule, on the byte stream under ssh2 (the TCP socket, or a jump host's forwarded channel): a round trip
 * is counted when bytes arrive from the server after the controller wrote something since the last bytes
 * arrived. Writes sent back to back before an answer (pipelined) count once; an answer that comes in
 * several pieces counts once. Not counted: the TCP connect itself (one more round trip per connection).
 * Keepalives (ssh2's ping, one every keepalive interval: 5 s by default) are counted apart, and only when
 * nothing else was waiting (a ping sent while a command runs costs no extra wait).
 */
import type { Duplex } from 'node:stream'

export interface RoundTripStats {
  /** Every round trip on the connection, the handshake's included. */
  roundTrips: number
  /** Those up to the end of authentication (SSH version, key exchange, auth). */
  handshakeRoundTrips: number
  /** Keepalive exchanges, not in roundTrips. */
  keepalives: number
}

export class RoundTripCounter {
  private total = 0
  private atReady: number | undefined
  private wrote = false
  private pinged = false
  private inPing = false
  private pings = 0

  /**
   * Count on ssh2's client (right after connect(): its socket and protocol exist, nothing was sent). Writes
   * are seen on the socket, arrivals where ssh2 parses them: a 'data' listener of our own would turn the
   * socket to flowing before ssh2 listens (its crypto set-up is asynchronous) and could lose the server's
   * first bytes.
   */
  attach(client: unknown): void {
    const c = client as { _sock?: Duplex; _protocol?: { parse(...a: unknown[]): unknown; ping?(...a: unknown[]): unknown } }
    const sock = c._sock
    const proto = c._protocol
    if (!sock || !proto || typeof proto.parse !== 'function') return
    const write = sock.write
    sock.write = ((...args: Parameters<Duplex['write']>) => {
      if (this.inPing) this.pinged = true
      else this.wrote = true
      return write.apply(sock, args)
    }) as Duplex['write']
    const parse = proto.parse
    proto.parse = (...args: unknown[]) => {
      if (this.wrote) this.total++
      else if (this.pinged) this.pings++
      this.wrote = this.pinged = false
      return parse.apply(proto, args)
    }
    const ping = proto.ping
    if (typeof ping === 'function') {
      proto.ping = (...args: unknown[]) => {
        this.inPing = true
        try {
          return ping.apply(proto, args)
        } finally {
          this.inPing = false
        }
      }
    }
  }

  /** Authentication finished: what was counted so far was the handshake. */
  ready(): void {
    this.atReady ??= this.total
  }

  get stats(): RoundTripStats {
    return { roundTrips: this.total, handshakeRoundTrips: this.atReady ?? this.total, keepalives: this.pings }
  }
}
