/**
 * The undo journal: before a task changes a host, the inverse of the change is written on that host.
 *
 * On the target, one directory per run: /var/lib/orch/journal/<runId>/, root-only (0700), holding one
 * append-only file, `entries`: the undo of every change, in the order the changes were made, each entry
 * between its start line and its end line. A rollback (safety/) replays them newest first on the host
 * itself, without the controller. One file per run, not one per change: a file created is an inode
 * allocated on the target (and one more to delete), which on a busy file system costs more than the
 * write itself. Journalling costs no round trip of its own: the entry rides with the change's command,
 * and is on disk (durable()) before the change runs.
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

/** The run's entries file (see the header): appended to, never rewritten. */
export function entriesPath(runId: string): string {
  return `${journalDir(runId)}/entries`
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
 * Shell text that puts `paths` on disk before what follows runs: a change must never reach the disk, or
 * outlive a power cut, without the undo that guards it. `sync -d FILE...` (coreutils 8.24+, busybox 1.30+:
 * fdatasync of just those files; a directory listed makes a new entry in it durable); where sync takes no
 * file (older busybox) or a path is missing, a plain `sync` of everything. Fails only when both fail.
 */
export function durable(paths: string[]): string {
  return `{ sync -d ${paths.map(quote).join(' ')} 2>/dev/null || sync; }`
}

/** An entry's number as entries, backups and rollback.sh write it: 4 digits. */
const entryNo = (seq: number) => String(seq).padStart(4, '0')
/** What an entry's first line starts with, before its number (rollback.sh and orch status find entries by it). */
export const ENTRY_START = '# orch entry '
/** What an entry's last line is, before its number. */
export const ENTRY_END = '# orch: end of entry '
/** The first line of entry `seq`, up to the host and module. */
export const entryStart = (seq: number) => `${ENTRY_START}${entryNo(seq)} `
/**
 * The last line of entry `seq`. The engine appends an entry with the shell's builtin printf (no process),
 * and the change runs only after the write succeeded: an entry cut short (disk full) was never followed by
 * its change, so rollback.sh sets aside an entry without its end line instead of running half a script.
 */
export const entryEnd = (seq: number) => `${ENTRY_END}${entryNo(seq)}`

/**
 * The text of a journal entry, as appended to `entries`: a self-contained sh script between its start and
 * end lines. It starts with an empty line, so its start line begins a line even after an entry cut short.
 */
export function entryText(undo: Undo, entry: { seq: number; host: string; backupPath: string } & JournalEntryMeta): string {
  return [
    '',
    `${entryStart(entry.seq)}host=${oneLine(entry.host)} module=${oneLine(entry.module)}`,
    `# task: ${oneLine(entry.task)}`,
    `# undo: ${oneLine(undo.description)}`,
    `ORCH_BACKUP=${quote(entry.backupPath)}`,
    'export ORCH_BACKUP',
    undo.script,
    entryEnd(entry.seq),
    '',
  ].join('\n')
}

/** The journal kept on the targets (the real one). */
export class RemoteJournal implements Journal {
  private seq = new Map<string, number>()
  /** The run's journal directory and entries file, worked out once (they go into every entry's command). */
  private readonly dir: string
  private readonly file: string
  constructor(readonly runId: string) {
    this.dir = journalDir(runId)
    this.file = entriesPath(runId)
  }

  /** Where entry `seq`'s undo finds what it restores (undo.backup saves it there), when it needs it. */
  private backupPath(seq: number, module: string): string {
    return `${this.dir}/${entryNo(seq)}-${safeModule(module)}.backup`
  }

  /**
   * What an entry's write must have put on disk before its change: the entries file, and the directory
   * when new. A backup (a tree cp -a made: `directory` removing a full one) is all of it: a plain sync.
   */
  private durableEntry(backup: boolean, dirReady: boolean): string {
    return backup ? 'sync' : durable([this.file, ...(dirReady ? [] : [this.dir])])
  }

  /** Hosts whose journal directory this journal already made sure of (root-only, 0700). */
  private dirReady = new Set<string>()

  /**
   * Builds the one command that saves an entry on its own round trip (exposed for tests and for safety/):
   * the text comes on stdin and `cat` appends it to the run's entries file. The directory is created and
   * locked down with the first entry of a host (`dirReady` false); under umask 077 the file is created 0600.
   */
  entryCommand(seq: number, module: string, backup?: string, dirReady = false): { script: string; file: string; backupPath: string } {
    const { dir, file } = this
    const backupPath = this.backupPath(seq, module)
    const script =
      (dirReady ? 'umask 077' : sh`umask 077 && mkdir -p ${dir} && chmod 700 /var/lib/orch ${JOURNAL_ROOT} ${dir}`) +
      (backup ? sh` && (ORCH_BACKUP=${backupPath}; export ORCH_BACKUP; sh -c ${backup})` : '') +
      sh` && cat >> ${file}` +
      ` && ${this.durableEntry(!!backup, dirReady)}`
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
   * The entry as a prefix of the apply command: one round trip less per changed task, and the text is
   * appended with the shell's builtin printf: no process at all. The command runs only when the write
   * succeeded; an entry cut short (disk full) lacks its end line and rollback.sh sets it aside.
   */
  prefix(hostName: string, undo: Undo, meta: JournalEntryMeta = { module: 'task', task: '' }): JournalPrefix {
    const seq = (this.seq.get(hostName) ?? 0) + 1
    this.seq.set(hostName, seq)
    const dir = this.dir
    const backupPath = this.backupPath(seq, meta.module)
    const text = entryText(undo, { seq, host: hostName, backupPath, ...meta })
    const ready = this.dirReady.has(hostName)
    // A brace group, not a subshell (a fork of the shell per change): the umask goes back to the shell's
    // before the change runs; a failure ends the whole command.
    const script =
      '{ ' +
      (ready ? 'umask 077' : sh`umask 077 && mkdir -p ${dir} && chmod 700 /var/lib/orch ${JOURNAL_ROOT} ${dir}`) +
      (undo.backup ? sh` && (ORCH_BACKUP=${backupPath}; export ORCH_BACKUP; sh -c ${undo.backup})` : '') +
      ` && printf ${printfLiteral(Buffer.from(text))} >> ${quote(this.file)}` +
      (undo.volatile ? '' : ` && ${this.durableEntry(!!undo.backup, ready)}`) +
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
    const text = entryText(undo, { seq, host: hostName, backupPath, ...meta })
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
