/**
 * playbooks/cross-host.ts with orch_strategy=ovs-gre on 3 lab hosts (userspace OVS: no kernel datapath
 * here), through the real CLI over SSH: the underlay moved onto br-phy under commit-confirmed, br-int with
 * a full mesh of keyed GRE tunnels made loop-free by protected ports, the probes plugged in with their
 * overlay addresses and the tunnel MTU.
 */
import { describe, expect, it } from 'vitest'
import type { Lab } from '../../src/lab/index.ts'
import { labSkipReason, withLab } from '../helpers/lab.ts'
import { exec, orch, PLAYBOOK, probeIps, refused, strategySuite, strategyVars } from './playbook-common.ts'

const hex = (ip: string) => ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join('')

async function assertOvs(lab: Lab): Promise<void> {
  const ips = await probeIps(lab, 'eth1')
  for (const [i, h] of lab.hosts.entries()) {
    // This machine has no openvswitch kernel module: the underlay address sits on br-phy (netdev).
    expect((await exec(lab, h, 'ovs-vsctl get Bridge br-phy datapath_type')).trim()).toBe('netdev')
    expect((await exec(lab, h, 'ovs-vsctl port-to-br eth0')).trim()).toBe('br-phy')
    const addr = JSON.parse(await exec(lab, h, 'ip -j -4 addr show dev br-phy'))[0].addr_info[0]
    expect(`${addr.local}/${addr.prefixlen}`).toBe(`${h.address}/24`)
    expect((await exec(lab, h, 'ovs-vsctl get Bridge br-int datapath_type')).trim()).toBe('netdev')
    for (const p of lab.hosts.filter((x) => x !== h)) {
      const port = `gre-${hex(p.address)}`
      expect((await exec(lab, h, `ovs-vsctl get Interface ${port} type`)).trim()).toBe('gre')
      expect((await exec(lab, h, `ovs-vsctl get Interface ${port} options`)).trim()).toBe(`{key="42", remote_ip="${p.address}"}`)
      expect((await exec(lab, h, `ovs-vsctl get Port ${port} protected`)).trim()).toBe('true')
    }
    expect(ips.get(h.name)).toBe(`10.250.0.${i + 1}`)
    // GRE with a key adds 42 bytes to a 1500-byte underlay.
    expect((await exec(lab, h, 'docker exec orch-probe cat /sys/class/net/eth1/mtu')).trim()).toBe('1458')
  }
  // No broadcast storm: an idle mesh moves few frames (the loop without split horizon moved thousands a second).
  const [a, b] = lab.hosts
  const count = async () => Number((await exec(lab, a, "ovs-vsctl get Interface gre-" + hex(b.address) + ' statistics:rx_packets')).trim())
  // (OVS refreshes interface statistics every 5 s: let the traffic of the checks settle first.)
  await new Promise((r) => setTimeout(r, 5500))
  const c0 = await count()
  await new Promise((r) => setTimeout(r, 5500))
  expect((await count()) - c0).toBeLessThan(500)
  await exec(lab, a, `docker exec orch-probe ping -c 1 -W 2 -s 1430 ${ips.get(b.name)}`)
}

describe.skipIf(labSkipReason)('playbook cross-host.ts: ovs-gre', () => {
  const lab = withLab({ hosts: 3, docker: true, ovs: true })

  it('refuses bad variables before any host is touched, naming the variable', async () => {
    await refused(lab(), 'ovs-gre', ['ovs_bridge=br-int;reboot'], 'ovs_bridge')
    await refused(lab(), 'ovs-gre', ['ovs_datapath=kernel'], 'ovs_datapath')
    await refused(lab(), 'ovs-gre', ['ovs_gre_key=-1'], 'ovs_gre_key')
    await refused(lab(), 'ovs-gre', ['overlay_cidr=10.250.0.1/24'], 'overlay_cidr')
    await refused(lab(), 'ovs-gre', ['ovs_underlay_bridge=br-int'], 'ovs_underlay_bridge')
  })

  strategySuite(lab, 'ovs-gre', { assertState: assertOvs, other: 'bridge' })

  it('the underlay move runs under commit-confirmed (the risky task arms the host timer, orch gets back in and disarms it)', async () => {
    const r = await orch('run', PLAYBOOK, '-i', lab().inventoryPath, ...strategyVars(lab(), 'ovs-gre'), '-v')
    expect(r.code, r.out + r.err).toBe(0)
    for (const h of lab().hosts) {
      expect(r.out).toMatch(new RegExp(`\\[${h.name}\\] rollback timer armed: 60s`))
      expect(r.out).toMatch(new RegExp(`\\[${h.name}\\] reconnected, checks passed, rollback timer disarmed`))
    }
    const rb = await orch('rollback', '-i', lab().inventoryPath)
    expect(rb.code, rb.out).toBe(0)
  })
})
