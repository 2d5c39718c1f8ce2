/**
 * Reads sent ahead: fewer round trips per host without changing what any task sees.
 *
 * A task's read is one command for most resources (file, lineinfile, sysctl, directory, command guards:
 * those that say `readAhead: true`). When a host reaches such a task, the runner sends its read together
 * with the reads of the host's next such tasks, in one batch (Connection.runBatch); when a task changes the
 * host, its change's command carries the next task's read, run after the change on the target. A read
 * that came back early is used only when nothing else ran on the host since (Connection.commandsSent is
 * unchanged): any change, upload, snapshot or handler makes the task read again, for itself.
 *
 * A batch runs its scripts in one subshell (transport/framing.ts batchScript): a read that exits ends the
 * batch there, and the reads after it, never run, are read again by their tasks.
 *
 * Counted on the bench's workload (10 tasks per host): a run with nothing to change goes from 12 commands
 * per host to 5 (begin, batches of 2, 3 and 5 reads, commit), a first run from 22 to 13, and the shell
 * forks once per batch instead of once per read (processes per host: 25 -> 18 and 41 -> 31). Over a
 * network each command saved is also a round-trip time per host.
 */
import type { ExecOptions, ExecResult } from '../transport/types.ts'
import type { Resource, Task, TaskContext } from './types.ts'

/** A read sent ahead gave up (a second command, a call on ctx.conn, other options): the task reads itself. */
export class NotAhead extends Error {
  constructor(why: string) {
    super(`read not sent ahead: ${why}`)
    this.name = 'NotAhead'
  }
}

/** At most this many reads in one batch (the rest are read with a later one). */
export const READ_AHEAD_MAX = 16

export interface CapturedRead {
  /** The read's one command. */
  script: string
  /** What read() returns once its command's result is delivered. */
  state: Promise<unknown>
  deliver(r: ExecResult | Error): void
}

/**
 * Starts `res.read` with a context whose first command is taken instead of run: null when read() did not
 * ask for one right away (it is then left to read for itself). A later command, stdin, a timeout, another
 * shell or a use of ctx.conn make its `state` reject with NotAhead.
 */
export function captureRead(res: Resource<unknown>, ctx: TaskContext, become: boolean | undefined): CapturedRead | null {
  let script: string | null = null
  let closed = false
  let deliver: (r: ExecResult | Error) => void = () => undefined
  const spec: TaskContext = {
    ...ctx,
    get conn(): never {
      throw new NotAhead('it uses ctx.conn')
    },
    run(s: string, ro: ExecOptions = {}): Promise<ExecResult> {
      if (closed || script !== null) return Promise.reject(new NotAhead('more than one command'))
      if (ro.stdin !== undefined || ro.timeoutMs !== undefined || (ro.become !== undefined && ro.become !== become)) return Promise.reject(new NotAhead('options of its own'))
      script = s
      return new Promise<ExecResult>((resolve, reject) => {
        deliver = (r) => (r instanceof Error ? reject(r) : resolve(r))
      })
    },
  }
  let state: Promise<unknown>
  try {
    state = Promise.resolve(res.read(spec))
  } catch {
    return null
  }
  state.catch(() => undefined)
  closed = true
  if (script === null) return null
  return { script, state, deliver: (r) => deliver(r) }
}

/** A task whose read may be sent ahead of it: the resource says its read is one plain command, and nothing decides at run time whether or how the task runs. */
export function readsAhead(t: Task): boolean {
  const o = t.opts ?? {}
  return t.resource.readAhead === true && !o.when && o.timeout === undefined && !o.until && !o.retries
}

/**
 * Reads that came back early, per host: valid while the host's connection sent nothing since. Batches
 * start small and double while their reads get used (a run with nothing to change: 1, 2, 4, 8... reads of
 * later tasks); a read thrown away (the host changed first) brings them back to 1, so a run that changes
 * every task wastes one read per host, not a batch of them.
 */
export class ReadsAhead {
  private entries = new Map<Task, { stamp: number; state: Promise<unknown> }>()
  /** Reads of later tasks the next batch carries. */
  private size = 1

  put(t: Task, stamp: number, state: Promise<unknown>): void {
    if (this.entries.has(t)) this.size = 1
    this.entries.set(t, { stamp, state })
  }

  /** The read for `t` when nothing ran since it came back (the entry is used up either way). */
  take(t: Task, sent: number): Promise<unknown> | null {
    const e = this.entries.get(t)
    if (!e) return null
    this.entries.delete(t)
    if (e.stamp === sent) return e.state
    this.size = 1
    return null
  }

  /** How many reads of later tasks the next batch may carry (1, 2, 4... up to READ_AHEAD_MAX). */
  nextBatch(): number {
    if (this.entries.size > 0) {
      // Still held from the last batch, for tasks not reached: stale by now.
      this.entries.clear()
      this.size = 1
    }
    const n = this.size
    this.size = Math.min(this.size * 2, READ_AHEAD_MAX)
    return n
  }
}
