/**
 * The contracts between playbooks, the engine and tasks.
 *
 * A task is a *resource*: it reads the host's current state, computes the difference to the desired
 * state, and only then changes anything. Its undo is computed from the state it read (before the
 * change) and journalled on the target before apply runs, so a rollback works without the controller.
 */
import type { Host, Vars } from '../inventory/types.ts'
import type { Connection, ExecOptions, ExecResult } from '../transport/types.ts'

export type Status = 'ok' | 'changed' | 'failed' | 'skipped' | 'unreachable'

/** One line of "what differs": shown by --check and, with before/after, by --diff. */
export interface Change {
  what: string
  before?: string
  after?: string
}

/** The exact inverse of a change, as a POSIX sh script that runs on the target without the controller. */
export interface Undo {
  description: string
  script: string
}

export interface TaskResult {
  host: string
  task: string
  module: string
  status: Status
  changed: boolean
  failed: boolean
  skipped: boolean
  msg?: string
  changes: Change[]
  rc?: number
  stdout?: string
  stderr?: string
  durationMs: number
  attempts?: number
  /** Task-specific data (e.g. an address it allocated), for `register`. */
  data?: Record<string, unknown>
}

/** What a task sees while it runs on one host. */
export interface TaskContext {
  host: Host
  /** Host vars merged with play vars and -e extra vars (extra vars win). */
  vars: Vars
  check: boolean
  diff: boolean
  conn: Connection
  /** conn.run with the task's become/timeout applied; throws nothing, returns the result. */
  run(script: string, opts?: ExecOptions): Promise<ExecResult>
  /** Results of earlier tasks on this host that had `register`. */
  registered: Record<string, TaskResult>
  log(message: string): void
}

/** What apply may report back; `changed` defaults to true when apply ran. */
export interface ApplyOutcome {
  changed?: boolean
  failed?: boolean
  msg?: string
  rc?: number
  stdout?: string
  stderr?: string
  data?: Record<string, unknown>
}

/** A resource: the part a task module implements. */
export interface Resource<State = unknown> {
  /** Module name as shown in output: 'file', 'sysctl', 'route', ... */
  module: string
  /** Human name of this instance: "sysctl net.ipv4.ip_forward=1". */
  name: string
  /** Throws ArgError (naming the variable and what was expected). Runs before any host is touched. */
  validate?(host: Host): void
  /** Current state, in as few round trips as possible. */
  read(ctx: TaskContext): Promise<State>
  /** What must change; [] means the host already is in the desired state. */
  diff(state: State, ctx: TaskContext): Change[]
  /** The inverse of `changes`, from the state read before them; null when there is nothing to undo. */
  undo?(state: State, changes: Change[], ctx: TaskContext): Undo | null
  /** Make the changes. Only called outside check mode and when diff() was non-empty. */
  apply(ctx: TaskContext, state: State, changes: Change[]): Promise<ApplyOutcome | void>
  /** May cut the controller off (br0 takeover): runs under commit-confirmed (safety/). */
  risky?: boolean
}

export interface TaskOptions {
  /** Overrides the resource's name in output. */
  name?: string
  when?: (ctx: TaskContext) => boolean
  register?: string
  notify?: string | string[]
  changed_when?: (r: TaskResult) => boolean
  failed_when?: (r: TaskResult) => boolean
  ignore_errors?: boolean
  retries?: number
  /** Seconds between retries. */
  delay?: number
  until?: (r: TaskResult) => boolean
  become?: boolean
  /** Seconds; a command that runs longer is killed and the task fails. */
  timeout?: number
}

export interface Task<State = unknown> {
  resource: Resource<State>
  opts: TaskOptions
  /** Same task with more options: `sysctl(...).with({ notify: 'restart docker' })`. */
  with(opts: TaskOptions): Task<State>
}

export function task<State>(resource: Resource<State>, opts: TaskOptions = {}): Task<State> {
  return {
    resource,
    opts,
    with: (more: TaskOptions) => task(resource, { ...opts, ...more }),
  }
}

/** Bad task arguments: names the host, the variable and what was expected. Exit code 5. */
export class ArgError extends Error {
  constructor(
    readonly variable: string,
    readonly expected: string,
    readonly got: unknown,
    public hostName?: string,
  ) {
    super(`${hostName ? `${hostName}: ` : ''}${variable}: expected ${expected}, got ${JSON.stringify(got)}`)
    this.name = 'ArgError'
  }
}

export interface PlaybookContext<V extends Vars = Vars> {
  host: Host
  vars: V
  /** Every host of the play (after --limit), this one included. */
  hosts: Host[]
  /** The other hosts of the play, with their vars. */
  peers: Array<{ name: string; address: string; vars: V }>
}

export interface Playbook<V extends Vars = Vars> {
  name: string
  /** Host pattern, as --limit: 'docker_hosts', 'web:&prod', ... */
  hosts: string
  vars?: Partial<V>
  strategy?: 'linear' | 'free'
  /** Batch size: a number of hosts or a percentage ('30%'). */
  serial?: number | string
  max_fail_percentage?: number
  tasks: Task[] | ((ctx: PlaybookContext<V>) => Task[])
  handlers?: Record<string, Task | Task[]> | ((ctx: PlaybookContext<V>) => Record<string, Task | Task[]>)
}

/** Identity with types: a playbook file does `export default playbook({...})`. */
export function playbook<V extends Vars = Vars>(p: Playbook<V>): Playbook<V> {
  return p
}
