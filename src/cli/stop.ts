/**
 * What `orch run` does when it is stopped from outside (io.onStop): SIGINT, SIGTERM, SIGHUP, or its
 * stdout closed (`orch run ... | head`). Each rolls back as Ctrl-C does; the exit code is 99.
 *
 *   while tasks run   the first stop: no new task starts, the running ones finish, then every host is
 *                     rolled back. A second Ctrl-C (SIGINT) quits at once, without rolling back (the way
 *                     out of a task that hangs): the hosts stay held by the run until `orch rollback`, or
 *                     their armed timers restore them. A repeated SIGTERM or SIGHUP does not quit (a
 *                     closing terminal may send SIGHUP twice; a service manager SIGTERM, then SIGKILL).
 *   during the checks the run is rolled back instead of committed.
 *   committing        the commit goes to its end (its outcome is reported as it is).
 *   rolling back      nothing: the rollback goes to its end (SIGKILL would leave unfinished hosts held).
 */
import type { TxPhase } from '../safety/transaction.ts'
import { EXIT } from '../errors.ts'
import type { Io, StopCause } from './io.ts'

export interface StopOptions {
  io: Io
  warn(message: string): void
  ac: AbortController
  runId: string
  /** The run's transaction (none in check mode): its phase decides what a stop does. */
  tx?: { phase: TxPhase }
  inventory: string[]
  stopReporter(): void
}

export function stopHandler(o: StopOptions): { onStop(cause: StopCause): void; stdoutClosed(): boolean } {
  let closed = false
  let sigints = 0
  const onStop = (cause: StopCause) => {
    if (cause === 'stdout closed') closed = true
    if (cause === 'SIGINT') sigints++
    const phase = o.tx?.phase ?? 'tasks'
    const first = !o.ac.signal.aborted
    if (phase === 'done') return
    if (phase === 'committing') {
      o.warn(`${cause}: the commit is under way; it goes to its end`)
      return
    }
    if (phase === 'rolling-back') {
      o.warn(`${cause}: every host is being rolled back; that goes to its end (a signal does not stop it)`)
      return
    }
    if (first) {
      o.ac.abort(cause)
      o.warn(
        phase === 'checking'
          ? `interrupted (${cause}) during the checks: every host will be rolled back`
          : `interrupted (${cause}): no new task will start; waiting for the running ones, then every host is rolled back${cause === 'SIGINT' ? ' (Ctrl-C again to quit now, without rolling back)' : ''}`,
      )
      return
    }
    if (sigints > 1 && phase === 'tasks') {
      o.stopReporter()
      const held = o.tx ? `: the hosts stay held by run ${o.runId}; roll them back with \`orch rollback ${o.inventory.map((i) => `-i ${i}`).join(' ')}\`` : ''
      o.io.stderr.write(`ERROR! interrupted twice: exiting without waiting${held}\n`)
      o.io.exit(EXIT.INTERRUPTED)
    }
    o.warn(`${cause}: already stopping; every host will be rolled back once the running tasks finish`)
  }
  return { onStop, stdoutClosed: () => closed }
}
