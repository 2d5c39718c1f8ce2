/**
 * The runner: plays × hosts × tasks.
 *
 * 1. Plan: for every play and every host, build the task and handler lists and validate every task.
 *    Nothing connects before the whole plan is valid; any ArgError/PlaybookError stops the run (exit 5).
 * 2. Run: hosts in parallel (one p-queue, `forks` slots), tasks in order per host.
 *    - linear (default): every host finishes task N before task N+1 starts anywhere.
 *    - free: every host runs through its tasks at its own pace.
 *    `serial` splits the hosts into batches that each run the whole play (handlers included).
 *    A failed or unreachable host stops its own tasks and is left out of later plays; the others go on.
 *    A play stops when more than `max_fail_percentage` of a batch failed, or every host of a batch did.
 * 3. Handlers: at the end of each batch, per host, in definition order, only those that changed tasks notified.
 *
 * Per task on a host: when → read → diff → (check: report) → undo journalled → apply, with
 * register/changed_when/failed_when/until/retries/ignore_errors/timeout/become around it.
 */
import PQueue from 'p-queue'
import type { Host, Vars } from '../inventory/types.ts'
import type { Connection, ExecOptions, ExecResult } from '../transport/types.ts'
import { UnreachableError } from '../transport/types.ts'
import { JOURNAL_FAILED, JOURNAL_FAILED_RC, RemoteJournal, newRunId, type Journal, type JournalPrefix } from './journal.ts'
import {
  countResult,
  emptyStats,
  exitCodeFor,
  type HostStats,
  type PlaySummary,
  type RunEvents,
  type RunSummary,
  type TaskSummary,
} from './results.ts'
import {
  ArgError,
  PlaybookError,
  TaskFailed,
  isTask,
  task as mkTask,
  type ApplyOutcome,
  type Change,
  type CommitWork,
  type Playbook,
  type PlaybookContext,
  type Task,
  type TaskContext,
  type TaskResult,
} from './types.ts'

import { DEFAULT_FORKS } from './defaults.ts'
import { NotAhead, ReadsAhead, captureRead, readsAhead, type CapturedRead } from './readahead.ts'
import { confirmTimeout } from '../safety/confirm.ts'
export { DEFAULT_FORKS }

export interface RunOptions {
  /** The plays of the playbook, in order. */
  plays: Playbook<any>[]
  /** File the plays came from (for messages and the report). */
  playbookPath?: string
  /** Hosts a play pattern selects, --limit already applied; [] when none match. */
  resolveHosts(pattern: string): Host[]
  /** Hosts a play pattern selects without --limit (peers of the play); default: resolveHosts. */
  resolveAllHosts?(pattern: string): Host[]
  /** Called once per host of the plan before anything connects (e.g. to check its connection vars); may throw. */
  prepareHost?(host: Host): void
  /** A connection to a host (the transport pool's get). Throwing means unreachable. */
  connect(host: Host): Promise<Connection>
  /** -e vars: override everything. */
  extraVars?: Vars
  check?: boolean
  diff?: boolean
  /** Hosts worked on at once (default 20). */
  forks?: number
  /** Overrides every play's strategy. */
  strategy?: 'linear' | 'free'
  /** Where undos go before apply (default: RemoteJournal on the targets). */
  journal?: Journal
  runId?: string
  events?: RunEvents
  /** Aborting it (SIGINT) starts no new task; running ones finish; the summary says interrupted. */
  signal?: AbortSignal
  /** Facts hook: called once per host for plays with gather_facts. */
  gatherFacts?(host: Host, conn: Connection, ctx: TaskContext): Promise<Record<string, unknown>>
  /** For tests: how to wait `ms` (retry delays). */
  sleep?(ms: number, signal?: AbortSignal): Promise<void>
  /**
   * Runs the apply of a `risky` task (one that may cut the controller off) under commit-confirmed:
   * safety/transaction.ts arms the target's rollback timer, applies, reconnects, checks, disarms.
   */
  riskyApply?(t: { host: Host; conn: Connection; ctx: TaskContext; task: string }, apply: () => Promise<ApplyOutcome | void>): Promise<ApplyOutcome | void>
  /**
   * After the last task, before the recap is reported: the transaction runs the playbook's checks and
   * commits or rolls back, updating the summary (checks, rolled_back, exit code).
   */
  finalize?(summary: RunSummary, plans: PlannedPlay[]): Promise<void>
  /** Before a task changes a host (not in check mode): the transaction takes the host's pre-run snapshot the first time. */
  beforeChange?(host: Host, conn: Connection): Promise<void>
  /**
   * Instead of beforeChange, when the change's undo rides with its command (journal.prefix): a shell
   * prefix that saves the host's pre-run snapshot on the target in that same round trip, or undefined when
   * the host has one already. If the command cannot carry it after all, beforeChange runs instead.
   */
  snapshotPrefix?(host: Host): SnapshotPrefix | undefined
  /** After the plan is valid, before the first task: the transaction locks the hosts (may throw: nothing ran). */
  begin?(hosts: Host[]): Promise<void>
  /** Work a task leaves for the commit (TaskContext.atCommit): the transaction journals and runs it once the checks passed. */
  atCommit?(host: Host, work: CommitWork): void
}

