/** What the CLI talks to: streams, cwd, signals, exit. Real process by default; fakes in tests. */

/** Why a run is stopped from outside: a signal, or its stdout was closed (`orch run ... | head`: EPIPE). */
export type StopCause = 'SIGINT' | 'SIGTERM' | 'SIGHUP' | 'stdout closed'

export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number }
  stderr: NodeJS.WritableStream & { isTTY?: boolean }
  cwd: string
  onSigint(fn: () => void): void
  offSigint(fn: () => void): void
  /**
   * Every way a run can be stopped from outside (`orch run` rolls back on each): SIGINT, SIGTERM, SIGHUP
   * and stdout closed (told once). Returns the function that stops listening. Test fakes may leave it out.
   */
  onStop?(fn: (cause: StopCause) => void): () => void
  exit(code: number): never
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
const stdoutClosedListeners = new Set<(cause: StopCause) => void>()
let stdoutClosed = false
let streamsGuarded = false

/**
 * A closed stdout or stderr must not kill orch halfway through a run: Node ignores SIGPIPE, and a write
 * to a closed pipe emits 'error' (EPIPE; EIO on a terminal that hung up), which, unheard, would end the
 * process with no rollback. The first such error on stdout tells the listeners (later writes fail
 * quietly); errors on stderr are dropped (nothing is left to tell them to).
 */
function guardStreams(): void {
  if (streamsGuarded) return
  streamsGuarded = true
  process.stdout.on('error', () => {
    if (stdoutClosed) return
    stdoutClosed = true
    for (const fn of stdoutClosedListeners) fn('stdout closed')
  })
  process.stderr.on('error', () => undefined)
}

export function processIo(): Io {
  guardStreams()
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    cwd: process.cwd(),
    onSigint: (fn) => void process.on('SIGINT', fn),
    offSigint: (fn) => void process.off('SIGINT', fn),
    onStop: (fn) => {
      const handlers = STOP_SIGNALS.map((s) => [s, () => fn(s)] as const)
      for (const [s, h] of handlers) process.on(s, h)
      stdoutClosedListeners.add(fn)
      return () => {
        for (const [s, h] of handlers) process.off(s, h)
        stdoutClosedListeners.delete(fn)
      }
    },
    exit: (code) => process.exit(code),
  }
}
