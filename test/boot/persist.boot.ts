/**
 * Persisted at commit (model/persist.ts, safety/atcommit.ts) on hosts that boot real systemd, one network
 * manager each (networkd, NetworkManager, netplan on networkd, ifupdown): after a committed run of the routes and the vxlan
 * strategy, every host is rebooted (clean, and a power cut) and, with nothing re-run from the controller,
 * orch's container matrix passes again; a second run changes nothing; `orch rollback` then a reboot leaves
 * every host equal to its pre-run snapshot, with none of orch's files. One lab for all of it.
 */
import { describe, expect, it } from 'vitest'
import { bootUnavailableReason, type Lab, type LabHost } from '../../src/lab/index.ts'
import { nsenterConnection } from '../../src/lab/connection.ts'
import { renderCheck, type CheckHost } from '../../src/checks/index.ts'
import { probeMatrix } from '../../src/crosshost/index.ts'
import { snapshotDiff } from '../helpers/snapshot.ts'
import { labSkipReason, withLab } from '../helpers/lab.ts'
import { exec, orch, run, snapshots, type StrategyName } from '../lab/playbook-common.ts'

const skip = labSkipReason ?? (await bootUnavailableReason())

/**
 * Every file a run may have written outside its journal. orch's own safety net is not a run's: begin
 * installs orch-boot-rollback(-late).service once, like /var/lib/orch/bin/rollback.sh, and it stays
 * (it does nothing at boot when no run is unfinished; docs/persistence.md).
 */
const ORCH_FILES =
  'ls -d /etc/orch /etc/systemd/system/orch-* /etc/systemd/system/*.wants/orch-* /etc/sysctl.d/*orch* 2>/dev/null | grep -v "/orch-boot-rollback\\(-late\\)\\?\\.service$"; true'

const hostsOf = (lab: Lab): CheckHost[] =>
  lab.hosts.map((h) => ({ host: { name: h.name, vars: {}, groups: ['all'] }, vars: { orch_strategy: 'routes' }, address: h.address, conn: nsenterConnection(lab, h) }))

/** orch's own container matrix (ping + 1 MiB TCP between every pair of probes), run from the test: no playbook. */
async function matrix(lab: Lab, strategy: StrategyName): Promise<void> {
  const hosts = hostsOf(lab).map((h) => ({ ...h, vars: { orch_strategy: strategy } }))
  const m = await probeMatrix({ tcpBytes: 1 << 20 }).run(hosts)
  expect(m.ok, renderCheck(m)).toBe(true)
  expect(m.probes).toHaveLength(lab.hosts.length * (lab.hosts.length - 1))
}

async function rebootAll(lab: Lab, hard: boolean): Promise<void> {
  await Promise.all(lab.hosts.map((h) => lab.reboot(h, { hard })))
}

const enabled = async (lab: Lab, h: LabHost, units: string[]) => (await lab.exec(h, `systemctl is-enabled ${units.join(' ')}`)).stdout.trim().split('\n')

/** A second run changes nothing, persisted files included. */
async function secondRunChangesNothing(lab: Lab, strategy: StrategyName): Promise<void> {
  const r = await run(lab, strategy)
  expect(r.code, r.err).toBe(0)
  for (const h of lab.hosts) expect(r.doc.stats[h.name].changed, `${h.name}: ${JSON.stringify(r.doc.plays?.[0]?.tasks?.filter((t: any) => t.results?.some((x: any) => x.changed)).map((t: any) => t.name))}`).toBe(0)
}

/**
 * A snapshot without what every boot makes anew: dockerd gives docker0 a random 02:42 MAC at each start
 * (a reboot without orch does the same).
 */
function bootless(snap: Record<string, unknown>): Record<string, unknown> {
  const strip = (l: any) => (typeof l?.address === 'string' && l.address.startsWith('02:42:') ? { ...l, address: '02:42:(per boot)' } : l)
  return Object.fromEntries(Object.entries(snap).map(([k, v]) => [k, (k === 'links' || k === 'addrs') && Array.isArray(v) ? v.map(strip) : v]))
}

/** orch rollback (of the committed run, on hosts that rebooted since), a reboot, then every host as before the run. */
async function rollbackThenReboot(lab: Lab, pre: Record<string, unknown>): Promise<void> {
  const rb = await orch('rollback', '-i', lab.inventoryPath)
  expect(rb.code, rb.out + rb.err).toBe(0)
  for (const h of lab.hosts) expect(await exec(lab, h, ORCH_FILES), h.name).toBe('')
  await rebootAll(lab, false)
  const now = await snapshots(lab)
  for (const h of lab.hosts) {
    expect(snapshotDiff(bootless(pre[h.name] as Record<string, unknown>), bootless(now[h.name] as Record<string, unknown>)), h.name).toEqual([])
    expect(await exec(lab, h, ORCH_FILES), h.name).toBe('')
    expect(await exec(lab, h, "iptables-save | grep -ci orch || true"), h.name).toBe('0\n')
  }
}

