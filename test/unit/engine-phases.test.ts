/**
 * The engine's phases (gather on every host → one plan over all hosts' facts → apply) and its
 * transaction object, which is always ended: fake connections, no host.
 */
import { describe, expect, it } from 'vitest'
import { Barrier, gatherTask } from '../../src/engine/phases.ts'
import { playbook, task, TaskFailed, type Task } from '../../src/engine/types.ts'
import type { PlannedPlay } from '../../src/engine/runner.ts'
import type { RunSummary } from '../../src/engine/results.ts'
import { EXIT } from '../../src/errors.ts'
import { CHANGE, fake, fakeTx, harness, mkHost, Log } from './engine-helpers.ts'

const hosts3 = [mkHost('a'), mkHost('b'), mkHost('c')]

/** Each host reports a number; the plan gives each host the sum of all of them plus its own. */
function sumBarrier(log: Log) {
  const b = new Barrier<number, Map<string, number>>('sum', (facts) => {
    log.push('plan')
    const total = [...facts.values()].reduce((x, y) => x + y, 0)
    return new Map([...facts].map(([h, n]) => [h, total + n]))
  })
  const gather = (n: Record<string, number>, fail?: string) =>
    gatherTask<number>({
      module: 'survey',
      name: 'survey',
      barrier: b,
      async read(ctx) {
        log.push(`${ctx.host.name}:survey`)
        if (ctx.host.name === fail) throw new TaskFailed('cannot read')
        await ctx.run('survey')
        return n[ctx.host.name]
      },
    })
  /** Uses the plan: records what it got; changes the host. */
  const use: Task = task({
    module: 'use',
    name: 'use',
    async read(ctx) {
      log.push(`${ctx.host.name}:use=${b.value().get(ctx.host.name)}`)
      return null
    },
    diff: () => CHANGE,
    async apply() {},
  })
  return { b, gather, use }
}

describe('gather phase and barrier', () => {
  const settings: Array<[string, { strategy?: 'free' | 'linear'; forks: number; serial?: number }]> = [
    ['free -f 2', { strategy: 'free', forks: 2 }],
    ['free -f 1', { strategy: 'free', forks: 1 }],
    ['linear -f 1', { strategy: 'linear', forks: 1 }],
    ['serial 1, free -f 2', { strategy: 'free', forks: 2, serial: 1 }],
    ['serial 2, linear', { strategy: 'linear', forks: 20, serial: 2 }],
  ]
  for (const [label, o] of settings) {
    it(`${label}: every host gathers once before any host applies; the plan runs once over all three`, async () => {
      const h = harness(hosts3)
      const { b, gather, use } = sumBarrier(h.log)
      const s = await h.run({
        forks: o.forks,
        strategy: o.strategy,
        plays: [playbook({ name: 'p', hosts: 'all', serial: o.serial, tasks: [gather({ a: 1, b: 2, c: 3 }), use, fake(h.log, 'after')] })],
      })
      expect(s.exitCode).toBe(EXIT.OK)
      expect(h.log.of('plan')).toHaveLength(1)
      expect(b.planned).toBe(1)
      for (const x of ['a', 'b', 'c']) expect(h.log.of(`${x}:survey`)).toHaveLength(1)
      const lastSurvey = Math.max(...['a', 'b', 'c'].map((x) => h.log.index(`${x}:survey`)))
      expect(lastSurvey).toBeLessThan(h.log.index('plan'))
      expect(h.log.index('plan')).toBeLessThan(Math.min(...['a', 'b', 'c'].map((x) => h.log.events.findIndex((e) => e.startsWith(`${x}:use=`)))))
      expect(h.log.of('a:use=')).toEqual(['a:use=7'])
      expect(h.log.of('c:use=')).toEqual(['c:use=9'])
      expect(s.plays[0].barriers).toEqual([{ name: 'sum', hosts: ['a', 'b', 'c'].filter((x) => b.facts.has(x)), planned: 1 }])
      expect(s.plays[0].barriers![0].hosts.sort()).toEqual(['a', 'b', 'c'])
      // The gather task is reported as the play's first task, once per host.
      expect(s.plays[0].tasks[0]).toMatchObject({ name: 'survey', index: 0 })
      expect(Object.keys(s.plays[0].tasks[0].hosts).sort()).toEqual(['a', 'b', 'c'])
      expect(s.stats.a).toMatchObject({ ok: 3, changed: 1 }) // ok counts the changed one too, as Ansible's
    })
  }

  it('check mode gathers and plans the same (what --check shows comes from the plan)', async () => {
    const h = harness(hosts3)
    const { gather, use } = sumBarrier(h.log)
    const s = await h.run({ check: true, plays: [playbook({ name: 'p', hosts: 'all', strategy: 'free', tasks: [gather({ a: 1, b: 1, c: 1 }), use] })], forks: 2 })
    expect(s.exitCode).toBe(EXIT.OK)
    expect(h.log.of('plan')).toHaveLength(1)
    expect(h.log.of('b:use=')).toEqual(['b:use=4'])
    expect(s.stats.b).toMatchObject({ changed: 1 })
  })

  it('a host whose gather fails: the plan is not made, every other host fails naming it, nothing applies', async () => {
    const h = harness(hosts3)
    const { gather, use } = sumBarrier(h.log)
    const s = await h.run({ plays: [playbook({ name: 'p', hosts: 'all', strategy: 'free', tasks: [gather({ a: 1, b: 1, c: 1 }, 'b'), use] })], forks: 2 })
    expect(h.log.of('plan')).toEqual([])
    expect(s.exitCode).toBe(EXIT.FAILED_HOSTS)
    expect(s.plays[0].tasks[0].hosts.b.msg).toBe('cannot read')
    expect(s.plays[0].tasks[1].hosts.a).toMatchObject({ status: 'failed', msg: 'the sum failed on b' })
    expect(h.log.events.filter((e) => e.includes(':use='))).toEqual([])
  })

  it('max_fail_percentage 0: a failed gather stops the play before the apply phase', async () => {
    const h = harness(hosts3)
    const { gather, use } = sumBarrier(h.log)
    const s = await h.run({ plays: [playbook({ name: 'p', hosts: 'all', max_fail_percentage: 0, tasks: [gather({ a: 1, b: 1, c: 1 }, 'c'), use] })] })
    expect(s.plays[0].aborted).toMatch(/max_fail_percentage exceeded: 1 of 3/)
    expect(s.plays[0].tasks).toHaveLength(1)
  })

  it('an unreachable host: reported unreachable, the barrier names it as missing', async () => {
    const h = harness(hosts3, { unreachable: ['c'] })
    const { gather, use } = sumBarrier(h.log)
    const s = await h.run({ plays: [playbook({ name: 'p', hosts: 'all', tasks: [gather({ a: 1, b: 1, c: 1 }), use] })] })
    expect(s.stats.c.unreachable).toBe(1)
    expect(s.plays[0].tasks[1].hosts.a.msg).toBe('the sum did not report from c')
  })

  it('a plan that throws fails the tasks that ask for it', async () => {
    const h = harness(hosts3)
    const b = new Barrier<number, number>('alloc', () => {
      throw new TaskFailed('no room')
    })
    const g = gatherTask<number>({ module: 'g', name: 'g', barrier: b, read: async () => 1 })
    const ask = task({ module: 'ask', name: 'ask', read: async () => b.value(), diff: () => [], apply: async () => {} })
    const s = await h.run({ plays: [playbook({ name: 'p', hosts: 'all', tasks: [g, ask] })] })
    expect(s.plays[0].tasks[1].hosts.b).toMatchObject({ status: 'failed', msg: 'no room' })
  })
})