/** The transaction's pre-run snapshot as a prefix of a change's command (RunOptions.snapshotPrefix). */
export interface SnapshotPrefix {
  script: string
  /** The command could not carry it: take the snapshot on its own round trip instead, before the change. */
  alone(conn: Connection): Promise<void>
}

/** A journal prefix that saves the pre-run snapshot first; written alone, the snapshot is taken first, apart. */
function withSnapshot(pre: JournalPrefix, snap: SnapshotPrefix): JournalPrefix {
  return {
    script: snap.script + pre.script,
    done: (ok) => pre.done(ok),
    recordAlone: async (conn) => {
      await snap.alone(conn)
      return pre.recordAlone(conn)
    },
  }
}

export interface PlannedPlay {
  play: Playbook<any>
  index: number
  hosts: Host[]
  strategy: 'linear' | 'free'
  tasks: Map<string, Task[]>
  handlers: Map<string, Map<string, Task[]>>
  /** Handler names in definition order (union over hosts). */
  handlerOrder: string[]
  vars: Map<string, Vars>
}

interface HostState {
  host: Host
  conn?: Connection
  failed: boolean
  unreachable: boolean
  registered: Record<string, TaskResult>
  facts: Record<string, unknown>
  factsGathered: boolean
  /** Reads that came back ahead of their task (engine/readahead.ts). */
  ahead: ReadsAhead
}

const notifyList = (n: string | string[] | undefined): string[] => (n === undefined ? [] : Array.isArray(n) ? n : [n])

const hostAddress = (h: Host): string => String(h.vars.ansible_host ?? h.name)

export function mergeVars(play: Playbook<any>, host: Host, extra: Vars): Vars {
  // -e values are in host.vars too, there rendered for the host (inventory/template): prefer those.
  const ex: Vars = {}
  for (const k of Object.keys(extra)) ex[k] = Object.hasOwn(host.vars, k) ? host.vars[k] : extra[k]
  return { ...(play.defaults ?? {}), ...host.vars, ...(play.vars ?? {}), ...ex }
}

function describeValue(x: unknown): string {
  if (x === null) return 'null'
  if (Array.isArray(x)) return 'an array'
  if (typeof x === 'object') return `an object with keys ${Object.keys(x as object).slice(0, 5).join(', ') || '(none)'}`
  return `${typeof x} ${JSON.stringify(x)}`
}

/** Host batches for `serial`: a number, a percentage, or a list of them (the last repeats), as Ansible. */
export function serialBatches<T>(hosts: T[], serial: Playbook['serial'] | Array<number | string> | undefined): T[][] {
  if (serial === undefined || serial === null || hosts.length === 0) return hosts.length ? [hosts] : []
  const steps = Array.isArray(serial) ? serial : [serial]
  if (steps.length === 0) return [hosts]
  const size = (s: number | string): number => {
    if (typeof s === 'string' && s.trim().endsWith('%')) {
      const pct = Number(s.trim().slice(0, -1))
      return Math.floor((pct / 100) * hosts.length) || 1
    }
    const n = Number(s)
    return n <= 0 ? hosts.length : Math.floor(n)
  }
  const out: T[][] = []
  let i = 0
  let k = 0
  while (i < hosts.length) {
    const n = size(steps[Math.min(k, steps.length - 1)])
    out.push(hosts.slice(i, i + n))
    i += n
    k++
  }
  return out
}

function checkSerial(s: unknown): boolean {
  const one = (v: unknown) =>
    (typeof v === 'number' && Number.isInteger(v) && v >= 0) ||
    (typeof v === 'string' && /^\s*(\d+(\.\d+)?%|\d+)\s*$/.test(v))
  return Array.isArray(s) ? s.length > 0 && s.every(one) : one(s)
}

