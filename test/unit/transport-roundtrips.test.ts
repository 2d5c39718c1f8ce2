/** The wire's round-trip counter (src/transport/roundtrips.ts) on a stand-in for ssh2's client. */
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { RoundTripCounter } from '../../src/transport/roundtrips.ts'

function fakeClient() {
  const sock = new PassThrough()
  const parsed: string[] = []
  const client = { _sock: sock, _protocol: { parse: (d: Buffer) => void parsed.push(String(d)), ping: () => void sock.write('ping') } }
  // events: w = the controller writes, r = bytes from the server parsed, p = a keepalive sent
  const step = (e: string) => (e === 'w' ? sock.write('x') : e === 'p' ? client._protocol.ping() : client._protocol.parse(Buffer.from('y')))
  return { client, step, parsed }
}

describe('RoundTripCounter', () => {
  const cases: Array<[string, string, number, number?]> = [
    ['one request, one answer', 'wr', 1],
    ['pipelined writes, one answer', 'wwwr', 1],
    ['an answer in pieces', 'wrrr', 1],
    ['three exchanges', 'wrwrwr', 3],
    ['bytes the server sent unasked', 'rrwr', 1],
    ['a write nobody answered yet', 'wrw', 1],
    ['nothing', '', 0],
    ['a keepalive on an idle connection', 'wrpr', 1, 1],
    ['a keepalive while a command runs', 'wpr', 1, 0],
    ['a keepalive, then a command before its answer', 'pwr', 1, 0],
  ]
  for (const [name, events, expected, pings = 0] of cases) {
    it(`${name}: ${events || '(none)'} -> ${expected}`, () => {
      const f = fakeClient()
      const c = new RoundTripCounter()
      c.attach(f.client)
      for (const e of events) f.step(e)
      expect(c.stats.roundTrips).toBe(expected)
      expect(c.stats.keepalives).toBe(pings)
      // ssh2 still gets every byte it parses
      expect(f.parsed.length).toBe([...events].filter((e) => e === 'r').length)
    })
  }

  it('splits the handshake from what follows at ready()', () => {
    const f = fakeClient()
    const c = new RoundTripCounter()
    c.attach(f.client)
    for (const e of 'wrwrwr') f.step(e)
    c.ready()
    for (const e of 'wwrwr') f.step(e)
    c.ready() // only the first call counts
    expect(c.stats).toEqual({ roundTrips: 5, handshakeRoundTrips: 3, keepalives: 0 })
  })

  it('counts nothing on a client without the expected internals (and does not throw)', () => {
    const c = new RoundTripCounter()
    c.attach({})
    expect(c.stats).toEqual({ roundTrips: 0, handshakeRoundTrips: 0, keepalives: 0 })
  })
})
