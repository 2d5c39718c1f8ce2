/** Picks the reporter: --json, TTY (live), or plain lines. */
import type { RunEvents } from '../engine/results.ts'
import { JsonReporter } from './json.ts'
import { PlainReporter, type Out } from './plain.ts'
import { TtyReporter, type TtyOut } from './tty.ts'
import { useColor } from './style.ts'

export { recapLine, recapLines, formatDuration, banner } from './recap.ts'
export { unifiedDiff, renderChanges } from './diff.ts'
export { toJsonDocument, errorDocument, JsonReporter } from './json.ts'
export { PlainReporter } from './plain.ts'
export { TtyReporter } from './tty.ts'

export interface ReporterOptions {
  json?: boolean
  verbose?: number
  diff?: boolean
  check?: boolean
  out?: TtyOut & { isTTY?: boolean }
  err?: Out & { isTTY?: boolean }
  /** Force the TTY reporter on or off (default: out.isTTY). */
  tty?: boolean
}

export function createReporter(o: ReporterOptions = {}): RunEvents & { stop?(): void } {
  const out = o.out ?? process.stdout
  const err = o.err ?? process.stderr
  if (o.json) return new JsonReporter(out, err, { diff: o.diff })
  const tty = o.tty ?? !!out.isTTY
  if (tty) return new TtyReporter(out, err, { verbose: o.verbose, diff: o.diff, check: o.check, color: useColor(out) })
  return new PlainReporter(out, err, { verbose: o.verbose, diff: o.diff, check: o.check, color: false })
}
