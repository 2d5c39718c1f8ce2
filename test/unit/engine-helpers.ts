/**
 * Test-only resources and an in-memory Connection for the engine's scheduling tests. No process is
 * spawned and nothing touches a real host: every "command" is recorded and answered from memory.
 */
import type { Host } from '../../src/inventory/types.ts'
import type { Connection, ExecOptions, ExecResult } from '../../src/transport/types.ts'
import { UnreachableError } from '../../src/transport/types.ts'
import { task, type ApplyOutcome, type Change, type Task, type TaskContext, type Undo } from '../../src/engine/types.ts'
import { MemoryJournal } from '../../src/engine/journal.ts'
import { run, type RunOptions, type RunTransaction } from '../../src/engine/runner.ts'
import type { RunSummary } from '../../src/engine/results.ts'

export const mkHost = (name: string, vars: Record<string, unknown> = {}, groups: string[] = ['all']): Host => ({ name, vars, groups })

export class Log {
  events: string[] = []
  push(e: string) {
    this.events.push(e)
  }
  of(prefix: string) {
    return this.events.filter((e) => e.startsWith(prefix))
  }
  index(e: string) {
    return this.events.indexOf(e)
  }
}

export class FakeConnection implements Connection {
  alive = true
  runs: Array<{ script: string; opts?: ExecOptions }> = []
  constructor(
    readonly hostName: string,
    private answer: (script: string) => Partial<ExecResult> = () => ({}),
  ) {}
  async run(script: string, opts?: ExecOptions): Promise<ExecResult> {
    this.runs.push({ script, opts })
    await Promise.resolve()
    return { code: 0, stdout: '', stderr: '', durationMs: 0, ...this.answer(script) }
  }
  async upload(): Promise<void> {}
  async close(): Promise<void> {
    this.alive = false
  }
}

export interface FakeSpec {
  /** Changes diff() reports: a list, or computed per host/attempt. */
  changes?: Change[] | ((ctx: TaskContext, attempt: number) => Change[])
  /** apply's outcome, or a function of the host. */
  outcome?: ApplyOutcome | ((ctx: TaskContext, attempt: number) => ApplyOutcome | void)
  /** read() throws this. */
  readError?: Error | ((ctx: TaskContext) => Error | undefined)
  /** ms read() takes, per host. */
  delay?: number | ((host: string) => number)
  undo?: Undo | null
  checkMode?: 'changed' | 'skip'
  validate?: (host: Host) => void
  /** Run one command through ctx.run during read (to see timeout/become). */
  probe?: boolean
}

/** A resource that records read/apply per host in `log` as "host:name:read" / "host:name:apply". */
export function fake(log: Log, name: string, spec: FakeSpec = {}): Task<number> {
  const attempts = new Map<string, number>()
  return task<number>({
    module: 'fake',
    name,
    checkMode: spec.checkMode,
    validate: spec.validate ? (h) => spec.validate!(h) : undefined,
    async read(ctx) {
      const n = (attempts.get(ctx.host.name) ?? 0) + 1
      attempts.set(ctx.host.name, n)
      log.push(`${ctx.host.name}:${name}:read`)
      const d = typeof spec.delay === 'function' ? spec.delay(ctx.host.name) : spec.delay ?? 0
      if (d) await new Promise((r) => setTimeout(r, d))
      if (spec.probe) await ctx.run('probe')
      const err = typeof spec.readError === 'function' ? spec.readError(ctx) : spec.readError
      if (err) throw err
      log.push(`${ctx.host.name}:${name}:done`)
      return n
    },
    diff(n, ctx) {
      return typeof spec.changes === 'function' ? spec.changes(ctx, n) : spec.changes ?? []
    },
    undo: spec.undo === undefined ? undefined : () => spec.undo ?? null,
    async apply(ctx, n) {
      log.push(`${ctx.host.name}:${name}:apply`)
      return typeof spec.outcome === 'function' ? spec.outcome(ctx, n) : spec.outcome
    },
  })
}

export const CHANGE: Change[] = [{ what: 'something', before: 'a', after: 'b' }]

export interface Harness {
  log: Log
  conns: Map<string, FakeConnection>
  journal: MemoryJournal
  connects: string[]
  run(opts: Partial<RunOptions> & Pick<RunOptions, 'plays'>): Promise<RunSummary>
}

/** Runs plays over `hosts` with fake connections; hosts listed in `unreachable` fail to connect. */
export function harness(hosts: Host[], o: { unreachable?: string[]; answer?: (host: string, script: string) => Partial<ExecResult> } = {}): Harness {
  const log = new Log()
  const conns = new Map<string, FakeConnection>()
  const journal = new MemoryJournal('test-run')
  const connects: string[] = []
  const origRecord = journal.record.bind(journal)
  journal.record = async (h, c, u, m) => {
    log.push(`${h}:${m?.task}:journal`)
    return origRecord(h, c, u, m)
  }
  return {
    log,
    conns,
    journal,
    connects,
    run: (opts) =>
      run({
        resolveHosts: (pattern) => (pattern === 'all' ? hosts : hosts.filter((h) => h.groups.includes(pattern) || h.name === pattern)),
        async connect(h) {
          connects.push(h.name)
          if (o.unreachable?.includes(h.name)) throw new UnreachableError(h.name, `ssh: connect to host ${h.name} port 22: Connection refused`)
          let c = conns.get(h.name)
          if (!c) {
            c = new FakeConnection(h.name, (s) => o.answer?.(h.name, s) ?? {})
            conns.set(h.name, c)
          }
          return c
        },
        journal,
        runId: 'test-run',
        sleep: async () => {},
        ...opts,
      }),
  }
}

/** A transaction that does nothing but what the test gives it (the engine's RunTransaction). */
export function fakeTx(o: Partial<RunTransaction> = {}): RunTransaction {
  return { begin: async () => {}, beforeChange: async () => {}, riskyApply: (_t, apply) => apply(), end: async () => {}, ...o }
}
