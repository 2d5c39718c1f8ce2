/**
 * Tasks whose arguments are only known on the host (an allocation waiting for the survey, the LAN
 * prefix, the underlay MTU, the datapath).
 */
import { TaskFailed } from '../errors.ts'
import { task, type Change, type Resource, type Task, type TaskContext, type Undo } from '../engine/types.ts'

/** Nothing to apply yet: what check mode lists when a prerequisite is made by an earlier task. */
export interface Pending {
  pending: Change[]
}

interface DeferredState {
  inner: Array<{ task: Task<unknown>; state: unknown }>
  pending?: Change[]
}

/**
 * A task whose arguments are only known on the host (an allocation waiting for the survey, the LAN
 * prefix, the underlay MTU, the datapath): `build` runs at read time (it may run one command of its own)
 * and returns the real task, or several (shown as one: the routes to every peer) — whose read, diff, undo
 * and apply are then used unchanged — or `{ pending }`: the changes check mode lists when the real task
 * cannot read yet because an earlier task would have made what it needs (`{ pending: [] }`: nothing to
 * do on this host).
 */
export function deferred(o: { module: string; name: string; risky?: boolean; build(ctx: TaskContext): Promise<Task<any> | Task<any>[] | Pending> }): Task<DeferredState> {
  const diffs = (s: DeferredState, ctx: TaskContext) => s.inner.map((x) => x.task.resource.diff(x.state, ctx) ?? [])
  const resource: Resource<DeferredState> = {
    module: o.module,
    name: o.name,
    risky: o.risky,
    async read(ctx) {
      const b = await o.build(ctx)
      if ('pending' in b) return { inner: [], pending: b.pending }
      const tasks = (Array.isArray(b) ? b : [b]) as Task<unknown>[]
      for (const t of tasks) {
        try {
          t.resource.validate?.(ctx.host, ctx.vars)
        } catch (e) {
          throw new TaskFailed(`computed arguments are invalid: ${(e as Error).message}`)
        }
      }
      const states = await Promise.all(tasks.map((t) => t.resource.read(ctx)))
      return { inner: tasks.map((task, i) => ({ task, state: states[i] })) }
    },
    diff(s, ctx) {
      return s.pending ?? diffs(s, ctx).flat()
    },
    undo(s, _changes, ctx): Undo | null {
      const d = diffs(s, ctx)
      const undos = s.inner
        .map((x, i) => (d[i].length ? x.task.resource.undo?.(x.state, d[i], ctx) ?? null : null))
        .filter((u): u is Undo => !!u)
      if (!undos.length) return null
      if (undos.length === 1) return undos[0]
      // Newest first, each in its own subshell so one failing does not skip the others.
      const backups = undos.filter((u) => u.backup)
      if (backups.length) throw new TaskFailed(`${o.name}: cannot combine undos that need a backup`)
      return {
        description: undos.map((u) => u.description).join('; '),
        script: ['rc=0', ...undos.reverse().map((u) => `( ${u.script}\n) || rc=1`), 'exit $rc'].join('\n'),
      }
    },
    async apply(ctx, s) {
      if (s.pending) throw new TaskFailed(`${o.name}: a prerequisite is missing (${s.pending.map((c) => c.what).join('; ')})`)
      const d = diffs(s, ctx)
      const out: Record<string, unknown>[] = []
      for (const [i, x] of s.inner.entries()) {
        if (!d[i].length) continue
        const r = (await x.task.resource.apply(ctx, x.state, d[i])) || {}
        if (r.failed) return r
        if (r.data) out.push(r.data)
      }
      return s.inner.length === 1 ? { data: out[0] } : { data: { results: out } }
    },
  }
  return task(resource)
}

/** Sections of one script's output, split on a marker line. */
export function sections(out: string, marker: string): string[] {
  return out.split(`${marker}\n`).map((s) => s.replace(/\n$/, ''))
}

