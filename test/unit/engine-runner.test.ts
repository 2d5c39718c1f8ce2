import { describe, expect, it } from 'vitest'
import { playbook, ArgError, PlaybookError, TaskFailed } from '../../src/engine/types.ts'
import { serialBatches, planRun } from '../../src/engine/runner.ts'
import { EXIT } from '../../src/engine/results.ts'
import { CHANGE, fake, fakeTx, harness, mkHost, Log } from './engine-helpers.ts'

const hosts3 = [mkHost('a'), mkHost('b'), mkHost('c')]

describe('strategies', () => {
  it('linear: every host finishes task N before task N+1 starts anywhere', async () => {
    const h = harness(hosts3)
    const delay = (host: string) => ({ a: 30, b: 1, c: 10 })[host]!
    const s = await h.run({
      plays: [playbook({ name: 'p', hosts: 'all', tasks: [fake(h.log, 't1', { delay }), fake(h.log, 't2', { delay })] })],
    })
    const lastT1 = Math.max(...['a', 'b', 'c'].map((x) => h.log.index(`${x}:t1:done`)))
    const firstT2 = Math.min(...['a', 'b', 'c'].map((x) => h.log.index(`${x}:t2:read`)))
    expect(lastT1).toBeLessThan(firstT2)
    expect(s.exitCode).toBe(0)
    expect(s.stats.a).toMatchObject({ ok: 2, changed: 0, failed: 0 })
  })

  it('free: a fast host runs ahead of a slow one', async () => {
    const h = harness([mkHost('fast'), mkHost('slow')])
    const delay = (host: string) => (host === 'slow' ? 40 : 1)
    await h.run({
      plays: [playbook({ name: 'p', hosts: 'all', strategy: 'free', tasks: [fake(h.log, 't1', { delay }), fake(h.log, 't2', { delay })] })],
    })
    expect(h.log.index('fast:t2:done')).toBeLessThan(h.log.index('slow:t1:done'))
  })

  it('--strategy overrides the play', async () => {
    const h = harness([mkHost('fast'), mkHost('slow')])
    const delay = (host: string) => (host === 'slow' ? 40 : 1)
    await h.run({
      strategy: 'linear',
      plays: [playbook({ name: 'p', hosts: 'all', strategy: 'free', tasks: [fake(h.log, 't1', { delay }), fake(h.log, 't2', { delay })] })],
    })
    expect(h.log.index('slow:t1:done')).toBeLessThan(h.log.index('fast:t2:read'))
  })

  it('forks limits how many hosts work at once', async () => {
    const hosts = Array.from({ length: 6 }, (_, i) => mkHost(`h${i}`))
    const h = harness(hosts)
    let now = 0
    let peak = 0
    const t = fake(h.log, 't', { delay: 5 })
    const orig = t.resource.read
    t.resource.read = async (ctx) => {
      peak = Math.max(peak, ++now)
      try {
        return await orig(ctx)
      } finally {
        now--
      }
    }
    await h.run({ forks: 2, plays: [playbook({ name: 'p', hosts: 'all', tasks: [t] })] })
    expect(peak).toBe(2)
  })
})

describe('serial batches', () => {
  it('computes batch sizes as Ansible (numbers, percentages floored with a minimum of 1, lists)', () => {
    const ten = Array.from({ length: 10 }, (_, i) => i)
    expect(serialBatches(ten, 3).map((b) => b.length)).toEqual([3, 3, 3, 1])
    expect(serialBatches(ten, '30%').map((b) => b.length)).toEqual([3, 3, 3, 1])
    expect(serialBatches(ten, '5%').map((b) => b.length)).toEqual(Array(10).fill(1))
    expect(serialBatches(ten, [1, '50%']).map((b) => b.length)).toEqual([1, 5, 4])
    expect(serialBatches(ten, undefined).map((b) => b.length)).toEqual([10])
    expect(serialBatches(ten, 0).map((b) => b.length)).toEqual([10])
  })

  it('each batch runs the whole play, handlers included, before the next batch starts', async () => {
    const hosts = [mkHost('a'), mkHost('b'), mkHost('c'), mkHost('d')]
    const h = harness(hosts)
    await h.run({
      plays: [
        playbook({
          name: 'p',
          hosts: 'all',
          serial: 2,
          tasks: [fake(h.log, 't1'), fake(h.log, 't2', { changes: CHANGE }).with({ notify: 'hd' })],
          handlers: { hd: fake(h.log, 'hd') },
        }),
      ],
    })
    expect(h.log.index('b:hd:read')).toBeLessThan(h.log.index('c:t1:read'))
    expect(h.log.index('a:hd:read')).toBeLessThan(h.log.index('d:t1:read'))
  })
})

