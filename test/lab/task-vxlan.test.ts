/**
 * Kernel VXLAN on real lab hosts, over the ssh2 transport: a VXLAN device per host bridged into a docker
 * network (MTU 1450, one subnet across hosts), containers on different hosts ping and send 1 MiB over
 * TCP. Real state from `ip -d -j link` and `bridge -j fdb`; second run = no change in one round trip;
 * check mode changes nothing; peers changed → only FDB entries; vni changed → recreated; undo → snapshot.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Connection } from '../../src/transport/types.ts'
import type { LabHost } from '../../src/lab/index.ts'
import { vxlan, type VxlanArgs } from '../../src/tasks/vxlan.ts'
import { counting, sshTo } from '../helpers/conn.ts'
import { containerTraffic, labSkipReason, on, withLab } from '../helpers/lab.ts'
import { expectRefused, runTask, undoAll, runtimeChanges } from '../helpers/task.ts'
import { snapshot as rawSnapshot } from '../helpers/snapshot.ts'

/**
 * `ip link` / `ip addr` / `ip route` list by ifindex: a device deleted and made again (recreate, undo)
 * gets a new one and moves in the list. The order is not configuration: sort before comparing. And the
 * kernel adds `ff00::/8 dev BRIDGE table local` (like the fe80 routes the helper already drops) the first
 * time a bridge gets carrier, i.e. once anything (a container, the VXLAN device) was plugged in: dropped.
 */
async function snapshot(conn: Connection): Promise<Record<string, unknown>> {
  const s = await rawSnapshot(conn)
  const byText = (x: unknown, y: unknown) => JSON.stringify(x).localeCompare(JSON.stringify(y))
  for (const k of ['links', 'addrs']) {
    const v = s[k]
    if (Array.isArray(v)) v.sort((x: { ifname?: string }, y: { ifname?: string }) => String(x.ifname).localeCompare(String(y.ifname)))
  }
  if (Array.isArray(s.routes)) {
    s.routes = (s.routes as Array<{ dst?: string; protocol?: string; table?: string }>)
      .filter((r) => !(r.dst === 'ff00::/8' && r.protocol === 'kernel' && r.table === 'local'))
      .sort(byText)
  }
  return s
}

describe('vxlan: arguments are refused before any host is touched', () => {
  const ok: VxlanArgs = { name: 'vx42', vni: 42, local: '198.18.0.1', peers: ['198.18.0.2'], bridge: 'vxbr0' }
  const refused = (over: Partial<VxlanArgs>, variable: string) => expectRefused(vxlan({ ...ok, ...over } as VxlanArgs), variable)
  it('refuses bad names, vni, ports, addresses, peers, MTU', () => {
    refused({ vni: 0 }, 'vxlan.vni')
    refused({ vni: 16777216 }, 'vxlan.vni')
    refused({ vni: 1.5 }, 'vxlan.vni')
    refused({ name: 'eth0;reboot' }, 'vxlan.name')
    refused({ name: 'vxlan-name-too-long' }, 'vxlan.name')
    refused({ bridge: 'br 0' }, 'vxlan.bridge')
    refused({ bridge: 'vx42' }, 'vxlan.bridge')
    refused({ dev: 'eth0 ' }, 'vxlan.dev')
    refused({ dstPort: 0 }, 'vxlan.dstPort')
    refused({ local: 'x;y' }, 'vxlan.local')
    refused({ local: '10.0.0.0/33' }, 'vxlan.local')
    refused({ peers: ['198.18.0.2', 'x;y'] }, 'vxlan.peers[1]')
    refused({ peers: ['198.18.0.2', '198.18.0.2'] }, 'vxlan.peers[1]')
    refused({ peers: ['2001:db8::2'] }, 'vxlan.peers[0]')
    refused({ peers: '198.18.0.2' as never }, 'vxlan.peers')
    refused({ mtu: 20 }, 'vxlan.mtu')
    refused({ learning: 'yes' as never }, 'vxlan.learning')
  })
})

