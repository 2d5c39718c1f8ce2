/**
 * playbooks/cross-host.ts with orch_strategy=bridge on 3 lab hosts, through the real CLI over SSH: br0
 * takes over eth0 under commit-confirmed, bridged traffic is accepted through docker's FORWARD DROP, and
 * the probes sit on the LAN with addresses from lan_pool (by inventory order) and the LAN's gateway.
 */
import { describe, expect, it } from 'vitest'
import type { Lab } from '../../src/lab/index.ts'
import { labSkipReason, withLab } from '../helpers/lab.ts'
import { exec, probeIps, refused, strategySuite } from './playbook-common.ts'

async function assertBridge(lab: Lab): Promise<void> {
  const ips = await probeIps(lab, 'eth1')
  const net = lab.lanCidr.replace(/\.0\/24$/, '')
  for (const [i, h] of lab.hosts.entries()) {
    const eth0 = JSON.parse(await exec(lab, h, 'ip -j link show dev eth0'))[0]
    expect(eth0.master).toBe('br0')
    const addr = JSON.parse(await exec(lab, h, 'ip -j -4 addr show dev br0'))[0].addr_info.map((a: any) => `${a.local}/${a.prefixlen}`)
    expect(addr).toEqual([`${h.address}/24`])
    expect(JSON.parse(await exec(lab, h, 'ip -j route show default'))[0]).toMatchObject({ dev: 'br0', gateway: lab.gateway })
    expect(await exec(lab, h, 'iptables -S ORCH-FORWARD')).toContain('-A ORCH-FORWARD -i br0 -o br0')
    // lan_pool 198.18.I.96/28: .97, .98, .99 by inventory order, the LAN's prefix, default via the gateway.
    expect(ips.get(h.name)).toBe(`${net}.${97 + i}`)
    const routes = await exec(lab, h, 'docker exec orch-probe ip route')
    expect(routes).toContain(`default via ${lab.gateway} dev eth1`)
  }
  // On the LAN for real: node1 itself, a plain LAN member, reaches every probe directly.
  for (const ip of ips.values()) {
    const r = await lab.exec(lab.hosts[0], `ping -c 1 -W 2 ${ip}`)
    expect(r.code, r.stdout).toBe(0)
  }
}

describe.skipIf(labSkipReason)('playbook cross-host.ts: bridge', () => {
  const lab = withLab({ hosts: 3, docker: true })

  it('refuses bad variables before any host is touched, naming the variable', async () => {
    await refused(lab(), 'bridge', ['bridge_iface=eth0;reboot'], 'bridge_iface')
    await refused(lab(), 'bridge', ['bridge_name=eth0'], 'bridge_name')
    await refused(lab(), 'bridge', ['lan_pool=198.18.0.96/33'], 'lan_pool')
    await refused(lab(), 'bridge', ['container_ip=198.18.0.0/24'], 'container_ip')
    await refused(lab(), 'bridge', ['lan_gateway=gateway'], 'lan_gateway')
  })

  strategySuite(lab, 'bridge', { assertState: assertBridge, other: 'routes' })
})
