/**
 * The runner: plays × hosts × tasks, in phases.
 *
 * 1. Plan (plan.ts): every play's task lists built and validated for every host; nothing connects
 *    before the whole plan is valid (exit 5).
 * 2. Begin: the transaction locks the hosts (transaction.ts).
 * 3. Per play: gather (phases.ts) — the play's fact tasks on every host, then each pure plan over all
 *    hosts' facts (the cross-host barrier: a subnet allocation, the route survey) — then apply
 *    (schedule.ts: linear/free, serial batches, handlers), each task through its stages (execute.ts).
 * 4. End: the transaction's end runs in a `finally`: after the last task, on Ctrl-C, on a lost host, and
 *    when anything threw (then the error is rethrown after it).
 */
import PQueue from 'p-queue'
import type { Host } from '../inventory/types.ts'
import type { Connection, TransportStats } from '../transport/types.ts'
import { DEFAULT_FORKS } from './defaults.ts'
import { RemoteJournal, newRunId, type Journal } from './journal.ts'
import { gatherPlay } from './phases.ts'
import { planRun, type PlannedPlay, type PlanOptions } from './plan.ts'
import { ReadsAhead } from './readahead.ts'
import { countResult, emptyStats, exitCodeFor, type HostStats, type PlaySummary, type RunEvents, type RunSummary, type TaskSummary } from './results.ts'
import { applyPlay } from './schedule.ts'
import { dead, errMsg, type HostState, type PlayScope, type RunScope } from './taskctx.ts'
import type { RunTransaction } from './transaction.ts'
import { EXIT } from '../errors.ts'
import { task as mkTask, type Task, type TaskContext, type TaskResult } from './types.ts'

export { DEFAULT_FORKS }
export { mergeVars, planRun, serialBatches, type PlannedPlay } from './plan.ts'
export type { RunTransaction, SnapshotPrefix } from './transaction.ts'

export interface RunOptions extends PlanOptions {
  /** A connection to a host (the transport pool's get). Throwing means unreachable. */
  connect(host: Host): Promise<Connection>
  /** Round trips and commands per host, read when the run ends (the pool's transportStats). */
  transportStats?: () => Record<string, TransportStats>
  check?: boolean
  diff?: boolean
  /** Hosts worked on at once (default 20). */
  forks?: number
  /** Where undos go before apply (default: RemoteJournal on the targets). */
  journal?: Journal
  runId?: string
  events?: RunEvents
  /** Aborting it (a signal) starts no new task; running ones finish; the summary says interrupted (by the abort's reason, when a string). */
  signal?: AbortSignal
  /** Facts hook: called once per host for plays with gather_facts. */
  gatherFacts?(host: Host, conn: Connection, ctx: TaskContext): Promise<Record<string, unknown>>
  /** For tests: how to wait `ms` (retry delays). */
  sleep?(ms: number, signal?: AbortSignal): Promise<void>
  /** The run's transaction (not in check mode): begun after the plan, always ended (transaction.ts). */
  transaction?: RunTransaction
}

const defaultSleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve()
    const t = setTimeout(done, ms)
    function done() {
      clearTimeout(t)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })

/** The facts pseudo-task, run first on each host of a play with gather_facts. */
function factsTask(gather: NonNullable<RunOptions['gatherFacts']>, hs: () => HostState): Task {
  return mkTask({
    module: 'facts',
    name: 'Gathering Facts',
    phase: 'gather',
    async read(ctx) {
      const facts = await gather(ctx.host, ctx.conn, ctx)
      Object.assign(ctx.facts, facts)
      hs().factsGathered = true
      return null
    },
    diff: () => [],
    async apply() {},
  })
}

function sortEntries(entries: Map<string, TaskSummary>): TaskSummary[] {
  // Stable: arrival order within the same position (free strategy interleaves hosts).
  return [...entries.values()]
    .map((e, i) => ({ e, i }))
    .sort((a, b) => Number(a.e.handler) - Number(b.e.handler) || a.e.index - b.e.index || a.i - b.i)
    .map((x) => x.e)
}

