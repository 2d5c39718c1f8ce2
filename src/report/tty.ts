/**
 * TTY: a live block, one line per host (current task, status), redrawn in place; failures, diffs (--diff),
 * check-mode changes and -v output scroll above it. At the end: the recap, Ansible's shape, and total time.
 */
import type { RunEvents, RunSummary } from '../engine/results.ts'
import type { TaskResult } from '../engine/types.ts'
import { details, statusLine, type Verbosity } from './format.ts'
import { runFooter, type Out } from './plain.ts'
import { banner, formatDuration, recapLines, verifyLines } from './recap.ts'
import { paint, truncate, type Painter } from './style.ts'

interface HostLine {
  name: string
  task?: string
  running: boolean
  last?: TaskResult['status']
  done: number
  changed: number
  dead: boolean
  startedAt: number
}

const SPIN = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']

export interface TtyOut extends Out {
  columns?: number
  rows?: number
}

export class TtyReporter implements RunEvents {
  private hosts = new Map<string, HostLine>()
  private drawn = 0
  private timer?: NodeJS.Timeout
  private frame = 0
  private play = ''
  private step = ''
  private started = Date.now()
  private p: Painter
  private v: Verbosity
  private dirty = false

  constructor(
    private out: TtyOut,
    private err: Out,
    opts: { verbose?: number; diff?: boolean; check?: boolean; color?: boolean; intervalMs?: number } = {},
  ) {
    this.p = paint(opts.color ?? true)
    this.v = { verbose: opts.verbose ?? 0, diff: !!opts.diff, check: !!opts.check }
    this.intervalMs = opts.intervalMs ?? 80
  }
  private intervalMs: number

  private get width() {
    return Math.max(40, (this.out.columns || 100) - 1)
  }

  private clear() {
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}F\x1b[J`)
    this.drawn = 0
  }

  private block(): string[] {
    const p = this.p
    const lines: string[] = []
    const elapsed = formatDuration(Date.now() - this.started)
    lines.push(p.bold(`PLAY [${this.play}]`) + (this.step ? p.dim(`  ${this.step}`) : '') + p.dim(`  ${elapsed}`))
    const all = [...this.hosts.values()]
    const nameW = Math.min(24, Math.max(6, ...all.map((h) => h.name.length)))
    const maxRows = Math.max(3, (this.out.rows || 40) - 4)
    // Running and failed hosts first when they do not all fit.
    let shown = all
    let hidden = 0
    if (all.length > maxRows) {
      const rank = (h: HostLine) => (h.dead ? 0 : h.running ? 1 : 2)
      shown = [...all].sort((a, b) => rank(a) - rank(b)).slice(0, maxRows - 1)
      hidden = all.length - shown.length
    }
    for (const h of shown) {
      let mark: string
      if (h.running) mark = p.cyan(SPIN[this.frame % SPIN.length])
      else if (h.last === 'unreachable') mark = p.red('✗ unreachable')
      else if (h.last === 'failed' && h.dead) mark = p.red('✗ failed')
      else if (h.last === 'changed') mark = p.yellow('● changed')
      else if (h.last === 'skipped') mark = p.cyan('○ skipped')
      else if (h.last) mark = p.green('✓ ok')
      else mark = p.dim('· waiting')
      const counts = p.dim(` [${h.done} done${h.changed ? `, ${h.changed} changed` : ''}]`)
      const task = h.task ? ` ${h.task}` : ''
      lines.push(truncate(`  ${h.name.padEnd(nameW)} ${mark}${counts}${task}`, this.width))
    }
    if (hidden) lines.push(p.dim(`  … ${hidden} more host(s) not shown`))
    return lines
  }

  private draw() {
    this.dirty = false
    this.clear()
    const lines = this.block()
    this.out.write(lines.join('\n') + '\n')
    this.drawn = lines.length
  }

  /** Lines that stay (above the live block). */
  private emit(lines: string[]) {
    if (!lines.length) return
    this.clear()
    this.out.write(lines.join('\n') + '\n')
    if (this.hosts.size) this.draw()
  }

  private touch() {
    this.dirty = true
    if (!this.timer) {
      this.timer = setInterval(() => {
        this.frame++
        this.draw()
      }, this.intervalMs)
      this.timer.unref?.()
    }
  }

  runStart(info: { check: boolean; diff: boolean }) {
    this.v.check = info.check
    this.v.diff = this.v.diff || info.diff
    this.started = Date.now()
  }

  playStart(play: { name: string; hosts: string[] }) {
    this.clear()
    this.hosts.clear()
    this.play = play.name + (this.v.check ? ' (check mode)' : '')
    this.step = ''
    for (const h of play.hosts) this.hosts.set(h, { name: h, running: false, done: 0, changed: 0, dead: false, startedAt: 0 })
    this.draw()
    this.touch()
  }

  taskStart(t: { name: string; index: number; handler: boolean }) {
    this.step = `${t.handler ? 'handler' : `task ${t.index + 1}`}: ${t.name}`
    this.touch()
  }

  hostTaskStart(t: { host: string; name: string }) {
    const h = this.hosts.get(t.host)
    if (!h) return
    h.task = t.name
    h.running = true
    h.startedAt = Date.now()
    this.touch()
  }

  hostTaskResult(r: TaskResult) {
    const h = this.hosts.get(r.host)
    if (h) {
      h.running = false
      h.last = r.status
      h.done++
      if (r.changed && r.status !== 'failed') h.changed++
      if ((r.status === 'failed' && !r.ignored) || r.status === 'unreachable') h.dead = true
    }
    const loud = r.status === 'failed' || r.status === 'unreachable'
    const show = loud || this.v.verbose > 0 || (r.status === 'changed' && (this.v.diff || this.v.check))
    if (show) {
      const head = `${statusLine(r, this.p, this.v)} ${this.p.dim(`${r.handler ? 'handler' : 'task'} [${r.task}]`)}`
      this.emit([head, ...details(r, this.p, this.v)])
    } else this.touch()
  }

  log(host: string, message: string) {
    if (this.v.verbose > 0) this.emit([this.p.dim(`  [${host}] ${message}`)])
  }

  warn(message: string) {
    this.clear()
    this.err.write(this.p.magenta(`[WARNING]: ${message}`) + '\n')
    if (this.hosts.size) this.draw()
  }

  runEnd(s: RunSummary) {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    this.clear()
    const lines = [...verifyLines(s), '', banner('PLAY RECAP'), ...recapLines(s.stats, true), '', runFooter(s)]
    this.out.write(lines.join('\n') + '\n')
  }

  /** Stop redrawing (on errors that end the process before runEnd). */
  stop() {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    this.clear()
  }
}
