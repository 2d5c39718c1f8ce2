/**
 * A run that changes hosts is one transaction across the inventory:
 *
 *   begin   every host: install rollback.sh, take the lock (refuse a host another run holds, or one an
 *           earlier run left unfinished), snapshot its network state
 *   tasks   the engine journals each undo on the target before the change (engine/journal.ts);
 *           risky tasks run under commit-confirmed (riskyApply: safety/confirmed.ts)
 *   verify  the playbook's checks (src/checks)
 *   commit  all passed: every host keeps its changes, lock released, `orch rollback` can undo it later
 *   or      a task or check failed, or Ctrl-C: every host that changed replays its journal newest first,
 *           then orch reconnects and compares each with its pre-run snapshot
 *
 * The target-side scripts (safety/remote.ts) do the real work, so a host restores itself even when the
 * controller is gone (its commit-confirmed timer) and `orch rollback` works from any controller.
 */
import type { PlannedPlay, RunTransaction, SnapshotPrefix } from '../engine/runner.ts'
import { mergeVars } from '../engine/runner.ts'
import type { HostTxOutcome, RunSummary, TransactionOutcome } from '../engine/results.ts'
import type { ApplyOutcome, CommitWork, TaskContext } from '../engine/types.ts'
import type { Journal } from '../engine/journal.ts'
import { dedupWork, runAtCommit } from './atcommit.ts'
import { EXIT, TransactionRefused } from '../errors.ts'
import { confirmTimeout, DEFAULT_CONFIRM_TIMEOUT } from './confirm.ts'
import type { Host, Vars } from '../inventory/types.ts'
import type { CheckHost, CheckResult } from '../checks/index.ts'
import type { Connection } from '../transport/types.ts'
import { acrossBoots, parseSnapshot, snapshot, snapshotDiff, SNAPSHOT_SCRIPT, SNAPSHOT_START } from './fingerprint.ts'
import { journalDir } from '../engine/journal.ts'
import { beginScript, commitOutcome, commitScript, releaseScript, rollbackScript, ROLLBACK_BIN } from './remote.ts'
import { errMsg, riskyApply, type ConnectionSource } from './confirmed.ts'

export { DEFAULT_CONFIRM_TIMEOUT }

/** Where a change's command saves the host's pre-run snapshot (snapshotPrefix). */
const preSnapshotPath = (runId: string) => `${journalDir(runId)}/pre-run.snapshot`
/** Separates the saved snapshot from the one taken now, in preAndNow's output. */
const NOW_MARK = '@@@orch-snapshot-now@@@'

export type { ConnectionSource }

export interface TransactionOptions {
  runId: string
  pool: ConnectionSource
  /** Continue the unfinished run `runId` on hosts that hold it (`--resume`). */
  resume?: boolean
  /** Written to the target's journal: who/what started the run. */
  meta: string
  extraVars?: Vars
  warn(message: string): void
  log?(host: string, message: string): void
  /** For tests: a shorter wait granted after the timer should have fired. */
  timerGraceMs?: number
  /** Called for every host begun: its journal directory exists, with `entries` entries already (resume: the journal continues numbering after them). */
  seedJournal?(hostName: string, entries: number): void
  /** The run's journal: the work left for the commit (atCommit) is journalled in it, numbered after the tasks' entries. */
  journal?: Journal
  /** The run's stop signal (its abort reason says why): one that comes during the checks still rolls back. */
  signal?: AbortSignal
}

/** Where the run is: a stop that comes while `committing` lets the commit finish; one while `rolling-back` changes nothing. */
export type TxPhase = 'tasks' | 'checking' | 'committing' | 'rolling-back' | 'done'

export { TransactionRefused }

