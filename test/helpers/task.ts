/**
 * Drive one task on one host the way the engine does (read → diff → [check stops] → undo → apply),
 * without a playbook, for task-level tests. Returns what happened, and the undo, so a test can
 * replay it and compare the host with its snapshot.
 */
import { expect } from 'vitest'
import type { Host } from '../../src/inventory/types.ts'
import { ArgError, type Change, type Task, type TaskContext, type Undo, type ApplyOutcome } from '../../src/engine/types.ts'
import type { Connection } from '../../src/transport/types.ts'

export interface TaskRun {
  changes: Change[]
  undo: Undo | null
  outcome: ApplyOutcome | void
  changed: boolean
}

export function context(conn: Connection, opts: { check?: boolean; vars?: Record<string, unknown> } = {}): TaskContext {
  const host: Host = { name: conn.hostName, vars: opts.vars ?? {}, groups: ['all'] }
  return {
    host,
    vars: host.vars,
    check: !!opts.check,
    diff: true,
    conn,
    run: (script, o) => conn.run(script, o),
    registered: {},
    facts: {},
    runId: 'test',
    log: () => {},
  }
}

export async function runTask(task: Task<any>, conn: Connection, opts: { check?: boolean; vars?: Record<string, unknown> } = {}): Promise<TaskRun> {
  const ctx = context(conn, opts)
  const r = task.resource
  r.validate?.(ctx.host, ctx.vars)
  const state = await r.read(ctx)
  const changes = r.diff(state, ctx)
  if (changes.length === 0 || ctx.check) return { changes, undo: null, outcome: undefined, changed: changes.length > 0 }
  const undo = r.undo?.(state, changes, ctx) ?? null
  const outcome = await r.apply(ctx, state, changes)
  if (outcome && outcome.failed) throw new Error(`${r.name} failed on ${conn.hostName}: ${outcome.msg ?? outcome.stderr ?? ''}`)
  return { changes, undo, outcome, changed: outcome?.changed ?? true }
}

/** Replay undos (newest first), as a rollback does. */
export async function undoAll(conn: Connection, undos: Array<Undo | null>): Promise<void> {
  for (const u of [...undos].reverse()) {
    if (!u) continue
    const r = await conn.run(u.script)
    if (r.code !== 0) throw new Error(`undo "${u.description}" failed on ${conn.hostName}: ${r.stderr}`)
  }
}

/**
 * The task's validate refuses its arguments with an ArgError naming `variable` (as .variable and in
 * the message), before any host is touched. `label` names the case in a failure (default: the variable).
 */
export function expectRefused(task: Task<any>, variable: string, label = `${variable} should be refused`): void {
  let err: unknown
  try {
    task.resource.validate?.({ name: 'h', vars: {}, groups: [] }, {})
  } catch (e) {
    err = e
  }
  expect(err, label).toBeInstanceOf(ArgError)
  expect((err as ArgError).variable).toBe(variable)
  expect((err as Error).message).toContain(variable)
}

/** runTask refuses the task with an ArgError naming `variable` (run it on a counting() connection to show no command went out). */
export async function expectRunRefused(task: Task<any>, conn: Connection, variable: string, label?: string): Promise<void> {
  const e = await runTask(task, conn).catch((x) => x)
  expect(e, label).toBeInstanceOf(ArgError)
  expect(e.variable).toBe(variable)
}

/** The changes of the runtime plan only: without those a task persists at commit (model/task.ts AT_COMMIT). */
export const runtimeChanges = <C extends { what: string }>(changes: C[]): C[] => changes.filter((c) => !c.what.endsWith(' (at commit)'))
