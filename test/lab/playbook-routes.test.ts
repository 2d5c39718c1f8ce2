/**
 * playbooks/cross-host.ts with orch_strategy=routes on 3 lab hosts (dockerd each), through the real CLI
 * over SSH: docker0 re-subnetted per host, routes, forwarding, NAT only out of the cluster; the allocation
 * skips routes the hosts already have; bad variables are refused before any host is touched.
 */
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { Lab } from '../../src/lab/index.ts'
import { labSkipReason, withLab } from '../helpers/lab.ts'
import { changeLines, exec, orch, PLAYBOOK, probeIps, refused, run, snapshots, strategySuite } from './playbook-common.ts'
import { renderCheck, type CheckHost } from '../../src/checks/index.ts'
import { nsenterConnection } from '../../src/lab/connection.ts'
import { probeMatrix } from '../../src/crosshost/index.ts'

async function assertRoutes(lab: Lab): Promise<void> {
  const subnets = ['10.244.0.0/24', '10.244.1.0/24', '10.244.2.0/24']
  const ips = await probeIps(lab, 'eth0')
  for (const [i, h] of lab.hosts.entries()) {
    // docker0 holds the first address of the host's /24; the probe got an address in it.
    const docker0 = JSON.parse(await exec(lab, h, 'ip -j -4 addr show dev docker0'))[0].addr_info[0]
    expect(`${docker0.local}/${docker0.prefixlen}`).toBe(subnets[i].replace('.0/24', '.1/24'))
    expect(ips.get(h.name)!.startsWith(subnets[i].replace('.0/24', '.'))).toBe(true)
    // A static route to every other host's subnet via its LAN address.
    const routes = JSON.parse(await exec(lab, h, 'ip -j -4 route show proto static')) as Array<{ dst: string; gateway: string }>
    const want = lab.hosts.filter((p) => p !== h).map((p) => ({ dst: subnets[lab.hosts.indexOf(p)], gateway: p.address }))
    expect(routes.map((r) => ({ dst: r.dst, gateway: r.gateway })).sort((a, b) => a.dst.localeCompare(b.dst))).toEqual(want)
    expect((await exec(lab, h, 'cat /proc/sys/net/ipv4/ip_forward')).trim()).toBe('1')
    const filter = await exec(lab, h, 'iptables -S ORCH-FORWARD')
    expect(filter).toContain('-A ORCH-FORWARD -s 10.244.0.0/16 -o docker0')
    const nat = await exec(lab, h, 'iptables -t nat -S')
    expect(nat).toMatch(/-A POSTROUTING -j ORCH-POSTROUTING/)
    expect(nat).toContain(`-A ORCH-POSTROUTING -s ${subnets[i]} -d 10.244.0.0/16`)
  }
  // Inside the cluster the container's own address arrives (no NAT): node2's probe sees node1's probe as
  // the peer of a TCP connection. Leaving the cluster it is masqueraded: the LAN gateway, which has no
  // route to 10.244.0.0/16, answers the probe's ping.
  const [a, b] = lab.hosts
  await exec(lab, b, "docker exec -d orch-probe sh -c 'sleep 8 | nc -l -p 7920'")
  await new Promise((r) => setTimeout(r, 300))
  await exec(lab, a, `docker exec -d orch-probe sh -c 'sleep 8 | nc ${ips.get(b.name)} 7920'`)
  let peers = ''
  for (let i = 0; i < 20 && !peers.includes(':7920'); i++) {
    peers = await exec(lab, b, 'docker exec orch-probe netstat -tn')
    if (!peers.includes(':7920')) await new Promise((r) => setTimeout(r, 200))
  }
  const re = (ip: string) => `(::ffff:)?${ip.replace(/\./g, '\\.')}`
  expect(peers).toMatch(new RegExp(`${re(ips.get(b.name)!)}:7920 +${re(ips.get(a.name)!)}:\\d+ +ESTABLISHED`))
  await exec(lab, a, `docker exec orch-probe ping -c 1 -W 2 ${lab.gateway}`)
}