describe('failures', () => {
  it('a failed host stops its own tasks, the others go on; exit 2', async () => {
    const h = harness(hosts3)
    const s = await h.run({
      plays: [
        playbook({
          name: 'p',
          hosts: 'all',
          tasks: [fake(h.log, 't1', { readError: (ctx) => (ctx.host.name === 'b' ? new Error('boom') : undefined) }), fake(h.log, 't2')],
        }),
      ],
    })
    expect(h.log.of('b:t2')).toEqual([])
    expect(h.log.of('a:t2:read')).toHaveLength(1)
    expect(s.stats.b).toMatchObject({ failed: 1, ok: 0 })
    expect(s.plays[0].tasks[0].hosts.b).toMatchObject({ status: 'failed', msg: 'boom', failed: true })
    expect(s.exitCode).toBe(EXIT.FAILED_HOSTS)
  })

  it('TaskFailed carries rc/stdout/stderr into the result', async () => {
    const h = harness([mkHost('a')])
    const s = await h.run({
      plays: [playbook({ name: 'p', hosts: 'all', tasks: [fake(h.log, 't', { readError: new TaskFailed('ip failed', { rc: 2, stderr: 'RTNETLINK' }) })] })],
    })
    expect(s.plays[0].tasks[0].hosts.a).toMatchObject({ status: 'failed', rc: 2, stderr: 'RTNETLINK', msg: 'ip failed' })
  })

  it('an unreachable host is reported unreachable, skips its tasks; exit 4 wins over 2', async () => {
    const h = harness(hosts3, { unreachable: ['c'] })
    const s = await h.run({
      plays: [
        playbook({
          name: 'p',
          hosts: 'all',
          tasks: [fake(h.log, 't1', { readError: (ctx) => (ctx.host.name === 'b' ? new Error('boom') : undefined) }), fake(h.log, 't2')],
        }),
      ],
    })
    expect(s.plays[0].tasks[0].hosts.c).toMatchObject({ status: 'unreachable' })
    expect(s.plays[0].tasks[0].hosts.c.msg).toMatch(/Connection refused/)
    expect(h.log.of('c:')).toEqual([])
    expect(s.stats.c).toMatchObject({ unreachable: 1, ok: 0 })
    expect(h.connects.filter((x) => x === 'c')).toHaveLength(1)
    expect(s.exitCode).toBe(EXIT.UNREACHABLE_HOSTS)
  })

  it('failed hosts are left out of later plays', async () => {
    const h = harness([mkHost('a'), mkHost('b')])
    const s = await h.run({
      plays: [
        playbook({ name: 'p1', hosts: 'all', tasks: [fake(h.log, 't1', { readError: (ctx) => (ctx.host.name === 'b' ? new Error('x') : undefined) })] }),
        playbook({ name: 'p2', hosts: 'all', tasks: [fake(h.log, 't2')] }),
      ],
    })
    expect(s.plays[1].hosts).toEqual(['a'])
    expect(h.log.of('b:t2')).toEqual([])
  })

  it('max_fail_percentage: exceeding it stops the play for every host', async () => {
    const hosts = ['a', 'b', 'c', 'd'].map((n) => mkHost(n))
    const bad = { readError: (ctx: any) => (ctx.host.name === 'a' ? new Error('x') : undefined) }
    const h = harness(hosts)
    const s = await h.run({ plays: [playbook({ name: 'p', hosts: 'all', max_fail_percentage: 20, tasks: [fake(h.log, 't1', bad), fake(h.log, 't2')] })] })
    expect(h.log.of('b:t2')).toEqual([])
    expect(s.plays[0].aborted).toMatch(/max_fail_percentage/)
    expect(s.exitCode).toBe(EXIT.FAILED_HOSTS)

    const h2 = harness(hosts)
    const s2 = await h2.run({ plays: [playbook({ name: 'p', hosts: 'all', max_fail_percentage: 25, tasks: [fake(h2.log, 't1', bad), fake(h2.log, 't2')] })] })
    expect(h2.log.of('b:t2:read')).toHaveLength(1) // 25% is not more than 25%
    expect(s2.plays[0].aborted).toBeUndefined()
  })

  it('max_fail_percentage is per batch, and a batch where every host failed stops the play', async () => {
    const hosts = ['a', 'b', 'c', 'd'].map((n) => mkHost(n))
    const h = harness(hosts)
    const s = await h.run({
      plays: [
        playbook({ name: 'p', hosts: 'all', serial: 2, tasks: [fake(h.log, 't1', { readError: (ctx) => (['a', 'b'].includes(ctx.host.name) ? new Error('x') : undefined) })] }),
        playbook({ name: 'p2', hosts: 'all', tasks: [fake(h.log, 't2')] }),
      ],
    })
    expect(h.log.of('c:')).toEqual([])
    expect(s.plays[0].aborted).toMatch(/every host of the batch failed/)
    expect(s.plays).toHaveLength(1)
  })

  it('ignore_errors: the host goes on, counted as ok + ignored, exit 0', async () => {
    const h = harness([mkHost('a')])
    const s = await h.run({
      plays: [playbook({ name: 'p', hosts: 'all', tasks: [fake(h.log, 't1', { readError: new Error('x') }).with({ ignore_errors: true }), fake(h.log, 't2')] })],
    })
    expect(h.log.of('a:t2:read')).toHaveLength(1)
    expect(s.stats.a).toMatchObject({ ok: 2, failed: 0, ignored: 1 })
    expect(s.plays[0].tasks[0].hosts.a).toMatchObject({ status: 'failed', ignored: true })
    expect(s.exitCode).toBe(0)
  })
})

