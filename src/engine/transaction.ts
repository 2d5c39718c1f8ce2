/**
 * The one transaction object a run goes through (safety/transaction.ts implements it for `orch run`).
 * The engine calls, in this order: begin (after the plan is valid, before the first task), then per
 * change beforeChange or snapshotPrefix, riskyApply around a risky task's apply, and end — always, in a
 * `finally`, once begin resolved: after the last task, on Ctrl-C (signal), on a lost host, and when
 * anything threw (`summary.error` says what; the engine rethrows after end).
 */
import type { Host } from '../inventory/types.ts'
import type { Connection } from '../transport/types.ts'
import type { JournalPrefix } from './journal.ts'
import type { PlannedPlay } from './plan.ts'
import type { RunSummary } from './results.ts'
import type { ApplyOutcome, CommitWork, TaskContext } from './types.ts'

export interface RunTransaction {
  /** Locks the hosts (may throw: then nothing ran, and it released what it took itself). */
  begin(hosts: Host[]): Promise<void>
  /** Before a task changes a host (not in check mode): the pre-run snapshot, the first time. */
  beforeChange(host: Host, conn: Connection): Promise<void>
  /**
   * Instead of beforeChange, when the change's undo rides with its command (journal.prefix): a shell
   * prefix that saves the host's pre-run snapshot on the target in that same round trip, or undefined when
   * the host has one already. If the command cannot carry it after all, `alone` runs instead.
   */
  snapshotPrefix?(host: Host): SnapshotPrefix | undefined
  /** Runs the apply of a `risky` task under commit-confirmed (arm, apply, reconnect, check, disarm). */
  riskyApply(t: { host: Host; conn: Connection; ctx: TaskContext; task: string }, apply: () => Promise<ApplyOutcome | void>): Promise<ApplyOutcome | void>
  /** Work a task leaves for the commit (TaskContext.atCommit): the transaction journals and runs it once the checks passed. */
  atCommit?(host: Host, work: CommitWork): void
  /** The end: the playbook's checks, then commit or roll back every host; updates the summary. */
  end(summary: RunSummary, plans: PlannedPlay[]): Promise<void>
}

/** The transaction's pre-run snapshot as a prefix of a change's command (RunTransaction.snapshotPrefix). */
export interface SnapshotPrefix {
  script: string
  /** The command could not carry it: take the snapshot on its own round trip instead, before the change. */
  alone(conn: Connection): Promise<void>
}

/** A journal prefix that saves the pre-run snapshot first; written alone, the snapshot is taken first, apart. */
export function withSnapshot(pre: JournalPrefix, snap: SnapshotPrefix): JournalPrefix {
  return {
    script: snap.script + pre.script,
    done: (ok) => pre.done(ok),
    recordAlone: async (conn) => {
      await snap.alone(conn)
      return pre.recordAlone(conn)
    },
  }
}
