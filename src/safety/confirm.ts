/**
 * `confirm_timeout`: seconds a risky task may cut the controller off before the host restores itself.
 * Its one definition (range and default), read by the engine before any host is touched (every host
 * with a risky task) and by the transaction when it arms the timer. A leaf, so the engine needs no
 * import of the transaction (which imports the engine).
 */
import { ArgError } from '../errors.ts'
import type { Vars } from '../inventory/types.ts'

export const DEFAULT_CONFIRM_TIMEOUT = 60
export const CONFIRM_TIMEOUT_MIN = 5
export const CONFIRM_TIMEOUT_MAX = 3600

/** The `confirm_timeout` variable (host, play or -e), else 60; throws ArgError outside 5-3600. */
export function confirmTimeout(vars: Vars): number {
  const v = vars.confirm_timeout ?? DEFAULT_CONFIRM_TIMEOUT
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v
  if (typeof n !== 'number' || !Number.isInteger(n) || n < CONFIRM_TIMEOUT_MIN || n > CONFIRM_TIMEOUT_MAX)
    throw new ArgError('confirm_timeout', `whole seconds from ${CONFIRM_TIMEOUT_MIN} to ${CONFIRM_TIMEOUT_MAX}`, v)
  return n
}
