/**
 * Reads sent ahead (engine/readahead.ts), run for real: the tasks work on files in a temp dir through a
 * connection that runs each command (and each batch, framed by transport/framing.ts) in a local /bin/sh.
 * What is checked is what a task saw (the file it wrote on top of the previous task's) and how many
 * commands went out.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { MemoryJournal } from '../../src/engine/journal.ts'
import { run } from '../../src/engine/runner.ts'
import { playbook, task, type Task } from '../../src/engine/types.ts'
import type { Host } from '../../src/inventory/types.ts'
import { file } from '../../src/tasks/file.ts'
import { lineinfile } from '../../src/tasks/lineinfile.ts'
import { batchScript, newMarker, splitBatch } from '../../src/transport/framing.ts'
import type { Connection, ExecOptions, ExecResult } from '../../src/transport/types.ts'

const dir = mkdtempSync(join(tmpdir(), 'orch-readahead-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Runs commands in a local sh, as the persistent remote shell would (one command = one round trip). */
class LocalConn implements Connection {
  readonly hostName = 'h'
  readonly alive = true
  readonly isRoot = true
  sent = 0
  log: Array<{ batch: number; scripts: string[] }> = []
  private sh(script: string, stdin?: string | Buffer) {
    const r = spawnSync('/bin/sh', ['-c', script], { input: stdin ?? '' })
    return { code: r.status ?? 255, stdout: r.stdout, stderr: r.stderr }
  }
  get commandsSent(): number {
    return this.sent
  }
  async run(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    this.sent++
    this.log.push({ batch: 0, scripts: [script] })
    await Promise.resolve()
    const r = this.sh(script, opts.stdin)
    return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr.toString(), durationMs: 0 }
  }
  async runBatch(parts: Array<{ script: string; stdin?: string | Buffer }>): Promise<ExecResult[]> {
    this.sent++
    this.log.push({ batch: parts.length, scripts: parts.map((p) => p.script) })
    await Promise.resolve()
    const markers = parts.map(() => newMarker())
    const end = newMarker()
    const r = this.sh(batchScript(parts.map((p) => ({ script: p.script, stdin: p.stdin === undefined ? undefined : Buffer.from(p.stdin) })), markers, end))
    return splitBatch(r.stdout, r.stderr, markers, end).map((x) => (x ? { code: x.code, stdout: x.stdout.toString(), stderr: x.stderr.toString(), durationMs: 0 } : { code: 255, stdout: '', stderr: 'cut', durationMs: 0 }))
  }
  async upload(): Promise<void> {
    this.sent++
  }
  async close(): Promise<void> {}
}

const host: Host = { name: 'h', vars: {}, groups: ['all'] }
async function go(conn: LocalConn, tasks: Task[]) {
  return run({ plays: [playbook({ name: 'p', hosts: 'all', tasks })], resolveHosts: () => [host], connect: async () => conn, journal: new MemoryJournal() })
}
let n = 0
const fresh = () => join(dir, `case-${++n}`)

describe('reads sent ahead', () => {
  it('a run with nothing to change reads its tasks in batches of 2, 3, 5...: 3 commands for 6 tasks', async () => {
    const d = fresh()
    const tasks: Task[] = []
    for (let i = 0; i < 6; i++) tasks.push(file({ path: `${d}-${i}`, content: `v${i}\n` }))
    expect((await go(new LocalConn(), tasks)).stats.h.changed).toBe(6)
    const conn = new LocalConn()
    const s = await go(conn, tasks)
    expect(s.stats.h).toMatchObject({ ok: 6, changed: 0, failed: 0 })
    // The last task is alone: a plain command.
    expect(conn.log.map((c) => c.batch)).toEqual([2, 3, 0])
  })

  it('a change carries the next read, which sees the change: lineinfile on the file the task before wrote', async () => {
    const p = fresh()
    const conn = new LocalConn()
    const s = await go(conn, [file({ path: p, content: 'first\n' }), lineinfile({ path: p, line: 'second' }), lineinfile({ path: p, line: 'third' })])
    expect(s.stats.h).toMatchObject({ changed: 3, failed: 0 })
    expect(readFileSync(p, 'utf8')).toBe('first\nsecond\nthird\n')
    // One batch of 2 reads, then each change with the next task's read: 4 commands, not 6.
    expect(conn.log.map((c) => c.batch)).toEqual([2, 2, 2, 0])
    // And the second run changes nothing (reads ahead, all of them used).
    const again = new LocalConn()
    expect((await go(again, [file({ path: p, content: 'first\nsecond\nthird\n' }), lineinfile({ path: p, line: 'second' }), lineinfile({ path: p, line: 'third' })])).stats.h.changed).toBe(0)
  })

  it('a read that came back before another command is not used: the task reads again', async () => {
    const p = fresh()
    writeFileSync(p, 'a\n')
    // An apply of two commands, the second on ctx.conn: the read that rode with the first one is stale once
    // the second ran (used, it would have the lineinfile write a, b, d and lose c).
    const twoStep = task({
      module: 'custom',
      name: 'two steps',
      read: async () => 0,
      diff: () => [{ what: 'x' }],
      apply: async (ctx) => {
        await ctx.run(`printf 'b\\n' >> '${p}'`)
        await ctx.conn.run(`printf 'c\\n' >> '${p}'`)
      },
    })
    const conn = new LocalConn()
    const s = await go(conn, [twoStep, lineinfile({ path: p, line: 'd' })])
    expect(s.stats.h).toMatchObject({ changed: 2, failed: 0 })
    expect(readFileSync(p, 'utf8')).toBe('a\nb\nc\nd\n')
    // The read did ride along (and was thrown away): 4 commands, the last two the re-read and the write.
    expect(conn.log.map((c) => c.batch)).toEqual([2, 0, 0, 0])
  })

  it('tasks with when, a timeout or another become are not read ahead; a read of two commands falls back', async () => {
    const p = fresh()
    let reads = 0
    const twoReads = task({
      module: 'custom',
      name: 'two reads',
      readAhead: true,
      read: async (ctx) => {
        reads++
        const a = await ctx.run('echo 1')
        const b = await ctx.run('echo 2')
        return Number(a.stdout) + Number(b.stdout)
      },
      diff: (st) => (st === 3 ? [] : [{ what: `got ${st}` }]),
      apply: async () => undefined,
    })
    const conn = new LocalConn()
    const tasks = [
      file({ path: p, content: 'x\n' }),
      twoReads,
      file({ path: `${p}-w`, content: 'w\n' }).with({ when: () => true }),
      file({ path: `${p}-t`, content: 't\n' }).with({ timeout: 30 }),
    ]
    const s = await go(conn, tasks)
    expect(s.stats.h).toMatchObject({ changed: 3, failed: 0 })
    // The two-command read was tried ahead twice (in the first batch, then behind the change before it),
    // gave up both times, and ran for itself.
    expect(reads).toBe(3)
    for (const c of conn.log) for (const sc of c.scripts.slice(1)) expect(sc).not.toContain(`${p}-w`)
    for (const c of conn.log) for (const sc of c.scripts.slice(1)) expect(sc).not.toContain(`${p}-t`)
  })
})
