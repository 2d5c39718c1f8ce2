/**
 * The undo journal: before a task changes a host, the inverse of the change is written on that host.
 *
 * On the target, one directory per run: /var/lib/orch/journal/<runId>/, root-only (0700), holding
 * NNNN-<module>.sh files numbered in the order they were applied. A rollback (safety/) replays them in
 * reverse order on the host itself, without the controller. Journalling costs one round trip, and only
 * for tasks that change something and have an undo.
 */
import type { Connection } from '../transport/types.ts'
import { quote, sh } from '../net/shell.ts'
import { SHELL_UMASK, printfLiteral } from '../transport/framing.ts'
import type { Undo } from './types.ts'

export const JOURNAL_ROOT = '/var/lib/orch/journal'

export interface JournalEntryMeta {
  module: string
  task: string
}

export interface Journal {
  readonly runId: string
  /** Persist `undo` for `hostName` before the change is applied. Throws when it could not be saved. */
  record(hostName: string, conn: Connection, undo: Undo, meta?: JournalEntryMeta): Promise<void>
  /**
   * Optional: the entry as a shell prefix, for the engine to send in the same round trip as apply's first
   * command (see JournalPrefix). Journals without it are always written with record().
   */
  prefix?(hostName: string, undo: Undo, meta?: JournalEntryMeta): JournalPrefix
}

/**
 * A journal entry sent with the command that makes the change: `script` writes the entry (in a subshell, its
 * own umask, stdin untouched) and, if that fails, prints JOURNAL_FAILED and exits JOURNAL_FAILED_RC before
 * anything of the command runs. The caller reports back with done(ok).
 */
export interface JournalPrefix {
  script: string
  done(ok: boolean): void
  /** Write the same entry on its own round trip instead (for a command that cannot carry the prefix). */
  recordAlone(conn: Connection): Promise<void>
}

/** Exit code and stderr mark of a command whose journal prefix could not write the entry. */
export const JOURNAL_FAILED_RC = 86
export const JOURNAL_FAILED = 'orch: could not journal the undo'

export function journalDir(runId: string): string {
  assertRunId(runId)
  return `${JOURNAL_ROOT}/${runId}`
}

export function assertRunId(runId: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(runId)) throw new Error(`invalid run id ${JSON.stringify(runId)}`)
}

/** A fresh run id: sortable by time, unique enough (20250101-120000-a1b2c3). */
export function newRunId(now = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0')
  const stamp =
    `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}` +
    `-${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`
  const rnd = Math.floor(Math.random() * 0xffffff)
    .toString(16)
    .padStart(6, '0')
  return `${stamp}-${rnd}`
}

const oneLine = (s: string) => s.replace(/[\r\n]+/g, ' ').slice(0, 500)
const safeModule = (m: string) => m.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40) || 'task'

/**
 * An entry is complete when its last line is ENTRY_END. The engine writes most entries straight to their
 * final name with the shell's printf (no temp file and rename: a process less per changed task); an entry
 * cut short was never followed by its change (the change runs only after the write succeeded), so
 * rollback.sh sets it aside instead of running half a script. Entries that carry ENTRY_COMPLETE_RULE are
 * held to it; older entries (without the rule) were written whole by rename.
 */
export const ENTRY_COMPLETE_RULE = '# orch: complete only when the last line is the end mark'
export const ENTRY_END = '# orch: end of entry'

/** The text of a journal entry: a self-contained sh script. */
export function undoFileText(undo: Undo, entry: { seq: number; host: string; backupPath: string } & JournalEntryMeta): string {
  return [
    '#!/bin/sh',
    `# orch undo ${String(entry.seq).padStart(4, '0')} host=${oneLine(entry.host)} module=${oneLine(entry.module)}`,
    `# task: ${oneLine(entry.task)}`,
    `# undo: ${oneLine(undo.description)}`,
    ENTRY_COMPLETE_RULE,
    `ORCH_BACKUP=${quote(entry.backupPath)}`,
    'export ORCH_BACKUP',
    undo.script,
    ENTRY_END,
    '',
  ].join('\n')
}

/** The journal kept on the targets (the real one). */
export class RemoteJournal implements Journal {
  private seq = new Map<string, number>()
  constructor(readonly runId: string) {
    assertRunId(runId)
  }

  /** Hosts whose journal directory this journal already made sure of (root-only, 0700). */
  private dirReady = new Set<string>()

