import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { route } from '../../src/tasks/route.ts'
import type { Connection } from '../../src/transport/types.ts'
import { sshTo } from '../helpers/conn.ts'
import { labSkipReason, on, withLab } from '../helpers/lab.ts'
import { snapshot } from '../helpers/snapshot.ts'
import { expectRefused, runTask, undoAll, runtimeChanges } from '../helpers/task.ts'

interface R {
  dst: string
  gateway?: string
  dev?: string
  protocol?: string
  scope?: string
  prefsrc?: string
  metric?: number
  flags?: string[]
  metrics?: unknown
  type?: string
}

describe.skipIf(labSkipReason)('route task (lab)', () => {
  const lab = withLab({ hosts: 2 })
  const A = () => lab().hosts[0]
  const B = () => lab().hosts[1]
  // Tasks run over SSH, as orch runs them; assertions read the host directly (lab.exec).
  let ssh: Connection
  beforeAll(async () => {
    ssh = await sshTo(lab(), A())
  })
  afterAll(async () => {
    await ssh?.close()
  })
  const connA = () => ssh
  const onA = (script: string) => on(lab(), A(), script)
  /** What the kernel holds: `ip -d -j route show table T`. */
  const table = async (t: number | string = 'main'): Promise<R[]> => {
    const r = await lab().exec(A(), `ip -d -j -4 route show table ${t}`)
    return r.code === 0 && r.stdout.trim() !== '[' ? (JSON.parse(r.stdout) as R[]) : []
  }
  const find = (rs: R[], dst: string, metric = 0) => rs.filter((r) => r.dst === dst && (r.metric ?? 0) === metric)
  /** Real packets: A pings an address that only B holds (on its loopback). */
  const pingFromA = async (ip: string) => (await lab().exec(A(), `ping -c1 -W1 ${ip}`)).code === 0

  it('refuses bad arguments, naming the variable, before touching a host', () => {
    const bad: Array<[Parameters<typeof route>[0], string]> = [
      [{ to: '10.0.0.0/33', via: '198.18.0.2' }, 'route.to'],
      [{ to: '10.1.0.5/24', via: '198.18.0.2' }, 'route.to'],
      [{ to: 'default;reboot', via: '198.18.0.2' }, 'route.to'],
      [{ to: '10.1.0.0/24', via: '198.18.0.300' }, 'route.via'],
      [{ to: '10.1.0.0/24', dev: 'eth0;reboot' }, 'route.dev'],
      [{ to: '10.1.0.0/24', via: '198.18.0.2', metric: -1 }, 'route.metric'],
      [{ to: '10.1.0.0/24', via: '198.18.0.2', table: 255 }, 'route.table'],
      [{ to: '10.1.0.0/24' }, 'route.via'],
      [{ to: '10.1.0.0/24', via: '198.18.0.2', state: 'gone' as 'absent' }, 'route.state'],
    ]
    for (const [args, variable] of bad) expectRefused(route(args), variable, JSON.stringify(args))
  })

  it('check mode lists the change and leaves the host as it was', async () => {
    const before = await snapshot(connA())
    const r = await runTask(route({ to: '10.50.0.0/24', via: B().address }), connA(), { check: true })
    expect(r.changed).toBe(true)
    expect(runtimeChanges(r.changes)).toEqual([expect.objectContaining({ what: `add route 10.50.0.0/24 via ${B().address}` })])
    expect(await snapshot(connA())).toEqual(before)
  })

  it('adds a route (packets really go through B), changes nothing the second time, undo removes it', async () => {
    await lab().exec(B(), 'ip addr add 10.50.0.1/32 dev lo')
    try {
      const before = await snapshot(connA())
      expect(await pingFromA('10.50.0.1')).toBe(false)
      const t = route({ to: '10.50.0.0/24', via: B().address })
      const r1 = await runTask(t, connA())
      expect(r1.changed).toBe(true)
      expect(find(await table(), '10.50.0.0/24')).toEqual([
        expect.objectContaining({ gateway: B().address, dev: 'eth0', protocol: 'static', scope: 'global' }),
      ])
      expect(await pingFromA('10.50.0.1')).toBe(true)
      const r2 = await runTask(route({ to: '10.50.0.0/24', via: B().address }), connA())
      expect(r2.changed).toBe(false)
      expect(r2.changes).toEqual([])
      await undoAll(connA(), [r1.undo])
      expect(await snapshot(connA())).toEqual(before)
      expect(await pingFromA('10.50.0.1')).toBe(false)
    } finally {
      await lab().exec(B(), 'ip addr del 10.50.0.1/32 dev lo')
    }
  })

  it('replaces a route that points elsewhere, and undo restores it with all its attributes', async () => {
    // An existing route with attributes a plain re-add would lose: proto, src, onlink, mtu, advmss.
    await onA(`ip route add 10.51.0.0/24 via ${lab().gateway} dev eth0 proto dhcp src ${A().address} metric 7 onlink mtu 1400 advmss 1360`)
    try {
      const original = find(await table(), '10.51.0.0/24', 7)
      expect(original).toHaveLength(1)
      const before = await snapshot(connA())
      const r = await runTask(route({ to: '10.51.0.0/24', via: B().address, metric: 7 }), connA())
      expect(r.changes[0].what).toBe(`replace route 10.51.0.0/24 via ${B().address} metric 7`)
      const now = find(await table(), '10.51.0.0/24', 7)
      expect(now).toHaveLength(1) // replaced, not added next to it
      expect(now[0]).toMatchObject({ gateway: B().address, protocol: 'static', metric: 7 })
      expect(now[0].prefsrc).toBeUndefined()
      expect((await runTask(route({ to: '10.51.0.0/24', via: B().address, metric: 7 }), connA())).changed).toBe(false)
      await undoAll(connA(), [r.undo])
      expect(find(await table(), '10.51.0.0/24', 7)).toEqual(original)
      expect(await snapshot(connA())).toEqual(before)
    } finally {
      await onA('ip route del 10.51.0.0/24 metric 7')
    }
  })

  it('metric is part of the identity: another metric is another route; absent removes only that one', async () => {
    const before = await snapshot(connA())
    const r1 = await runTask(route({ to: '10.52.0.0/24', via: lab().gateway }), connA())
    const r2 = await runTask(route({ to: '10.52.0.0/24', via: B().address, metric: 100 }), connA())
    expect(r2.changes[0].what).toMatch(/^add route/)
    expect(find(await table(), '10.52.0.0/24', 0)[0].gateway).toBe(lab().gateway)
    expect(find(await table(), '10.52.0.0/24', 100)[0].gateway).toBe(B().address)
    const r3 = await runTask(route({ to: '10.52.0.0/24', metric: 100, state: 'absent' }), connA())
    expect(r3.changed).toBe(true)
    expect(find(await table(), '10.52.0.0/24', 100)).toEqual([])
    expect(find(await table(), '10.52.0.0/24', 0)).toHaveLength(1)
    expect((await runTask(route({ to: '10.52.0.0/24', metric: 100, state: 'absent' }), connA())).changed).toBe(false)
    await undoAll(connA(), [r1.undo, r2.undo, r3.undo])
    expect(await snapshot(connA())).toEqual(before)
  })

  it('absent removes a route and undo re-adds it exactly (proto, scope, src, metrics)', async () => {
    await onA(`ip route add 10.53.0.0/24 dev eth0 proto static scope link src ${A().address} metric 3 mtu 1300`)
    const original = find(await table(), '10.53.0.0/24', 3)
    const before = await snapshot(connA())
    const check = await runTask(route({ to: '10.53.0.0/24', metric: 3, state: 'absent' }), connA(), { check: true })
    expect(runtimeChanges(check.changes)).toHaveLength(1)
    expect(await snapshot(connA())).toEqual(before)
    const r = await runTask(route({ to: '10.53.0.0/24', metric: 3, state: 'absent' }), connA())
    expect(find(await table(), '10.53.0.0/24', 3)).toEqual([])
    await undoAll(connA(), [r.undo])
    expect(find(await table(), '10.53.0.0/24', 3)).toEqual(original)
    expect(await snapshot(connA())).toEqual(before)
    await onA('ip route del 10.53.0.0/24 metric 3')
  })

  it('replaces the default route and undo restores the original default route exactly', async () => {
    const original = find(await table(), 'default')
    expect(original).toEqual([expect.objectContaining({ gateway: lab().gateway, dev: 'eth0', protocol: 'boot' })])
    const before = await snapshot(connA())
    const t = route({ to: 'default', via: B().address, dev: 'eth0' })
    const r = await runTask(t, connA())
    expect(runtimeChanges(r.changes)).toEqual([expect.objectContaining({ what: `replace route default via ${B().address} dev eth0` })])
    expect(find(await table(), 'default')).toEqual([expect.objectContaining({ gateway: B().address, protocol: 'static' })])
    // The second controller address is reached only through the default route: it now goes via B,
    // which does not forward (ip_forward=0), so it is unreachable.
    expect((await lab().exec(A(), `ping -c1 -W1 ${lab().controllerIp2}`)).code).not.toBe(0)
    await undoAll(connA(), [r.undo])
    expect(find(await table(), 'default')).toEqual(original)
    expect(await snapshot(connA())).toEqual(before)
    expect((await lab().exec(A(), `ping -c1 -W2 ${lab().controllerIp2}`)).code).toBe(0)
  })

  it('routes in another table, by device', async () => {
    const before = await snapshot(connA())
    const r1 = await runTask(route({ to: '10.54.0.0/24', dev: 'eth0', table: 100 }), connA())
    expect(r1.changed).toBe(true)
    expect(find(await table(100), '10.54.0.0/24')).toEqual([expect.objectContaining({ dev: 'eth0', scope: 'link', protocol: 'static' })])
    expect(find(await table(), '10.54.0.0/24')).toEqual([])
    expect((await runTask(route({ to: '10.54.0.0/24', dev: 'eth0', table: 100 }), connA())).changed).toBe(false)
    // The same destination in main is another route.
    expect((await runTask(route({ to: '10.54.0.0/24', dev: 'eth0' }), connA(), { check: true })).changes[0].what).toMatch(/^add route/)
    await undoAll(connA(), [r1.undo])
    expect(await table(100)).toEqual([])
    expect(await snapshot(connA())).toEqual(before)
  })
})
