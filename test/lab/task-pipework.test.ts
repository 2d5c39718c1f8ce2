/**
 * pipework on real lab hosts (dockerd, OVS userspace): containers on two hosts get LAN addresses on br0
 * (after bridgeTakeover on both hosts) and talk to each other across the LAN — ping and TCP with busybox
 * nc. Also: idempotence in one round trip, check mode, a restarted container re-attached, a stale host
 * veth replaced, exact undo (host snapshot + the container's own addresses and routes), an OVS bridge,
 * and bad arguments. Then containers on a userspace (netdev) OVS bridge on two hosts joined by GRE:
 * 1 MiB over TCP, which needs TX checksum offload off in the containers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Undo } from '../../src/engine/types.ts'
import type { Connection } from '../../src/transport/types.ts'
import { bridgeTakeover } from '../../src/tasks/bridgeTakeover.ts'
import { forwardAccept } from '../../src/tasks/forward.ts'
import { ovsUnderlay } from '../../src/tasks/ovs.ts'
import { ovsBridge } from '../../src/tasks/ovsBridge.ts'
import { ovsTunnels } from '../../src/tasks/ovsTunnel.ts'
import { pipework, pipeworkVethName, type PipeworkArgs } from '../../src/tasks/pipework.ts'
import type { LabHost } from '../../src/lab/index.ts'
import { counting, sshTo } from '../helpers/conn.ts'
import { containerTraffic, labSkipReason, on, ssh, withLab } from '../helpers/lab.ts'
import { expectRefused, runTask, undoAll } from '../helpers/task.ts'
import { snapshot } from '../helpers/snapshot.ts'

describe('pipework: arguments', () => {
  const refused = (args: PipeworkArgs, variable: string) => expectRefused(pipework(args), variable, JSON.stringify(args))
  const ok = { container: 'web', ip: '198.18.0.101/24@198.18.0.254' }
  it('refuses bad containers, bridges, addresses, names, MACs and MTUs', () => {
    refused({ ...ok, container: 'web;reboot' }, 'pipework.container')
    refused({ ...ok, container: { pid: -1 } }, 'pipework.container.pid')
    refused({ ...ok, container: { netns: 'relative/path' } }, 'pipework.container.netns')
    refused({ ...ok, bridge: 'eth0;reboot' }, 'pipework.bridge')
    refused({ ...ok, ifname: 'a-name-longer-than-15' }, 'pipework.ifname')
    refused({ ...ok, ip: '10.0.0.0/33' }, 'pipework.ip')
    refused({ ...ok, ip: '198.18.0.0/24' }, 'pipework.ip')
    refused({ ...ok, ip: '198.18.0.101' }, 'pipework.ip')
    refused({ ...ok, ip: '198.18.0.101/24@10.0.0.1' }, 'pipework.ip')
    refused({ ...ok, ip: '198.18.0.101/24@198.18.0.101' }, 'pipework.ip')
    refused({ ...ok, ip: '198.18.0.101/24@x;reboot' }, 'pipework.ip')
    refused({ ...ok, mac: '02:42:zz:00:00:01' }, 'pipework.mac')
    refused({ ...ok, mtu: 10 }, 'pipework.mtu')
  })
  it('names the host veth deterministically, within 15 characters', () => {
    const n = pipeworkVethName('0123abcd', 'eth1')
    expect(n).toMatch(/^vp[0-9a-f]{10}$/)
    expect(pipeworkVethName('0123abcd', 'eth1')).toBe(n)
    expect(pipeworkVethName('0123abcd', 'eth2')).not.toBe(n)
  })
})

describe.skipIf(labSkipReason)('pipework on lab hosts', () => {
  const lab = withLab({ hosts: 2, docker: true, ovs: true })
  let n1: LabHost
  let n2: LabHost
  let c1: Connection
  let c2: Connection
  const net = () => lab().lanCidr.replace(/\.0\/24$/, '')
  const undos: Record<string, Array<Undo | null>> = { node1: [], node2: [] }
  let pristine: Array<Record<string, unknown>>
  const exec = (h: LabHost, cmd: string) => on(lab(), h, cmd)
  /** The container's own network view (from its namespace): links, addresses, routes. */
  const ctrView = async (h: LabHost, name: string) => {
    const out = await exec(h, `ns=/proc/$(docker inspect -f '{{.State.Pid}}' ${name})/ns/net; nsenter --net=$ns ip -j link show; echo @@; nsenter --net=$ns ip -j addr show; echo @@; nsenter --net=$ns ip -j route show table all`)
    const [links, addrs, routes] = out.split('@@\n').map((x) => JSON.parse(x))
    const strip = (o: unknown): unknown =>
      Array.isArray(o) ? o.map(strip).filter((x) => !JSON.stringify(x).includes('"fe80:')) : o && typeof o === 'object' ? Object.fromEntries(Object.entries(o).filter(([k]) => !/life_time|stats|flags|operstate|ifindex|link_index/.test(k)).map(([k, x]) => [k, strip(x)])) : o
    return strip({ links, addrs, routes })
  }
  const run = (h: LabHost, name: string) =>
    exec(h, `docker run -d --pull never --init --name ${name} ${lab().image} sleep 100000 >/dev/null && docker inspect -f '{{.Id}}' ${name}`)

  beforeAll(async () => {
    ;[n1, n2] = lab().hosts
    c1 = await sshTo(lab(), n1)
    c2 = await sshTo(lab(), n2)
    // docker0 gets its IPv6 multicast route when it first has a port: let that happen before the snapshot.
    for (const h of [n1, n2]) await exec(h, `docker run --rm --pull never ${lab().image} true`)
    pristine = [await snapshot(c1), await snapshot(c2)]
    await Promise.all([run(n1, 'ca'), run(n2, 'cb')])
  })
  afterAll(async () => {
    await c1?.close()
    await c2?.close()
  })

  let hostBefore: Record<string, unknown>
  let ctrBefore: unknown
  it('check mode on a fresh container lists the attach and changes nothing', async () => {
    // br0 takes over eth0 on both hosts first (the containers will sit on the LAN).
    for (const [h, c] of [[n1, c1], [n2, c2]] as const) {
      const r = await runTask(bridgeTakeover({ persist: 'none' }), c)
      undos[h.name].push(r.undo)
      // docker's FORWARD DROP with br_netfilter also eats traffic *bridged* on br0 (LAB-NOTES).
      const f = await runTask(forwardAccept({ in: 'br0', out: 'br0' }), c)
      undos[h.name].push(f.undo)
    }
    hostBefore = await snapshot(c1)
    ctrBefore = await ctrView(n1, 'ca')
    const r = await runTask(pipework({ container: 'ca', bridge: 'br0', ip: `${net()}.101/24@${lab().gateway}` }), c1, { check: true })
    expect(r.changed).toBe(true)
    expect(r.changes[0].what).toBe('attach ca to br0 (Linux bridge)')
    expect(r.changes[0].after).toContain(`eth1 ${net()}.101/24 default via ${lab().gateway} mtu 1500`)
    expect(await snapshot(c1)).toEqual(hostBefore)
    expect(await ctrView(n1, 'ca')).toEqual(ctrBefore)
  })

  let undoA: Undo | null = null
  it('attaches containers on two hosts to br0 with LAN addresses: ping and TCP cross the LAN', async () => {
    // Listen on node2's uplink for the gratuitous ARP that announces .101.
    await exec(n2, `(timeout 8 tcpdump -l -n -i eth0 arp </dev/null >/tmp/garp.txt 2>/dev/null &)`)
    await new Promise((r) => setTimeout(r, 500))
    const ra = await runTask(pipework({ container: 'ca', bridge: 'br0', ip: `${net()}.101/24@${lab().gateway}` }), c1)
    undoA = ra.undo
    const rb = await runTask(pipework({ container: 'cb', bridge: 'br0', ip: `${net()}.102/24@${lab().gateway}`, mac: '02:42:c6:12:00:66' }), c2)
    undos.node2.push(rb.undo)
    const veth = String((ra.outcome as { data: { hostVeth: string } }).data.hostVeth)
    expect(veth).toMatch(/^vp[0-9a-f]{10}$/)

    // What the kernel holds: host side in br0, container side with address, MTU, default route.
    const hostLink = JSON.parse(await exec(n1, `ip -j link show dev ${veth}`))[0]
    expect(hostLink.master).toBe('br0')
    expect(hostLink.flags).toContain('UP')
    const ns = `nsenter --net=/proc/$(docker inspect -f '{{.State.Pid}}' ca)/ns/net`
    const eth1 = JSON.parse(await exec(n1, `${ns} ip -j addr show dev eth1`))[0]
    expect(eth1.mtu).toBe(1500)
    expect(eth1.addr_info.filter((x: { family: string }) => x.family === 'inet')).toEqual([expect.objectContaining({ local: `${net()}.101`, prefixlen: 24 })])
    expect(JSON.parse(await exec(n1, `${ns} ip -j route show default`))).toEqual([expect.objectContaining({ gateway: lab().gateway, dev: 'eth1' })])
    const bmac = JSON.parse(await exec(n2, `nsenter --net=/proc/$(docker inspect -f '{{.State.Pid}}' cb)/ns/net ip -j link show dev eth1`))[0].address
    expect(bmac).toBe('02:42:c6:12:00:66')

    let garp = ''
    const announced = new RegExp(`Request who-has ${net()}\\.101 (\\(ff:ff:ff:ff:ff:ff\\) )?tell ${net()}\\.101,`)
    for (let i = 0; i < 30 && !announced.test(garp); i++) {
      await new Promise((r) => setTimeout(r, 100))
      garp = (await lab().exec(n2, 'cat /tmp/garp.txt')).stdout
    }
    expect(garp).toMatch(announced)

    // Container A on node1 pings container B on node2, and the LAN gateway.
    const ping = await lab().exec(n1, `docker exec ca ping -c 2 -W 2 ${net()}.102 && docker exec ca ping -c 1 -W 2 ${lab().gateway}`)
    expect(ping.code, ping.stdout + ping.stderr).toBe(0)
    // TCP: B listens, A sends; the bytes arrive in B.
    await exec(n2, `docker exec -d cb sh -c 'nc -l -p 5000 > /tmp/got'`)
    await new Promise((r) => setTimeout(r, 300))
    const payload = `orch-across-${Date.now()}`
    const send = await lab().exec(n1, `docker exec ca sh -c 'echo ${payload} | nc -w 3 ${net()}.102 5000'`)
    expect(send.code, send.stderr).toBe(0)
    let got = ''
    for (let i = 0; i < 30 && !got.includes(payload); i++) {
      await new Promise((r) => setTimeout(r, 100))
      got = (await lab().exec(n2, 'docker exec cb cat /tmp/got')).stdout
    }
    expect(got.trim()).toBe(payload)
    // and the controller still reaches both hosts through br0
    for (const h of [n1, n2]) expect((await ssh(lab(), h.address, 'true', ['-b', lab().controllerIp2])).code).toBe(0)
  })

  it('a second run changes nothing, in one round trip', async () => {
    const c = counting(c1)
    const r = await runTask(pipework({ container: 'ca', bridge: 'br0', ip: `${net()}.101/24@${lab().gateway}` }), c)
    expect(r.changes).toEqual([])
    expect(c.count).toBe(1)
  })

  it('undo detaches: host snapshot and the container view equal the ones before', async () => {
    expect(undoA).toBeTruthy()
    await undoAll(c1, [undoA])
    expect(await snapshot(c1)).toEqual(hostBefore)
    expect(await ctrView(n1, 'ca')).toEqual(ctrBefore)
    // the container got its docker default route back
    expect(JSON.parse(await exec(n1, `nsenter --net=/proc/$(docker inspect -f '{{.State.Pid}}' ca)/ns/net ip -j route show default`))[0].dev).toBe('eth0')
  })

  it('a restarted container (new PID, interface gone) is attached again on the next run', async () => {
    const pid0 = (await exec(n1, `docker inspect -f '{{.State.Pid}}' ca`)).trim()
    await exec(n1, 'docker restart -t 1 ca >/dev/null')
    expect((await exec(n1, `docker inspect -f '{{.State.Pid}}' ca`)).trim()).not.toBe(pid0)
    const t = () => pipework({ container: 'ca', bridge: 'br0', ip: `${net()}.101/24@${lab().gateway}` })
    const r = await runTask(t(), c1)
    undos.node1.push(r.undo)
    expect(r.changes.map((c) => c.what)).toEqual(['attach ca to br0 (Linux bridge)'])
    expect((await runTask(t(), c1)).changes).toEqual([])
    expect((await lab().exec(n1, `docker exec ca ping -c 1 -W 2 ${net()}.102`)).code).toBe(0)
  })

  it('a stale host-side veth (its peer gone) is removed and the container attached again', async () => {
    const id = (await exec(n1, `docker inspect -f '{{.Id}}' ca`)).trim()
    const veth = pipeworkVethName(id, 'eth1')
    // Detach the container side by hand and leave a host veth of that name whose peer is elsewhere.
    await exec(n1, `ip link del ${veth} && ip link add ${veth} type veth peer name stalepeer && ip link set ${veth} master br0`)
    const r = await runTask(pipework({ container: 'ca', bridge: 'br0', ip: `${net()}.101/24@${lab().gateway}` }), c1)
    undos.node1.push(r.undo)
    expect(r.changes.map((c) => c.what)).toEqual([`remove stale host veth ${veth} (its peer is gone)`, 'attach ca to br0 (Linux bridge)'])
    expect(await exec(n1, 'ip -br link show stalepeer 2>/dev/null || echo gone')).toBe('gone\n')
    expect((await lab().exec(n1, `docker exec ca ping -c 1 -W 2 ${net()}.102`)).code).toBe(0)
  })

  it('fix-ups on an attached container (address removed by hand) are put back, and undone exactly', async () => {
    const t = () => pipework({ container: 'cb', bridge: 'br0', ip: `${net()}.102/24`, ifname: 'eth1' })
    const ns = `nsenter --net=/proc/$(docker inspect -f '{{.State.Pid}}' cb)/ns/net`
    await exec(n2, `${ns} ip addr flush dev eth1`)
    const before = await ctrView(n2, 'cb')
    const r = await runTask(t(), c2)
    expect(r.changes.map((c) => c.what)).toEqual(['eth1 address'])
    expect(await exec(n2, `${ns} ip -4 -br addr show dev eth1`)).toContain(`${net()}.102/24`)
    await undoAll(c2, [r.undo])
    expect(await ctrView(n2, 'cb')).toEqual(before)
    await exec(n2, `${ns} ip addr add ${net()}.102/24 dev eth1`)
  })

  it('attaches to an Open vSwitch bridge (userspace datapath here) and undoes it', async () => {
    await exec(n1, 'ovs-vsctl add-br ovsx -- set bridge ovsx datapath_type=netdev && ip link set ovsx up')
    await Promise.all([run(n1, 'o1'), run(n1, 'o2')])
    const snap = await snapshot(c1)
    const views = [await ctrView(n1, 'o1'), await ctrView(n1, 'o2')]
    const r1 = await runTask(pipework({ container: 'o1', bridge: 'ovsx', ip: '10.55.0.1/24' }), c1)
    const r2 = await runTask(pipework({ container: 'o2', bridge: 'ovsx', ip: '10.55.0.2/24', ifname: 'ovs0' }), c1)
    expect(r1.changes[0].what).toBe('attach o1 to ovsx (OVS)')
    const ports = (await exec(n1, 'ovs-vsctl list-ports ovsx')).trim().split('\n')
    expect(ports.sort()).toEqual([String((r1.outcome as { data: { hostVeth: string } }).data.hostVeth), String((r2.outcome as { data: { hostVeth: string } }).data.hostVeth)].sort())
    const ping = await lab().exec(n1, 'docker exec o1 ping -c 2 -W 2 10.55.0.2')
    expect(ping.code, ping.stdout).toBe(0)
    expect((await runTask(pipework({ container: 'o1', bridge: 'ovsx', ip: '10.55.0.1/24' }), c1)).changes).toEqual([])
    await undoAll(c1, [r1.undo, r2.undo])
    expect(await snapshot(c1)).toEqual(snap)
    expect([await ctrView(n1, 'o1'), await ctrView(n1, 'o2')]).toEqual(views)
    await exec(n1, 'docker rm -f o1 o2 >/dev/null && ovs-vsctl del-br ovsx')
  })

  it('attaches by PID and by network namespace path too', async () => {
    await exec(n2, 'ip netns add pwtest')
    try {
      const r = await runTask(pipework({ container: { netns: '/run/netns/pwtest' }, bridge: 'br0', ip: `${net()}.120/24` }), c2)
      expect(await exec(n2, 'ip -n pwtest -4 -br addr show dev eth1')).toContain(`${net()}.120/24`)
      expect((await lab().exec(n2, `ip netns exec pwtest ping -c 1 -W 2 ${net()}.102`)).code).toBe(0)
      await undoAll(c2, [r.undo])
      expect(await exec(n2, 'ip -n pwtest -br link show eth1 2>/dev/null || echo gone')).toBe('gone\n')
    } finally {
      await lab().exec(n2, 'ip netns del pwtest')
    }
    const pid = (await exec(n2, `docker inspect -f '{{.State.Pid}}' cb`)).trim()
    const r = await runTask(pipework({ container: { pid: Number(pid) }, bridge: 'br0', ip: `${net()}.121/24`, ifname: 'eth2' }), c2)
    expect((await lab().exec(n2, `docker exec cb ping -c 1 -W 2 ${net()}.254`)).code).toBe(0)
    await undoAll(c2, [r.undo])
    expect(await exec(n2, `nsenter --net=/proc/${pid}/ns/net ip -br link show eth2 2>/dev/null || echo gone`)).toBe('gone\n')
  })

  it('fails clearly for a missing container or bridge', async () => {
    await expect(runTask(pipework({ container: 'nosuch', bridge: 'br0', ip: `${net()}.130/24` }), c1)).rejects.toThrow(/no container nosuch/)
    await expect(runTask(pipework({ container: 'ca', bridge: 'brnone', ip: `${net()}.130/24` }), c1)).rejects.toThrow(/no bridge brnone/)
  })

  it('everything undone: both hosts back to their state before the takeover', async () => {
    await exec(n1, 'docker rm -f ca >/dev/null')
    await exec(n2, 'docker rm -f cb >/dev/null')
    for (const [h, c] of [[n1, c1], [n2, c2]] as const) await undoAll(c, undos[h.name])
    for (const h of [n1, n2]) expect((await ssh(lab(), h.address, 'ip -br link show br0 2>/dev/null || echo gone', ['-b', lab().controllerIp2])).stdout).toBe('gone\n')
    expect([await snapshot(c1), await snapshot(c2)]).toEqual(pristine)
  })
})

