/**
 * The contracts between playbooks, the engine and tasks.
 *
 * A task is a *resource*: it reads the host's current state, computes the difference to the desired
 * state, and only then changes anything. Its undo is computed from the state it read (before the
 * change) and journalled on the target before apply runs, so a rollback works without the controller.
 *
 *   validate (every host, before any connection) → read → diff → [] = ok
 *                                                            → check mode: report changed, stop
 *                                                            → undo → Journal.record → apply
 */
import type { Check } from '../checks/index.ts'
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
  /**
   * Optional sh script run on the target when the undo is journalled (before apply), to save what the
   * undo needs but the controller did not read (a directory's contents, ...). Both it and `script` see
   * `$ORCH_BACKUP`: a private path (not yet existing) reserved for this journal entry.
   */
  backup?: string
  /**
   * What it undoes lives only in the kernel's memory (a route, a link, a rule, a /proc value): a power
   * cut takes the change away with its undo, so the journal need not put the entry on disk before the
   * change (no `sync`, one process less per change). Anything on disk (a file, docker's store) never is.
   */
  volatile?: boolean
}

export interface TaskResult {
  host: string
  task: string
  module: string
  status: Status
  changed: boolean
  failed: boolean
  skipped: boolean
  /** A failure that `ignore_errors` let pass: status stays 'failed', the host goes on. */
  ignored?: boolean
  msg?: string
  changes: Change[]
  rc?: number
  stdout?: string
  stderr?: string
  durationMs: number
  attempts?: number
  /** Task-specific data (e.g. an address it allocated), for `register`. */
  data?: Record<string, unknown>
  /** Position of the task in the host's task list (or in the handler list when `handler`). */
  index?: number
  handler?: boolean
}

/** What a task sees while it runs on one host. */
export interface TaskContext {
  host: Host
  /** Play defaults < host vars < play vars < -e extra vars. */
  vars: Vars
  check: boolean
  diff: boolean
  conn: Connection
  /**
   * conn.run with the task's become/timeout applied. Returns the result of the command whatever its exit
   * code; throws only when the host cannot be reached (UnreachableError).
   */
  run(script: string, opts?: ExecOptions): Promise<ExecResult>
  /** Results of earlier tasks on this host that had `register` (kept across plays of one run). */
  registered: Record<string, TaskResult>
  /** Facts gathered for this host, when the play asked for them and a gatherer is installed. */
  facts: Record<string, unknown>
  /** Id of this run: names the journal directory on the targets. */
  runId: string
  log(message: string): void
  /**
   * Work to do at commit (the persisted form of a change: config files, units), handed to the transaction:
   * it runs after the checks passed, journalled first. Undefined without a transaction: do it now.
   */
  atCommit?(work: CommitWork): void
}

/** A change made only at commit (safety/transaction.ts persistAll): its undo is journalled before its commands run. */
export interface CommitWork {
  /** Items with the same key on a host run once (the first): e.g. the path or unit name and a hash of the content. */
  key: string
  module: string
  task: string
  undo: Undo | null
  commands: Array<{ script: string; stdin?: string }>
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
  /**
   * Throws ArgError (naming the variable and what was expected). Runs for every host before any host is
   * touched; the engine adds the host's name to the error.
   */
  validate?(host: Host, vars: Vars): void
  /** Current state, in as few round trips as possible (one, for the basic tasks). */
  read(ctx: TaskContext): Promise<State>
  /**
   * read() is one ctx.run of a script made from the task's own arguments and ctx.host/ctx.vars alone (not
   * from registered results or facts), called right away: the engine may then send it ahead, batched with
   * other tasks' reads or behind the previous task's change (engine/readahead.ts).
   */
  readAhead?: boolean
  /** What must change; [] means the host already is in the desired state. */
  diff(state: State, ctx: TaskContext): Change[]
  /** The inverse of `changes`, from the state read before them; null when there is nothing to undo. */
  undo?(state: State, changes: Change[], ctx: TaskContext): Undo | null
  /** Make the changes. Only called outside check mode and when diff() was non-empty. */
  apply(ctx: TaskContext, state: State, changes: Change[]): Promise<ApplyOutcome | void>
  /**
   * What check mode does when diff() is non-empty: 'changed' (default: the diff is exact) or 'skip' (the
   * outcome cannot be predicted without running, like `command`: reported skipped, as Ansible does).
   */
  checkMode?: 'changed' | 'skip'
  /** May cut the controller off (br0 takeover): runs under commit-confirmed (safety/). */
  risky?: boolean
  /**
   * 'gather': a read-only task the engine runs in the play's gather phase, on every host before any task
   * of the apply phase (engine/phases.ts); its diff is always empty.
   */
  phase?: 'gather'
  /** The cross-host barrier a gather task reports its facts to (engine/phases.ts Barrier). */
  barrier?: BarrierLike
}