describe('handlers', () => {
  it('run once at the end, in definition order, only where notified by a changed task', async () => {
    const h = harness([mkHost('a'), mkHost('b')])
    const changesOnA = (ctx: any) => (ctx.host.name === 'a' ? CHANGE : [])
    const s = await h.run({
      plays: [
        playbook({
          name: 'p',
          hosts: 'all',
          tasks: [
            fake(h.log, 't1', { changes: changesOnA }).with({ notify: ['second', 'first'] }),
            fake(h.log, 't2', { changes: changesOnA }).with({ notify: 'second' }),
            fake(h.log, 't3').with({ notify: 'unused' }),
          ],
          handlers: { first: fake(h.log, 'first'), second: fake(h.log, 'second'), unused: fake(h.log, 'unused') },
        }),
      ],
    })
    expect(h.log.of('a:first:read')).toHaveLength(1)
    expect(h.log.of('a:second:read')).toHaveLength(1)
    expect(h.log.index('a:first:read')).toBeLessThan(h.log.index('a:second:read'))
    expect(h.log.index('a:t3:read')).toBeLessThan(h.log.index('a:first:read'))
    expect(h.log.of('b:first')).toEqual([])
    expect(h.log.of('a:unused')).toEqual([])
    const handlerEntries = s.plays[0].tasks.filter((t) => t.handler).map((t) => t.name)
    expect(handlerEntries).toEqual(['first', 'second'])
  })

  it('do not run on a host that failed after notifying', async () => {
    const h = harness([mkHost('a')])
    await h.run({
      plays: [
        playbook({
          name: 'p',
          hosts: 'all',
          tasks: [fake(h.log, 't1', { changes: CHANGE }).with({ notify: 'hd' }), fake(h.log, 't2', { readError: new Error('x') })],
          handlers: { hd: fake(h.log, 'hd') },
        }),
      ],
    })
    expect(h.log.of('a:hd')).toEqual([])
  })

  it('a handler may be a list of tasks; free strategy runs handlers per host too', async () => {
    const h = harness([mkHost('a')])
    const s = await h.run({
      plays: [
        playbook({
          name: 'p',
          hosts: 'all',
          strategy: 'free',
          tasks: [fake(h.log, 't1', { changes: CHANGE }).with({ notify: 'hd' })],
          handlers: { hd: [fake(h.log, 'h1'), fake(h.log, 'h2')] },
        }),
      ],
    })
    expect(h.log.index('a:h1:read')).toBeLessThan(h.log.index('a:h2:read'))
    expect(s.plays[0].tasks.filter((t) => t.handler).map((t) => t.name)).toEqual(['hd: h1', 'hd: h2'])
  })

  it('notifying a handler that does not exist is a playbook error before any host is touched', async () => {
    const h = harness([mkHost('a')])
    await expect(h.run({ plays: [playbook({ name: 'p', hosts: 'all', tasks: [fake(h.log, 't1').with({ notify: 'nope' })] })] })).rejects.toThrow(PlaybookError)
    expect(h.connects).toEqual([])
  })
})

