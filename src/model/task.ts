/**
 * plannedTask: a task made of four pure parts and nothing else —
 *
 *   parseArgs()            raw arguments → typed arguments (throws ArgError; validate() is this call)
 *   reader(args)           the facts it needs, composed into ONE round trip (read.ts)
 *   plan(facts, args, h)   typed facts + typed arguments → Step[] (steps.ts), pure
 *   renderers              runtime.ts: diff lines, apply commands, undo script, switched on step kind
 *
 * The state the engine carries from read to diff/undo/apply is { facts, steps }: nothing is written
 * into closures, and no code looks at a Change's text to decide anything.
 */
import { mustSucceed } from '../engine/taskkit.ts'
import { task, type ApplyOutcome, type Resource, type Task, type TaskContext } from '../engine/types.ts'
import { readScript, parseRead, type Reader } from './read.ts'
import { applyCommands, describePlanSteps, undoPlan } from './runtime.ts'
import type { Step } from './steps.ts'

export interface Planned<F> {
  facts: F
  steps: Step[]
}

export interface PlannedDef<A, F> {
  module: string
  name: string
  parseArgs(): A
  reader(args: A): Reader<F>
  /** Names the read in an error: 'reading sysctl net.ipv4.ip_forward'. */
  reading(args: A): string
  /** Pure. Throws TaskFailed when the host cannot be brought to the state asked for (naming `host`). */
  plan(facts: F, args: A, host: string): Step[]
  /** Names the change in an error: 'setting net.ipv4.ip_forward'. */
  applying(args: A, steps: Step[]): string
  /** Data the task reports (for `register`), from the plan applied. */
  data?(args: A, facts: F, steps: Step[]): Record<string, unknown>
  readAhead?: boolean
  risky?: boolean
}

export function plannedTask<A, F>(def: PlannedDef<A, F>): Task<Planned<F>> {
  const resource: Resource<Planned<F>> = {
    module: def.module,
    name: def.name,
    validate() {
      def.parseArgs()
    },
    ...(def.readAhead ? { readAhead: true } : {}),
    ...(def.risky ? { risky: true } : {}),
    async read(ctx: TaskContext) {
      const args = def.parseArgs()
      const r = def.reader(args)
      // ctx.run right away (no await before it): the engine may send this read ahead (engine/readahead.ts).
      const res = await ctx.run(readScript(r))
      const facts = parseRead(r, res, def.reading(args))
      return { facts, steps: def.plan(facts, args, ctx.host.name) }
    },
    diff: (s) => describePlanSteps(s.steps),
    undo: (s) => undoPlan(s.steps),
    async apply(ctx, s): Promise<ApplyOutcome> {
      const args = def.parseArgs()
      for (const c of applyCommands(s.steps)) {
        mustSucceed(await ctx.run(c.script, c.stdin !== undefined ? { stdin: c.stdin } : {}), def.applying(args, s.steps))
      }
      return def.data ? { data: def.data(args, s.facts, s.steps) } : {}
    },
  }
  return task(resource)
}
