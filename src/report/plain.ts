/** Not a TTY: plain lines as Ansible prints them (PLAY/TASK banners, ok: [host], recap). */
import type { RunEvents, RunSummary } from '../engine/results.ts'
import type { TaskResult } from '../engine/types.ts'
import { details, statusLine, type Verbosity } from './format.ts'
import { banner, formatDuration, recapLines, verifyLines } from './recap.ts'
import { paint } from './style.ts'

export interface Out {
  write(s: string): unknown
}

export class PlainReporter implements RunEvents {
  private lastHeader = ''
  private p
  private v: Verbosity
  constructor(
    private out: Out,
    private err: Out,
    opts: { verbose?: number; diff?: boolean; check?: boolean; color?: boolean } = {},
  ) {
    this.p = paint(!!opts.color)
    this.v = { verbose: opts.verbose ?? 0, diff: !!opts.diff, check: !!opts.check }
  }
  /**
   * Lines go out together once per turn of the event loop (results of many hosts arrive in the same
   * turn): one write for what was one per line (~270 for 20 hosts x 10 tasks), each waking the reader.
   * Anything written to stderr, the end of the run and stop() flush first, so the order holds.
   */
  private pending: string[] = []
  private line(s = '') {
    if (this.pending.push(s + '\n') === 1) setImmediate(() => this.flush())
  }
  flush(): void {
    if (!this.pending.length) return
    const text = this.pending.join('')
    this.pending = []
    this.out.write(text)
  }
  stop(): void {
    this.flush()
  }
  runStart(info: { check: boolean; diff: boolean }) {
    this.v.check = info.check
    this.v.diff = this.v.diff || info.diff
  }
  playStart(play: { name: string }) {
    this.line()
    this.line(banner(`PLAY [${play.name}]${this.v.check ? ' (check mode)' : ''}`))
    this.lastHeader = ''
  }
  private header(name: string, handler: boolean) {
    const h = `${handler ? 'RUNNING HANDLER' : 'TASK'} [${name}]`
    if (h === this.lastHeader) return
    this.lastHeader = h
    this.line()
    this.line(banner(h))
  }
  taskStart(t: { name: string; handler: boolean }) {
    this.header(t.name, t.handler)
  }
  hostTaskResult(r: TaskResult) {
    this.header(r.task, !!r.handler)
    this.line(statusLine(r, this.p, this.v))
    for (const d of details(r, this.p, this.v)) this.line(d)
  }
  log(host: string, message: string) {
    if (this.v.verbose > 0) this.line(this.p.dim(`  [${host}] ${message}`))
  }
  warn(message: string) {
    this.flush()
    this.err.write(this.p.magenta(`[WARNING]: ${message}`) + '\n')
  }
  runEnd(s: RunSummary) {
    for (const l of verifyLines(s)) this.line(l)
    this.line()
    this.line(banner('PLAY RECAP'))
    for (const l of recapLines(s.stats, false)) this.line(l)
    this.line()
    this.line(runFooter(s))
    this.flush()
  }
}

export function runFooter(s: RunSummary): string {
  const bits = [`run ${s.runId}`]
  if (s.check) bits.push('check mode: nothing was changed')
  if (s.interrupted) bits.push(`INTERRUPTED: no new task was started after ${s.interruptedBy ?? 'Ctrl-C'}`)
  return `Total time: ${formatDuration(s.durationMs)} (${bits.join('; ')})`
}
