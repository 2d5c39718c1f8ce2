/**
 * --json: ONE JSON document on stdout at the end of the run, shaped like Ansible's json callback
 * (plays → tasks → hosts → result, stats per host), and nothing else on stdout.
 */
import type { RunEvents, RunSummary } from '../engine/results.ts'
import type { TaskResult } from '../engine/types.ts'
import { unifiedDiff } from './diff.ts'
import type { Out } from './plain.ts'

export const JSON_FORMAT_VERSION = 1

function hostResult(r: TaskResult, withDiff: boolean): Record<string, unknown> {
  const o: Record<string, unknown> = {
    status: r.status,
    changed: r.changed,
    failed: r.failed,
    skipped: r.skipped,
  }
  if (r.ignored) o.ignored = true
  if (r.status === 'unreachable') o.unreachable = true
  if (r.msg !== undefined) o.msg = r.msg
  o.changes = r.changes
  if (withDiff) {
    const d = r.changes
      .filter((c) => c.before !== undefined || c.after !== undefined)
      .map((c) => ({ what: c.what, before: c.before ?? '', after: c.after ?? '', unified: unifiedDiff(c.before ?? '', c.after ?? '', { from: `before: ${c.what}`, to: `after: ${c.what}` }) }))
    if (d.length) o.diff = d
  }
  if (r.rc !== undefined) o.rc = r.rc
  if (r.stdout !== undefined) o.stdout = r.stdout
  if (r.stderr !== undefined) o.stderr = r.stderr
  if (r.attempts !== undefined) o.attempts = r.attempts
  if (r.data !== undefined) o.data = r.data
  o.durationMs = r.durationMs
  return o
}

export function toJsonDocument(s: RunSummary, opts: { diff?: boolean } = {}): Record<string, unknown> {
  const withDiff = opts.diff ?? s.diff
  return {
    orch: {
      format: JSON_FORMAT_VERSION,
      runId: s.runId,
      playbook: s.playbook,
      check: s.check,
      diff: s.diff,
      interrupted: s.interrupted,
      ...(s.interruptedBy ? { interruptedBy: s.interruptedBy } : {}),
      exitCode: s.exitCode,
      durationMs: s.durationMs,
    },
    plays: s.plays.map((p) => ({
      play: { name: p.name, hosts: p.hosts, durationMs: p.durationMs, ...(p.aborted ? { aborted: p.aborted } : {}), ...(p.barriers?.length ? { barriers: p.barriers } : {}) },
      tasks: p.tasks.map((t) => ({
        task: { name: t.name, module: t.module, index: t.index, handler: t.handler },
        hosts: Object.fromEntries(Object.entries(t.hosts).map(([h, r]) => [h, hostResult(r, withDiff)])),
      })),
    })),
    ...(s.checks ? { checks: s.checks } : {}),
    ...(s.transaction ? { transaction: s.transaction } : {}),
    stats: s.stats,
    ...(s.transport ? { transport: s.transport } : {}),
  }
}

/** The document for a run that stopped before it started (bad options, inventory, playbook). */
export function errorDocument(message: string, exitCode: number): Record<string, unknown> {
  return { orch: { format: JSON_FORMAT_VERSION, exitCode, error: message }, plays: [], stats: {} }
}

export class JsonReporter implements RunEvents {
  constructor(
    private out: Out,
    private err: Out,
    private opts: { diff?: boolean } = {},
  ) {}
  warn(message: string) {
    this.err.write(`[WARNING]: ${message}\n`)
  }
  runEnd(s: RunSummary) {
    this.out.write(JSON.stringify(toJsonDocument(s, this.opts), null, 2) + '\n')
  }
}