interface HostTx {
  host: Host
  /** The host held this very run, unfinished, and --resume continues it. */
  resumed?: boolean
  pre?: Record<string, unknown>
  /** The pre-run snapshot being taken (beforeChange). */
  snapshotting?: Promise<void>
  /** A change's command was given the prefix that saves the pre-run snapshot on the target (snapshotPrefix). */
  preOnTarget?: boolean
  outcome?: HostTxOutcome
  /** Work the tasks left for the commit (the persisted form of their changes), in call order. */
  atCommit?: CommitWork[]
}

/** A host's transaction outcome that means it is back as the run found it (by orch, its timer or a reboot). */
const rolledBack = (status: string) => status === 'rolled-back' || status === 'rolled-back-by-timer' || status === 'rolled-back-by-reboot'

export class Transaction implements RunTransaction {
  private readonly hosts = new Map<string, HostTx>()
  phase: TxPhase = 'tasks'

  constructor(private readonly o: TransactionOptions) {}

  /**
   * Lock every reachable host. A host that cannot be reached is left to the runner (reported
   * unreachable). Throws TransactionRefused — after releasing what it locked — when any host is held.
   */
  async begin(hosts: Host[]): Promise<void> {
    const refused: string[] = []
    const dropped: string[] = []
    await Promise.all(
      hosts.map(async (host) => {
        let conn: Connection
        try {
          conn = await this.o.pool.get(host.name)
        } catch {
          return
        }
        let r
        try {
          r = await conn.run(beginScript(this.o.runId, this.o.meta, this.o.resume), { become: true })
        } catch (e) {
          // Dropped in the middle of begin: it may hold the lock now without our hearing it (released below).
          dropped.push(host.name)
          refused.push(`${host.name}: the connection dropped while the transaction began: ${errMsg(e)}`)
          return
        }
        const line = r.stdout.trim().split('\n').pop() ?? ''
        const [word, a, b] = line.split(' ')
        if (r.code !== 0 || !['ok', 'held', 'unfinished'].includes(word)) {
          refused.push(`${host.name}: could not start the transaction (rc=${r.code}): ${(r.stderr || r.stdout).trim()}`)
          return
        }
        if (word === 'held') {
          refused.push(`${host.name}: another orch run (${a}) is in progress on this host`)
          return
        }
        if (word === 'unfinished') {
          refused.push(
            `${host.name}: run ${a} did not finish (status ${b}); roll it back with \`orch rollback -i INVENTORY --limit ${host.name}\`, or continue it with \`--resume ${a}\``,
          )
          return
        }
        const tx: HostTx = { host, resumed: Number(a) > 0 }
        this.o.seedJournal?.(host.name, tx.resumed ? Number(a) : 0)
        this.hosts.set(host.name, tx)
        // A new run snapshots a host just before its first change (beforeChange, snapshotPrefix): a host the
        // run leaves unchanged costs no snapshot. A resumed run (a rare path) snapshots it now.
        if (this.o.resume) tx.pre = await snapshot(conn).catch(() => undefined)
      }),
    )
    if (refused.length) {
      // Release only what this run locked: a resumed host stays held by its unfinished run.
      const mine = [...this.hosts.values()].filter((t) => !t.resumed).map((t) => t.host.name)
      // A dropped host is tried once more over a fresh connection (releaseScript frees only this run's lock).
      for (const h of dropped) this.o.pool.forget(h)
      await Promise.all([...mine, ...dropped].map((h) => this.run(h, releaseScript(this.o.runId), 20_000).catch(() => undefined)))
      this.hosts.clear()
      const order = new Map(hosts.map((h, i) => [h.name, i]))
      refused.sort((x, y) => (order.get(x.split(':')[0]) ?? 0) - (order.get(y.split(':')[0]) ?? 0))
      throw new TransactionRefused(`refusing to run:\n  ${refused.join('\n  ')}`)
    }
  }

  private async run(hostName: string, script: string, timeoutMs = 120_000) {
    const conn = await this.o.pool.get(hostName)
    return conn.run(script, { become: true, timeoutMs })
  }

