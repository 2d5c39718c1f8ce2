/** A small unified diff (Myers, line based) for --diff output. */
import type { Change } from '../engine/types.ts'

type Op = { t: ' ' | '-' | '+'; line: string }

function splitLines(s: string): string[] {
  if (s === '') return []
  const lines = s.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  return lines
}

/** Edit script from a to b (Myers O(ND)); falls back to replace-all when the inputs are huge and different. */
export function diffLines(a: string[], b: string[]): Op[] {
  const n = a.length
  const m = b.length
  const max = n + m
  if (max === 0) return []
  if (max > 40_000) return [...a.map((line) => ({ t: '-' as const, line })), ...b.map((line) => ({ t: '+' as const, line }))]
  const v = new Int32Array(2 * max + 2)
  const trace: Int32Array[] = []
  const off = max + 1
  let found = false
  for (let d = 0; d <= max && !found; d++) {
    trace.push(v.slice())
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[off + k - 1] < v[off + k + 1]) ? v[off + k + 1] : v[off + k - 1] + 1
      let y = x - k
      while (x < n && y < m && a[x] === b[y]) {
        x++
        y++
      }
      v[off + k] = x
      if (x >= n && y >= m) {
        found = true
        break
      }
    }
  }
  // Backtrack.
  const ops: Op[] = []
  let x = n
  let y = m
  for (let d = trace.length - 1; d >= 0; d--) {
    const vd = trace[d]
    const k = x - y
    const prevK = k === -d || (k !== d && vd[off + k - 1] < vd[off + k + 1]) ? k + 1 : k - 1
    const prevX = d === 0 ? 0 : vd[off + prevK]
    const prevY = prevX - prevK
    while (x > prevX && y > prevY) ops.push({ t: ' ', line: a[--x] }), y--
    if (d > 0) {
      if (x === prevX) ops.push({ t: '+', line: b[--y] })
      else ops.push({ t: '-', line: a[--x] })
    }
  }
  while (x > 0 && y > 0) ops.push({ t: ' ', line: a[--x] }), y--
  return ops.reverse()
}

export function unifiedDiff(before: string, after: string, opts: { from?: string; to?: string; context?: number } = {}): string {
  const a = splitLines(before)
  const b = splitLines(after)
  const ops = diffLines(a, b)
  if (!ops.some((o) => o.t !== ' ')) return ''
  const ctx = opts.context ?? 3
  const out = [`--- ${opts.from ?? 'before'}`, `+++ ${opts.to ?? 'after'}`]
  // Positions of each op in a and b.
  const pos: Array<{ ai: number; bi: number }> = []
  let ai = 0
  let bi = 0
  for (const o of ops) {
    pos.push({ ai, bi })
    if (o.t !== '+') ai++
    if (o.t !== '-') bi++
  }
  let i = 0
  while (i < ops.length) {
    if (ops[i].t === ' ') {
      i++
      continue
    }
    let start = Math.max(0, i - ctx)
    let end = i
    // Extend the hunk while changes are within 2*ctx of each other.
    for (;;) {
      while (end < ops.length && ops[end].t !== ' ') end++
      let j = end
      while (j < ops.length && ops[j].t === ' ' && j - end < 2 * ctx) j++
      if (j < ops.length && ops[j].t !== ' ' && j - end <= 2 * ctx) end = j
      else break
    }
    const stop = Math.min(ops.length, end + ctx)
    const hunk = ops.slice(start, stop)
    const aStart = pos[start].ai
    const bStart = pos[start].bi
    const aLen = hunk.filter((o) => o.t !== '+').length
    const bLen = hunk.filter((o) => o.t !== '-').length
    out.push(`@@ -${aLen ? aStart + 1 : aStart},${aLen} +${bLen ? bStart + 1 : bStart},${bLen} @@`)
    for (const o of hunk) out.push(o.t + o.line)
    i = stop
  }
  const noNl = (s: string) => s !== '' && !s.endsWith('\n')
  if (noNl(before) || noNl(after)) out.push('\\ (no newline at end of file)')
  return out.join('\n') + '\n'
}


/** Text for --diff: unified diffs where a change has before/after, one line per other change. */
export function renderChanges(changes: Change[], withDiff: boolean): string {
  const out: string[] = []
  for (const c of changes) {
    const lines = (x?: string) => (x ? x.replace(/\n$/, '').split('\n').length : 0)
    const multi = (c.before ?? '').includes('\n') || (c.after ?? '').includes('\n')
    const one = (x?: string) => (x === undefined || x === '' ? '(none)' : x.replace(/\n$/, ''))
    if (withDiff && multi) out.push(unifiedDiff(c.before ?? '', c.after ?? '', { from: `before: ${c.what}`, to: `after: ${c.what}` }).trimEnd())
    else if (lines(c.before) > 1 || lines(c.after) > 1) out.push(`~ ${c.what} (${lines(c.before) ? `${lines(c.before)} → ` : ''}${lines(c.after)} lines; --diff shows them)`)
    else if (c.before !== undefined || c.after !== undefined) out.push(`~ ${c.what}: ${one(c.before)} -> ${one(c.after)}`)
    else out.push(`~ ${c.what}`)
  }
  return out.join('\n')
}