describe('conditions and retries', () => {
  it('when skips; register makes results available to later when/changed_when', async () => {
    const h = harness([mkHost('a', { role: 'x' }), mkHost('b', { role: 'y' })])
    const s = await h.run({
      plays: [
        playbook({
          name: 'p',
          hosts: 'all',
          tasks: [
            fake(h.log, 'probe', { changes: CHANGE, outcome: (ctx) => ({ stdout: ctx.host.name === 'a' ? 'yes' : 'no', changed: false }) }).with({ register: 'probe' }),
            fake(h.log, 'onlyYes').with({ when: (ctx) => ctx.registered.probe.stdout === 'yes' }),
            fake(h.log, 'onlyX').with({ when: (ctx) => ctx.vars.role === 'x' }),
          ],
        }),
      ],
    })
    expect(h.log.of('a:onlyYes:read')).toHaveLength(1)
    expect(h.log.of('b:onlyYes')).toEqual([])
    expect(h.log.of('b:onlyX')).toEqual([])
    expect(s.plays[0].tasks[1].hosts.b).toMatchObject({ status: 'skipped', skipped: true })
    expect(s.stats.b).toMatchObject({ ok: 1, skipped: 2 })
    expect(s.plays[0].tasks[0].hosts.a).toMatchObject({ status: 'ok', changed: false })
  })

  it('a when that throws fails the task', async () => {
    const h = harness([mkHost('a')])
    const s = await h.run({
      plays: [playbook({ name: 'p', hosts: 'all', tasks: [fake(h.log, 't').with({ when: (ctx) => (ctx.registered as any).nope.stdout === 'x' })] })],
    })
    expect(s.plays[0].tasks[0].hosts.a.status).toBe('failed')
    expect(s.plays[0].tasks[0].hosts.a.msg).toMatch(/^when:/)
  })

  it('until retries with delay until the condition holds', async () => {
    const h = harness([mkHost('a')])
    const sleeps: number[] = []
    const s = await h.run({
      sleep: async (ms) => void sleeps.push(ms),
      plays: [
        playbook({
          name: 'p',
          hosts: 'all',
          tasks: [
            fake(h.log, 'wait', { changes: CHANGE, outcome: (_ctx, n) => ({ stdout: String(n) }) }).with({
              register: 'w',
              until: (r) => r.stdout === '3',
              retries: 5,
              delay: 2,
              changed_when: () => false,
            }),
          ],
        }),
      ],
    })
    const r = s.plays[0].tasks[0].hosts.a
    expect(r).toMatchObject({ status: 'ok', attempts: 3, stdout: '3' })
    expect(sleeps).toEqual([2000, 2000])
  })

  it('until that never holds fails after retries+1 attempts', async () => {
    const h = harness([mkHost('a')])
    const s = await h.run({
      plays: [playbook({ name: 'p', hosts: 'all', tasks: [fake(h.log, 'wait').with({ until: () => false, retries: 2, delay: 0 })] })],
    })
    expect(s.plays[0].tasks[0].hosts.a).toMatchObject({ status: 'failed', attempts: 3 })
    expect(s.plays[0].tasks[0].hosts.a.msg).toMatch(/retries exhausted/)
    expect(h.log.of('a:wait:read')).toHaveLength(3)
  })

  it('retries without until retries while the task fails', async () => {
    const h = harness([mkHost('a')])
    const s = await h.run({
      plays: [
        playbook({
          name: 'p',
          hosts: 'all',
          tasks: [fake(h.log, 'flaky', { changes: CHANGE, outcome: (_c, n) => ({ failed: n < 2 }) }).with({ retries: 3 })],
        }),
      ],
    })
    expect(s.plays[0].tasks[0].hosts.a).toMatchObject({ status: 'changed', attempts: 2 })
  })

  it('changed_when and failed_when rewrite the result', async () => {
    const h = harness([mkHost('a')])
    const s = await h.run({
      plays: [
        playbook({
          name: 'p',
          hosts: 'all',
          tasks: [
            fake(h.log, 'c1', { changes: CHANGE, outcome: { stdout: 'nothing to do' } }).with({ changed_when: (r) => !r.stdout!.includes('nothing') }),
            fake(h.log, 'c2', { changes: CHANGE, outcome: { rc: 1, failed: true, stdout: 'exists' } }).with({ failed_when: (r) => r.rc !== 0 && !r.stdout!.includes('exists') }),
            fake(h.log, 'c3', { outcome: {} }).with({ changed_when: () => true }),
            fake(h.log, 'c4', { changes: CHANGE, outcome: { stdout: 'ERROR' } }).with({ failed_when: (r) => r.stdout === 'ERROR' }),
          ],
        }),
      ],
    })
    const t = s.plays[0].tasks.map((x) => x.hosts.a)
    expect(t[0]).toMatchObject({ status: 'ok', changed: false })
    expect(t[1]).toMatchObject({ status: 'changed', failed: false })
    expect(t[2]).toMatchObject({ status: 'changed', changed: true })
    expect(t[3]).toMatchObject({ status: 'failed', failed: true })
    expect(s.stats.a).toMatchObject({ ok: 3, changed: 2, failed: 1 })
  })

  it('timeout and become reach the connection', async () => {
    const h = harness([mkHost('a')])
    await h.run({
      plays: [playbook({ name: 'p', hosts: 'all', become: true, tasks: [fake(h.log, 't', { probe: true }).with({ timeout: 3 }), fake(h.log, 'u', { probe: true }).with({ become: false })] })],
    })
    const runs = h.conns.get('a')!.runs
    expect(runs[0].opts?.become).toBe(true)
    expect(runs[0].opts?.timeoutMs).toBeGreaterThan(2500)
    expect(runs[0].opts?.timeoutMs).toBeLessThanOrEqual(3000)
    expect(runs[1].opts).toEqual({ become: false })
  })
})