  /**
   * Before a host's first change (the engine calls it once a task has something to change, in check mode
   * never): the pre-run snapshot that a rollback is compared with. Nothing changed the host before this,
   * so it is the host as the run found it. One round trip, once per changed host.
   */
  beforeChange = async (host: Host, conn: Connection): Promise<void> => {
    const tx = this.hosts.get(host.name)
    // preOnTarget: an earlier change's command saved it on the target.
    if (!tx || tx.pre || tx.preOnTarget) return
    tx.snapshotting ??= snapshot(conn).then(
      (pre) => {
        tx.pre = pre
      },
      () => undefined,
    )
    await tx.snapshotting
  }

  /**
   * The cheaper way to the same snapshot, for a change whose undo rides with its command: the command
   * saves the snapshot on the target first (journal/RUN/pre-run.snapshot, root-only), in the same round
   * trip; orch reads it back only if it rolls the host back. Undefined when the host has its snapshot.
   */
  snapshotPrefix = (host: Host): SnapshotPrefix | undefined => {
    const tx = this.hosts.get(host.name)
    if (!tx || tx.pre || tx.snapshotting || tx.preOnTarget) return undefined
    tx.preOnTarget = true
    return {
      // A brace group, not a subshell (the script sets a few variables and never exits): one fork less.
      script: `{ ${SNAPSHOT_SCRIPT}\n} > ${preSnapshotPath(this.o.runId)} 2>/dev/null </dev/null\n`,
      alone: async (conn) => {
        tx.preOnTarget = false
        await this.beforeChange(host, conn)
      },
    }
  }

  /** The pre-run snapshot (kept by the controller, or saved on the target) and the host as it is now. */
  private async preAndNow(t: HostTx, conn: Connection): Promise<{ pre?: Record<string, unknown>; now: Record<string, unknown> }> {
    if (t.pre || !t.preOnTarget) return { pre: t.pre, now: await snapshot(conn) }
    const r = await conn.run(`cat ${preSnapshotPath(this.o.runId)} 2>/dev/null; echo; echo ${NOW_MARK}\n${SNAPSHOT_SCRIPT}`, { become: true })
    if (r.code !== 0) throw new Error(`snapshot failed on ${conn.hostName}: ${r.stderr}`)
    const cut = r.stdout.indexOf(`\n${NOW_MARK}\n`)
    const saved = cut < 0 ? '' : r.stdout.slice(0, cut)
    return { pre: saved.includes(SNAPSHOT_START) ? parseSnapshot(saved) : undefined, now: parseSnapshot(r.stdout.slice(cut + NOW_MARK.length + 2)) }
  }

  /** Seconds a risky task may cut the controller off: the `confirm_timeout` variable (host, play or -e), else 60. */
  static confirmTimeout(vars: Vars): number {
    return confirmTimeout(vars)
  }

  /** Commit confirmed for a risky task (safety/confirmed.ts). */
  riskyApply = (
    t: { host: Host; conn: Connection; ctx: TaskContext; task: string },
    apply: () => Promise<ApplyOutcome | void>,
  ): Promise<ApplyOutcome | void> => riskyApply({ o: this.o, outcome: (n, o) => this.outcome(n, o) }, t, apply)

  private outcome(name: string, o: HostTxOutcome): void {
    const t = this.hosts.get(name)
    if (t) t.outcome = o
  }

