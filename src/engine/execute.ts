/**
 * One task on one host, as explicit stages. Outermost first:
 *
 *   when → retry (until/retries/delay) → judge (changed_when/failed_when) → timeout → attempt
 *   attempt: read (read-ahead, readstage.ts) → diff → check mode stops here → apply stages
 *   apply stages: journal (the undo on the target, riding with the change's command: carry.ts; the
 *                 transaction's pre-run snapshot first) → commit-confirmed (risky tasks) → apply
 *
 * A stage is a function of the execution (taskctx.ts Exec) and the next stage; each owns one option
 * of the task, so a new one (e.g. a per-task lock) is one function added to a list.
 */
import { TaskFailed, UnreachableError } from '../errors.ts'
import { carrying } from './carry.ts'
import { notifyList } from './plan.ts'
import { applyContext, readState } from './readstage.ts'
import { dead, errMsg, openExec, resultBase, resultMaker, type Exec, type HostState, type PlayScope, type RunScope } from './taskctx.ts'
import { withSnapshot } from './transaction.ts'
import type { ApplyOutcome, Change, Task, TaskContext, TaskResult } from './types.ts'

/** A stage around a task's attempt(s). */
export type Stage = (x: Exec, next: () => Promise<TaskResult>) => Promise<TaskResult>

/** What an apply stage hands on: the state read, its changes, and the context apply runs with. */
export interface Applying {
  state: unknown
  changes: Change[]
  ctx: TaskContext
}
export type ApplyStage = (x: Exec, a: Applying, next: (a: Applying) => Promise<ApplyOutcome | void>) => Promise<ApplyOutcome | void>

/** retries / until / delay: attempts again while it failed (or until says no). */
export const retry: Stage = async (x, next) => {
  const { o } = x
  const maxRetries = o.until ? (o.retries ?? 3) : (o.retries ?? 0)
  const delayMs = (o.delay ?? 5) * 1000
  let r: TaskResult
  let attempts = 0
  for (;;) {
    attempts++
    r = await next()
    if (r.status === 'unreachable') break
    let done: boolean
    if (o.until) {
      try {
        done = r.status !== 'skipped' && !!o.until(r, x.ctx)
      } catch (e) {
        r.status = 'failed'
        r.failed = true
        r.msg = `until: ${errMsg(e)}`
        break
      }
      if (r.status === 'skipped') done = true
    } else done = r.status !== 'failed'
    if (done) break
    if (attempts > maxRetries || x.run.interrupted()) {
      if (o.until) {
        r.status = 'failed'
        r.failed = true
        r.msg = `retries exhausted: until condition still false after ${attempts} attempt(s)${r.msg ? `; ${r.msg}` : ''}`
      }
      break
    }
    x.run.ev.log?.(x.host.name, `${x.name}: retrying (${attempts}/${maxRetries})`)
    await x.run.sleep(delayMs, x.run.signal)
  }
  if (maxRetries > 0) r.attempts = attempts
  return r
}

/** changed_when / failed_when: rewrite the result; errors in them fail the task. */
export const judge: Stage = async (x, next) => {
  const r = await next()
  const { o } = x
  if (r.status === 'unreachable' || r.status === 'skipped') return r
  try {
    if (o.changed_when) {
      r.changed = !!o.changed_when(r, x.ctx)
      if (r.status !== 'failed') r.status = r.changed ? 'changed' : 'ok'
    }
    if (o.failed_when) {
      const f = !!o.failed_when(r, x.ctx)
      r.failed = f
      r.status = f ? 'failed' : r.changed ? 'changed' : 'ok'
      if (f && !r.msg) r.msg = 'failed_when condition was true'
    }
  } catch (e) {
    r.status = 'failed'
    r.failed = true
    r.msg = `changed_when/failed_when: ${errMsg(e)}`
  }
  r.failed = r.status === 'failed'
  return r
}

/** timeout: ctx.run already kills commands at the deadline; this catches tasks stuck elsewhere. */
export const timeout: Stage = async (x, next) => {
  if (x.deadline === undefined) return next()
  let timer: NodeJS.Timeout | undefined
  const guard = new Promise<TaskResult>((resolve) => {
    timer = setTimeout(() => resolve(x.make({ status: 'failed', msg: `task timeout (${x.o.timeout}s) reached` })), Math.max(0, x.deadline! - performance.now()) + 2000)
  })
  try {
    return await Promise.race([next(), guard])
  } finally {
    clearTimeout(timer)
  }
}

