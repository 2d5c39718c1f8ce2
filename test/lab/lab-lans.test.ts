/** The multi-LAN lab (lab:up --lans N): hosts on their own /24s, one router namespace between them. */
import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { shLocal } from '../../src/lab/exec.ts'
import { down, LabInputError, up } from '../../src/lab/index.ts'
import { SLOTS_DIR } from '../../src/lab/lan.ts'
import { labSkipReason, ssh, uniquePrefix, withLab } from '../helpers/lab.ts'

describe.skipIf(labSkipReason)('lab with 4 hosts on 2 LANs', () => {
  const lab = withLab({ hosts: 4, lans: 2 })

  it('puts node1-2 on LAN 1 and node3-4 on LAN 2, each LAN its own /24 from its own slot', () => {
    const l = lab().lans!
    expect(l.map((x) => x.index)).toEqual([1, 2])
    expect(l[0].cidr).toBe(lab().lanCidr)
    expect(l[1].slot).not.toBe(l[0].slot)
    expect(l[1].cidr).toBe(`198.18.${l[1].slot}.0/24`)
    expect(lab().hosts.map((h) => [h.name, h.lan, h.address])).toEqual([
      ['node1', 1, `198.18.${l[0].slot}.1`],
      ['node2', 1, `198.18.${l[0].slot}.2`],
      ['node3', 2, `198.18.${l[1].slot}.3`],
      ['node4', 2, `198.18.${l[1].slot}.4`],
    ])
    // Both slots are held by this lab.
    for (const x of l) expect(readFileSync(`${SLOTS_DIR}/${x.slot}/owner`, 'utf8')).toBe(lab().dir)
  })

  it('gives each host its own LAN gateway, reached by the controller over SSH through the router', async () => {
    for (const h of lab().hosts) {
      const gw = lab().lans![h.lan! - 1].gateway
      const route = JSON.parse((await ssh(lab(), h.address, 'ip -j route show default')).stdout)
      expect(route[0].gateway, h.name).toBe(gw)
      expect((await ssh(lab(), h.address, 'cat /etc/resolv.conf')).stdout).toContain(`nameserver ${gw}`)
    }
    // The controller's way to LAN 2 is a route via LAN 1's gateway (no leg of its own on LAN 2).
    const r = JSON.parse((await shLocal(`ip -j route get ${lab().hosts[2].address}`)).stdout)
    expect(r[0]).toMatchObject({ gateway: lab().gateway, dev: lab().controllerVeth })
  })

  it('hosts on one LAN reach each other directly, across LANs through one routed hop', async () => {
    const [a, b, c] = lab().hosts
    const same = JSON.parse((await ssh(lab(), a.address, `ip -j route get ${b.address}`)).stdout)
    expect(same[0].gateway).toBeUndefined()
    const across = JSON.parse((await ssh(lab(), a.address, `ip -j route get ${c.address}`)).stdout)
    expect(across[0].gateway).toBe(lab().gateway)
    // TTL 64 arrives as 64 on the same LAN and 63 across the router (busybox/iputils ping prints ttl=).
    expect((await ssh(lab(), a.address, `ping -c1 -W2 ${b.address}`)).stdout).toMatch(/ttl=64/)
    expect((await ssh(lab(), a.address, `ping -c1 -W2 ${c.address}`)).stdout).toMatch(/ttl=63/)
    // And the LANs really are separate segments: no neighbour entry of node3 on node1.
    const neigh = JSON.parse((await ssh(lab(), a.address, 'ip -j neigh show dev eth0')).stdout) as Array<{ dst: string }>
    expect(neigh.map((n) => n.dst)).not.toContain(c.address)
  })

  it('writes the LAN of each host into the inventory', () => {
    const inv = readFileSync(lab().inventoryPath, 'utf8')
    const [, , c] = lab().hosts
    const l2 = lab().lans![1]
    expect(inv).toContain(`node3 ansible_host=${c.address} lab_lan=2 lab_gateway=${l2.gateway} lab_lan_cidr=${l2.cidr}`)
    expect(inv).toMatch(/\[lan1\]\nnode1\nnode2\n/)
    expect(inv).toMatch(/\[lan2\]\nnode3\nnode4\n/)
  })
})

describe.skipIf(labSkipReason)('multi-LAN lab input and teardown', () => {
  it('rejects more LANs than hosts and --lans with --ipv6 before creating anything', async () => {
    await expect(up({ hosts: 1, lans: 2, prefix: uniquePrefix() })).rejects.toThrow(LabInputError)
    await expect(up({ hosts: 2, lans: 2, ipv6: true, prefix: uniquePrefix() })).rejects.toThrow(/--ipv6/)
  })

  it('releases every slot and removes the controller route on down', async () => {
    const lab = await up({ hosts: 2, lans: 2, prefix: uniquePrefix() })
    const slots = lab.lans!.map((l) => l.slot)
    await down(lab.prefix)
    for (const j of slots) expect(existsSync(`${SLOTS_DIR}/${j}/owner`) && readFileSync(`${SLOTS_DIR}/${j}/owner`, 'utf8') === lab.dir).toBe(false)
    expect((await shLocal(`ip route show ${lab.lans![1].cidr}`)).stdout).toBe('')
    expect((await shLocal('ip netns list')).stdout).not.toContain(`${lab.prefix}-`)
  })
})