  /** The engine's end of the run (always called once begin resolved): checks, then commit or roll back every host; updates the summary. */
  end = async (summary: RunSummary, plans: PlannedPlay[]): Promise<void> => {
    this.phase = 'checking'
    const sig = this.o.signal
    const stopped = () => (sig?.aborted ? `interrupted (${typeof sig.reason === 'string' ? sig.reason : 'Ctrl-C'})` : undefined)
    let reason: string | undefined
    if (summary.interrupted) reason = stopped() ?? 'interrupted (Ctrl-C)'
    else if (summary.error) reason = `the run stopped on an error: ${summary.error}`
    else if (summary.exitCode !== EXIT.OK) reason = 'a task failed or a host was unreachable'
    else {
      summary.checks = await this.verify(plans)
      const bad = summary.checks.filter((c) => !c.ok)
      if (bad.length) reason = `check failed: ${bad.map((c) => c.name).join(', ')}`
    }
    // Persist at commit: the runtime state passed its checks; now what brings it back at boot.
    if (!reason) reason = stopped() ?? (await this.persistAll()) ?? stopped()
    if (reason && !summary.interrupted && stopped()) {
      // Stopped during the checks or the persisting, after the engine's summary: an interrupted run all the same.
      Object.assign(summary, { interrupted: true, interruptedBy: typeof sig?.reason === 'string' ? sig.reason : undefined, exitCode: EXIT.INTERRUPTED })
    }
    // From here on a stop changes nothing: the commit, or the rollback, goes to its end (see cli/run.ts).
    this.phase = reason ? 'rolling-back' : 'committing'
    summary.transaction = reason ? await this.rollbackAll(reason, summary) : await this.commitAll()
    // A host that rolled the run back by itself before its commit (a reboot, its timer): the run is not whole,
    // so the hosts that committed are rolled back too (one transaction across the inventory).
    const lost = Object.entries(summary.transaction.hosts).filter(([, h]) => !reason && rolledBack(h.status))
    if (lost.length) {
      for (const [name, h] of lost) this.outcome(name, h)
      this.phase = 'rolling-back'
      reason = `${lost.map(([n, h]) => `${n} ${h.status}`).join(', ')} before the commit`
      summary.transaction = await this.rollbackAll(reason, summary)
    }
    this.phase = 'done'
    if (reason && summary.exitCode === EXIT.OK) summary.exitCode = EXIT.FAILED_HOSTS
  }

  private async verify(plans: PlannedPlay[]): Promise<CheckResult[]> {
    const results: CheckResult[] = []
    for (const plan of plans) {
      const checks = plan.play.verify ?? []
      if (!checks.length) continue
      const hosts: CheckHost[] = []
      for (const h of plan.hosts) {
        try {
          hosts.push({
            host: h,
            vars: plan.vars.get(h.name) ?? mergeVars(plan.play, h, this.o.extraVars ?? {}),
            address: String(h.vars.ansible_host ?? h.name),
            conn: await this.o.pool.get(h.name),
          })
        } catch (e) {
          results.push({ name: `reach ${h.name}`, ok: false, matrix: false, probes: [{ from: h.name, to: '-', ok: false, detail: errMsg(e) }] })
        }
      }
      for (const c of checks) {
        try {
          c.validate?.(hosts)
          results.push(await c.run(hosts))
        } catch (e) {
          results.push({ name: c.name, ok: false, matrix: false, probes: [{ from: '-', to: '-', ok: false, detail: errMsg(e) }] })
        }
      }
    }
    return results
  }

  /** A task's work for the commit (RunTransaction.atCommit): kept per host until the checks passed. */
  atCommit = (host: Host, work: CommitWork): void => {
    const t = this.hosts.get(host.name)
    if (t) (t.atCommit ??= []).push(work)
  }

  /**
   * Before the commit, on every host with work left for it (the persisted form of its changes), in
   * parallel: each item's undo journalled, then its commands, in the order the tasks left them, one
   * round trip per host; an item whose key came already runs once. Returns why it failed (the run is
   * then rolled back like a failed check), or undefined.
   */
  private async persistAll(): Promise<string | undefined> {
    const failed: string[] = []
    await Promise.all(
      [...this.hosts.values()].map(async (t) => {
        const work = dedupWork(t.atCommit ?? [])
        if (!work.length) return
        const name = t.host.name
        try {
          const err = await runAtCommit(name, await this.o.pool.get(name), work, this.o.journal)
          if (err) failed.push(`${name}: ${err}`)
          else this.o.log?.(name, `persisted: ${work.length} item(s)`)
        } catch (e) {
          failed.push(`${name}: ${errMsg(e)}`)
        }
      }),
    )
    return failed.length ? `persisting at commit failed: ${failed.join('; ')}` : undefined
  }