describe('check mode and the journal', () => {
  it('check mode reports changes and never calls apply or the journal', async () => {
    const h = harness([mkHost('a')])
    const s = await h.run({
      check: true,
      plays: [
        playbook({
          name: 'p',
          hosts: 'all',
          tasks: [fake(h.log, 't1', { changes: CHANGE, undo: { description: 'u', script: 'true' } }), fake(h.log, 'cmd', { changes: CHANGE, checkMode: 'skip' })],
        }),
      ],
    })
    expect(h.log.of('a:t1:apply')).toEqual([])
    expect(h.log.of('a:cmd:apply')).toEqual([])
    expect(h.journal.entries).toEqual([])
    expect(s.plays[0].tasks[0].hosts.a).toMatchObject({ status: 'changed', changes: CHANGE })
    expect(s.plays[0].tasks[1].hosts.a).toMatchObject({ status: 'skipped' })
    expect(s.check).toBe(true)
  })

  it('check_mode: false runs the task for real under --check', async () => {
    const h = harness([mkHost('a')])
    await h.run({ check: true, plays: [playbook({ name: 'p', hosts: 'all', tasks: [fake(h.log, 't1', { changes: CHANGE }).with({ check_mode: false })] })] })
    expect(h.log.of('a:t1:apply')).toHaveLength(1)
  })

  it('the undo is journalled before apply, only for tasks that change something', async () => {
    const h = harness([mkHost('a')])
    const undo = { description: 'restore x', script: 'echo restore' }
    await h.run({
      plays: [
        playbook({
          name: 'p',
          hosts: 'all',
          tasks: [fake(h.log, 'same', { undo }), fake(h.log, 'chg', { changes: CHANGE, undo }), fake(h.log, 'noundo', { changes: CHANGE, undo: null })],
        }),
      ],
    })
    expect(h.log.of('a:chg')).toEqual(['a:chg:read', 'a:chg:done', 'a:chg:journal', 'a:chg:apply'])
    expect(h.journal.entries).toEqual([{ host: 'a', undo, meta: { module: 'fake', task: 'chg' } }])
  })

  it('a journal that cannot write fails the task without applying', async () => {
    const h = harness([mkHost('a')])
    h.journal.record = async () => {
      throw new Error('disk full')
    }
    const s = await h.run({ plays: [playbook({ name: 'p', hosts: 'all', tasks: [fake(h.log, 'chg', { changes: CHANGE, undo: { description: 'u', script: 'x' } })] })] })
    expect(h.log.of('a:chg:apply')).toEqual([])
    expect(s.plays[0].tasks[0].hosts.a).toMatchObject({ status: 'failed', msg: 'disk full' })
  })
})

