/**
 * The datapath bench's pure parts on recorded output of the real tools (iperf3 3.12 -J client on
 * loopback, one refused; iputils ping -q), and its goals.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { datapathGoals, parseIperf, parsePingAvg, pathRatio, type DatapathRow } from '../../bench/lib/datapath.ts'
import { summarize } from '../../bench/lib/stats.ts'

const fixture = (f: string) => readFileSync(new URL(`../fixtures/bench/${f}`, import.meta.url), 'utf8')

const row = (strategy: string, bare: number[], container: number[]): DatapathRow => ({
  strategy,
  bare: summarize(bare),
  container: summarize(container),
  bareRtt: summarize([]),
  containerRtt: summarize([]),
  load: summarize([]),
})

describe('datapath bench', () => {
  it('reads what the receiver got and the retransmits from iperf3 -J', () => {
    expect(parseIperf(fixture('iperf3-client.json'))).toEqual({ bps: 3084605732.19813, retransmits: 2 })
    expect(() => parseIperf(fixture('iperf3-refused.json'))).toThrow('iperf3: unable to connect to server: Connection refused')
    expect(() => parseIperf('iperf3: error')).toThrow('printed no JSON')
  })

  it("reads ping's average round trip", () => {
    expect(parsePingAvg(fixture('ping-q.txt'))).toBe(0.039)
    expect(() => parsePingAvg('2 packets transmitted, 0 received, 100% packet loss')).toThrow('no round-trip summary')
  })

  it('judges routes/bridge against 90% of bare and ovs-gre against the kernel vxlan of the same run', () => {
    const rows = [row('routes', [10, 12, 11], [9.9, 10, 10.1]), row('bridge', [10], [8]), row('vxlan', [10], [6]), row('ovs-gre', [10], [5]), row('wireguard', [10], [])]
    expect(pathRatio(rows[0])).toBeCloseTo(10 / 11)
    expect(Number.isNaN(pathRatio(rows[4]))).toBe(true)
    expect(datapathGoals(rows).map((g) => [g.goal, g.met])).toEqual([
      ['routes >= 90% of the bare path', true],
      ['bridge >= 90% of the bare path', false],
      ['ovs-gre >= the kernel vxlan ratio of this run (60%)', false],
    ])
    expect(datapathGoals([row('vxlan', [10], [6])])).toEqual([])
  })
})
