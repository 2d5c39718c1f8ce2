/** Pure helpers of the datapath bench (bench/datapath.ts): iperf3 and ping output, the goals (unit-tested). */
import type { Summary } from './stats.ts'

/** `iperf3 -J` of the client: what the receiver got (bits/s) and the sender's retransmits. */
export function parseIperf(json: string): { bps: number; retransmits: number } {
  let doc: any
  try {
    doc = JSON.parse(json)
  } catch {
    throw new Error(`iperf3 -J printed no JSON: ${json.slice(0, 200)}`)
  }
  if (doc.error) throw new Error(`iperf3: ${doc.error}`)
  const bps = doc.end?.sum_received?.bits_per_second
  if (typeof bps !== 'number') throw new Error('iperf3 -J has no end.sum_received.bits_per_second')
  return { bps, retransmits: Number(doc.end?.sum_sent?.retransmits ?? 0) }
}

/** iputils ping -q: the average round trip in ms ("rtt min/avg/max/mdev = a/b/c/d ms"). */
export function parsePingAvg(out: string): number {
  const m = /= [\d.]+\/([\d.]+)\/[\d.]+\/[\d.]+ ms/.exec(out)
  if (!m) throw new Error(`ping: no round-trip summary in: ${out.trim().split('\n').slice(-2).join(' | ')}`)
  return Number(m[1])
}

export interface DatapathRow {
  strategy: string
  bare: Summary
  container: Summary
  bareRtt: Summary
  containerRtt: Summary
  load: Summary
}

/** container / bare of a row (NaN without both). */
export const pathRatio = (r: DatapathRow): number => (r.bare.n && r.container.n && r.bare.median > 0 ? r.container.median / r.bare.median : NaN)

/**
 * The goals (issue 19): routes and bridge at 90% of the bare path or more; ovs-gre at or above the
 * ratio of the kernel VXLAN measured in the same run. Only for strategies that were measured.
 */
export function datapathGoals(rows: DatapathRow[]): Array<{ goal: string; measured: number; met: boolean }> {
  const by = new Map(rows.map((r) => [r.strategy, pathRatio(r)]))
  const out: Array<{ goal: string; measured: number; met: boolean }> = []
  for (const s of ['routes', 'bridge']) {
    const x = by.get(s)
    if (x !== undefined && Number.isFinite(x)) out.push({ goal: `${s} >= 90% of the bare path`, measured: x, met: x >= 0.9 })
  }
  const vx = by.get('vxlan')
  const gre = by.get('ovs-gre')
  if (vx !== undefined && gre !== undefined && Number.isFinite(vx) && Number.isFinite(gre))
    out.push({ goal: `ovs-gre >= the kernel vxlan ratio of this run (${(vx * 100).toFixed(0)}%)`, measured: gre, met: gre >= vx })
  return out
}