describe('validation before any host is touched', () => {
  it('an ArgError from any host aborts the run before connecting, naming host and variable', async () => {
    const hosts = [mkHost('a', { subnet: '10.0.0.0/24' }), mkHost('b')]
    const h = harness(hosts)
    const p = playbook({
      name: 'p',
      hosts: 'all',
      tasks: ({ need }) => [fake(h.log, `route ${need<string>('subnet', (v) => typeof v === 'string', 'a CIDR like 10.1.0.0/24')}`)],
    })
    const err = await h.run({ plays: [p] }).catch((e) => e)
    expect(err).toBeInstanceOf(ArgError)
    expect(err.message).toBe('b: subnet: expected a CIDR like 10.1.0.0/24, got undefined')
    expect(h.connects).toEqual([])
    expect(h.log.events).toEqual([])
  })

  it("a resource's validate() runs for every host first", async () => {
    const hosts = [mkHost('a'), mkHost('b')]
    const h = harness(hosts)
    const validate = (host: { name: string }) => {
      if (host.name === 'b') throw new ArgError('sysctl.name', 'a sysctl name', 'bad name;')
    }
    const err = await h.run({ plays: [playbook({ name: 'p', hosts: 'all', tasks: [fake(h.log, 'ok'), fake(h.log, 'bad', { validate })] })] }).catch((e) => e)
    expect(err).toBeInstanceOf(ArgError)
    expect(err.message).toBe('b: sysctl.name: expected a sysctl name, got "bad name;"')
    expect(h.connects).toEqual([])
  })

  it('a later play is validated before the first one runs', async () => {
    const h = harness([mkHost('a')])
    const err = await h
      .run({
        plays: [
          playbook({ name: 'p1', hosts: 'all', tasks: [fake(h.log, 't')] }),
          playbook({ name: 'p2', hosts: 'all', tasks: [{ not: 'a task' } as any] }),
        ],
      })
      .catch((e) => e)
    expect(err).toBeInstanceOf(PlaybookError)
    expect(err.message).toMatch(/play 2 \("p2"\): task 1 for host a is not a task/)
    expect(h.connects).toEqual([])
  })

  it('rejects bad play options', () => {
    const base = { resolveHosts: () => [mkHost('a')], connect: async () => { throw new Error('no') } }
    const log = new Log()
    expect(() => planRun({ ...base, plays: [playbook({ name: 'p', hosts: 'all', serial: 'lots', tasks: [] })] })).toThrow(/serial/)
    expect(() => planRun({ ...base, plays: [playbook({ name: 'p', hosts: 'all', max_fail_percentage: 120, tasks: [] })] })).toThrow(/max_fail_percentage/)
    expect(() => planRun({ ...base, plays: [playbook({ name: 'p', hosts: 'all', tasks: [fake(log, 't').with({ retries: -1 })] })] })).toThrow(/retries/)
    expect(() => planRun({ ...base, plays: [playbook({ name: 'p', hosts: 'all', tasks: [fake(log, 't').with({ when: true as any })] })] })).toThrow(/when must be a function/)
  })

  it('vars precedence: defaults < host vars < play vars < extra vars; peers see each other', async () => {
    const hosts = [mkHost('a', { x: 'host', y: 'host', ansible_host: '10.0.0.1' }), mkHost('b', { x: 'host-b' })]
    const seen: Record<string, unknown> = {}
    const h = harness(hosts)
    await h.run({
      extraVars: { z: 'extra' },
      plays: [
        playbook({
          name: 'p',
          hosts: 'all',
          defaults: { x: 'default', w: 'default' },
          vars: { y: 'play', z: 'play' },
          tasks: ({ host, vars, peers }) => {
            seen[host.name] = { vars: { w: vars.w, x: vars.x, y: vars.y, z: vars.z }, peers: peers.map((p) => `${p.name}@${p.address}`) }
            return []
          },
        }),
      ],
    })
    expect(seen.a).toEqual({ vars: { w: 'default', x: 'host', y: 'play', z: 'extra' }, peers: ['b@b'] })
    expect(seen.b).toEqual({ vars: { w: 'default', x: 'host-b', y: 'play', z: 'extra' }, peers: ['a@10.0.0.1'] })
  })

  it('--limit restricts where tasks run, not who the peers are', async () => {
    const all = [mkHost('a', { subnet: '10.1.1.0/24' }), mkHost('b', { subnet: '10.1.2.0/24' }), mkHost('c', { subnet: '10.1.3.0/24' })]
    const h = harness(all)
    const seen: Record<string, unknown> = {}
    const s = await h.run({
      resolveHosts: () => [all[1]],
      resolveAllHosts: () => all,
      plays: [
        playbook({
          name: 'p',
          hosts: 'all',
          tasks: ({ host, peers, targets, hosts }) => {
            seen[host.name] = { peers: peers.map((p) => p.vars.subnet), targets: targets.map((t) => t.name), hosts: hosts.length }
            return [fake(h.log, 't')]
          },
        }),
      ],
    })
    expect(seen).toEqual({ b: { peers: ['10.1.1.0/24', '10.1.3.0/24'], targets: ['b'], hosts: 3 } })
    expect(h.connects).toEqual(['b'])
    expect(s.plays[0].hosts).toEqual(['b'])
  })
})