export async function run(opts: RunOptions): Promise<RunSummary> {
  const started = performance.now()
  const runId = opts.runId ?? newRunId()
  const check = !!opts.check
  const diff = !!opts.diff
  const ev = opts.events ?? {}
  const signal = opts.signal
  const forks = Math.max(1, Math.floor(opts.forks ?? DEFAULT_FORKS))

  // 1. Everything validated before any connection.
  const plans = planRun(opts)

  const scope: RunScope = {
    runId,
    check,
    diff,
    journal: opts.journal ?? new RemoteJournal(runId),
    tx: opts.transaction,
    ev,
    signal,
    sleep: opts.sleep ?? defaultSleep,
    interrupted: () => !!signal?.aborted,
    connect: (h) => opts.connect(h),
  }
  const queue = new PQueue({ concurrency: forks })
  const hostStates = new Map<string, HostState>()
  const stats: Record<string, HostStats> = {}
  const plays: PlaySummary[] = []
  const stateOf = (h: Host): HostState => {
    let s = hostStates.get(h.name)
    if (!s) {
      s = { host: h, failed: false, unreachable: false, registered: {}, facts: {}, factsGathered: false, ahead: new ReadsAhead() }
      hostStates.set(h.name, s)
      stats[h.name] = emptyStats()
    }
    return s
  }

  // 2. Begin: from here on, the transaction is always ended.
  if (opts.transaction) {
    const all = new Map<string, Host>()
    for (const p of plans) for (const h of p.hosts) all.set(h.name, h)
    await opts.transaction.begin([...all.values()])
  }
  let thrown: { error: unknown } | undefined
  let summary!: RunSummary
  try {
    ev.runStart?.({ runId, check, diff, playbook: opts.playbookPath })
    for (const plan of plans) {
      if (scope.interrupted()) break
      if ((await runPlay(plan)).aborted) break
    }
  } catch (e) {
    thrown = { error: e }
  } finally {
    // 4. End, whatever happened above.
    const interrupted = scope.interrupted()
    summary = {
      runId,
      playbook: opts.playbookPath,
      check,
      diff,
      plays,
      stats,
      durationMs: Math.round(performance.now() - started),
      interrupted,
      ...(interrupted && typeof signal?.reason === 'string' ? { interruptedBy: signal.reason } : {}),
      exitCode: exitCodeFor(stats, interrupted),
    }
    if (thrown) {
      summary.error = errMsg(thrown.error)
      if (summary.exitCode === EXIT.OK) summary.exitCode = EXIT.FAILED_HOSTS
    }
    if (opts.transaction) {
      await opts.transaction.end(summary, plans)
      summary.durationMs = Math.round(performance.now() - started)
    }
    if (opts.transportStats) summary.transport = opts.transportStats()
    ev.runEnd?.(summary)
  }
  if (thrown) throw thrown.error
  return summary

  /** 3. One play: gather, plan, apply. */
  async function runPlay(plan: PlannedPlay): Promise<PlaySummary> {
    const { play } = plan
    const playStarted = performance.now()
    const playHosts = plan.hosts.map(stateOf).filter((s) => !dead(s))
    const summary: PlaySummary = { name: play.name, hosts: playHosts.map((s) => s.host.name), tasks: [], durationMs: 0 }
    plays.push(summary)
    const entries = new Map<string, TaskSummary>()
    ev.playStart?.({ name: play.name, hosts: summary.hosts, index: plan.index })
    if (playHosts.length === 0) ev.warn?.(`play ${JSON.stringify(play.name)}: no hosts matched ${JSON.stringify(play.hosts)} (or all of them failed earlier)`)

    // Host task lists for this play (facts first, when asked for and available).
    const hostTasks = new Map<string, Task[]>()
    for (const s of playHosts) {
      const base = plan.tasks.get(s.host.name) ?? []
      hostTasks.set(s.host.name, play.gather_facts && opts.gatherFacts && !s.factsGathered ? [factsTask(opts.gatherFacts, () => s), ...base] : base)
    }
    if (play.gather_facts && !opts.gatherFacts) ev.warn?.(`play ${JSON.stringify(play.name)}: gather_facts asked for, but no facts gatherer is installed; skipping`)

    const record = (r: TaskResult) => {
      const key = `${r.handler ? 'h' : 't'}:${r.index}:${r.task}`
      let e = entries.get(key)
      if (!e) {
        e = { name: r.task, module: r.module, index: r.index ?? 0, handler: !!r.handler, hosts: {} }
        entries.set(key, e)
      }
      e.hosts[r.host] = r
      countResult(stats[r.host], r)
      ev.hostTaskResult?.(r)
    }
    const ps: PlayScope = { plan, hostTasks, record, barriers: [] }
    try {
      const aborted = (await gatherPlay(scope, ps, queue, playHosts)) ?? (await applyPlay(scope, ps, queue, playHosts))
      if (aborted) {
        summary.aborted = aborted
        ev.warn?.(`play ${JSON.stringify(play.name)} stopped: ${aborted}`)
      }
    } finally {
      if (ps.barriers.length) summary.barriers = ps.barriers
      summary.tasks = sortEntries(entries)
      summary.durationMs = Math.round(performance.now() - playStarted)
    }
    ev.playEnd?.(summary)
    return summary
  }
}