describe.skipIf(skip)('persisted at commit: the routes and vxlan strategies survive reboots (booted hosts)', () => {
  const lab = withLab({ hosts: 4, boot: true, docker: true, manager: 'networkd,networkmanager,netplan,ifupdown' })
  let pre: Record<string, unknown> = {}
  const subnet = (i: number) => `10.244.${i}.0/24`

  it('routes: the commit writes orch-routes/orch-nat units, their files and sysctl.d; they are enabled', async () => {
    expect(lab().hosts.map((h) => h.manager)).toEqual(['networkd', 'networkmanager', 'netplan', 'ifupdown'])
    pre = await snapshots(lab())
    const r = await run(lab(), 'routes')
    expect(r.code, r.err + r.out.slice(-2000)).toBe(0)
    expect(r.doc.transaction.status).toBe('committed')
    for (const [i, h] of lab().hosts.entries()) {
      expect(await enabled(lab(), h, ['orch-routes.service', 'orch-nat.service']), h.name).toEqual(['enabled', 'enabled'])
      const peers = lab().hosts.filter((p) => p !== h)
      const files = (await exec(lab(), h, 'ls /etc/orch/routes /etc/orch/nat')).split('\n').filter((l) => l.endsWith('.route') || l.endsWith('.rules'))
      expect(files.sort(), h.name).toEqual(
        [...peers.map((p) => `${subnet(lab().hosts.indexOf(p)).replace('/', '_')}-m0-t254.route`), `masquerade-${subnet(i).replace('/', '_')}.rules`, expect.stringMatching(/^forward-out-docker0-[0-9a-f]{10}\.rules$/)].sort(),
      )
      expect(await exec(lab(), h, 'cat /etc/sysctl.d/99-orch.conf')).toBe('net.ipv4.ip_forward = 1\n')
    }
  })

  for (const hard of [false, true]) {
    it(`routes: after ${hard ? 'a power cut' : 'a clean reboot'} of every host, routes, NAT and forward rules are back and the matrix passes, nothing re-run`, async () => {
      await rebootAll(lab(), hard)
      for (const [i, h] of lab().hosts.entries()) {
        // (networkd marks its own default route proto static too: only the containers' subnets.)
        const routes = (JSON.parse(await exec(lab(), h, 'ip -j -4 route show proto static')) as Array<{ dst: string; gateway: string }>).filter((x) => x.dst.startsWith('10.244.'))
        const want = lab().hosts.filter((p) => p !== h).map((p) => ({ dst: subnet(lab().hosts.indexOf(p)), gateway: p.address }))
        expect(routes.map((x) => ({ dst: x.dst, gateway: x.gateway })).sort((a, b) => a.dst.localeCompare(b.dst)), h.name).toEqual(want)
        const nat = await exec(lab(), h, 'iptables -t nat -S')
        expect(nat.split('\n').filter((l) => l.startsWith('-A POSTROUTING'))[0], `${h.name}: our jump first`).toBe('-A POSTROUTING -j ORCH-POSTROUTING')
        expect(nat).toContain(`-A ORCH-POSTROUTING -s ${subnet(i)} -d 10.244.0.0/16 -m comment --comment "orch masquerade ${subnet(i)}" -j ACCEPT`)
        expect(await exec(lab(), h, 'iptables -S DOCKER-USER')).toContain('-A DOCKER-USER -j ORCH-FORWARD')
        expect(await exec(lab(), h, 'iptables -S ORCH-FORWARD')).toContain('-A ORCH-FORWARD -s 10.244.0.0/16 -o docker0 -m comment --comment "orch forward-accept" -j ACCEPT')
        expect(await exec(lab(), h, 'cat /proc/sys/net/ipv4/ip_forward')).toBe('1\n')
        // Oneshot units: done, nothing left running.
        expect((await lab().exec(h, 'systemctl show -p ActiveState,SubState orch-routes orch-nat')).stdout).toBe('ActiveState=active\nSubState=exited\n\nActiveState=active\nSubState=exited\n')
      }
      await matrix(lab(), 'routes')
    })
  }

  it('routes: a second run changes nothing; orch status says what is persisted where', async () => {
    await secondRunChangesNothing(lab(), 'routes')
    const st = await orch('status', '-i', lab().inventoryPath)
    expect(st.code, st.err).toBe(0)
    expect(st.out).toContain(`persisted: orch-routes.service (enabled, ${lab().hosts.length - 1} files in /etc/orch/routes)`)
    expect(st.out).toContain('orch-nat.service (enabled, 2 files in /etc/orch/nat)')
  })

  it('routes: orch rollback after the reboots, then a reboot: every host as before the run, no orch file left', async () => {
    await rollbackThenReboot(lab(), pre)
  })

  it('vxlan: committed, then a power cut and a clean reboot: the device, its FDB and bridge come back, the matrix passes', async () => {
    const r = await run(lab(), 'vxlan')
    expect(r.code, r.err + r.out.slice(-2000)).toBe(0)
    for (const h of lab().hosts) expect(await enabled(lab(), h, ['orch-vxlan.service']), h.name).toEqual(['enabled'])
    const vx = async (h: LabHost) => {
      const link = JSON.parse(await exec(lab(), h, 'ip -d -j link show dev orch-vx42'))[0]
      const fdb = (await exec(lab(), h, 'bridge fdb show dev orch-vx42 | grep ^00:00:00:00:00:00')).trim().split('\n').sort()
      return { master: link.master, up: link.flags.includes('UP'), id: link.linkinfo.info_data.id, fdb }
    }
    const before = await Promise.all(lab().hosts.map(vx))
    for (const hard of [true, false]) {
      await rebootAll(lab(), hard)
      expect(await Promise.all(lab().hosts.map(vx)), hard ? 'power cut' : 'clean reboot').toEqual(before)
      await matrix(lab(), 'vxlan')
    }
    await secondRunChangesNothing(lab(), 'vxlan')
  })

  it('vxlan: orch rollback, then a reboot: every host as before the runs, no orch file left', async () => {
    await rollbackThenReboot(lab(), pre)
  })
})