describe.skipIf(labSkipReason)('vxlan on lab hosts, bridged into a docker network', () => {
  const lab = withLab({ hosts: 2, docker: true })
  let hosts: LabHost[]
  const conns: Connection[] = []
  const fresh: Array<Record<string, unknown>> = []
  const created: Array<Awaited<ReturnType<typeof runTask>>['undo']> = []

  const exec = (h: LabHost, script: string): Promise<string> => on(lab(), h, script)
  const json = async (h: LabHost, script: string) => JSON.parse(await exec(h, script))
  const both = <T>(fn: (h: LabHost, i: number) => Promise<T>): Promise<T[]> => Promise.all(hosts.map((h, i) => fn(h, i)))
  const peerOf = (i: number) => hosts[1 - i]
  const ctrIp = (i: number) => `10.77.0.${i + 11}`
  const task = (i: number, over: Partial<VxlanArgs> = {}) =>
    vxlan({ name: 'vx42', vni: 42, local: hosts[i].address, peers: hosts.map((h) => h.address), bridge: 'vxbr0', ...over })
  const link = async (h: LabHost) => (await json(h, 'ip -d -j link show dev vx42'))[0]
  const fdbPeers = async (h: LabHost) =>
    (await json(h, 'bridge -j fdb show dev vx42'))
      .filter((e: { mac: string; dst?: string }) => e.mac === '00:00:00:00:00:00' && e.dst)
      .map((e: { dst: string }) => e.dst)
      .sort()

  /** c1 on node1 to c2 on node2: ping, and 1 MiB over TCP arrives intact. */
  const traffic = () => containerTraffic(lab(), hosts[0], hosts[1], ctrIp(1))

  beforeAll(async () => {
    hosts = lab().hosts
    // One subnet on both hosts, distinct gateways; the bridge has a stable name and MTU 1450.
    await both((h, i) =>
      exec(
        h,
        `docker network create -d bridge --subnet 10.77.0.0/24 --gateway 10.77.0.${i + 1} ` +
          `-o com.docker.network.bridge.name=vxbr0 -o com.docker.network.driver.mtu=1450 vxnet >/dev/null`,
      ),
    )
    for (const h of hosts) conns.push(await sshTo(lab(), h))
    for (const c of conns) fresh.push(await snapshot(c))
  })
  afterAll(async () => {
    for (const c of conns) await c.close()
  })

  it('check mode lists the device, its peers and bridge, and changes nothing', async () => {
    await both(async (h, i) => {
      const r = await runTask(task(i), conns[i], { check: true })
      expect(runtimeChanges(r.changes)).toEqual([
        { what: 'create vxlan vx42', after: `vni 42 dstport 4789 local ${h.address} mtu 1450` },
        { what: `fdb vx42: add peer ${peerOf(i).address}` },
        { what: 'vx42 master', before: '(none)', after: 'vxbr0' },
      ])
      expect(await snapshot(conns[i])).toEqual(fresh[i])
    })
  })

  it('creates the device (vni, port, local, learning, MTU 1450, in vxbr0, up) with one FDB entry per peer; a second run changes nothing', async () => {
    await both(async (h, i) => {
      const r = await runTask(task(i), conns[i])
      created[i] = r.undo
      const l = await link(h)
      expect(l.linkinfo.info_kind).toBe('vxlan')
      expect(l.linkinfo.info_data).toEqual(expect.objectContaining({ id: 42, port: 4789, local: h.address, learning: true }))
      expect(l.mtu).toBe(1450)
      expect(l.master).toBe('vxbr0')
      expect(l.flags).toContain('UP')
      expect(await fdbPeers(h)).toEqual([peerOf(i).address])
      const c = counting(conns[i])
      expect((await runTask(task(i), c)).changes).toEqual([])
      expect(c.count).toBe(1)
    })
  })

  it('containers on the docker network of different hosts ping and send 1 MiB over TCP', async () => {
    await both((h, i) => exec(h, `docker run -d --pull never --init --network vxnet --ip ${ctrIp(i)} --name c${i + 1} ${lab().image} sleep 3600 >/dev/null`))
    await traffic()
  })

  it('changed peers add or remove only those FDB entries (same device); the undo restores them', async () => {
    const [h] = hosts
    const before = await snapshot(conns[0])
    const ifindex = (await link(h)).ifindex
    const ghost = lab().lanCidr.replace(/\.0\/24$/, '.77')
    const add = await runTask(task(0, { peers: [hosts[1].address, ghost] }), conns[0])
    expect(runtimeChanges(add.changes)).toEqual([{ what: `fdb vx42: add peer ${ghost}` }])
    expect(await fdbPeers(h)).toEqual([hosts[1].address, ghost].sort())
    const del = await runTask(task(0, { peers: [ghost] }), conns[0])
    expect(runtimeChanges(del.changes)).toEqual([{ what: `fdb vx42: remove peer ${hosts[1].address}` }])
    expect(await fdbPeers(h)).toEqual([ghost])
    expect((await link(h)).ifindex).toBe(ifindex)
    await undoAll(conns[0], [add.undo, del.undo])
    expect(await fdbPeers(h)).toEqual([hosts[1].address])
    expect(await snapshot(conns[0])).toEqual(before)
    await traffic()
  })

  it('refuses an MTU that does not fit the underlay or is below the bridge ports', async () => {
    await expect(runTask(task(0, { mtu: 1460 }), conns[0])).rejects.toThrow(/vxlan.mtu 1460 does not fit: eth0 has MTU 1500, minus 50 bytes of VXLAN overhead = 1450/)
    await expect(runTask(task(0, { mtu: 1400 }), conns[0])).rejects.toThrow(/port veth\w+ of bridge vxbr0 has MTU 1450, more than the VXLAN device's 1400/)
  })

  it('refuses a docker network whose MTU is larger than the device (the default 1500), naming the fix', async () => {
    const h = hosts[0]
    await exec(h, 'docker network create -d bridge --subnet 10.78.0.0/24 -o com.docker.network.bridge.name=vxbad vxbad >/dev/null')
    try {
      await expect(runTask(task(0, { name: 'vx43', vni: 43, bridge: 'vxbad' }), conns[0])).rejects.toThrow(
        /docker network vxbad \(bridge vxbad\) has MTU 1500 \(not set: the daemon default\).*com\.docker\.network\.driver\.mtu=1450/,
      )
      expect((await lab().exec(h, 'ip link show vx43')).code).not.toBe(0)
    } finally {
      await exec(h, 'docker network rm vxbad >/dev/null')
    }
  })

  it('refuses a local address the host does not have', async () => {
    await expect(runTask(task(0, { local: '198.18.255.9' }), conns[0])).rejects.toThrow(/vxlan.local 198.18.255.9 is not an address of node1/)
  })

  it('a changed vni recreates the device; the undo brings back the previous one (MAC, FDB, bridge) and traffic flows again', async () => {
    const [h] = hosts
    const before = await snapshot(conns[0])
    const mac = (await link(h)).address
    const r = await runTask(task(0, { vni: 4242, learning: false }), conns[0])
    expect(runtimeChanges(r.changes)).toEqual([
      { what: 'recreate vxlan vx42', before: `vni 42 dstport 4789 local ${h.address}`, after: `vni 4242 dstport 4789 local ${h.address} nolearning` },
    ])
    const l = await link(h)
    expect(l.linkinfo.info_data).toEqual(expect.objectContaining({ id: 4242, learning: false }))
    expect(l.master).toBe('vxbr0')
    expect(await fdbPeers(h)).toEqual([hosts[1].address])
    await undoAll(conns[0], [r.undo])
    const back = await link(h)
    expect(back.address).toBe(mac)
    expect(back.linkinfo.info_data).toEqual(expect.objectContaining({ id: 42, learning: true }))
    expect(await snapshot(conns[0])).toEqual(before)
    await traffic()
  })

  it('undo of the creation brings each host back to its snapshot', async () => {
    await both((h, i) => exec(h, `docker rm -f c${i + 1} >/dev/null`))
    await both(async (h, i) => {
      await undoAll(conns[i], [created[i]])
      expect((await lab().exec(h, 'ip link show vx42')).code).not.toBe(0)
      expect(await snapshot(conns[i])).toEqual(fresh[i])
    })
  })
})
