/**
 * Engine changes made for the bench's figures (docs/benchmark.md): a changed task's undo entry rides along
 * with apply's first command (one round trip, not two) when both run in the root shell; everything else
 * still journals on its own round trip first.
 */
import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { RemoteJournal } from '../../src/engine/journal.ts'
import { run } from '../../src/engine/runner.ts'
import { playbook, task, type Task } from '../../src/engine/types.ts'
import type { Host } from '../../src/inventory/types.ts'
import { file } from '../../src/tasks/file.ts'
import type { Connection, ExecOptions, ExecResult } from '../../src/transport/types.ts'
import { fakeTx } from './engine-helpers.ts'

const RUN = '20250101-000000-abcdef'
const DIR = `/var/lib/orch/journal/${RUN}`

class Conn implements Connection {
  readonly hostName = 'h'
  alive = true
  log: Array<{ kind: 'run' | 'upload'; script: string; opts?: ExecOptions }> = []
  constructor(
    public isRoot: boolean | undefined,
    private answer: (script: string) => Partial<ExecResult> = () => ({}),
  ) {}
  async run(script: string, opts?: ExecOptions): Promise<ExecResult> {
    this.log.push({ kind: 'run', script, opts })
    await Promise.resolve()
    return { code: 0, stdout: '', stderr: '', durationMs: 0, ...this.answer(script) }
  }
  async upload(path: string): Promise<void> {
    this.log.push({ kind: 'upload', script: path })
  }
  async close(): Promise<void> {
    this.alive = false
  }
}

const host: Host = { name: 'h', vars: {}, groups: ['all'] }
const absent = (script: string) => (script.includes("stat -c '%a %U %G %s %u %g'") ? { stdout: 'absent\n' } : {})

async function go(conn: Conn, tasks: Task[]) {
  return run({
    plays: [playbook({ name: 'p', hosts: 'all', tasks })],
    resolveHosts: () => [host],
    connect: async () => conn,
    journal: new RemoteJournal(RUN),
    runId: RUN,
  })
}

/** A resource whose apply is given: it always changes, with an undo. */
function custom(apply: (ctx: Parameters<NonNullable<Task['resource']['apply']>>[0]) => Promise<void>): Task {
  return task({
    module: 'custom',
    name: 'custom',
    read: async () => 0,
    diff: () => [{ what: 'x' }],
    undo: () => ({ description: 'undo x', script: 'echo undo-x' }),
    apply: async (ctx) => {
      await apply(ctx)
    },
  })
}

