/**
 * Where orch's time goes: runs `orch run` in this process with every remote command timed.
 *
 *   npx tsx bench/trace.ts run PLAYBOOK -i INVENTORY [-f N] [...orch run options]
 *
 * Prints, after orch's own output (on stderr): process start → CLI ready, connections (first/last/median),
 * round trips per host by kind (begin, snapshot, read, journal, apply, commit), their latency, and the
 * run's phases on a time line. Instruments the ssh2 transport's prototype (SshConnection's execRaw, which
 * every round trip goes through: a command, a batch of reads, an upload; and ConnectionPool.get) from the
 * outside: orch's code is unchanged.
 */
import { performance } from 'node:perf_hooks'
import { SshConnection } from '../src/transport/connection.ts'
import { ConnectionPool } from '../src/transport/pool.ts'
import { main } from '../src/cli/main.ts'
import { median } from './lib/stats.ts'

const processStart = performance.timeOrigin
const tReady = performance.now()

interface Call {
  host: string
  kind: string
  start: number
  end: number
  /** The command's first line, for the slowest-commands list. */
  head: string
}
const calls: Call[] = []
const connects: Array<{ host: string; start: number; end: number }> = []

function kindOf(script: string, bare: boolean): string {
  if (script.includes('made=0') && script.includes('/var/lib/orch/lock')) return 'begin'
  if (script.includes('/var/lib/orch/last-committed') && script.includes('result=committed')) return 'commit'
  // A change whose undo is journalled rides with its entry (and, for a host's first change, the snapshot).
  if (script.includes('# orch entry ')) return script.includes('@@@orch-snapshot@@@') ? 'change+snap' : 'change'
  if (bare) return 'batch'
  return 'task'
}

// execRaw is private: every round trip on a connection (run, runRaw, runBatch, shell uploads) goes through it.
const proto = SshConnection.prototype as unknown as { execRaw(script: string, opts: { stdin?: unknown; bare?: boolean }): Promise<unknown> }
const origExec = proto.execRaw
proto.execRaw = async function (this: SshConnection, script: string, opts: { stdin?: unknown; bare?: boolean } = {}) {
  const start = performance.now()
  try {
    return await origExec.call(this, script, opts)
  } finally {
    calls.push({ host: this.hostName, kind: kindOf(script, !!opts.bare), start, end: performance.now(), head: script.split('\n').find((l) => l.trim() && !l.startsWith('( umask 077'))?.slice(0, 90) ?? '' })
  }
}

const origGet = ConnectionPool.prototype.get
const seen = new Set<string>()
ConnectionPool.prototype.get = function (this: ConnectionPool, hostName: string) {
  const p = origGet.call(this, hostName)
  if (!seen.has(hostName)) {
    seen.add(hostName)
    const start = performance.now()
    p.then(
      () => connects.push({ host: hostName, start, end: performance.now() }),
      () => undefined,
    )
  }
  return p
}

const t0 = performance.now()
const code = await main(['node', 'orch', ...process.argv.slice(2)])
const tEnd = performance.now()

const ms = (x: number) => `${x.toFixed(0)} ms`
const out: string[] = ['', '== trace ==']
out.push(`process start -> orch loaded: ${ms(tReady)} (node + tsx + orch modules; process started ${new Date(processStart).toISOString().slice(11, 23)})`)
out.push(`orch main(): ${ms(tEnd - t0)} (exit code ${code})`)
if (connects.length) {
  const d = connects.map((c) => c.end - c.start)
  out.push(`connections: ${connects.length}, first ready at +${ms(Math.min(...connects.map((c) => c.end)) - t0)}, last at +${ms(Math.max(...connects.map((c) => c.end)) - t0)}, each ${ms(median(d))} median (${ms(Math.min(...d))}-${ms(Math.max(...d))})`)
}
const hosts = new Set(calls.map((c) => c.host)).size || 1
const kinds = [...new Set(calls.map((c) => c.kind))]
out.push(`round trips: ${calls.length} (${(calls.length / hosts).toFixed(1)} per host)`)
for (const k of kinds) {
  const mine = calls.filter((c) => c.kind === k)
  const d = mine.map((c) => c.end - c.start)
  out.push(
    `  ${k.padEnd(12)} ${String(mine.length).padStart(5)}  ${(mine.length / hosts).toFixed(1).padStart(5)}/host  latency median ${ms(median(d))}, max ${ms(Math.max(...d))};  window +${ms(Math.min(...mine.map((c) => c.start)) - t0)} .. +${ms(Math.max(...mine.map((c) => c.end)) - t0)}`,
  )
}
// Busy time: how much of the run had at least one remote command in flight.
const ev = calls.flatMap((c) => [[c.start, 1] as const, [c.end, -1] as const]).sort((a, b) => a[0] - b[0])
let depth = 0
let last = 0
let busy = 0
for (const [t, d] of ev) {
  if (depth > 0) busy += t - last
  depth += d
  last = t
}
out.push(`remote commands in flight during ${ms(busy)} of ${ms(tEnd - t0)}`)
// The slowest commands, grouped by their first line (one line per kind of command, all hosts).
const groups = new Map<string, { n: number; total: number; max: number; first: number; last: number }>()
for (const c of calls) {
  // Same command on other hosts/peers: addresses and numbers do not make a new kind.
  const k = `${c.kind}: ${c.head.replace(/\d+(\.\d+){3}(\/\d+)?/g, 'IP').replace(/\d+/g, 'N')}`
  const g = groups.get(k) ?? { n: 0, total: 0, max: 0, first: Infinity, last: 0 }
  g.n++
  g.total += c.end - c.start
  g.max = Math.max(g.max, c.end - c.start)
  g.first = Math.min(g.first, c.start - t0)
  g.last = Math.max(g.last, c.end - t0)
  groups.set(k, g)
}
out.push('commands by first line (numbers and addresses folded), in time order: longest, count, window')
for (const [k, g] of [...groups].sort((a, b) => a[1].first - b[1].first).slice(0, Number(process.env.TRACE_TOP ?? 40)))
  out.push(`  ${ms(g.max).padStart(8)} max ${String(g.n).padStart(4)}x  +${ms(g.first)} .. +${ms(g.last)}  ${k.slice(0, 110)}`)
console.error(out.join('\n'))
process.exit(code)
