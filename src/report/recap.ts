/** The PLAY RECAP lines, in Ansible's shape (plus rolled_back). */
import { renderCheck } from '../checks/index.ts'
import type { HostStats, RunSummary } from '../engine/results.ts'
import { paint, type Painter } from './style.ts'
import { byCodeUnit } from '../sort.ts'

const FIELDS = ['ok', 'changed', 'unreachable', 'failed', 'skipped', 'rescued', 'ignored', 'rolled_back'] as const
const FIELD_COLOR: Record<(typeof FIELDS)[number], keyof Painter | null> = {
  ok: 'green',
  changed: 'yellow',
  unreachable: 'red',
  failed: 'red',
  skipped: 'cyan',
  rescued: 'magenta',
  ignored: 'magenta',
  rolled_back: 'magenta',
}

/** `host : ok=N changed=N unreachable=N failed=N skipped=N rescued=0 ignored=N rolled_back=N` */
export function recapLine(host: string, s: HostStats, color = false): string {
  const p = paint(color)
  const hostColor: keyof Painter = s.failed || s.unreachable ? 'red' : s.changed ? 'yellow' : 'green'
  const name = host.padEnd(26)
  const cols = FIELDS.map((f) => {
    const cell = `${f}=${String(s[f]).padEnd(4)}`
    const c = FIELD_COLOR[f]
    return color && s[f] !== 0 && c ? p[c](cell) : cell
  })
  return `${color ? p[hostColor](name) : name} : ${cols.join(' ')}`
}

export function recapLines(stats: Record<string, HostStats>, color = false): string[] {
  return Object.keys(stats)
    .sort()
    .map((h) => recapLine(h, stats[h], color))
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)}s`
  const m = Math.floor(ms / 60_000)
  return `${m}m${((ms % 60_000) / 1000).toFixed(1)}s`
}

/** `PLAY RECAP ****…` banner and friends: Ansible pads headers with stars to 80 columns. */
export function banner(msg: string, width = 80): string {
  return `${msg} ${'*'.repeat(Math.max(3, width - msg.length - 1))}`
}

/** The checks (as matrices) and how the transaction ended, printed before the recap. */
export function verifyLines(s: RunSummary): string[] {
  const out: string[] = []
  if (s.checks?.length) {
    out.push('', banner('CHECKS'))
    for (const c of s.checks) out.push(renderCheck(c))
  }
  return [...out, ...transactionLines(s)]
}

/** How the transaction ended, one line per host (also what `orch run` writes on stderr when its stdout was closed). */
export function transactionLines(s: RunSummary): string[] {
  const out: string[] = []
  const t = s.transaction
  if (t && t.status !== 'nothing-changed') {
    out.push('', banner(`TRANSACTION ${t.status.toUpperCase()}${t.reason ? ` (${t.reason})` : ''}`))
    for (const [host, h] of Object.entries(t.hosts).sort(([a], [b]) => byCodeUnit(a, b))) {
      const restored = h.restored === undefined ? '' : h.restored ? ', back in its pre-run state' : ', NOT back in its pre-run state'
      out.push(`${host.padEnd(26)} : ${h.status}${restored}${h.message ? ` - ${h.message}` : ''}`)
    }
  }
  return out
}