/**
 * A userspace (netdev) OVS bridge: OVS reads the host side of the veth with a packet socket and forwards
 * frames as they are. With TX checksum offload on in the container, its TCP segments leave with partial
 * checksums and arrive corrupt (ping works, TCP never connects): pipework turns tx/tso/gso off there.
 * Two hosts: ovsUnderlay (eth0 -> br-phy), br-int (netdev) joined by GRE, a container on each.
 */
describe.skipIf(labSkipReason)('pipework on a userspace (netdev) OVS bridge across two hosts', () => {
  const lab = withLab({ hosts: 2, docker: true, ovs: true })
  let hosts: LabHost[]
  const conns: Connection[] = []
  const undos: Array<Array<Undo | null>> = [[], []]
  let pristine: Array<Record<string, unknown>>
  const exec = (h: LabHost, cmd: string) => on(lab(), h, cmd)
  const ctrIp = (i: number) => `10.77.0.${i + 1}`
  /** The overlay MTU: 1500 − 42 (GRE with a key). */
  const attach = (i: number) => pipework({ container: `c${i + 1}`, bridge: 'br-int', ip: `${ctrIp(i)}/24`, mtu: 1458 })
  /** tx/tso/gso as `ethtool -k` shows them for a device, in the container (ctr) or on the host. */
  const offloads = async (h: LabHost, dev: string, ctr?: string) => {
    const ns = ctr ? `nsenter --net=/proc/$(docker inspect -f '{{.State.Pid}}' ${ctr})/ns/net ` : ''
    const out = await exec(h, `${ns}ethtool -k ${dev}`)
    const get = (label: string) => (out.match(new RegExp(`^${label}: (\\w+)`, 'm')) ?? [])[1]
    return { tx: get('tx-checksumming'), tso: get('tcp-segmentation-offload'), gso: get('generic-segmentation-offload') }
  }
  const hostVeth = async (h: LabHost, i: number) => pipeworkVethName((await exec(h, `docker inspect -f '{{.Id}}' c${i + 1}`)).trim(), 'eth1')

  beforeAll(async () => {
    hosts = lab().hosts
    for (const h of hosts) conns.push(await sshTo(lab(), h))
    pristine = await Promise.all(conns.map((c) => snapshot(c)))
    await Promise.all(
      hosts.map(async (h, i) => {
        for (const t of [
          ovsUnderlay({ bridge: 'br-phy', iface: 'eth0' }),
          ovsBridge({ name: 'br-int', datapath: 'netdev' }),
          ovsTunnels({ bridge: 'br-int', type: 'gre', key: 7, peers: hosts.map((x) => ({ remote_ip: x.address })) }),
        ])
          undos[i].push((await runTask(t, conns[i])).undo)
        await exec(h, `docker run -d --pull never --init --network none --name c${i + 1} ${lab().image} sleep 100000 >/dev/null`)
      }),
    )
  })
  afterAll(async () => {
    for (const c of conns) await c.close()
  })

  it('check mode lists the attach with the offloads off, and changes nothing', async () => {
    const before = await snapshot(conns[0])
    const r = await runTask(attach(0), conns[0], { check: true })
    expect(r.changes.map((c) => c.what)).toEqual(['attach c1 to br-int (OVS)'])
    expect(r.changes[0].after).toMatch(/eth1 10\.77\.0\.1\/24 mtu 1458 tx\/tso\/gso offload off$/)
    expect(await snapshot(conns[0])).toEqual(before)
  })

  it('attaches both containers with tx checksum, TSO and GSO off inside (the host side untouched): ping and 1 MiB over TCP cross the tunnel', async () => {
    for (const [i, h] of hosts.entries()) {
      const r = await runTask(attach(i), conns[i])
      undos[i].push(r.undo)
      expect(await offloads(h, 'eth1', `c${i + 1}`)).toEqual({ tx: 'off', tso: 'off', gso: 'off' })
      // Nothing is needed on the host side: the kernel never sends through it (OVS writes whole frames).
      expect((await offloads(h, await hostVeth(h, i))).tx).toBe('on')
    }
    await containerTraffic(lab(), hosts[0], hosts[1], ctrIp(1))
  })

  it('a second run changes nothing, in one round trip', async () => {
    for (const i of [0, 1]) {
      const c = counting(conns[i])
      expect((await runTask(attach(i), c)).changes).toEqual([])
      expect(c.count).toBe(1)
    }
  })

  it('offload turned back on by hand: TCP never connects; the next run turns it off again, and its undo turns it on exactly', async () => {
    const [h] = hosts
    const ns = `nsenter --net=/proc/$(docker inspect -f '{{.State.Pid}}' c1)/ns/net`
    await exec(h, `${ns} ethtool -K eth1 tx on tso on >/dev/null`)
    expect(await offloads(h, 'eth1', 'c1')).toEqual({ tx: 'on', tso: 'on', gso: 'off' })
    // The defect itself: ping gets through, a TCP connection does not.
    expect((await lab().exec(h, `docker exec c1 ping -c 1 -W 2 ${ctrIp(1)}`)).code).toBe(0)
    await exec(hosts[1], `docker exec -d c2 nc -l -p 5001`)
    const dead = await lab().exec(h, `docker exec c1 sh -c 'echo x | timeout 4 nc ${ctrIp(1)} 5001'`)
    expect(dead.code).not.toBe(0)
    await lab().exec(hosts[1], 'docker exec c2 pkill nc')

    const before = await snapshot(conns[0])
    const r = await runTask(attach(0), conns[0])
    expect(r.changes).toEqual([{ what: 'eth1 offloads (userspace OVS)', before: 'tx on, tso on', after: 'tx tso gso off' }])
    expect(await offloads(h, 'eth1', 'c1')).toEqual({ tx: 'off', tso: 'off', gso: 'off' })
    expect((await runTask(attach(0), conns[0])).changes).toEqual([])
    await containerTraffic(lab(), hosts[0], hosts[1], ctrIp(1))

    await undoAll(conns[0], [r.undo])
    expect(await offloads(h, 'eth1', 'c1')).toEqual({ tx: 'on', tso: 'on', gso: 'off' })
    expect(await snapshot(conns[0])).toEqual(before)
    undos[0].push((await runTask(attach(0), conns[0])).undo)
  })

  it('everything undone: both hosts back to their first snapshot', async () => {
    for (const [i, h] of hosts.entries()) {
      await undoAll(conns[i], undos[i])
      await exec(h, `docker rm -f c${i + 1} >/dev/null`)
    }
    expect(await Promise.all(conns.map((c) => snapshot(c)))).toEqual(pristine)
  })
})
