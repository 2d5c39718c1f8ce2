/** Pure helpers of the bench: statistics, ratios, recap parsing and the stdout table (unit-tested). */

export interface Summary {
  n: number
  median: number
  min: number
  max: number
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

export function summarize(xs: readonly number[]): Summary {
  const ok = xs.filter((x) => Number.isFinite(x))
  return { n: ok.length, median: median(ok), min: ok.length ? Math.min(...ok) : NaN, max: ok.length ? Math.max(...ok) : NaN }
}

/** a / b, or NaN when either is missing or b is 0. */
export function ratio(a: number | undefined, b: number | undefined): number {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return NaN
  return a / b
}

/** Totals of an Ansible-style recap (orch prints the same): one "host : ok=N changed=N ..." line per host. */
export interface Recap {
  hosts: number
  ok: number
  changed: number
  unreachable: number
  failed: number
}

export function parseRecap(out: string): Recap {
  const r: Recap = { hosts: 0, ok: 0, changed: 0, unreachable: 0, failed: 0 }
  for (const line of out.split('\n')) {
    const m = /^\S+\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/.exec(line.replace(/\x1b\[[0-9;]*m/g, ''))
    if (!m) continue
    r.hosts++
    r.ok += Number(m[1])
    r.changed += Number(m[2])
    r.unreachable += Number(m[3])
    r.failed += Number(m[4])
  }
  return r
}

/** orch's "Total time: 1.80s" line (time inside the engine: after start-up, before exit). */
export function parseOrchTotal(out: string): number | undefined {
  const m = /Total time: ([0-9.]+)s/.exec(out.replace(/\x1b\[[0-9;]*m/g, ''))
  return m ? Math.round(Number(m[1]) * 1000) : undefined
}

export const fmtSec = (ms: number | undefined): string => (ms === undefined || !Number.isFinite(ms) ? '-' : (ms / 1000).toFixed(ms < 10_000 ? 2 : 1) + ' s')
export const fmtRatio = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '-' : x >= 10 ? `${x.toFixed(0)}x` : `${x.toFixed(2)}x`)
export const fmtMiB = (kb: number | undefined): string => (kb === undefined || !Number.isFinite(kb) ? '-' : `${(kb / 1024).toFixed(0)} MiB`)

/** A plain text table: first row is the header; numbers-looking cells are right-aligned. */
export function table(rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return ''
  const cols = Math.max(...rows.map((r) => r.length))
  const width = Array.from({ length: cols }, (_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)))
  const right = (s: string) => /^[-+]?[0-9.]+( ?[a-zA-Z%]+)?$|^-$/.test(s)
  const line = (r: readonly string[]) =>
    Array.from({ length: cols }, (_, c) => {
      const s = r[c] ?? ''
      return c > 0 && right(s) ? s.padStart(width[c]) : s.padEnd(width[c])
    })
      .join('  ')
      .trimEnd()
  const out = [line(rows[0]), width.map((w) => '-'.repeat(w)).join('  ')]
  for (const r of rows.slice(1)) out.push(line(r))
  return out.join('\n')
}