/** What the engine sees of a cross-host barrier (engine/phases.ts Barrier). */
export interface BarrierLike {
  readonly name: string
  readonly facts: ReadonlyMap<string, unknown>
  /** How many times its plan was computed. */
  readonly planned: number
  settle(expected: string[]): void
}

export interface TaskOptions {
  /** Overrides the resource's name in output. */
  name?: string
  when?: (ctx: TaskContext) => boolean
  register?: string
  notify?: string | string[]
  changed_when?: (r: TaskResult, ctx: TaskContext) => boolean
  failed_when?: (r: TaskResult, ctx: TaskContext) => boolean
  ignore_errors?: boolean
  /** With `until`: attempts after the first (Ansible default 3). Without `until`: retry while failed. */
  retries?: number
  /** Seconds between retries (default 5, as Ansible). */
  delay?: number
  until?: (r: TaskResult, ctx: TaskContext) => boolean
  become?: boolean
  /** Seconds; a command that runs longer is killed and the task fails. */
  timeout?: number
  /** false: run for real even under --check (for read-only probes whose output later tasks need). */
  check_mode?: boolean  /** Tags for --tags / --skip-tags (Ansible's rules: always, never, tagged, untagged, all). */
  tags?: string | string[]
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

export function isTask(x: unknown): x is Task {
  if (!x || typeof x !== 'object') return false
  const r = (x as Task).resource as Resource | undefined
  return (
    !!r &&
    typeof r === 'object' &&
    typeof r.module === 'string' &&
    typeof r.name === 'string' &&
    typeof r.read === 'function' &&
    typeof r.diff === 'function' &&
    typeof r.apply === 'function' &&
    typeof (x as Task).opts === 'object'
  )
}

export { ArgError, ArgErrors, PlaybookError, TaskFailed } from '../errors.ts'

export interface PlaybookContext<V extends Vars = Vars> {
  host: Host
  vars: V
  /**
   * Every host the play's pattern matches, this one included, *ignoring --limit* (as Ansible's groups):
   * a run limited to one host still sees all of its peers (routes to them stay in its task list).
   */
  hosts: Host[]
  /** The other hosts of `hosts`, with their vars (play defaults/vars and -e applied as for this host). */
  peers: Array<{ name: string; address: string; vars: V }>
  /** The hosts this run acts on: `hosts` after --limit. */
  targets: Host[]
  /**
   * The value of a variable this host must define; throws an ArgError naming host, variable and what was
   * expected (so the run stops with exit 5 before any host is touched).
   */
  need<T = unknown>(variable: string, check?: (v: unknown) => boolean, expected?: string): T
}

export interface Playbook<V extends Vars = Vars> {
  name: string
  /** Host pattern, as --limit: 'docker_hosts', 'web:&prod', ... */
  hosts: string
  /** Lowest precedence: inventory and everything else override these (like role defaults). */
  defaults?: NoInfer<Partial<V>>
  /** Play vars: override inventory vars (Ansible precedence), overridden by -e. */
  vars?: NoInfer<Partial<V>>
  strategy?: 'linear' | 'free'
  /** Batch size: a number of hosts or a percentage ('30%'). */
  serial?: number | string
  /** Abort the play when more than this percentage of a batch's hosts failed. */
  max_fail_percentage?: number
  /** Tags every task of the play inherits (--tags / --skip-tags). */
  tags?: string | string[]
  /** Default `become` for every task of the play. */
  become?: boolean
  /** Gather facts before the first task (needs a facts gatherer: RunOptions.gatherFacts). */
  gather_facts?: boolean
  tasks: Task[] | ((ctx: PlaybookContext<V>) => Task[])
  handlers?: Record<string, Task | Task[]> | ((ctx: PlaybookContext<V>) => Record<string, Task | Task[]>)
  /**
   * Connectivity checks run after every host applied its tasks (src/checks). If one fails, every host
   * that changed is rolled back and the run fails.
   */
  verify?: Check[]
}

/** Identity with types: a playbook file does `export default playbook({...})`. */
export function playbook<V extends Vars = Vars>(p: Playbook<V>): Playbook<V> {
  return p
}