  private async commitAll(): Promise<TransactionOutcome> {
    const hosts: Record<string, HostTxOutcome> = {}
    await Promise.all(
      [...this.hosts.values()].map(async (t) => {
        try {
          // Timed on the controller, not wrapped in the target's `timeout` (two processes more per host).
          const conn = await this.o.pool.get(t.host.name)
          const r = await conn.run(commitScript(this.o.runId), { become: true, timeoutMs: 120_000, timeoutOnController: true })
          hosts[t.host.name] = commitOutcome(r)
        } catch (e) {
          hosts[t.host.name] = { status: 'unreachable', message: `could not commit: ${errMsg(e)}` }
        }
      }),
    )
    const changed = Object.values(hosts).some((h) => h.status === 'committed')
    return { status: changed ? 'committed' : 'nothing-changed', hosts }
  }

  /** Roll every begun host back (in parallel), then check each is reachable and equals its pre-run snapshot. */
  async rollbackAll(reason: string, summary?: RunSummary): Promise<TransactionOutcome> {
    this.o.warn(`rolling back every host: ${reason}`)
    const hosts: Record<string, HostTxOutcome> = {}
    let incomplete = false
    await Promise.all(
      [...this.hosts.values()].map(async (t) => {
        const name = t.host.name
        let out: HostTxOutcome
        if (t.outcome && !rolledBack(t.outcome.status)) {
          out = t.outcome // lost, or its rollback already failed: said loudly below
        } else {
          try {
            this.o.pool.forget(name) // a fresh connection: the old one may be the one that broke
            const r = await this.run(name, rollbackScript(this.o.runId, t.outcome ? 'timer' : 'orch'))
            // The host rebooted inside the window: its boot unit rolled the run back before we got here.
            const byReboot = / already rolled back by reboot$/m.test(r.stdout)
            out = t.outcome ?? { status: r.code !== 0 ? 'rollback-failed' : byReboot ? 'rolled-back-by-reboot' : 'rolled-back' }
            if (byReboot && !t.outcome) out.message = 'the host rebooted inside the window and booted into its pre-run state'
            if (r.code !== 0) out = { status: 'rollback-failed', message: (r.stderr || r.stdout).trim() }
            const { pre, now } = out.status !== 'rollback-failed' && (t.pre || t.preOnTarget) ? await this.preAndNow(t, await this.o.pool.get(name)) : { pre: undefined, now: undefined }
            if (pre && now) {
              const diff = out.status === 'rolled-back-by-reboot' ? snapshotDiff(acrossBoots(pre), acrossBoots(now)) : snapshotDiff(pre, now)
              out = { ...out, restored: diff.length === 0 }
              if (diff.length) out.message = `differs from its pre-run state in: ${diff.join(', ')}`
            } else if (out.status !== 'rollback-failed' && !t.snapshotting && !t.preOnTarget && !t.resumed) {
              // No task of this run came to change the host (beforeChange never ran): as the run found it.
              out = { ...out, restored: true }
            }
          } catch (e) {
            out = { status: 'unreachable', message: `could not roll back: ${errMsg(e)}. Restore it from its console: sh ${ROLLBACK_BIN} ${this.o.runId}` }
          }
        }
        hosts[name] = out
        const ok = rolledBack(out.status) && out.restored !== false
        if (!ok) {
          incomplete = true
          this.o.warn(`HOST NOT RESTORED: ${name}: ${out.status}${out.message ? `: ${out.message}` : ''}`)
        }
        if (summary?.stats[name] && rolledBack(out.status)) summary.stats[name].rolled_back = 1
      }),
    )
    return { status: incomplete ? 'rollback-incomplete' : 'rolled-back', reason, hosts }
  }

  /** Hosts this transaction holds (for tests). */
  get begun(): string[] {
    return [...this.hosts.keys()]
  }
}
