/** What a run produces: per play, per task, per host results, and Ansible-style per-host stats. */
import type { CheckResult } from '../checks/index.ts'
import type { TaskResult } from './types.ts'
import type { TransportStats } from '../transport/types.ts'
import { EXIT } from '../errors.ts'

export interface HostStats {
  ok: number
  changed: number
  unreachable: number
  failed: number
  skipped: number
  rescued: number
  ignored: number
  rolled_back: number
}

export interface TaskSummary {
  name: string
  module: string
  index: number
  handler: boolean
  /** host name → result */
  hosts: Record<string, TaskResult>
}

export interface PlaySummary {
  name: string
  hosts: string[]
  tasks: TaskSummary[]
  durationMs: number
  /** Why the play stopped early (max_fail_percentage, every host of a batch failed), if it did. */
  aborted?: string
  /** The cross-host barriers its gather phase settled: which hosts reported, how often it planned (once). */
  barriers?: BarrierSummary[]
}

export interface BarrierSummary {
  name: string
  hosts: string[]
  planned: number
}

export interface RunSummary {
  runId: string
  playbook?: string
  check: boolean
  diff: boolean
  plays: PlaySummary[]
  stats: Record<string, HostStats>
  durationMs: number
  interrupted: boolean
  /** What interrupted it, when the signal's abort gave a reason: SIGINT, SIGTERM, SIGHUP, stdout closed. */
  interruptedBy?: string
  exitCode: number
  /** The playbook's connectivity checks (verify), when they ran. */
  checks?: CheckResult[]
  /** An error that ended the run early (the engine rethrows it after the transaction ended). */
  error?: string
  /** How the run's transaction ended, when the run changed hosts (not in check mode). */
  transaction?: TransactionOutcome
  /** Per host, what the run cost on the wire (round trips counted by the transport, commands). */
  transport?: Record<string, TransportStats>
}

export interface TransactionOutcome {
  status: 'committed' | 'rolled-back' | 'rollback-incomplete' | 'nothing-changed'
  /** Why the run was rolled back. */
  reason?: string
  hosts: Record<string, HostTxOutcome>
}

export interface HostTxOutcome {
  /** committed | rolled-back | rolled-back-by-timer | rolled-back-by-reboot | rollback-failed | unreachable | unchanged */
  status: string
  /** After a rollback: does the host equal its pre-run snapshot? */
  restored?: boolean
  message?: string
}

export { EXIT }

export function emptyStats(): HostStats {
  return { ok: 0, changed: 0, unreachable: 0, failed: 0, skipped: 0, rescued: 0, ignored: 0, rolled_back: 0 }
}

/** Counts one result the way Ansible's recap does (changed and ignored failures also count as ok). */
export function countResult(s: HostStats, r: TaskResult): void {
  switch (r.status) {
    case 'ok':
      s.ok++
      break
    case 'changed':
      s.ok++
      s.changed++
      break
    case 'skipped':
      s.skipped++
      break
    case 'unreachable':
      s.unreachable++
      break
    case 'failed':
      if (r.ignored) {
        s.ok++
        s.ignored++
        if (r.changed) s.changed++
      } else s.failed++
      break
  }
}

/** Ansible's precedence: interrupted, then unreachable (4), then failed (2). */
export function exitCodeFor(stats: Record<string, HostStats>, interrupted: boolean): number {
  if (interrupted) return EXIT.INTERRUPTED
  const all = Object.values(stats)
  if (all.some((s) => s.unreachable > 0)) return EXIT.UNREACHABLE_HOSTS
  if (all.some((s) => s.failed > 0)) return EXIT.FAILED_HOSTS
  return EXIT.OK
}

/** Everything a reporter can listen to; all optional. */
export interface RunEvents {
  runStart?(info: { runId: string; check: boolean; diff: boolean; playbook?: string }): void
  playStart?(play: { name: string; hosts: string[]; index: number }): void
  /** Linear strategy: a task (step) starts on these hosts. Names can differ per host (tasks built per host). */
  taskStart?(t: { play: string; name: string; module: string; hosts: string[]; handler: boolean; index: number }): void
  hostTaskStart?(t: { host: string; name: string; module: string; handler: boolean; index: number }): void
  hostTaskResult?(r: TaskResult): void
  /** ctx.log() from a task. */
  log?(host: string, message: string): void
  warn?(message: string): void
  playEnd?(play: PlaySummary): void
  runEnd?(summary: RunSummary): void
}
