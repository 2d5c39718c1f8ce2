/**
 * Work left for the commit (TaskContext.atCommit: the persisted form of a run's changes), run on one
 * host by the transaction once the checks passed: each item's undo journalled first (the same journal
 * as the tasks' entries, numbered after them), then its commands, in the order the tasks left them, in
 * one round trip. A journal entry that cannot be written stops the script before its commands.
 */
import type { Journal } from '../engine/journal.ts'
import type { CommitWork } from '../engine/types.ts'
import type { Connection } from '../transport/types.ts'

/** Items with a key already seen run once (the first). */
export function dedupWork(work: CommitWork[]): CommitWork[] {
  const seen = new Set<string>()
  return work.filter((w) => !seen.has(w.key) && !!seen.add(w.key))
}

/** Runs the work on the host; returns what failed, or undefined. */
export async function runAtCommit(name: string, conn: Connection, work: CommitWork[], journal?: Journal): Promise<string | undefined> {
  const parts: string[] = []
  const pres: Array<{ done(ok: boolean): void }> = []
  for (const w of work) {
    const meta = { module: w.module, task: `${w.task} (at commit)` }
    if (w.undo && journal?.prefix) {
      const pre = journal.prefix(name, w.undo, meta)
      pres.push(pre)
      parts.push(pre.script)
    } else if (w.undo && journal) {
      // A journal without prefixes: this entry on its own round trip, before anything of the script runs.
      if (parts.length) return `${w.task}: cannot journal at commit after other work`
      await journal.record(name, conn, w.undo, meta)
    }
    for (const c of w.commands) {
      if (c.stdin !== undefined) return `${w.task}: work at commit cannot take stdin`
      parts.push(`{ ${c.script}\n} || exit $?\n`)
    }
  }
  const r = await conn.run(parts.join(''), { become: true, timeoutMs: 120_000 })
  for (const p of pres) p.done(r.code === 0)
  return r.code === 0 ? undefined : (r.stderr || r.stdout).trim() || `exit ${r.code}`
}
