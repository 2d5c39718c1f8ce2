/**
 * The apply phase of one play: which task runs where and when.
 *
 * - linear (default): every host finishes task N before task N+1 starts anywhere.
 * - free: every host runs through its tasks at its own pace.
 * `serial` splits the hosts into batches that each run the whole play (handlers included). A failed or
 * unreachable host stops its own tasks; a play stops when more than `max_fail_percentage` of a batch
 * failed, or every host of a batch did. Handlers: at the end of each batch, per host, in definition
 * order, only those that changed tasks notified. Gather tasks are not run here: the gather phase ran
 * them on every host first (phases.ts).
 */
import type PQueue from 'p-queue'
import { executeTask } from './execute.ts'
import { serialBatches } from './plan.ts'
import { batchFailure, dead, isGather, type HostState, type PlayScope, type RunScope } from './taskctx.ts'
import type { Task } from './types.ts'

/** linear: task by task across the batch, then the notified handlers. */
async function linear(run: RunScope, scope: PlayScope, queue: PQueue, batch: HostState[], notified: Map<string, Set<string>>): Promise<string | undefined> {
  const { plan, hostTasks } = scope
  const { play } = plan
  const ev = run.ev
  let aborted: string | undefined
  const maxLen = Math.max(0, ...batch.map((s) => hostTasks.get(s.host.name)!.length))
  for (let i = 0; i < maxLen && !run.interrupted() && !aborted; i++) {
    // Gather tasks ran in the gather phase (phases.ts).
    const active = batch.filter((s) => !dead(s) && hostTasks.get(s.host.name)!.length > i && !isGather(hostTasks.get(s.host.name)![i]))
    if (active.length === 0) continue
    const first = hostTasks.get(active[0].host.name)![i]
    ev.taskStart?.({ play: play.name, name: first.opts.name ?? first.resource.name, module: first.resource.module, hosts: active.map((s) => s.host.name), handler: false, index: i })
    await Promise.all(active.map((s) => queue.add(() => executeTask(run, scope, s, hostTasks.get(s.host.name)![i], i, false, notified.get(s.host.name)!))))
    aborted = batchFailure(scope, batch)
  }
  if (aborted || run.interrupted()) return aborted
  // Handlers: each notified handler on the hosts that notified it, in definition order.
  const handlersOf = (s: HostState, hName: string) => plan.handlers.get(s.host.name)?.get(hName) ?? []
  for (const [hIndex, hName] of plan.handlerOrder.entries()) {
    if (run.interrupted()) break
    const targets = batch.filter((s) => !dead(s) && notified.get(s.host.name)!.has(hName))
    const maxH = Math.max(0, ...targets.map((s) => handlersOf(s, hName).length))
    for (let j = 0; j < maxH && !run.interrupted(); j++) {
      const active = targets.filter((s) => !dead(s) && handlersOf(s, hName).length > j)
      if (!active.length) continue
      const label = (t: Task) => (maxH > 1 ? `${hName}: ${t.opts.name ?? t.resource.name}` : hName)
      const first = handlersOf(active[0], hName)[j]
      ev.taskStart?.({ play: play.name, name: label(first), module: first.resource.module, hosts: active.map((s) => s.host.name), handler: true, index: hIndex })
      await Promise.all(
        active.map((s) => {
          const t = handlersOf(s, hName)[j]
          return queue.add(() => executeTask(run, scope, s, t.with({ name: label(t) }), hIndex, true, notified.get(s.host.name)!))
        }),
      )
    }
  }
  return batchFailure(scope, batch)
}

/** free: each host through its own list (one queue slot for the whole list), then its handlers. */
async function free(run: RunScope, scope: PlayScope, queue: PQueue, batch: HostState[], notified: Map<string, Set<string>>): Promise<string | undefined> {
  const { plan, hostTasks } = scope
  let aborted: string | undefined
  await Promise.all(
    batch.map((s) =>
      queue.add(async () => {
        const mine = notified.get(s.host.name)!
        const list = hostTasks.get(s.host.name)!
        for (let i = 0; i < list.length; i++) {
          if (run.interrupted() || aborted || dead(s)) return
          if (isGather(list[i])) continue
          await executeTask(run, scope, s, list[i], i, false, mine)
          aborted ??= batchFailure(scope, batch)
        }
        for (const [hIndex, hName] of plan.handlerOrder.entries()) {
          if (!mine.has(hName)) continue
          const ts = plan.handlers.get(s.host.name)?.get(hName) ?? []
          for (const t of ts) {
            if (run.interrupted() || aborted || dead(s)) return
            const label = ts.length > 1 ? `${hName}: ${t.opts.name ?? t.resource.name}` : hName
            await executeTask(run, scope, s, t.with({ name: label }), hIndex, true, mine)
          }
        }
      }),
    ),
  )
  return aborted
}

/** Every batch of the play; returns why the play stopped early, if it did. */
export async function applyPlay(run: RunScope, scope: PlayScope, queue: PQueue, hosts: HostState[]): Promise<string | undefined> {
  for (const batch of serialBatches(hosts, scope.plan.play.serial)) {
    if (run.interrupted()) break
    const notified = new Map<string, Set<string>>(batch.map((s) => [s.host.name, new Set<string>()]))
    let aborted = await (scope.plan.strategy === 'linear' ? linear : free)(run, scope, queue, batch, notified)
    if (!aborted && batch.length > 0 && batch.every(dead)) aborted = `every host of the batch failed (${batch.map((s) => s.host.name).join(', ')})`
    if (aborted) return aborted
  }
  return undefined
}
