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
import { applyCommands, describePlanSteps, undoPlan, undoStep } from './runtime.ts'
import type { Step } from './steps.ts'
import { createHash } from 'node:crypto'

export interface Planned<F> {
  facts: F
  steps: Step[]
  /** The persisted form (model/persist.ts): written at commit, or with the change when there is no transaction. */
  persist: Step[]
}

/** How the diff marks a change made only at commit. */
export const AT_COMMIT = ' (at commit)'

/** Items of the same key run once per host at commit: what a step writes, and a hash of it. */
export function commitKey(s: Step): string {
  const h = createHash('sha256').update(JSON.stringify(s)).digest('hex').slice(0, 16)
  return `${s.kind}:${'path' in s ? s.path : 'name' in s ? s.name : ''}:${h}`
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
  /**
   * Pure: the persisted form of the desired state (config files, an orch unit: model/persist.ts), from
   * the same facts (the reader reads what is persisted too). Written at commit: ctx.atCommit.
   */
  persist?(facts: F, args: A, host: string): Step[]
  /** Names the change in an error: 'setting net.ipv4.ip_forward'. */
  applying(args: A, steps: Step[]): string
  /** Data the task reports (for `register`), from the plan applied. */
  data?(args: A, facts: F, steps: Step[]): Record<string, unknown>
  /**
   * A read run right after the last apply command, in the same round trip, and what it means: the
   * outcome (failed with a message when the host did not end up as planned). Without it, apply reports
   * `data`.
   */
  verify?(args: A, facts: F, steps: Step[], host: string): Verify<any> | null
  readAhead?: boolean
  risky?: boolean
}

export interface Verify<V> {
  reader: Reader<V>
  check(v: V): ApplyOutcome
}

/** A Verify with the check's argument typed from the reader. */
export const verifyWith = <V>(reader: Reader<V>, check: (v: V) => ApplyOutcome): Verify<V> => ({ reader, check })

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
      return { facts, steps: def.plan(facts, args, ctx.host.name), persist: def.persist?.(facts, args, ctx.host.name) ?? [] }
    },
    diff: (s) => [...describePlanSteps(s.steps), ...describePlanSteps(s.persist).map((c) => ({ ...c, what: c.what + AT_COMMIT }))],
    // Persisted steps journal their own undo at commit; without a transaction they run now, with the change.
    undo: (s, _c, ctx) => undoPlan(ctx?.atCommit ? s.steps : [...s.steps, ...s.persist]),
    async apply(ctx, s): Promise<ApplyOutcome> {
      const args = def.parseArgs()
      const cmds = applyCommands(s.steps)
      const verify = def.verify?.(args, s.facts, s.steps, ctx.host.name) ?? null
      let out: ApplyOutcome = def.data ? { data: def.data(args, s.facts, s.steps) } : {}
      for (const [i, c] of cmds.entries()) {
        const last = i === cmds.length - 1
        // The check reads in the same round trip as the last change (its sections after the change's output).
        const script = last && verify ? `${c.script} && {\n${readScript(verify.reader)}\n}` : c.script
        const r = mustSucceed(await ctx.run(script, c.stdin !== undefined ? { stdin: c.stdin } : {}), def.applying(args, s.steps))
        if (last && verify) out = verify.check(parseRead(verify.reader, r, `checking ${def.name}`))
      }
      if (out.failed || !s.persist.length) return out
      if (ctx.atCommit) {
        for (const p of s.persist) ctx.atCommit({ key: commitKey(p), module: def.module, task: def.name, undo: undoStep(p), commands: applyCommands([p]) })
      } else {
        for (const c of applyCommands(s.persist)) mustSucceed(await ctx.run(c.script, c.stdin !== undefined ? { stdin: c.stdin } : {}), `persisting ${def.name}`)
      }
      return out
    },
  }
  return task(resource)
}
