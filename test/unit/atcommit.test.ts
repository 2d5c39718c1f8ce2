/**
 * Work left for the commit (safety/atcommit.ts): each item's undo is journalled before its commands, in
 * the order the tasks left them, once per key, in one round trip; a failing command stops the rest. The
 * script really runs (sh, in a temp directory), with a journal whose entries are lines in a file.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { dedupWork, runAtCommit } from '../../src/safety/atcommit.ts'
import type { Journal } from '../../src/engine/journal.ts'
import type { CommitWork } from '../../src/engine/types.ts'
import type { Connection } from '../../src/transport/types.ts'
import { quote } from '../../src/net/shell.ts'

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'orch-atcommit-'))
  const log = join(dir, 'log')
  const done: boolean[] = []
  const journal: Journal = {
    runId: 'r',
    record: async () => {
      throw new Error('not used')
    },
    prefix: (_h, undo) => ({ script: `echo ${quote(`journal ${undo.description}`)} >> ${quote(log)} || exit 86\n`, done: (ok) => done.push(ok), recordAlone: async () => {} }),
  }
  const scripts: string[] = []
  const conn = {
    hostName: 'node1',
    run: async (script: string) => {
      scripts.push(script)
      const r = spawnSync('sh', ['-c', script], { encoding: 'utf8' })
      return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr, durationMs: 0 }
    },
  } as unknown as Connection
  const work = (key: string, cmd: string): CommitWork => ({ key, module: 'm', task: key, undo: { description: `undo ${key}`, script: 'true' }, commands: [{ script: `echo ${quote(`run ${key}`)} >> ${quote(log)} && ${cmd}` }] })
  return { dir, log, done, journal, conn, scripts, work }
}

describe('work at commit', () => {
  it('journals each undo before its commands, in order, each key once, in one round trip', async () => {
    const t = setup()
    const items = dedupWork([t.work('a', 'true'), t.work('b', 'true'), t.work('a', 'true')])
    expect(items.map((w) => w.key)).toEqual(['a', 'b'])
    expect(await runAtCommit('node1', t.conn, items, t.journal)).toBeUndefined()
    expect(t.scripts).toHaveLength(1)
    expect(readFileSync(t.log, 'utf8')).toBe('journal undo a\nrun a\njournal undo b\nrun b\n')
    expect(t.done).toEqual([true, true])
  })

  it('a failing command stops the rest and is reported; its undo was journalled first', async () => {
    const t = setup()
    const err = await runAtCommit('node1', t.conn, [t.work('a', 'echo broken >&2; false'), t.work('b', 'true')], t.journal)
    expect(err).toBe('broken')
    expect(readFileSync(t.log, 'utf8')).toBe('journal undo a\nrun a\n')
    // Every entry of the script is reported not known written (the journal then writes the next one with its directory check).
    expect(t.done).toEqual([false, false])
    execFileSync('rm', ['-rf', t.dir])
  })
})
