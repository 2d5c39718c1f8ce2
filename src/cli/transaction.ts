/**
 * `orch rollback -i INV [--limit P] [--run ID]`: undo a run from the targets' own journals — by default
 * the run a host holds unfinished, else its last committed run.
 * `orch status -i INV [--limit P] [--json]`: per host, the last run, an armed timer, an unfinished run.
 */
import PQueue from 'p-queue'
import { DEFAULT_FORKS } from '../engine/runner.ts'
import { EXIT } from '../engine/results.ts'
import { assertRunId } from '../engine/journal.ts'
import { snapshot } from '../safety/fingerprint.ts'
import { parseStatus, rollbackScript, STATUS_SCRIPT, type HostTxStatus } from '../safety/remote.ts'
import { parsePersisted, PERSISTED_SCRIPT, type PersistedItem } from '../model/persist.ts'

/** 'orch-routes.service (enabled, 2 files in /etc/orch/routes)', '/etc/sysctl.d/99-orch.conf'. */
const persistedText = (p: PersistedItem) =>
  p.enabled === null ? p.where : `${p.what} (${p.enabled ? 'enabled' : 'NOT enabled'}, ${p.files} file${p.files === 1 ? '' : 's'} in ${p.where})`
import { UnreachableError } from '../transport/types.ts'
import { exitCodeForError } from '../errors.ts'
import type { Io } from './io.ts'
import { hostPool, loadTargets, type TargetOptions } from './targets.ts'
import { byCodeUnit } from '../sort.ts'

interface Options extends TargetOptions {
  run?: string
  json?: boolean
}

/** Per host, in parallel (forks): status, or an error. */
async function eachHost<T>(o: Options, io: Io, fn: (name: string, conn: import('../transport/types.ts').Connection) => Promise<T>) {
  const t = await loadTargets(o, io)
  const forks = o.forks ?? DEFAULT_FORKS
  const { pool, prepare } = await hostPool(forks, o.hostKeyChecking)
  t.hosts.forEach(prepare)
  const results = new Map<string, { ok: true; value: T } | { ok: false; unreachable: boolean; error: string }>()
  const q = new PQueue({ concurrency: forks })
  try {
    await Promise.all(
      t.hosts.map((h) =>
        q.add(async () => {
          try {
            results.set(h.name, { ok: true, value: await fn(h.name, await pool.get(h.name)) })
          } catch (e) {
            results.set(h.name, { ok: false, unreachable: e instanceof UnreachableError, error: (e as Error).message })
          }
        }),
      ),
    )
  } finally {
    await pool.closeAll({ wait: false }).catch(() => undefined) // the process exits next
  }
  return { hosts: t.hosts.map((h) => h.name), results }
}

/**
 * The run `orch rollback` undoes on a host: --run, else the unfinished one holding it, else the newest
 * committed run still in place (so rolling back again steps further back, newest first).
 */
export function runToUndo(st: HostTxStatus, explicit?: string): string | null {
  if (explicit) return explicit
  if (st.lock) return st.lock
  const last = st.runs.find((r) => r.run === st.lastCommitted && r.status === 'committed')
  if (last) return last.run
  // Run ids sort by time (YYYYMMDD-HHMMSS-xxxxxx).
  const committed = st.runs.filter((r) => r.status === 'committed').sort((a, b) => byCodeUnit(a.run, b.run))
  return committed.length ? committed[committed.length - 1].run : null
}

export async function rollbackCommand(o: Options, io: Io): Promise<number> {
  try {
    if (o.run) assertRunId(o.run)
    const { hosts, results } = await eachHost(o, io, async (name, conn) => {
      const st = parseStatus((await conn.run(STATUS_SCRIPT, { become: true })).stdout)
      const run = runToUndo(st, o.run)
      if (!run) return { run: null, status: 'nothing to roll back' }
      const r = await conn.run(rollbackScript(run, 'orch-rollback'), { become: true, timeoutMs: 300_000 })
      if (r.code === 3) return { run, status: `no journal for run ${run}` }
      if (r.code !== 0) throw new Error(`rollback of ${run} FAILED: ${(r.stderr || r.stdout).trim()} (see /var/lib/orch/journal/${run}/rollback.log)`)
      // The host may have changed how it is reached (br0, underlay): make sure it still answers.
      await snapshot(conn)
      return { run, status: 'rolled back' }
    })
    let code: number = EXIT.OK
    for (const h of hosts) {
      const r = results.get(h)!
      if (r.ok) io.stdout.write(`${h.padEnd(26)} : ${r.value.status}${r.value.run ? ` (run ${r.value.run})` : ''}\n`)
      else {
        io.stdout.write(`${h.padEnd(26)} : ${r.unreachable ? 'UNREACHABLE' : 'FAILED'}: ${r.error}\n`)
        code = r.unreachable ? EXIT.UNREACHABLE_HOSTS : code === EXIT.OK ? EXIT.FAILED_HOSTS : code
      }
    }
    return code
  } catch (e) {
    io.stderr.write(`ERROR! ${(e as Error).message}\n`)
    return exitCodeForError(e)
  }
}

export async function statusCommand(o: Options, io: Io): Promise<number> {
  try {
    // What orch persisted (model/persist.ts), read in the same round trip after the journal status.
    const { hosts, results } = await eachHost(o, io, async (_name, conn) => {
      const out = (await conn.run(`${STATUS_SCRIPT}\n${PERSISTED_SCRIPT}`, { become: true })).stdout
      return { ...parseStatus(out), persisted: parsePersisted(out) }
    })
    if (o.json) {
      const doc = Object.fromEntries(hosts.map((h) => {
        const r = results.get(h)!
        return [h, r.ok ? r.value : { error: r.error, unreachable: r.unreachable }]
      }))
      io.stdout.write(JSON.stringify(doc, null, 2) + '\n')
    } else {
      for (const h of hosts) {
        const r = results.get(h)!
        if (!r.ok) {
          io.stdout.write(`${h.padEnd(26)} : UNREACHABLE: ${r.error}\n`)
          continue
        }
        const st = r.value
        const last = st.runs.find((x) => x.run === st.lastCommitted)
        const held = st.lock ? st.runs.find((x) => x.run === st.lock) : undefined
        const bits = [last ? `last committed run ${last.run}` : 'no committed run']
        if (held) bits.push(`UNFINISHED run ${held.run} (${held.status}${held.timer ? `, timer armed: ${held.timer}` : ''}): orch rollback or --resume ${held.run}`)
        const rolled = st.runs.filter((x) => x.status === 'rolled-back').pop()
        if (rolled) bits.push(`last rolled back: ${rolled.run} (by ${rolled.rolledBackBy ?? '?'})`)
        const failed = st.runs.filter((x) => x.status === 'rollback-failed')
        for (const f of failed) bits.push(`ROLLBACK FAILED: ${f.run}: see /var/lib/orch/journal/${f.run}/rollback.log`)
        if (st.persisted.length) bits.push(`persisted: ${st.persisted.map(persistedText).join(', ')}`)
        io.stdout.write(`${h.padEnd(26)} : ${bits.join('; ')}\n`)
      }
    }
    return [...results.values()].some((r) => !r.ok) ? EXIT.UNREACHABLE_HOSTS : EXIT.OK
  } catch (e) {
    io.stderr.write(`ERROR! ${(e as Error).message}\n`)
    return exitCodeForError(e)
  }
}
