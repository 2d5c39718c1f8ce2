/**
 * Commit confirmed (a transaction's riskyApply): arm the host's rollback timer, apply, get back in over a
 * fresh connection inside the window, check the gateway, disarm; or find out that the host restored itself.
 */
import type { HostTxOutcome } from '../engine/results.ts'
import type { ApplyOutcome, TaskContext } from '../engine/types.ts'
import type { Host } from '../inventory/types.ts'
import { gatewayPing } from '../checks/index.ts'
import type { Connection } from '../transport/types.ts'
import { confirmTimeout } from './confirm.ts'
import { armScript, disarmScript, parseStatus, rollbackScript, ROLLBACK_BIN, STATUS_SCRIPT } from './remote.ts'

/** Where the transaction gets a host's connection (the run's pool). */
export interface ConnectionSource {
  get(hostName: string): Promise<Connection>
  /** Drop the cached connection so the next get() opens a fresh one. */
  forget(hostName: string): void
}

/** What commit confirmed needs of the transaction (a subset of its TransactionOptions) and where a host's outcome is recorded. */
export interface ConfirmHost {
  o: {
    runId: string
    pool: ConnectionSource
    warn(message: string): void
    log?(host: string, message: string): void
    timerGraceMs?: number
  }
  outcome(name: string, o: HostTxOutcome): void
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** p, or a rejection after `ms` (p itself goes on; the pool keeps or drops what it brings). */
function withinMs<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${Math.round(ms / 1000)} s`)), ms)
  })
  return Promise.race([p, limit]).finally(() => clearTimeout(timer))
}
export const errMsg = (e: unknown) => (e instanceof Error ? e.message : String(e))

/**
 * Commit confirmed, for a task that may cut the controller off: arm the host's timer, apply (the task
 * runs its change detached on the target), reconnect with a fresh connection — retrying inside the
 * window — check the host reaches its gateway, then disarm. If the controller cannot get back in, the
 * host restores itself when the timer fires; orch waits for that and reports it.
 */
export async function riskyApply(
  tx: ConfirmHost,
  t: { host: Host; conn: Connection; ctx: TaskContext; task: string },
  apply: () => Promise<ApplyOutcome | void>,
): Promise<ApplyOutcome | void> {
  const name = t.host.name
  const seconds = confirmTimeout(t.ctx.vars)
  const armed = await t.conn.run(armScript(tx.o.runId, seconds), { become: true })
  if (armed.code !== 0) throw new Error(`could not arm the rollback timer: ${(armed.stderr || armed.stdout).trim()}`)
  const armedAt = Date.now()
  tx.o.log?.(name, `rollback timer armed: ${seconds}s (${armed.stdout.trim()})`)

  let out: ApplyOutcome | void = undefined
  let applyError: unknown
  try {
    out = await apply()
  } catch (e) {
    applyError = e
  }

  // Back in through a fresh connection: the change must not have cut the way the controller comes in.
  const deadline = armedAt + seconds * 1000 - 2000
  let conn: Connection | undefined
  let lastError = ''
  while (Date.now() < deadline) {
    tx.o.pool.forget(name)
    try {
      // No single attempt may outlast the window (a connect timeout can be longer than it).
      conn = await withinMs(tx.o.pool.get(name), Math.max(1000, deadline - Date.now()))
      const probe = await conn.run('true', { timeoutMs: 5000 })
      if (probe.code === 0) break
      lastError = `probe exited ${probe.code}`
    } catch (e) {
      lastError = errMsg(e)
    }
    conn = undefined
    await sleep(1000)
  }
  if (!conn) return waitForTimer(tx, name, seconds, armedAt, `the controller could not get back in after "${t.task}" (${lastError})`)

  let problem = applyError ? `"${t.task}" failed: ${errMsg(applyError)}` : out && out.failed ? `"${t.task}" failed: ${out.msg ?? ''}` : ''
  if (!problem) {
    const gw = await gatewayPing().run([{ host: t.host, vars: t.ctx.vars, address: name, conn }])
    if (!gw.ok) problem = `after "${t.task}" the host cannot reach its gateway: ${gw.probes.map((p) => p.detail).join('; ')}`
  }
  if (problem) {
    // Restore now, over the fresh connection, rather than wait for the timer.
    const rb = await conn.run(rollbackScript(tx.o.runId, 'orch'), { become: true, timeoutMs: 120_000 })
    tx.outcome(name, { status: rb.code === 0 ? 'rolled-back' : 'rollback-failed', message: problem })
    return { failed: true, msg: `${problem}; host rolled back${rb.code === 0 ? '' : ` INCOMPLETELY: ${rb.stderr.trim()}`}` }
  }
  const d = (await conn.run(disarmScript(tx.o.runId), { become: true })).stdout.trim()
  if (d !== 'disarmed') {
    // The timer fired while we were checking, or the host rebooted inside the window (its boot unit
    // rolled the run back): either way the host restored itself.
    const byReboot = d.split(' ')[2] === 'reboot'
    tx.outcome(name, { status: byReboot ? 'rolled-back-by-reboot' : 'rolled-back-by-timer', message: `${byReboot ? 'the host rebooted' : 'the timer fired'} before orch could confirm "${t.task}" (${d})` })
    return { failed: true, msg: byReboot ? `the host rebooted inside the confirm window: it booted into its pre-run state (rolled back by reboot)` : `the controller got back in only after the timer fired: the host restored itself (rolled back by its timer)` }
  }
  tx.o.log?.(name, 'reconnected, checks passed, rollback timer disarmed')
  return out
}

/** The controller is locked out: wait for the host's own timer, then find out whether it restored itself. */
async function waitForTimer(tx: ConfirmHost, name: string, seconds: number, armedAt: number, why: string): Promise<ApplyOutcome> {
  tx.o.warn(`${name}: ${why}; waiting for its rollback timer (${seconds}s after arming)`)
  const until = armedAt + seconds * 1000 + (tx.o.timerGraceMs ?? 30_000)
  while (Date.now() < until) {
    tx.o.pool.forget(name)
    try {
      const conn = await tx.o.pool.get(name)
      const st = parseStatus((await conn.run(STATUS_SCRIPT, { become: true, timeoutMs: 10_000 })).stdout)
      const mine = st.runs.find((r) => r.run === tx.o.runId)
      if (mine && (mine.status === 'rolled-back' || mine.status === 'rollback-failed')) {
        const ok = mine.status === 'rolled-back'
        const by = mine.rolledBackBy === 'reboot' ? 'reboot' : 'timer'
        tx.outcome(name, { status: ok ? `rolled-back-by-${by}` : 'rollback-failed', message: why })
        return { failed: true, msg: `${why}; ${ok ? `the host restored itself (rolled back by ${by === 'timer' ? 'its timer' : 'a reboot'})` : `its ${by === 'timer' ? 'timer' : 'boot unit'} ran the rollback but some steps FAILED`}` }
      }
    } catch {
      /* not back yet */
    }
    await sleep(1000)
  }
  const msg = `${why}; HOST NOT REACHABLE after its rollback timer should have fired. Restore it from its console: sh ${ROLLBACK_BIN} ${tx.o.runId}`
  tx.outcome(name, { status: 'unreachable', message: msg })
  return { failed: true, msg }
}
