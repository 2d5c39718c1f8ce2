/**
 * The plan of a run: for every play and every host, the task and handler lists, every task validated.
 * Nothing connects before the whole plan is valid; any ArgError/PlaybookError stops the run (exit 5)
 * before any host is touched. Pure but for the callbacks (resolveHosts, prepareHost).
 */
import type { Host, Vars } from '../inventory/types.ts'
import { confirmTimeout } from '../safety/confirm.ts'
import { ArgError, PlaybookError, isTask, type Playbook, type PlaybookContext, type Task } from './types.ts'
import { selectByTags, startAtTask, type TaskSelection } from './selection.ts'

/** What planning needs of the run's options (RunOptions extends it). */
export interface PlanOptions {
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
  /** -e vars: override everything. */
  extraVars?: Vars
  /** Overrides every play's strategy. */
  strategy?: 'linear' | 'free'
  /** --tags, --skip-tags, --start-at-task (engine/selection.ts). */
  selection?: TaskSelection
  /** Where planning says what is not an error (a --start-at-task that matches nothing). */
  events?: { warn?(message: string): void }
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


export const notifyList = (n: string | string[] | undefined): string[] => (n === undefined ? [] : Array.isArray(n) ? n : [n])

export const hostAddress = (h: Host): string => String(h.vars.ansible_host ?? h.name)

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
  if (o.tags !== undefined && !(Array.isArray(o.tags) ? o.tags : [o.tags]).every((x) => typeof x === 'string' && x)) return 'tags must be a tag name or a list of them'
  return null
}

/** Builds and validates everything; throws ArgError/PlaybookError (exit 5) before any host is touched. */
export function planRun(opts: PlanOptions): PlannedPlay[] {
  const planned = planPlays(opts)
  if (opts.selection?.startAt === undefined) return planned
  const { lists, found } = startAtTask(planned.map((p) => p.tasks), opts.selection.startAt)
  // Ansible prints this as an error and still exits 0: orch says it, then runs nothing (the same).
  if (!found) opts.events?.warn?.(`No matching task "${opts.selection.startAt}" found`)
  return planned.map((p, i) => ({ ...p, tasks: lists[i] }))
}

function planPlays(opts: PlanOptions): PlannedPlay[] {
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
      tasks.set(host.name, opts.selection ? selectByTags(play, hostTasks, opts.selection) : hostTasks)
      handlers.set(host.name, hmap)
    }
    return { play, index, hosts, strategy, tasks, handlers, handlerOrder, vars }
  })
}