describe('journal entry with apply (bench perf)', () => {
  it('a root login: the entry is written by the apply command itself, before its own work, in one round trip', async () => {
    const conn = new Conn(true, absent)
    const s = await go(conn, [file({ path: '/etc/x', content: 'hi\n' })])
    expect(s.stats.h.changed).toBe(1)
    expect(conn.log).toHaveLength(2) // read, then journal+apply
    const applied = conn.log[1]
    expect(applied.script.startsWith(`{ umask 077 && mkdir -p ${DIR} && chmod 700 /var/lib/orch /var/lib/orch/journal ${DIR}`)).toBe(true)
    // The entry is appended to the run's one entries file with the builtin printf (no file of its own), then
    // synced to disk (with the new directory) before the change: one process, sync.
    const entry = applied.script.indexOf(`>> ${DIR}/entries && { sync -d ${DIR}/entries ${DIR} 2>/dev/null || sync; }; }`)
    expect(entry).toBeGreaterThan(0)
    expect(applied.script.slice(0, entry)).not.toMatch(/\bmv\b/)
    expect(applied.script.indexOf('/etc/.orch.')).toBeGreaterThan(entry) // the write comes after the entry, on disk
    expect(applied.script).toContain('rm -f -- /etc/x') // the undo, in the entry's text
    expect(applied.opts?.stdin).toBeUndefined() // file content rides in the script (builtin printf), not stdin
    expect(spawnSync('/bin/sh', ['-n', '-c', applied.script]).status).toBe(0)
  })

  it('the next entries of the host skip the directory set-up', async () => {
    const conn = new Conn(true, absent)
    await go(conn, [file({ path: '/etc/x', content: 'a' }), file({ path: '/etc/y', content: 'b' })])
    expect(conn.log).toHaveLength(4)
    expect(conn.log[3].script.startsWith('{ umask 077 && printf ')).toBe(true)
    expect(conn.log[3].script).toContain(`# orch entry 0002 `)
    expect(conn.log[3].script).toContain(`>> ${DIR}/entries && { sync -d ${DIR}/entries 2>/dev/null || sync; }; }`)
  })

  it('an entry that cannot be written fails the task and runs nothing of apply', async () => {
    const conn = new Conn(true, (sc) => (sc.startsWith('{ umask') ? { code: 86, stderr: 'orch: could not journal the undo\n' } : absent(sc)))
    let second = false
    const s = await go(conn, [
      custom(async (ctx) => {
        await Promise.all([ctx.run('first-change'), ctx.run('second-change').then(() => (second = true))])
      }),
    ])
    expect(s.stats.h.failed).toBe(1)
    expect(s.plays[0].tasks[0].hosts.h.msg).toMatch(/could not journal the undo on h \(rc=86\)/)
    expect(conn.log.map((l) => l.script).filter((x) => x.includes('second-change'))).toEqual([])
    expect(second).toBe(false)
  })

  it('not known to be root and no become: the entry goes first, on its own round trip (as before)', async () => {
    const conn = new Conn(undefined, absent)
    await go(conn, [file({ path: '/etc/x', content: 'hi\n' })])
    expect(conn.log).toHaveLength(3)
    expect(conn.log[1].script).toContain(`cat >> ${DIR}/entries`)
    expect(conn.log[1].opts).toMatchObject({ become: true })
    expect(conn.log[2].script).not.toContain('/var/lib/orch')
  })

  it('an upload or a command on ctx.conn waits for the entry written on its own', async () => {
    const conn = new Conn(true)
    await go(conn, [
      custom(async (ctx) => {
        await ctx.conn.upload('/etc/z', 'z')
        await ctx.run('after-upload')
      }),
    ])
    expect(conn.log.map((l) => l.kind)).toEqual(['run', 'upload', 'run'])
    expect(conn.log[0].script).toContain(`cat >> ${DIR}/entries`)
    expect(conn.log[2].script).toBe('after-upload')
  })
})

describe('the pre-run snapshot with the first change (bench perf)', () => {
  const SNAP = '( @SNAPSHOT@ ) > saved\n'
  const opts = (events: string[]) => {
    let handedOut = false
    return fakeTx({
      snapshotPrefix: () => {
        if (handedOut) return undefined
        handedOut = true
        return { script: SNAP, alone: async () => void events.push('snapshot alone') }
      },
      beforeChange: async () => void events.push('beforeChange'),
    })
  }
  const goWith = (conn: Conn, tasks: Task[], events: string[]) =>
    run({ plays: [playbook({ name: 'p', hosts: 'all', tasks })], resolveHosts: () => [host], connect: async () => conn, journal: new RemoteJournal(RUN), runId: RUN, transaction: opts(events) })

  it("rides with the first change's command, before its journal entry; later changes neither carry it nor snapshot", async () => {
    const conn = new Conn(true, absent)
    const events: string[] = []
    await goWith(conn, [file({ path: '/etc/x', content: 'a' }), file({ path: '/etc/y', content: 'b' })], events)
    const applies = conn.log.filter((l) => l.script.includes('/etc/.orch.'))
    expect(applies).toHaveLength(2)
    expect(applies[0].script.startsWith(SNAP + '{ umask 077 && ')).toBe(true)
    expect(applies[0].script.indexOf('printf')).toBeLessThan(applies[0].script.indexOf('/etc/.orch.')) // the entry before the change
    expect(applies[1].script).not.toContain('@SNAPSHOT@')
    expect(events).toEqual(['beforeChange']) // the second change asks; the transaction answers "saved already"
  })

  it('a first command that cannot carry it (an upload first): the snapshot is taken alone, before the entry and the change', async () => {
    const conn = new Conn(true)
    const events: string[] = []
    const seen: string[] = []
    const orig = conn.upload.bind(conn)
    conn.upload = async (p: string) => {
      seen.push(`upload after: ${events.join(',')}`)
      return orig(p)
    }
    await goWith(conn, [custom(async (ctx) => void (await ctx.conn.upload('/etc/z', 'z')))], events)
    expect(events).toEqual(['snapshot alone'])
    expect(seen).toEqual(['upload after: snapshot alone'])
    expect(conn.log.some((l) => l.script.includes('@SNAPSHOT@'))).toBe(false)
  })
})
