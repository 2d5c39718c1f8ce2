/** The tables and goals of parts e (latency) and s (many hosts), for bench/run.ts's output. */
import type { ManyRow } from './many.ts'
import { fmtMiB, fmtRatio, fmtSec, ratio, table } from './stats.ts'
import type { WanResult } from './wan.ts'

export interface GoalLine {
  goal: string
  measured: string
  met: boolean
}

export function wanReport(w: WanResult): { text: string; goals: GoalLine[] } {
  const rows: string[][] = [['RTT', 'tool', 'first run', 'second run', 'ansible/orch (1st/2nd)', 'orch/floor (1st/2nd)', 'round trips/host 1st / 2nd (handshake)', 'per task, 2nd']]
  const goals: GoalLine[] = []
  for (const rtt of [...new Set(w.rows.map((r) => r.rttMs))]) {
    const at = (t: string) => w.rows.find((r) => r.rttMs === rtt && r.tool === t)
    const orch = at('orch')
    const ans = at('ansible')
    const floor = at('floor')
    // The tasks' share of a no-change run: what is left after the handshake, the shell's start (3) and begin + commit.
    const perTask = orch?.roundTripsSecond !== undefined && orch.handshakeRoundTrips !== undefined ? (orch.roundTripsSecond - orch.handshakeRoundTrips - 3 - 2) / w.tasks : undefined
    for (const r of [orch, ans, floor]) {
      if (!r) continue
      rows.push([
        `${rtt} ms`,
        r.tool,
        fmtSec(r.first.median),
        fmtSec(r.second.median),
        r.tool === 'ansible' && orch ? `${fmtRatio(ratio(r.first.median, orch.first.median))} / ${fmtRatio(ratio(r.second.median, orch.second.median))}` : '',
        r.tool === 'orch' && floor ? `${fmtRatio(ratio(r.first.median, floor.first.median))} / ${fmtRatio(ratio(r.second.median, floor.second.median))}` : '',
        r.tool === 'orch' ? `${r.roundTripsFirst} / ${r.roundTripsSecond} (${r.handshakeRoundTrips})` : '',
        r.tool === 'orch' && perTask !== undefined ? perTask.toFixed(2) : '',
      ])
    }
    if (perTask !== undefined) goals.push({ goal: `round trips per no-change task <= 1 (${rtt} ms)`, measured: perTask.toFixed(2), met: perTask <= 1 })
    if (rtt === 50 && orch && ans) {
      const x = ratio(ans.first.median, orch.first.median)
      goals.push({ goal: 'orch >= 50x faster than ansible at 50 ms RTT, first run', measured: fmtRatio(x), met: x >= 50 })
      const y = ratio(ans.second.median, orch.second.median)
      goals.push({ goal: 'orch >= 50x faster than ansible at 50 ms RTT, second run', measured: fmtRatio(y), met: y >= 50 })
    }
    if (rtt === 0 && orch && ans && floor) {
      const x = ratio(ans.first.median, orch.first.median)
      goals.push({ goal: 'orch >= 30x faster than ansible (0 ms, first run)', measured: fmtRatio(x), met: x >= 30 })
      const f = ratio(orch.first.median, floor.first.median)
      goals.push({ goal: 'orch within 1.2x of the floor (0 ms, first run)', measured: fmtRatio(f), met: f <= 1.2 })
    }
  }
  return { text: `(e) ${w.hosts} hosts x ${w.tasks} tasks, round-trip time added by the relay\n` + table(rows), goals }
}

export function manyReport(rows: ManyRow[]): { text: string; goals: GoalLine[] } {
  const t: string[][] = [['hosts', 'labs', 'tool', 'first run', 'second run', 'CPU 1st (ctl + targets)', 'peak RSS', 'orch/floor 1st', 'labs up']]
  const goals: GoalLine[] = []
  for (const r of rows) {
    const floor = rows.find((x) => x.hosts === r.hosts && x.tool === 'floor')
    t.push([
      String(r.hosts),
      String(r.labs),
      r.tool,
      fmtSec(r.first.median),
      fmtSec(r.second.median),
      `${fmtSec(r.cpuFirst?.median)} + ${fmtSec(r.targetCpuFirst?.median)}`,
      fmtMiB(r.maxRssKb),
      r.tool === 'orch' && floor ? fmtRatio(ratio(r.first.median, floor.first.median)) : '',
      fmtSec(r.labUpMs),
    ])
    if (r.tool === 'orch' && r.hosts >= 1000) {
      goals.push({ goal: `${r.hosts} hosts x 10 tasks under 30 s, first run`, measured: fmtSec(r.first.median), met: r.first.median < 30_000 })
      goals.push({ goal: `${r.hosts} hosts x 10 tasks under 30 s, second run`, measured: fmtSec(r.second.median), met: r.second.median < 30_000 })
      goals.push({ goal: `controller memory under 500 MiB at ${r.hosts} hosts`, measured: fmtMiB(r.maxRssKb), met: (r.maxRssKb ?? Infinity) < 500 * 1024 })
    }
  }
  return { text: '(s) many hosts on one controller, forks = hosts\n' + table(t), goals }
}