describe('interrupt', () => {
  it('after an abort no new task starts, the running one finishes, exit 99', async () => {
    const h = harness([mkHost('a'), mkHost('b')])
    const ac = new AbortController()
    const slow = fake(h.log, 't1', { delay: 20 })
    const orig = slow.resource.read
    slow.resource.read = async (ctx) => {
      if (ctx.host.name === 'a') ac.abort()
      return orig(ctx)
    }
    const s = await h.run({ signal: ac.signal, plays: [playbook({ name: 'p', hosts: 'all', tasks: [slow, fake(h.log, 't2')] })] })
    expect(h.log.of('a:t1:done')).toHaveLength(1)
    expect(h.log.of('b:t1:done')).toHaveLength(1)
    expect(h.log.events.filter((e) => e.includes(':t2:'))).toEqual([])
    expect(s.interrupted).toBe(true)
    expect(s.exitCode).toBe(EXIT.INTERRUPTED)
  })
})

describe('performance', () => {
  it('a no-change task costs one round trip and no journal', async () => {
    const hosts = Array.from({ length: 20 }, (_, i) => mkHost(`h${i}`))
    const h = harness(hosts)
    const tasks = Array.from({ length: 10 }, (_, i) => fake(h.log, `t${i}`, { probe: true, undo: { description: 'u', script: 'x' } }))
    const t0 = performance.now()
    const s = await h.run({ plays: [playbook({ name: 'p', hosts: 'all', tasks })] })
    const ms = performance.now() - t0
    expect(s.stats.h0.ok).toBe(10)
    for (const c of h.conns.values()) expect(c.runs).toHaveLength(10)
    expect(h.journal.entries).toHaveLength(0)
    expect(ms).toBeLessThan(500)
  })
})

describe('beforeChange (the transaction snapshots a host before its first change)', () => {
  it('is called before the first apply of a host that changes, never for unchanged hosts or in check mode', async () => {
    const h = harness(hosts3)
    const before = (host: { name: string }) => {
      h.log.push(`${host.name}:before`)
      return Promise.resolve()
    }
    const changes = (ctx: { host: { name: string } }) => (ctx.host.name === 'c' ? [] : CHANGE)
    const tasks = [fake(h.log, 't1', { changes: (ctx) => (ctx.host.name === 'a' ? CHANGE : []) }), fake(h.log, 't2', { changes })]
    await h.run({ plays: [playbook({ name: 'p', hosts: 'all', tasks })], transaction: fakeTx({ beforeChange: before }) })
    // a: before t1's apply; b: only before t2's apply (t1 changed nothing there); c: never.
    expect(h.log.index('a:before')).toBeLessThan(h.log.index('a:t1:apply'))
    expect(h.log.index('a:before')).toBeGreaterThan(h.log.index('a:t1:done'))
    expect(h.log.index('b:before')).toBeGreaterThan(h.log.index('b:t2:done'))
    expect(h.log.index('b:before')).toBeLessThan(h.log.index('b:t2:apply'))
    expect(h.log.of('c:before')).toEqual([])
    const check = harness(hosts3)
    await check.run({ plays: [playbook({ name: 'p', hosts: 'all', tasks: [fake(check.log, 't1', { changes: CHANGE })] })], check: true, transaction: fakeTx({ beforeChange: async (host) => void check.log.push(`${host.name}:before`) }) })
    expect(check.log.events.filter((e) => e.endsWith(':before'))).toEqual([])
  })
})
