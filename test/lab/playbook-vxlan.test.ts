/**
 * playbooks/cross-host.ts with orch_strategy=vxlan on 3 lab hosts, through the real CLI over SSH: a
 * docker network with one subnet on every host, each host handing out its own range, its bridge joined by
 * a kernel VXLAN device with the other hosts as FDB peers; MTU 1450 end to end.
 */
import { describe, expect, it } from 'vitest'
import type { Lab } from '../../src/lab/index.ts'
import { labSkipReason, withLab } from '../helpers/lab.ts'
import { exec, probeIps, refused, strategySuite } from './playbook-common.ts'

async function assertVxlan(lab: Lab): Promise<void> {
  const ips = await probeIps(lab, 'eth0')
  for (const [i, h] of lab.hosts.entries()) {
    const link = JSON.parse(await exec(lab, h, 'ip -d -j link show dev orch-vx42'))[0]
    expect(link.linkinfo.info_kind).toBe('vxlan')
    expect(link.linkinfo.info_data).toMatchObject({ id: 42, port: 4789, local: h.address })
    expect(link.master).toBe('orch-ovl0')
    expect(link.mtu).toBe(1450)
    const fdb = (JSON.parse(await exec(lab, h, 'bridge -j fdb show dev orch-vx42')) as Array<{ mac: string; dst?: string }>)
      .filter((e) => e.mac === '00:00:00:00:00:00')
      .map((e) => e.dst)
      .sort()
    expect(fdb).toEqual(lab.hosts.filter((p) => p !== h).map((p) => p.address).sort())
    const net = JSON.parse(await exec(lab, h, 'docker network inspect orch-overlay'))[0]
    // Same subnet everywhere, a /28 range and gateway per host by inventory order.
    expect(net.IPAM.Config[0]).toMatchObject({ Subnet: '10.250.0.0/24', IPRange: `10.250.0.${16 * i}/28`, Gateway: `10.250.0.${16 * i + 1}` })
    expect(net.Options).toMatchObject({ 'com.docker.network.bridge.name': 'orch-ovl0', 'com.docker.network.driver.mtu': '1450' })
    expect(ips.get(h.name)).toBe(`10.250.0.${16 * i + 2}`)
    expect((await exec(lab, h, 'docker exec orch-probe cat /sys/class/net/eth0/mtu')).trim()).toBe('1450')
  }
  // A full-size frame crosses (1450 - 28 bytes of IP/ICMP header, don't fragment).
  const [a, b] = lab.hosts
  await exec(lab, a, `docker exec orch-probe ping -c 1 -W 2 -s 1422 ${ips.get(b.name)}`)
}

describe.skipIf(labSkipReason)('playbook cross-host.ts: vxlan', () => {
  const lab = withLab({ hosts: 3, docker: true, ovs: true })

  it('refuses bad variables before any host is touched, naming the variable', async () => {
    await refused(lab(), 'vxlan', ['vxlan_vni=0'], 'vxlan_vni')
    await refused(lab(), 'vxlan', ['vxlan_port=70000'], 'vxlan_port')
    await refused(lab(), 'vxlan', ['overlay_cidr=10.0.0.0/33'], 'overlay_cidr')
    await refused(lab(), 'vxlan', ['overlay_bridge=eth0;reboot'], 'overlay_bridge')
    await refused(lab(), 'vxlan', ['overlay_network=bridge'], 'overlay_network')
    await refused(lab(), 'vxlan', ['overlay_mtu=10'], 'overlay_mtu')
    await refused(lab(), 'vxlan', ['overlay_ip=10.251.0.5'], 'overlay_ip')
  })

  strategySuite(lab, 'vxlan', { assertState: assertVxlan, other: 'ovs-gre' })
})