describe.skipIf(labSkipReason)('playbook cross-host.ts: routes', () => {
  const lab = withLab({ hosts: 3, docker: true })

  it('refuses bad variables before any host is touched, naming host and variable', async () => {
    await refused(lab(), 'routes', ['orch_strategy=carrier-pigeon'], 'orch_strategy')
    await refused(lab(), 'routes', ['cluster_cidr=10.0.0.0/33'], 'cluster_cidr')
    await refused(lab(), 'routes', ['cluster_cidr=10.244.0.0/25'], 'cluster_cidr')
    await refused(lab(), 'routes', ['container_subnet=10.1.0.0/24'], 'container_subnet', 'node1')
    await refused(lab(), 'routes', ['probe_name=probe;reboot'], 'probe_name')
    await refused(lab(), 'routes', ['confirm_timeout=1'], 'confirm_timeout')
    // A host's own variable: the error names that host.
    const dir = mkdtempSync(join(tmpdir(), 'orch-pb-routes-'))
    const inv = join(dir, 'inventory.ini')
    writeFileSync(inv, readFileSync(lab().inventoryPath, 'utf8').replace(/^(node2 .*)$/m, '$1 container_subnet=10.244.7.0/33'))
    const r = await orch('run', PLAYBOOK, '-i', inv)
    expect(r.code, r.err).toBe(5)
    expect(r.err).toContain('node2: container_subnet: expected an IPv4 CIDR')
  })

  strategySuite(lab, 'routes', { assertState: assertRoutes, other: 'vxlan' })

  it('allocates around a route a host already has, and keeps a container_subnet set in the inventory', async () => {
    const [, b] = lab().hosts
    // node2 already routes 10.244.1.0/24 somewhere else: nobody may get that /24.
    await exec(lab(), b, `ip route add 10.244.1.0/24 via ${lab().gateway}`)
    try {
      const before = await snapshots(lab())
      const r = await run(lab(), 'routes', '--check')
      expect(r.code, r.err).toBe(0)
      const bip = (h: string) => changeLines(r.doc, h).find((l) => l.includes('daemon.json "bip"'))
      expect(bip('node1')).toContain('10.244.0.1/24')
      expect(bip('node2')).toContain('10.244.2.1/24')
      expect(bip('node3')).toContain('10.244.3.1/24')
      expect(await snapshots(lab())).toEqual(before)

      // A container_subnet set in the inventory is kept; the others are allocated around it.
      const dir = mkdtempSync(join(tmpdir(), 'orch-pb-routes-'))
      const pinned = join(dir, 'pinned.ini')
      writeFileSync(pinned, readFileSync(lab().inventoryPath, 'utf8').replace(/^(node1 .*)$/m, '$1 container_subnet=10.244.2.0/24'))
      const p = await orch('run', PLAYBOOK, '-i', pinned, '--check', '--json')
      expect(p.code, p.err).toBe(0)
      const pbip = (h: string) => changeLines(p.doc, h).find((l) => l.includes('daemon.json "bip"'))
      expect([pbip('node1'), pbip('node2'), pbip('node3')].map((l) => /"([\d./]+)"$/.exec(l ?? '')?.[1])).toEqual(['10.244.2.1/24', '10.244.0.1/24', '10.244.3.1/24'])

      // A container_subnet that collides with that route is refused by the survey, before any change.
      const inv = join(dir, 'inventory.ini')
      writeFileSync(inv, readFileSync(lab().inventoryPath, 'utf8').replace(/^(node3 .*)$/m, '$1 container_subnet=10.244.1.0/24'))
      const bad = await orch('run', PLAYBOOK, '-i', inv, '--json')
      expect(bad.code).toBe(2)
      expect(JSON.stringify(bad.doc)).toContain('container_subnet 10.244.1.0/24 of node3 overlaps the route')
      expect(await snapshots(lab())).toEqual(before)
    } finally {
      await exec(lab(), b, `ip route del 10.244.1.0/24 via ${lab().gateway}`)
    }
  })

  it('the container matrix names the one pair a DOCKER-USER rule cuts, and passes again without it', async () => {
    const r = await run(lab(), 'routes')
    expect(r.code, r.err).toBe(0)
    try {
      const [a, , c] = lab().hosts
      const ips = await probeIps(lab(), 'eth0')
      const hosts = (): CheckHost[] =>
        lab().hosts.map((h) => ({ host: { name: h.name, vars: {}, groups: ['all'] }, vars: {}, address: h.address, conn: nsenterConnection(lab(), h) }))
      // node3 drops new TCP connections from node1's probe to its own (after the playbook: a run would put its accept first).
      const rule = `DOCKER-USER -s ${ips.get(a.name)} -d ${ips.get(c.name)} -p tcp --syn -j DROP`
      await exec(lab(), c, `iptables -I ${rule}`)
      try {
        const bad = await probeMatrix({ tcpBytes: 1 << 20 }).run(hosts())
        expect(bad.ok).toBe(false)
        expect(bad.probes.filter((p) => !p.ok).map((p) => `${p.from}->${p.to}`)).toEqual([`${a.name}->${c.name}`])
        expect(renderCheck(bad)).toContain(`! ${a.name} -> ${c.name}: tcp: 0 of 1048576 bytes arrived (no connection reached ${c.name}:7700; ${a.name}'s sender exit 1`)
      } finally {
        await exec(lab(), c, `iptables -D ${rule}`)
      }
      const good = await probeMatrix({ tcpBytes: 1 << 20 }).run(hosts())
      expect(good.ok, renderCheck(good)).toBe(true)
      expect(good.probes).toHaveLength(6)
    } finally {
      const rb = await orch('rollback', '-i', lab().inventoryPath)
      expect(rb.code, rb.out + rb.err).toBe(0)
    }
  })

  it('a failed check rolls every host back: node3 drops what comes for its containers', async () => {
    const [, , c] = lab().hosts
    // In the raw table, which neither docker nor orch touch (nor the snapshots compare).
    await exec(lab(), c, 'iptables -t raw -I PREROUTING -d 10.244.0.0/16 -j DROP')
    try {
      const before = await snapshots(lab())
      const r = await run(lab(), 'routes')
      expect(r.code).toBe(2)
      const matrix = r.doc.checks.find((x: any) => /container to container/.test(x.name))
      expect(matrix.ok).toBe(false)
      const failed = matrix.probes.filter((p: any) => !p.ok).map((p: any) => `${p.from}->${p.to}`).sort()
      // Both ways: node3's own probe gets no answers back either. node1 <-> node2 still work.
      expect(failed).toEqual(['node1->node3', 'node2->node3', 'node3->node1', 'node3->node2'])
      expect(r.doc.transaction.status).toBe('rolled-back')
      for (const h of lab().hosts) expect(r.doc.transaction.hosts[h.name]).toMatchObject({ status: 'rolled-back', restored: true })
      expect(await snapshots(lab())).toEqual(before)
    } finally {
      await exec(lab(), c, 'iptables -t raw -D PREROUTING -d 10.244.0.0/16 -j DROP')
    }
  })

  // The allocation is the engine's barrier (gather phase: every host's routes, then one plan), not a
  // wait inside a task: `free -f 2` on three hosts held both slots polling for the third (60 s, failed).
  const scheduled: Array<[string, string[]]> = [
    ['--strategy free -f 2', [PLAYBOOK, '--strategy', 'free', '-f', '2']],
    ['serial: 1 with --strategy free -f 1', ['test/fixtures/playbooks/cross-host-serial.ts', '--strategy', 'free', '-f', '1']],
  ]
  for (const [label, args] of scheduled) {
    it(`${label}: the run completes, the matrix passes, the survey barrier is reached once per host`, async () => {
      const before = await snapshots(lab())
      const r = await orch('run', ...args, '-i', lab().inventoryPath, '-e', 'orch_strategy=routes', '--json')
      try {
        expect(r.code, r.err + JSON.stringify(r.doc?.checks ?? r.doc, null, 1).slice(0, 3000)).toBe(0)
        expect(r.doc.transaction.status).toBe('committed')
        expect(r.doc.checks.every((c: any) => c.ok)).toBe(true)
        const names = lab().hosts.map((h) => h.name)
        expect(r.doc.plays[0].play.barriers.map((b: any) => ({ ...b, hosts: [...b.hosts].sort() }))).toEqual([{ name: 'route survey', hosts: names, planned: 1 }])
        const survey = r.doc.plays[0].tasks.filter((t: any) => t.task.module === 'survey')
        expect(survey).toHaveLength(1)
        expect(Object.keys(survey[0].hosts).sort()).toEqual(names)
        await assertRoutes(lab())
      } finally {
        const rb = await orch('rollback', '-i', lab().inventoryPath)
        expect(rb.code, rb.out + rb.err).toBe(0)
      }
      expect(await snapshots(lab())).toEqual(before)
    })
  }
})