/** journal: the undo is on the target before the change (with it in one round trip when it can ride). */
export const journal: ApplyStage = async (x, a, next) => {
  const { res, run, host, conn } = x
  const undo = res.undo?.(a.state, a.changes, x.ctx) ?? null
  const meta = { module: res.module, task: x.name }
  // Risky tasks keep the entry on its own round trip: the commit-confirmed timer is armed in between.
  let pre = undo && !res.risky && run.journal.prefix ? run.journal.prefix(host.name, undo, meta) : null
  // The host's pre-run snapshot goes first: with the entry when it rides along, else on its own.
  const snap = pre ? run.tx?.snapshotPrefix?.(host) : undefined
  if (pre && snap) pre = withSnapshot(pre, snap)
  else await run.tx?.beforeChange(host, conn)
  if (undo && !pre) await run.journal.record(host.name, conn, undo, meta)
  return next({ ...a, ctx: pre ? carrying(x, pre) : applyContext(x) })
}

/** commit-confirmed: a risky task's apply runs under the target's rollback timer (the transaction's). */
export const commitConfirmed: ApplyStage = async (x, a, next) => {
  if (!x.res.risky || !x.run.tx) return next(a)
  // Plain context: nothing rides along a change that may cut the connection.
  return x.run.tx.riskyApply({ host: x.host, conn: x.conn, ctx: x.ctx, task: x.name }, () => next({ ...a, ctx: x.ctx }))
}

export const STAGES: Stage[] = [retry, judge, timeout]
export const APPLY_STAGES: ApplyStage[] = [journal, commitConfirmed]

const applyChain = (x: Exec, a: Applying, i = 0): Promise<ApplyOutcome | void> =>
  i < APPLY_STAGES.length ? APPLY_STAGES[i](x, a, (b) => applyChain(x, b, i + 1)) : x.res.apply(a.ctx, a.state, a.changes)

/** One attempt: read → diff → (check: report) → apply stages. Never throws: errors become results. */
export async function attempt(x: Exec): Promise<TaskResult> {
  const { make, res, ctx } = x
  let changes: Change[] = []
  try {
    const state = await readState(x)
    changes = res.diff(state, ctx) ?? []
    if (changes.length === 0) return make({ status: 'ok' })
    if (x.run.check && x.o.check_mode !== false) {
      if (res.checkMode === 'skip') return make({ status: 'skipped', changes, msg: 'skipped in check mode: the outcome cannot be known without running it' })
      return make({ status: 'changed', changes })
    }
    const out = (await applyChain(x, { state, changes, ctx })) || {}
    const changed = out.changed ?? true
    return make({
      status: out.failed ? 'failed' : changed ? 'changed' : 'ok',
      changed,
      changes,
      msg: out.msg,
      rc: out.rc,
      stdout: out.stdout,
      stderr: out.stderr,
      data: out.data,
    })
  } catch (e) {
    if (e instanceof UnreachableError) return make({ status: 'unreachable', changes, msg: errMsg(e) })
    if (e instanceof TaskFailed) return make({ status: 'failed', changes, msg: e.message, ...e.result })
    return make({ status: 'failed', changes, msg: errMsg(e) })
  }
}

const chain = (x: Exec, i = 0): Promise<TaskResult> => (i < STAGES.length ? STAGES[i](x, () => chain(x, i + 1)) : attempt(x))

async function connection(run: RunScope, s: HostState) {
  if (s.conn && s.conn.alive !== false) return s.conn
  s.conn = await run.connect(s.host)
  return s.conn
}

/** One task on one host, with every option. Returns null when it did not start (interrupted, dead host). */
export async function executeTask(run: RunScope, play: PlayScope, s: HostState, t: Task, index: number, handler: boolean, notified: Set<string>): Promise<TaskResult | null> {
  if (run.interrupted() || dead(s)) return null
  const o = t.opts ?? {}
  const t0 = performance.now()
  const base = resultBase(s.host, t, index, handler)
  run.ev.hostTaskStart?.({ host: s.host.name, name: base.task, module: base.module, handler, index })
  const finish = (r: TaskResult): TaskResult => {
    r.durationMs = Math.round((performance.now() - t0) * 1000) / 1000
    if (r.status === 'unreachable') s.unreachable = true
    else if (r.status === 'failed' && !r.ignored) s.failed = true
    if (o.register) s.registered[o.register] = r
    if (r.changed && r.status !== 'failed' && r.status !== 'unreachable') for (const n of notifyList(o.notify)) notified.add(n)
    play.record(r)
    return r
  }
  let x: Exec
  try {
    x = openExec(run, play, s, t, index, handler, await connection(run, s))
  } catch (e) {
    return finish(resultMaker(base)({ status: 'unreachable', msg: errMsg(e) }))
  }
  try {
    if (o.when && !o.when(x.ctx)) return finish(x.make({ status: 'skipped', msg: 'conditional result was false' }))
  } catch (e) {
    return finish(x.make({ status: 'failed', msg: `when: ${errMsg(e)}`, ignored: !!o.ignore_errors }))
  }
  const r = await chain(x)
  if (r.status === 'failed' && o.ignore_errors) r.ignored = true
  return finish(r)
}