describe('the transaction object is always ended', () => {
  const recorder = () => {
    const calls: string[] = []
    let ended: RunSummary | undefined
    const tx = fakeTx({
      begin: async (hs) => void calls.push(`begin ${hs.map((x) => x.name).join(',')}`),
      end: async (s: RunSummary, plans: PlannedPlay[]) => {
        calls.push(`end ${plans.length}`)
        ended = s
      },
    })
    return { calls, tx, ended: () => ended }
  }

  it('after the last task', async () => {
    const h = harness(hosts3)
    const r = recorder()
    await h.run({ transaction: r.tx, plays: [playbook({ name: 'p', hosts: 'all', tasks: [fake(h.log, 't1')] })] })
    expect(r.calls).toEqual(['begin a,b,c', 'end 1'])
    expect(r.ended()!.error).toBeUndefined()
  })

  it('when something throws in the middle of the run: end sees the error, the run rethrows it after', async () => {
    const h = harness(hosts3)
    const r = recorder()
    const events = {
      hostTaskResult: (x: { host: string; task: string }) => {
        if (x.host === 'b' && x.task === 't2') throw new Error('reporter broke')
      },
    }
    await expect(
      h.run({ transaction: r.tx, events, plays: [playbook({ name: 'p', hosts: 'all', tasks: [fake(h.log, 't1', { changes: CHANGE }), fake(h.log, 't2'), fake(h.log, 't3')] })] }),
    ).rejects.toThrow('reporter broke')
    expect(r.calls).toEqual(['begin a,b,c', 'end 1'])
    expect(r.ended()).toMatchObject({ error: 'reporter broke', exitCode: EXIT.FAILED_HOSTS })
    expect(h.log.of('a:t3')).toEqual([])
  })

  it('on a signal (interrupted) and on a lost host', async () => {
    const ac = new AbortController()
    const h = harness(hosts3, { unreachable: ['c'] })
    const r = recorder()
    const stop = task({ module: 'stop', name: 'stop', read: async () => void ac.abort(), diff: () => [], apply: async () => {} })
    await h.run({ transaction: r.tx, signal: ac.signal, plays: [playbook({ name: 'p', hosts: 'all', tasks: [stop, fake(h.log, 'never')] })] })
    expect(r.calls).toEqual(['begin a,b,c', 'end 1'])
    expect(r.ended()).toMatchObject({ interrupted: true })
    expect(r.ended()!.stats.c.unreachable).toBe(1)
    expect(h.log.of('a:never')).toEqual([])
  })

  it('a begin that refuses: nothing runs and there is nothing to end', async () => {
    const h = harness(hosts3)
    const r = recorder()
    const tx = { ...r.tx, begin: async () => Promise.reject(new Error('held by another run')) }
    await expect(h.run({ transaction: tx, plays: [playbook({ name: 'p', hosts: 'all', tasks: [fake(h.log, 't1')] })] })).rejects.toThrow('held')
    expect(r.calls).toEqual([])
    expect(h.log.events).toEqual([])
  })
})