  /**
   * Builds the one command that saves an entry (exposed for tests and for safety/). The directory is
   * created and locked down with the first entry of a host (`dirReady` false); later entries only write
   * the file: under umask 077 it is created 0600, and a rename makes it appear whole or not at all.
   * Two processes per entry (cat, mv) instead of five: journalling is paid once per changed task.
   */
  entryCommand(seq: number, module: string, backup?: string, dirReady = false): { script: string; file: string; backupPath: string } {
    const dir = journalDir(this.runId)
    const base = `${String(seq).padStart(4, '0')}-${safeModule(module)}`
    const file = `${dir}/${base}.sh`
    const tmp = `${dir}/.${base}.tmp`
    const backupPath = `${dir}/${base}.backup`
    let script =
      (dirReady ? 'umask 077' : sh`umask 077 && mkdir -p ${dir} && chmod 700 /var/lib/orch ${JOURNAL_ROOT} ${dir}`) +
      (backup ? sh` && (ORCH_BACKUP=${backupPath}; export ORCH_BACKUP; sh -c ${backup})` : '') +
      sh` && cat > ${tmp} && mv -f ${tmp} ${file}`
    return { script, file, backupPath }
  }

  /**
   * The transaction began the run on this host: its journal directory exists, root-only (begin makes it
   * under umask 077), so the first entry need not create it. A resumed run already holds `entries`
   * entries: the next ones are numbered after them.
   */
  startAfter(hostName: string, entries: number): void {
    this.seq.set(hostName, Math.max(this.seq.get(hostName) ?? 0, entries))
    this.dirReady.add(hostName)
  }

  /**
   * The entry as a prefix of the apply command: one round trip less per changed task, and the text goes in
   * with the shell's builtin printf straight to its final name: no process at all. The command runs only
   * when the write succeeded; an entry cut short (disk full) lacks its end mark and rollback.sh skips it.
   */
  prefix(hostName: string, undo: Undo, meta: JournalEntryMeta = { module: 'task', task: '' }): JournalPrefix {
    const seq = (this.seq.get(hostName) ?? 0) + 1
    this.seq.set(hostName, seq)
    const dir = journalDir(this.runId)
    const base = `${String(seq).padStart(4, '0')}-${safeModule(meta.module)}`
    const backupPath = `${dir}/${base}.backup`
    const text = undoFileText(undo, { seq, host: hostName, backupPath, ...meta })
    const ready = this.dirReady.has(hostName)
    // A brace group, not a subshell (a fork of the shell per change): the umask goes back to the shell's
    // before the change runs; a failure ends the whole command.
    const script =
      '{ ' +
      (ready ? 'umask 077' : sh`umask 077 && mkdir -p ${dir} && chmod 700 /var/lib/orch ${JOURNAL_ROOT} ${dir}`) +
      (undo.backup ? sh` && (ORCH_BACKUP=${backupPath}; export ORCH_BACKUP; sh -c ${undo.backup})` : '') +
      ` && printf ${printfLiteral(Buffer.from(text))} > ${quote(`${dir}/${base}.sh`)}` +
      sh`; } </dev/null || { echo ${JOURNAL_FAILED} >&2; exit ${JOURNAL_FAILED_RC}; }` +
      `\numask ${SHELL_UMASK}\n`
    return {
      script,
      done: (ok) => {
        if (ok) this.dirReady.add(hostName)
        else this.dirReady.delete(hostName)
      },
      recordAlone: (conn) => this.write(hostName, conn, undo, meta, seq),
    }
  }

  async record(hostName: string, conn: Connection, undo: Undo, meta: JournalEntryMeta = { module: 'task', task: '' }): Promise<void> {
    const seq = (this.seq.get(hostName) ?? 0) + 1
    this.seq.set(hostName, seq)
    return this.write(hostName, conn, undo, meta, seq)
  }

  private async write(hostName: string, conn: Connection, undo: Undo, meta: JournalEntryMeta, seq: number): Promise<void> {
    const { script, backupPath } = this.entryCommand(seq, meta.module, undo.backup, this.dirReady.has(hostName))
    const text = undoFileText(undo, { seq, host: hostName, backupPath, ...meta })
    const r = await conn.run(script, { stdin: text, become: true })
    if (r.code !== 0) {
      this.dirReady.delete(hostName)
      throw new Error(`could not journal the undo on ${hostName} (rc=${r.code}): ${(r.stderr || r.stdout).trim()}`)
    }
    this.dirReady.add(hostName)
  }
}

/** Keeps entries in memory: for tests, and for runs that must not write to the targets. */
export class MemoryJournal implements Journal {
  readonly entries: Array<{ host: string; undo: Undo; meta?: JournalEntryMeta }> = []
  constructor(readonly runId = 'memory') {}
  async record(hostName: string, _conn: Connection, undo: Undo, meta?: JournalEntryMeta): Promise<void> {
    this.entries.push({ host: hostName, undo, meta })
  }
}
