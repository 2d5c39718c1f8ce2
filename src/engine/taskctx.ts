/**
 * What the stages of one task's execution share (execute.ts): the run, the play, the host, and the
 * task's context — its commands with the task's become/timeout applied.
 */
import type { Host } from '../inventory/types.ts'
import type { Connection, ExecOptions, ExecResult } from '../transport/types.ts'
import type { Journal } from './journal.ts'
import type { PlannedPlay } from './plan.ts'
import type { ReadsAhead } from './readahead.ts'
import type { BarrierSummary, RunEvents } from './results.ts'
import type { RunTransaction } from './transaction.ts'
import type { CommitWork, Resource, Task, TaskContext, TaskOptions, TaskResult } from './types.ts'

/** One host through the whole run. */
export interface HostState {
  host: Host
  conn?: Connection
  failed: boolean
  unreachable: boolean
  registered: Record<string, TaskResult>
  facts: Record<string, unknown>
  factsGathered: boolean
  /** Reads that came back ahead of their task (engine/readahead.ts). */
  ahead: ReadsAhead
}

export const dead = (s: HostState): boolean => s.failed || s.unreachable

/** What does not change during a run. */
export interface RunScope {
  runId: string
  check: boolean
  diff: boolean
  journal: Journal
  tx?: RunTransaction
  ev: RunEvents
  signal?: AbortSignal
  sleep(ms: number, signal?: AbortSignal): Promise<void>
  interrupted(): boolean
  connect(host: Host): Promise<Connection>
}

/** One play of the run, as its hosts run it. */
export interface PlayScope {
  plan: PlannedPlay
  /** Each host's task list for this play (the facts task first when gathered). */
  hostTasks: Map<string, Task[]>
  /** A finished result: into the play's summary, the stats and the reporter. */
  record(r: TaskResult): void
  /** The barriers the gather phase settled (into the play's summary). */
  barriers: BarrierSummary[]
}

/** Tasks of the gather phase (engine/phases.ts); the apply phase skips them. */
export const isGather = (t: Task): boolean => t.resource.phase === 'gather'

/** Why a batch stops the play (max_fail_percentage), if it does. */
export function batchFailure(scope: PlayScope, batch: HostState[]): string | undefined {
  const { play } = scope.plan
  const failed = batch.filter(dead).length
  if (failed === 0) return undefined
  if (play.max_fail_percentage !== undefined) {
    const pct = (failed * 100) / batch.length
    if (pct > play.max_fail_percentage)
      return `max_fail_percentage exceeded: ${failed} of ${batch.length} hosts failed (${Math.round(pct * 10) / 10}% > ${play.max_fail_percentage}%)`
  }
  return undefined
}

/** One task on one host: what every stage sees. */
export interface Exec {
  run: RunScope
  play: PlayScope
  s: HostState
  t: Task
  res: Resource<unknown>
  o: TaskOptions
  name: string
  host: Host
  index: number
  handler: boolean
  conn: Connection
  /** The host's own task list (for reads sent ahead); undefined for a handler. */
  list?: Task[]
  /** The context read/diff/undo see; apply gets one from the journal stage. */
  ctx: TaskContext
  /** The task's become/timeout applied to a command's options; null when the task's time is up. */
  execOpts(ro: ExecOptions): ExecOptions | null
  /** The result of a command not run because the task's time is up. */
  timeUp(): ExecResult
  /** performance.now() at which the task's `timeout` is reached. */
  deadline?: number
  make(p: Partial<TaskResult> & { status: TaskResult['status'] }): TaskResult
}

export const errMsg = (e: unknown): string => (e as Error)?.message ?? String(e)

type ResultBase = Pick<TaskResult, 'host' | 'task' | 'module' | 'index' | 'handler'>

/** Results of one task on one host, with the flags derived from the status. */
export const resultMaker =
  (base: ResultBase) =>
  (p: Partial<TaskResult> & { status: TaskResult['status'] }): TaskResult => ({
    ...base,
    changes: [],
    durationMs: 0,
    ...p,
    changed: p.changed ?? p.status === 'changed',
    failed: p.status === 'failed',
    skipped: p.status === 'skipped',
  })

export const resultBase = (host: Host, t: Task, index: number, handler: boolean): ResultBase => ({
  host: host.name,
  task: t.opts?.name ?? t.resource.name,
  module: t.resource.module,
  index,
  handler: handler || undefined,
})

export function openExec(run: RunScope, play: PlayScope, s: HostState, t: Task, index: number, handler: boolean, conn: Connection): Exec {
  const res = t.resource
  const o = t.opts ?? {}
  const name = o.name ?? res.name
  const host = s.host
  const base = resultBase(host, t, index, handler)
  const deadline = o.timeout ? performance.now() + o.timeout * 1000 : undefined
  const become = o.become ?? play.plan.play.become
  const execOpts = (ro: ExecOptions): ExecOptions | null => {
    const eo: ExecOptions = { ...ro }
    if (become !== undefined && eo.become === undefined) eo.become = become
    if (deadline !== undefined) {
      const left = Math.floor(deadline - performance.now())
      if (left <= 0) return null
      eo.timeoutMs = eo.timeoutMs !== undefined ? Math.min(eo.timeoutMs, left) : left
    }
    return eo
  }
  const timeUp = (): ExecResult => ({ code: 124, stdout: '', stderr: `task timeout (${o.timeout}s) reached`, durationMs: 0, timedOut: true })
  const ctx: TaskContext = {
    host,
    vars: play.plan.vars.get(host.name) ?? host.vars,
    check: run.check,
    diff: run.diff,
    conn,
    registered: s.registered,
    facts: s.facts,
    runId: run.runId,
    log: (m) => run.ev.log?.(host.name, m),
    ...(run.tx?.atCommit && !run.check ? { atCommit: (w: CommitWork) => run.tx!.atCommit!(host, w) } : {}),
    run(script: string, ro: ExecOptions = {}): Promise<ExecResult> {
      const eo = execOpts(ro)
      return eo ? conn.run(script, eo) : Promise.resolve(timeUp())
    },
  }
  const make = resultMaker(base)
  const list = handler ? undefined : play.hostTasks.get(host.name)
  return { run, play, s, t, res, o, name, host, index, handler, conn, list, ctx, execOpts, timeUp, deadline, make }
}
