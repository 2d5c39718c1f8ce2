/**
 * The gather phase of a play and its cross-host barriers.
 *
 * A gather task (`gatherTask`, or the facts of gather_facts) only reads. The engine lifts every gather
 * task out of the hosts' lists and runs them first, on every host of the play — before any serial batch,
 * whatever the strategy and the forks — task by task across the hosts, each host in a queue slot only
 * for its own read. Then every barrier the play's gather tasks report to is settled: ONE pure
 * `plan(all hosts' facts)`, computed once, whose value the apply phase's tasks read (a subnet allocation
 * around every host's routes). --check runs the same phase: what it shows comes from the same plan.
 * Nothing waits inside a task: a host's queue slot is never held while another host's read is pending
 * (with `free -f 2` on three hosts, polling inside a task held both slots while the third host waited).
 */
import type PQueue from 'p-queue'
import { TaskFailed } from '../errors.ts'
import { executeTask } from './execute.ts'
import { batchFailure, dead, isGather, type HostState, type PlayScope, type RunScope } from './taskctx.ts'
import { task, type BarrierLike, type Resource, type Task, type TaskContext } from './types.ts'

/**
 * Where every host's facts meet: `report` from each host's gather task, `settle` by the engine after the
 * gather phase (plans once), `value` from the apply phase's tasks.
 */
export class Barrier<F, P> implements BarrierLike {
  readonly facts = new Map<string, F>()
  readonly failed = new Map<string, string>()
  /** How many times the plan was computed (once per settled barrier). */
  planned = 0
  private result?: { value: P } | { error: Error }

  constructor(
    readonly name: string,
    private readonly plan: (facts: ReadonlyMap<string, F>) => P,
  ) {}

  report(host: string, facts: F): void {
    if (this.result) throw new Error(`${this.name}: ${host} reported after the barrier was settled`)
    this.facts.set(host, facts)
  }

  fail(host: string, why: string): void {
    this.failed.set(host, why)
  }

  /** Engine: every host expected here has gathered (or failed, or was not reached). Plans once. */
  settle(expected: string[]): void {
    if (this.result) return
    const broken = [...this.failed.keys()]
    const missing = expected.filter((h) => !this.facts.has(h) && !this.failed.has(h))
    if (broken.length) this.result = { error: new TaskFailed(`the ${this.name} failed on ${broken.join(', ')}`) }
    else if (missing.length) this.result = { error: new TaskFailed(`the ${this.name} did not report from ${missing.join(', ')}`) }
    else {
      this.planned++
      try {
        this.result = { value: this.plan(this.facts) }
      } catch (e) {
        this.result = { error: e as Error }
      }
    }
  }

  get settled(): boolean {
    return !!this.result
  }

  /** The plan (a task of the apply phase asks); throws TaskFailed when it could not be made. */
  value(): P {
    const r = this.result
    if (!r) throw new TaskFailed(`${this.name}: asked for before the gather phase settled it (a gather task must report to it on every host)`)
    if ('error' in r) throw r.error
    return r.value
  }
}

/** A read-only task of the gather phase: its read's value is this host's facts for `barrier`. */
export function gatherTask<F>(o: { module: string; name: string; barrier?: Barrier<F, unknown>; read(ctx: TaskContext): Promise<F> }): Task {
  const resource: Resource<null> = {
    module: o.module,
    name: o.name,
    phase: 'gather',
    barrier: o.barrier,
    async read(ctx) {
      let facts: F
      try {
        facts = await o.read(ctx)
      } catch (e) {
        o.barrier?.fail(ctx.host.name, (e as Error)?.message ?? String(e))
        throw e
      }
      o.barrier?.report(ctx.host.name, facts)
      return null
    },
    diff: () => [],
    async apply() {},
  }
  return task(resource)
}

/**
 * The gather phase of a play: its gather tasks on every live host (in list order, across the hosts),
 * then its barriers settled. Returns why the play stops, if it does (max_fail_percentage, every host
 * failed), as the apply phase would.
 */
export async function gatherPlay(run: RunScope, scope: PlayScope, queue: PQueue, hosts: HostState[]): Promise<string | undefined> {
  const { hostTasks, plan } = scope
  const lists = new Map(hosts.map((s) => [s.host.name, hostTasks.get(s.host.name)!.map((t, i) => [t, i] as const).filter(([t]) => isGather(t))]))
  const steps = Math.max(0, ...[...lists.values()].map((l) => l.length))
  if (steps === 0) return undefined
  const nothing = new Set<string>()
  for (let k = 0; k < steps && !run.interrupted(); k++) {
    const active = hosts.filter((s) => !dead(s) && lists.get(s.host.name)!.length > k)
    if (!active.length) continue
    const [first, index] = lists.get(active[0].host.name)![k]
    run.ev.taskStart?.({ play: plan.play.name, name: first.opts.name ?? first.resource.name, module: first.resource.module, hosts: active.map((s) => s.host.name), handler: false, index })
    await Promise.all(active.map((s) => queue.add(() => executeTask(run, scope, s, lists.get(s.host.name)![k][0], lists.get(s.host.name)![k][1], false, nothing))))
  }
  // Each barrier expects the hosts whose lists report to it.
  const barriers = new Map<BarrierLike, string[]>()
  for (const s of hosts)
    for (const [t] of lists.get(s.host.name)!) {
      const b = t.resource.barrier
      if (b) barriers.set(b, [...(barriers.get(b) ?? []), s.host.name])
    }
  for (const [b, expected] of barriers) {
    b.settle(expected)
    scope.barriers.push({ name: b.name, hosts: [...b.facts.keys()], planned: b.planned })
  }
  // As a batch of the apply phase would: the play stops here when too many hosts failed.
  if (hosts.length && hosts.every(dead)) return `every host of the batch failed (${hosts.map((s) => s.host.name).join(', ')})`
  return batchFailure(scope, hosts)
}