/** Checks the option fields of a task; returns a problem or null. */
function taskOptionProblem(t: Task): string | null {
  const o = t.opts ?? {}
  const fn = ['when', 'changed_when', 'failed_when', 'until'] as const
  for (const k of fn) if (o[k] !== undefined && typeof o[k] !== 'function') return `${k} must be a function of the context/result`
  if (o.retries !== undefined && !(Number.isInteger(o.retries) && o.retries >= 0)) return 'retries must be an integer >= 0'
  if (o.delay !== undefined && !(typeof o.delay === 'number' && o.delay >= 0)) return 'delay must be a number of seconds >= 0'
  if (o.timeout !== undefined && !(typeof o.timeout === 'number' && o.timeout > 0)) return 'timeout must be a number of seconds > 0'
  if (o.register !== undefined && (typeof o.register !== 'string' || !o.register)) return 'register must be a non-empty string'
  if (o.notify !== undefined && !notifyList(o.notify).every((n) => typeof n === 'string' && n)) return 'notify must be a handler name or a list of them'
  return null
}

/** Builds and validates everything; throws ArgError/PlaybookError (exit 5) before any host is touched. */
export function planRun(opts: RunOptions): PlannedPlay[] {
  const file = opts.playbookPath
  const extra = opts.extraVars ?? {}
  return opts.plays.map((play, index) => {
    const where = `play ${index + 1} (${JSON.stringify(play?.name ?? '?')})`
    if (!play || typeof play !== 'object') throw new PlaybookError(`play ${index + 1}: expected a playbook({...}) object, got ${describeValue(play)}`, file)
    if (typeof play.name !== 'string' || !play.name) throw new PlaybookError(`play ${index + 1}: name must be a non-empty string`, file)
    if (typeof play.hosts !== 'string' || !play.hosts.trim()) throw new PlaybookError(`${where}: hosts must be a host pattern string`, file)
    if (!Array.isArray(play.tasks) && typeof play.tasks !== 'function') throw new PlaybookError(`${where}: tasks must be an array of tasks or a function (ctx) => tasks`, file)
    if (play.handlers !== undefined && typeof play.handlers !== 'function' && (typeof play.handlers !== 'object' || Array.isArray(play.handlers) || play.handlers === null))
      throw new PlaybookError(`${where}: handlers must be an object { name: task } or a function (ctx) => that`, file)
    const strategy = opts.strategy ?? play.strategy ?? 'linear'
    if (strategy !== 'linear' && strategy !== 'free') throw new PlaybookError(`${where}: strategy must be 'linear' or 'free', got ${JSON.stringify(strategy)}`, file)
    if (play.serial !== undefined && !checkSerial(play.serial)) throw new PlaybookError(`${where}: serial must be a number, a percentage like '30%', or a list of them`, file)
    if (play.max_fail_percentage !== undefined && !(typeof play.max_fail_percentage === 'number' && play.max_fail_percentage >= 0 && play.max_fail_percentage <= 100))
      throw new PlaybookError(`${where}: max_fail_percentage must be a number from 0 to 100`, file)
    for (const k of ['vars', 'defaults'] as const)
      if (play[k] !== undefined && (typeof play[k] !== 'object' || play[k] === null || Array.isArray(play[k]))) throw new PlaybookError(`${where}: ${k} must be an object`, file)

    const hosts = opts.resolveHosts(play.hosts)
    for (const h of hosts) opts.prepareHost?.(h)
    const everyone = opts.resolveAllHosts?.(play.hosts) ?? hosts
    // Limited-out hosts are still peers; a target the unlimited pattern somehow lacks is kept too.
    const everyHost = [...everyone, ...hosts.filter((h) => !everyone.some((e) => e.name === h.name))]
    const vars = new Map<string, Vars>()
    for (const h of everyHost) vars.set(h.name, mergeVars(play, h, extra))
    const tasks = new Map<string, Task[]>()
    const handlers = new Map<string, Map<string, Task[]>>()
    const handlerOrder: string[] = []

    for (const host of hosts) {
      const hv = vars.get(host.name)!
      const pctx: PlaybookContext = {
        host,
        vars: hv,
        hosts: everyHost,
        peers: everyHost.filter((p) => p.name !== host.name).map((p) => ({ name: p.name, address: hostAddress(p), vars: vars.get(p.name)! })),
        targets: hosts,
        need<T>(variable: string, check?: (v: unknown) => boolean, expected = 'a value (set it in the inventory, the play vars or with -e)'): T {
          const v = hv[variable]
          if (v === undefined || v === null || (check && !check(v))) throw new ArgError(variable, expected, v, host.name)
          return v as T
        },
      }
      const build = <T>(what: string, f: () => T): T => {
        try {
          return f()
        } catch (e) {
          if (e instanceof ArgError) throw e.forHost(host.name)
          if (e instanceof PlaybookError) throw e
          throw new PlaybookError(`${where}: building ${what} for host ${host.name}: ${(e as Error)?.message ?? e}`, file)
        }
      }
      const list = build('tasks', () => (typeof play.tasks === 'function' ? play.tasks(pctx) : play.tasks))
      if (!Array.isArray(list)) throw new PlaybookError(`${where}: tasks(ctx) for host ${host.name} returned ${describeValue(list)}, expected an array of tasks`, file)
      const flat = list.flat(Infinity as 1).filter((t: unknown) => t !== undefined && t !== null && t !== false) as unknown[]
      flat.forEach((t, i) => {
        if (!isTask(t)) throw new PlaybookError(`${where}: task ${i + 1} for host ${host.name} is not a task (got ${describeValue(t)}); use a task factory like sysctl(...) or command(...)`, file)
      })
      const hostTasks = flat as Task[]

      const rawHandlers = build('handlers', () => (typeof play.handlers === 'function' ? play.handlers(pctx) : play.handlers ?? {}))
      if (!rawHandlers || typeof rawHandlers !== 'object' || Array.isArray(rawHandlers)) throw new PlaybookError(`${where}: handlers for host ${host.name} must be an object { name: task }`, file)
      const hmap = new Map<string, Task[]>()
      for (const [name, v] of Object.entries(rawHandlers)) {
        const arr = (Array.isArray(v) ? v : [v]).filter((t: unknown) => t !== undefined && t !== null && t !== false)
        arr.forEach((t: unknown, i: number) => {
          if (!isTask(t)) throw new PlaybookError(`${where}: handler ${JSON.stringify(name)}${arr.length > 1 ? ` task ${i + 1}` : ''} for host ${host.name} is not a task (got ${describeValue(t)})`, file)
        })
        hmap.set(name, arr as Task[])
        if (!handlerOrder.includes(name)) handlerOrder.push(name)
      }

      const all: Array<[Task, string]> = [
        ...hostTasks.map((t, i) => [t, `task ${i + 1}`] as [Task, string]),
        ...[...hmap].flatMap(([n, ts]) => ts.map((t) => [t, `handler ${JSON.stringify(n)}`] as [Task, string])),
      ]
      for (const [t, label] of all) {
        const problem = taskOptionProblem(t)
        if (problem) throw new PlaybookError(`${where}: ${label} (${t.opts.name ?? t.resource.name}) on host ${host.name}: ${problem}`, file)
        for (const n of notifyList(t.opts.notify))
          if (!hmap.has(n)) throw new PlaybookError(`${where}: ${label} (${t.opts.name ?? t.resource.name}) notifies ${JSON.stringify(n)}, which is not a handler of this play (handlers: ${[...hmap.keys()].join(', ') || 'none'})`, file)
        try {
          t.resource.validate?.(host, hv)
          // A risky task runs under commit-confirmed: its timeout is checked now, not when the timer is armed.
          if (t.resource.risky) confirmTimeout(hv)
        } catch (e) {
          if (e instanceof ArgError) throw e.forHost(host.name)
          throw new PlaybookError(`${where}: ${label} (${t.resource.name}) on host ${host.name}: ${(e as Error)?.message ?? e}`, file)
        }
      }
      tasks.set(host.name, hostTasks)
      handlers.set(host.name, hmap)
    }
    return { play, index, hosts, strategy, tasks, handlers, handlerOrder, vars }
  })
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

function errMsg(e: unknown): string {
  return (e as Error)?.message ?? String(e)
}

/** The facts pseudo-task, run first on each host of a play with gather_facts. */
function factsTask(gather: NonNullable<RunOptions['gatherFacts']>, hs: () => HostState): Task {
  return mkTask({
    module: 'facts',
    name: 'Gathering Facts',
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

export async function run(opts: RunOptions): Promise<RunSummary> {
  const started = performance.now()
  const runId = opts.runId ?? newRunId()
  const journal = opts.journal ?? new RemoteJournal(runId)
  const check = !!opts.check
  const diff = !!opts.diff
  const ev = opts.events ?? {}
  const signal = opts.signal
  const sleep = opts.sleep ?? defaultSleep
  const forks = Math.max(1, Math.floor(opts.forks ?? DEFAULT_FORKS))

  // 1. Everything validated before any connection.
  const plans = planRun(opts)

  const queue = new PQueue({ concurrency: forks })
  const hostStates = new Map<string, HostState>()
  const stats: Record<string, HostStats> = {}
  const plays: PlaySummary[] = []
  const interrupted = () => !!signal?.aborted

  const stateOf = (h: Host): HostState => {
    let s = hostStates.get(h.name)
    if (!s) {
      s = { host: h, failed: false, unreachable: false, registered: {}, facts: {}, factsGathered: false, ahead: new ReadsAhead() }
      hostStates.set(h.name, s)
      stats[h.name] = emptyStats()
    }
    return s
  }
  const dead = (s: HostState) => s.failed || s.unreachable

  if (opts.begin) {
    const all = new Map<string, Host>()
    for (const p of plans) for (const h of p.hosts) all.set(h.name, h)
    await opts.begin([...all.values()])
  }
  ev.runStart?.({ runId, check, diff, playbook: opts.playbookPath })

  playLoop: for (const plan of plans) {
    if (interrupted()) break
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

    const getConn = async (s: HostState): Promise<Connection> => {
      if (s.conn && s.conn.alive !== false) return s.conn
      s.conn = await opts.connect(s.host)
      return s.conn
    }

    /** One task on one host, with every option. Returns null when it did not start (interrupted, dead host). */
    const runOne = async (s: HostState, t: Task, index: number, handler: boolean, notified: Set<string>): Promise<TaskResult | null> => {
      if (interrupted() || dead(s)) return null
      const res = t.resource
      const o = t.opts ?? {}
      const name = o.name ?? res.name
      const host = s.host
      const t0 = performance.now()
      ev.hostTaskStart?.({ host: host.name, name, module: res.module, handler, index })
      const base = { host: host.name, task: name, module: res.module, index, handler: handler || undefined }
      const finish = (r: TaskResult): TaskResult => {
        r.durationMs = Math.round((performance.now() - t0) * 1000) / 1000
        if (r.status === 'unreachable') s.unreachable = true
        else if (r.status === 'failed' && !r.ignored) s.failed = true
        if (o.register) s.registered[o.register] = r
        if (r.changed && r.status !== 'failed' && r.status !== 'unreachable') for (const n of notifyList(o.notify)) notified.add(n)
        record(r)
        return r
      }
      const make = (p: Partial<TaskResult> & { status: TaskResult['status'] }): TaskResult => ({
        ...base,
        changes: [],
        durationMs: 0,
        ...p,
        changed: p.changed ?? p.status === 'changed',
        failed: p.status === 'failed',
        skipped: p.status === 'skipped',
      })

      let conn: Connection
      try {
        conn = await getConn(s)
      } catch (e) {
        return finish(make({ status: 'unreachable', msg: errMsg(e) }))
      }

      const deadline = o.timeout ? performance.now() + o.timeout * 1000 : undefined
      const become = o.become ?? play.become
      /** The task's become/timeout applied to a command's options; null when the task's time is up. */
      const execOpts = (ro: ExecOptions): ExecOptions | null => {
        const eo: ExecOptions = { ...ro }
        if (become !== undefined && eo.become === undefined) eo.become = become
        if (deadline !== undefined) {
          const left = Math.floor(deadline - performance.now())
          if (left <= 0) return null
          eo.timeoutMs = eo.timeoutMs !== undefined ? Math.min(eo.timeoutMs, left) : left
        }
        return eo
      }
      const timeUp = (): ExecResult => ({ code: 124, stdout: '', stderr: `task timeout (${o.timeout}s) reached`, durationMs: 0, timedOut: true })
      const ctx: TaskContext = {
        host,
        vars: plan.vars.get(host.name) ?? host.vars,
        check,
        diff,
        conn,
        registered: s.registered,
        facts: s.facts,
        runId,
        log: (m) => ev.log?.(host.name, m),
        ...(opts.atCommit && !check ? { atCommit: (w: CommitWork) => opts.atCommit!(host, w) } : {}),
        run(script: string, ro: ExecOptions = {}): Promise<ExecResult> {
          const eo = execOpts(ro)
          return eo ? conn.run(script, eo) : Promise.resolve(timeUp())
        },
      }

      /**
       * apply's context when its undo rides along with apply's first command (journal.prefix): one round
       * trip instead of two per changed task. The entry is written, whole, before anything of that command
       * runs, and the command does not run when it could not be written. A command that cannot carry it
       * (not in the root shell the journal uses, or an upload, or a call on ctx.conn) waits for the entry
       * written on its own first; so does every command after the first, until the entry is known written.
       */
      const carrying = (pre: JournalPrefix): TaskContext => {
        let written: Promise<void> | null = null
        const sameShell = (eo: ExecOptions) => eo.become === true || conn.isRoot === true
        const alone = (): Promise<void> =>
          (written ??= pre.recordAlone(conn).then(
            () => pre.done(true),
            (e) => {
              pre.done(false)
              throw e
            },
          ))
        const run = async (script: string, ro: ExecOptions = {}): Promise<ExecResult> => {
          const eo = execOpts(ro)
          if (!eo) return timeUp()
          if (written || !sameShell(eo)) {
            await alone()
            return conn.run(script, eo)
          }
          let settle!: (e?: Error) => void
          written = new Promise<void>((res, rej) => (settle = (e) => (e ? rej(e) : res())))
          written.catch(() => undefined)
          let r: ExecResult
          try {
            r = await applyCommand(pre.script + script, eo)
          } catch (e) {
            // Unreachable mid-command: whether the entry got written is unknown; the task fails anyway.
            pre.done(false)
            settle(e as Error)
            throw e
          }
          if (r.code === JOURNAL_FAILED_RC && r.stderr.includes(JOURNAL_FAILED)) {
            pre.done(false)
            const err = new Error(`could not journal the undo on ${host.name} (rc=${r.code}): ${r.stderr.trim()}`)
            settle(err)
            throw err
          }
          pre.done(true)
          settle()
          return r
        }
        const guarded = new Proxy(conn, {
          get(target, key) {
            if (key === 'run' || key === 'upload' || key === 'runRaw') {
              const f = Reflect.get(target, key, target) as (...a: unknown[]) => Promise<unknown>
              return async (...args: unknown[]) => {
                await alone()
                return f.apply(target, args)
              }
            }
            const v = Reflect.get(target, key, target)
            return typeof v === 'function' ? v.bind(target) : v
          },
        })
        return { ...ctx, conn: guarded, run }
      }

      try {
        if (o.when && !o.when(ctx)) return finish(make({ status: 'skipped', msg: 'conditional result was false' }))
      } catch (e) {
        return finish(make({ status: 'failed', msg: `when: ${errMsg(e)}`, ignored: !!o.ignore_errors }))
      }

      // Reads sent ahead (engine/readahead.ts): only for the host's own task list, in one shell.
      const list = handler ? undefined : hostTasks.get(host.name)
      const canBatch = !!list && typeof conn.runBatch === 'function' && conn.commandsSent !== undefined
      const becomeOf = (x: Task) => x.opts?.become ?? play.become
      const shellOf = (b: boolean | undefined) => (b && conn.isRoot !== true ? 'root' : 'login')
      /** A later task's read, taken to go with a command run in the shell `become` picks; null when it cannot. */
      const captureLater = (tj: Task | undefined, become: boolean | undefined): CapturedRead | null =>
        tj && tj !== t && readsAhead(tj) && shellOf(becomeOf(tj)) === shellOf(become) ? captureRead(tj.resource, ctx, becomeOf(tj)) : null

      /** This task's read: the one that came back ahead, else a batch with the reads of the tasks after it. */
      const readState = async (): Promise<unknown> => {
        if (!canBatch || !res.readAhead) return res.read(ctx)
        const early = s.ahead.take(t, conn.commandsSent!)
        if (early) {
          try {
            return await early
          } catch (e) {
            if (e instanceof UnreachableError) throw e
            // It gave up (NotAhead) or failed: read again, for itself, on its own.
            return res.read(ctx)
          }
        }
        const eo = execOpts({})
        if (!eo || eo.timeoutMs !== undefined) return res.read(ctx)
        const mine = captureRead(res, ctx, eo.become)
        if (!mine) return res.read(ctx)
        const parts: CapturedRead[] = [mine]
        const later: Task[] = []
        const room = s.ahead.nextBatch()
        for (let j = index + 1; j < list!.length && later.length < room; j++) {
          const c = captureLater(list![j], eo.become)
          if (c) {
            parts.push(c)
            later.push(list![j])
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
      const applyCommand = async (script: string, eo: ExecOptions): Promise<ExecResult> => {
        const next = list?.[index + 1]
        const c = canBatch && eo.timeoutMs === undefined ? captureLater(next, eo.become) : null
        if (!c) return conn.run(script, eo)
        let rs: ExecResult[]
        try {
          rs = await conn.runBatch!([{ script, stdin: eo.stdin }, { script: c.script }], { ...eo, stdin: undefined })
        } catch (e) {
          c.deliver(e as Error)
          throw e
        }
        c.deliver(rs[1])
        s.ahead.put(next!, conn.commandsSent!, c.state)
        return rs[0]
      }
      const applyCtx: TaskContext = {
        ...ctx,
        run(script: string, ro: ExecOptions = {}): Promise<ExecResult> {
          const eo = execOpts(ro)
          return eo ? applyCommand(script, eo) : Promise.resolve(timeUp())
        },
      }

      const attempt = async (): Promise<TaskResult> => {
        let changes: Change[] = []
        try {
          const state = await readState()
          changes = res.diff(state, ctx) ?? []
          if (changes.length === 0) return make({ status: 'ok' })
          if (check && o.check_mode !== false) {
            if (res.checkMode === 'skip') return make({ status: 'skipped', changes, msg: 'skipped in check mode: the outcome cannot be known without running it' })
            return make({ status: 'changed', changes })
          }
          const undo = res.undo?.(state, changes, ctx) ?? null
          const meta = { module: res.module, task: name }
          // Risky tasks keep the entry on its own round trip: the commit-confirmed timer is armed in between.
          let pre = undo && !res.risky && journal.prefix ? journal.prefix(host.name, undo, meta) : null
          // The host's pre-run snapshot goes first: with the entry when it rides along, else on its own.
          const snap = pre ? opts.snapshotPrefix?.(host) : undefined
          if (pre && snap) pre = withSnapshot(pre, snap)
          else await opts.beforeChange?.(host, conn)
          if (undo && !pre) await journal.record(host.name, conn, undo, meta)
          const actx = pre ? carrying(pre) : applyCtx
          const out =
            (res.risky && opts.riskyApply
              ? await opts.riskyApply({ host, conn, ctx, task: name }, () => res.apply(ctx, state, changes))
              : await res.apply(actx, state, changes)) || {}
          const failed = !!out.failed
          const changed = out.changed ?? true
          return make({
            status: failed ? 'failed' : changed ? 'changed' : 'ok',
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

      const withTimeout = async (): Promise<TaskResult> => {
        if (deadline === undefined) return attempt()
        let timer: NodeJS.Timeout | undefined
        const guard = new Promise<TaskResult>((resolve) => {
          // ctx.run already kills commands at the deadline; this catches tasks stuck elsewhere.
          timer = setTimeout(() => resolve(make({ status: 'failed', msg: `task timeout (${o.timeout}s) reached` })), Math.max(0, deadline - performance.now()) + 2000)
        })
        try {
          return await Promise.race([attempt(), guard])
        } finally {
          clearTimeout(timer)
        }
      }

      /** changed_when / failed_when: rewrite the result; errors in them fail the task. */
      const judge = (r: TaskResult): TaskResult => {
        if (r.status === 'unreachable' || r.status === 'skipped') return r
        try {
          if (o.changed_when) {
            r.changed = !!o.changed_when(r, ctx)
            if (r.status !== 'failed') r.status = r.changed ? 'changed' : 'ok'
          }
          if (o.failed_when) {
            const f = !!o.failed_when(r, ctx)
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

      const maxRetries = o.until ? (o.retries ?? 3) : (o.retries ?? 0)
      const delayMs = (o.delay ?? 5) * 1000
      let r: TaskResult
      let attempts = 0
      for (;;) {
        attempts++
        r = judge(await withTimeout())
        if (r.status === 'unreachable') break
        let done: boolean
        if (o.until) {
          try {
            done = r.status !== 'skipped' && !!o.until(r, ctx)
          } catch (e) {
            r.status = 'failed'
            r.failed = true
            r.msg = `until: ${errMsg(e)}`
            break
          }
          if (r.status === 'skipped') done = true
        } else done = r.status !== 'failed'
        if (done) break
        if (attempts > maxRetries || interrupted()) {
          if (o.until) {
            r.status = 'failed'
            r.failed = true
            r.msg = `retries exhausted: until condition still false after ${attempts} attempt(s)${r.msg ? `; ${r.msg}` : ''}`
          }
          break
        }
        ev.log?.(host.name, `${name}: retrying (${attempts}/${maxRetries})`)
        await sleep(delayMs, signal)
      }
      if (maxRetries > 0) r.attempts = attempts
      if (r.status === 'failed' && o.ignore_errors) r.ignored = true
      return finish(r)
    }

    const batchFailure = (batch: HostState[]): string | undefined => {
      const failed = batch.filter(dead).length
      if (failed === 0) return undefined
      if (play.max_fail_percentage !== undefined) {
        const pct = (failed * 100) / batch.length
        if (pct > play.max_fail_percentage)
          return `max_fail_percentage exceeded: ${failed} of ${batch.length} hosts failed (${Math.round(pct * 10) / 10}% > ${play.max_fail_percentage}%)`
      }
      return undefined
    }

    const batches = serialBatches(playHosts, play.serial)
    for (const batch of batches) {
      if (interrupted()) break
      const notified = new Map<string, Set<string>>(batch.map((s) => [s.host.name, new Set<string>()]))
      let aborted: string | undefined

      if (plan.strategy === 'linear') {
        const maxLen = Math.max(0, ...batch.map((s) => hostTasks.get(s.host.name)!.length))
        for (let i = 0; i < maxLen && !interrupted() && !aborted; i++) {
          const active = batch.filter((s) => !dead(s) && hostTasks.get(s.host.name)!.length > i)
          if (active.length === 0) continue
          const first = hostTasks.get(active[0].host.name)![i]
          ev.taskStart?.({ play: play.name, name: first.opts.name ?? first.resource.name, module: first.resource.module, hosts: active.map((s) => s.host.name), handler: false, index: i })
          await Promise.all(active.map((s) => queue.add(() => runOne(s, hostTasks.get(s.host.name)![i], i, false, notified.get(s.host.name)!))))
          aborted = batchFailure(batch)
        }
        // Handlers: each notified handler on the hosts that notified it, in definition order.
        if (!aborted && !interrupted()) {
          for (const [hIndex, hName] of plan.handlerOrder.entries()) {
            if (interrupted()) break
            const targets = batch.filter((s) => !dead(s) && notified.get(s.host.name)!.has(hName))
            const maxH = Math.max(0, ...targets.map((s) => plan.handlers.get(s.host.name)?.get(hName)?.length ?? 0))
            for (let j = 0; j < maxH && !interrupted(); j++) {
              const active = targets.filter((s) => !dead(s) && (plan.handlers.get(s.host.name)?.get(hName)?.length ?? 0) > j)
              if (!active.length) continue
              const label = (t: Task) => (maxH > 1 ? `${hName}: ${t.opts.name ?? t.resource.name}` : hName)
              const first = plan.handlers.get(active[0].host.name)!.get(hName)![j]
              ev.taskStart?.({ play: play.name, name: label(first), module: first.resource.module, hosts: active.map((s) => s.host.name), handler: true, index: hIndex })
              await Promise.all(
                active.map((s) => {
                  const t = plan.handlers.get(s.host.name)!.get(hName)![j]
                  return queue.add(() => runOne(s, t.with({ name: label(t) }), hIndex, true, notified.get(s.host.name)!))
                }),
              )
            }
          }
          aborted = batchFailure(batch)
        }
      } else {
        await Promise.all(
          batch.map((s) =>
            queue.add(async () => {
              const mine = notified.get(s.host.name)!
              const list = hostTasks.get(s.host.name)!
              for (let i = 0; i < list.length; i++) {
                if (interrupted() || aborted || dead(s)) return
                await runOne(s, list[i], i, false, mine)
                aborted ??= batchFailure(batch)
              }
              for (const [hIndex, hName] of plan.handlerOrder.entries()) {
                if (!mine.has(hName)) continue
                const ts = plan.handlers.get(s.host.name)?.get(hName) ?? []
                for (const t of ts) {
                  if (interrupted() || aborted || dead(s)) return
                  const label = ts.length > 1 ? `${hName}: ${t.opts.name ?? t.resource.name}` : hName
                  await runOne(s, t.with({ name: label }), hIndex, true, mine)
                }
              }
            }),
          ),
        )
      }

      if (!aborted && batch.length > 0 && batch.every(dead)) aborted = `every host of the batch failed (${batch.map((s) => s.host.name).join(', ')})`
      if (aborted) {
        summary.aborted = aborted
        ev.warn?.(`play ${JSON.stringify(play.name)} stopped: ${aborted}`)
        summary.tasks = sortEntries(entries)
        summary.durationMs = Math.round(performance.now() - playStarted)
        ev.playEnd?.(summary)
        break playLoop
      }
    }
    summary.tasks = sortEntries(entries)
    summary.durationMs = Math.round(performance.now() - playStarted)
    ev.playEnd?.(summary)
  }

  const wasInterrupted = interrupted()
  const summary: RunSummary = {
    runId,
    playbook: opts.playbookPath,
    check,
    diff,
    plays,
    stats,
    durationMs: Math.round(performance.now() - started),
    interrupted: wasInterrupted,
    exitCode: exitCodeFor(stats, wasInterrupted),
  }
  if (opts.finalize) {
    await opts.finalize(summary, plans)
    summary.durationMs = Math.round(performance.now() - started)
  }
  ev.runEnd?.(summary)
  return summary
}

function sortEntries(entries: Map<string, TaskSummary>): TaskSummary[] {
  const list = [...entries.values()]
  // Stable: arrival order within the same position (free strategy interleaves hosts).
  return list
    .map((e, i) => ({ e, i }))
    .sort((a, b) => Number(a.e.handler) - Number(b.e.handler) || a.e.index - b.e.index || a.i - b.i)
    .map((x) => x.e)
}
