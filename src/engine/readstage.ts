/**
 * The read-ahead stage of a task's execution (the mechanism is engine/readahead.ts): a task's read is
 * the one that came back ahead, else a batch with the reads of the host's next tasks; a change's last
 * command carries the next task's read.
 */
import type { ExecOptions, ExecResult } from '../transport/types.ts'
import { UnreachableError } from '../errors.ts'
import { NotAhead, captureRead, readsAhead, type CapturedRead } from './readahead.ts'
import type { Exec } from './taskctx.ts'
import type { Task, TaskContext } from './types.ts'

/** Reads go ahead only for the host's own task list, on a connection that batches and counts its commands. */
const canBatch = (x: Exec): boolean => !!x.list && typeof x.conn.runBatch === 'function' && x.conn.commandsSent !== undefined

const becomeOf = (x: Exec, t: Task) => t.opts?.become ?? x.play.plan.play.become
const shellOf = (x: Exec, b: boolean | undefined) => (b && x.conn.isRoot !== true ? 'root' : 'login')

/** A later task's read, taken to go with a command run in the shell `become` picks; null when it cannot. */
function captureLater(x: Exec, tj: Task | undefined, become: boolean | undefined): CapturedRead | null {
  return tj && tj !== x.t && readsAhead(tj) && shellOf(x, becomeOf(x, tj)) === shellOf(x, become) ? captureRead(tj.resource, x.ctx, becomeOf(x, tj)) : null
}

/** This task's read: the one that came back ahead, else a batch with the reads of the tasks after it. */
export async function readState(x: Exec): Promise<unknown> {
  const { res, ctx, conn, s } = x
  if (!canBatch(x) || !res.readAhead) return res.read(ctx)
  const early = s.ahead.take(x.t, conn.commandsSent!)
  if (early) {
    try {
      return await early
    } catch (e) {
      if (e instanceof UnreachableError) throw e
      // It gave up (NotAhead) or failed: read again, for itself, on its own.
      return res.read(ctx)
    }
  }
  const eo = x.execOpts({})
  if (!eo || eo.timeoutMs !== undefined) return res.read(ctx)
  const mine = captureRead(res, ctx, eo.become)
  if (!mine) return res.read(ctx)
  const list = x.list!
  const parts: CapturedRead[] = [mine]
  const later: Task[] = []
  const room = s.ahead.nextBatch()
  for (let j = x.index + 1; j < list.length && later.length < room; j++) {
    const c = captureLater(x, list[j], eo.become)
    if (c) {
      parts.push(c)
      later.push(list[j])
    }
  }
  let results: ExecResult[]
  try {
    results = parts.length === 1 ? [await conn.run(mine.script, eo)] : await conn.runBatch!(parts.map((p) => ({ script: p.script })), eo)
  } catch (e) {
    for (const p of parts) p.deliver(e as Error)
    throw e
  }
  const stamp = conn.commandsSent!
  parts.forEach((p, k) => p.deliver(results[k]))
  later.forEach((tj, k) => s.ahead.put(tj, stamp, parts[k + 1].state))
  try {
    return await mine.state
  } catch (e) {
    if (e instanceof NotAhead) return res.read(ctx)
    throw e
  }
}

/**
 * A command of apply: when the host's next task reads ahead, its read rides along, run on the target
 * right after this command. It is used only if this was apply's last command (nothing sent since).
 */
export async function applyCommand(x: Exec, script: string, eo: ExecOptions): Promise<ExecResult> {
  const next = x.list?.[x.index + 1]
  const c = canBatch(x) && eo.timeoutMs === undefined ? captureLater(x, next, eo.become) : null
  if (!c) return x.conn.run(script, eo)
  let rs: ExecResult[]
  try {
    rs = await x.conn.runBatch!([{ script, stdin: eo.stdin }, { script: c.script }], { ...eo, stdin: undefined })
  } catch (e) {
    c.deliver(e as Error)
    throw e
  }
  c.deliver(rs[1])
  x.s.ahead.put(next!, x.conn.commandsSent!, c.state)
  return rs[0]
}

/** apply's context: its commands may carry the next task's read. */
export function applyContext(x: Exec): TaskContext {
  return {
    ...x.ctx,
    run(script: string, ro: ExecOptions = {}): Promise<ExecResult> {
      const eo = x.execOpts(ro)
      return eo ? applyCommand(x, script, eo) : Promise.resolve(x.timeUp())
    },
  }
}
