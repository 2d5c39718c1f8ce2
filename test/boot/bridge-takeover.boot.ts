/**
 * bridgeTakeover on hosts that boot real systemd, one network manager each (networkd, NetworkManager,
 * netplan on networkd, ifupdown): the bridge strategy of playbooks/cross-host.ts takes eth0 over under
 * commit-confirmed; the host's own manager then owns br0 (it loaded the new configuration), SSH stays;
 * after a clean reboot and a power cut br0 comes back from the persisted files with eth0's address, route
 * and MAC, STP off; `orch rollback` gives eth0 back with the manager's own files as they were, and a
 * reboot then boots plain eth0. Everything is asserted on the host (ip -j, bridge, networkctl, nmcli,
 * ifquery, netplan) over SSH, as an operator would look.
 */
import { rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { bootUnavailableReason, type Lab, type LabHost } from '../../src/lab/index.ts'
import { labSkipReason, ssh, withLab } from '../helpers/lab.ts'
import { orch, run as runStrategy } from '../lab/playbook-common.ts'
import { expectManagerOwnsEth0, run } from './manager.ts'

const skip = labSkipReason ?? (await bootUnavailableReason())
const WINDOW = 'test/boot/fixtures/takeover-window.ts'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const CONFIG = '/etc/systemd/network/* /etc/netplan/* /etc/NetworkManager/system-connections/* /etc/network/interfaces /etc/network/interfaces.d/*'
/** The network configuration files of every manager, with mode: what a rollback must give back. */
const configFiles = (lab: Lab, h: LabHost) => run(lab, h, `for f in ${CONFIG}; do [ -f "$f" ] || continue; echo "== $f $(stat -c %a "$f")"; cat "$f"; done`)

async function expectBridge(lab: Lab, h: LabHost, mac: string, o: { committed: boolean } = { committed: true }): Promise<void> {
  const etcOrRun = (etc: string) => (o.committed ? etc : etc.replace(/^\/etc\/systemd\/network\//, '/run/systemd/network/').replace(/^\/etc\/NetworkManager\//, '/run/NetworkManager/'))
  const br = JSON.parse(await run(lab, h, 'ip -d -j link show dev br0'))[0]
  expect(br.address, h.name).toBe(mac)
  expect(br.linkinfo.info_data.stp_state, `${h.name}: STP off`).toBe(0)
  expect(JSON.parse(await run(lab, h, 'ip -j link show dev eth0'))[0].master, h.name).toBe('br0')
  expect(await run(lab, h, 'bridge link show dev eth0'), h.name).toMatch(/master br0 state forwarding/)
  const addrs = JSON.parse(await run(lab, h, 'ip -j -4 addr show dev br0'))[0].addr_info.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`)
  expect(addrs, h.name).toEqual([`${h.address}/24`])
  expect(JSON.parse(await run(lab, h, 'ip -j -4 addr show dev eth0'))[0]?.addr_info ?? [], h.name).toEqual([])
  expect(JSON.parse(await run(lab, h, 'ip -j -4 route show default')), h.name).toMatchObject([{ dev: 'br0', gateway: lab.gateway }])
  // The manager owns br0: it loaded (or booted) the configuration orch wrote.
  switch (h.manager) {
    case 'networkd':
    case 'netplan': {
      const st = await run(lab, h, 'networkctl status br0 --no-pager')
      expect(st, h.name).toMatch(/State: routable \(configured\)/)
      expect(st, h.name).toContain(`Network File: ${h.manager === 'netplan' ? '/run/systemd/network/10-netplan-br0.network' : etcOrRun('/etc/systemd/network/10-orch-br0.network')}`)
      expect(await run(lab, h, 'networkctl status eth0 --no-pager'), h.name).toMatch(/State: enslaved \(configured\)/)
      if (h.manager === 'netplan') expect(await run(lab, h, 'netplan get bridges.br0.interfaces'), h.name).toContain('eth0')
      break
    }
    case 'networkmanager': {
      const dev = await run(lab, h, 'nmcli -t -f DEVICE,STATE,CONNECTION device')
      expect(dev, h.name).toContain('br0:connected:orch-br0\n')
      expect(dev, h.name).toContain('eth0:connected:orch-br0-eth0\n')
      expect(await run(lab, h, 'nmcli -t -f NAME,FILENAME connection show --active'), h.name).toContain(`orch-br0:${etcOrRun('/etc/NetworkManager/system-connections/orch-br0.nmconnection')}`)
      break
    }
    case 'ifupdown':
      // ifupdown has no daemon: br0 is recorded (and its stanza written) at the commit.
      if (!o.committed) break
      expect(await run(lab, h, 'ifquery --state br0'), h.name).toBe('br0=br0\n')
      expect(await run(lab, h, 'ifquery br0'), h.name).toMatch(/bridge[-_]ports: eth0/)
      break
  }
}

/**
 * eth0 as the kernel holds it: MAC, MTU, master, IPv4 and IPv6 addresses with their flags (the kernel's
 * link-local one too, once its duplicate address detection is over), every route of every table through it.
 */
async function eth0State(lab: Lab, h: LabHost): Promise<string> {
  for (let i = 0; i < 100 && (await run(lab, h, 'ip -6 addr show dev eth0 tentative')) !== ''; i++) await sleep(100)
  const link = JSON.parse(await run(lab, h, 'ip -j link show dev eth0'))[0]
  const addrs = JSON.parse(await run(lab, h, 'ip -j addr show dev eth0'))[0].addr_info.map((a: any) => ({ ...a, valid_life_time: undefined, preferred_life_time: undefined }))
  const routes = [...JSON.parse(await run(lab, h, 'ip -4 -j route show table all dev eth0')), ...JSON.parse(await run(lab, h, 'ip -6 -j route show table all dev eth0'))]
  return JSON.stringify({ mac: link.address, mtu: link.mtu, master: link.master ?? null, addrs, routes }, null, 1)
}

/** SSH from the second controller address, which reaches the host only through its default route. */
const viaDefaultRoute = async (lab: Lab, h: LabHost) => expect((await ssh(lab, h.address, 'true', ['-b', lab.controllerIp2])).code, h.name).toBe(0)

describe.skipIf(skip)('bridgeTakeover on booted hosts, one network manager each', () => {
  const lab = withLab({ hosts: 4, boot: true, docker: true, manager: 'networkd,networkmanager,netplan,ifupdown' })
  const before = new Map<string, { mac: string; files: string }>()
  const runs: string[] = []
  const eth0s = new Map<string, string>()

  /** Every host as it booted the first time: eth0's MAC, the manager's files, eth0 as the kernel holds it. */
  async function record(): Promise<void> {
    if (before.size) return
    expect(lab().hosts.map((h) => h.manager)).toEqual(['networkd', 'networkmanager', 'netplan', 'ifupdown'])
    for (const h of lab().hosts) {
      await expectManagerOwnsEth0(lab(), h)
      before.set(h.name, { mac: JSON.parse(await run(lab(), h, 'ip -j link show dev eth0'))[0].address, files: await configFiles(lab(), h) })
      eth0s.set(h.name, await eth0State(lab(), h))
    }
  }

  /** Plain eth0 from the manager's own files, byte for byte as before, no br0, reachable through the default route. */
  async function expectPlainEth0(h: LabHost, why: string): Promise<void> {
    expect((await ssh(lab(), h.address, 'ip link show dev br0')).code, `${h.name}: br0 ${why}`).not.toBe(0)
    await expectManagerOwnsEth0(lab(), h)
    await viaDefaultRoute(lab(), h)
    expect(await configFiles(lab(), h), h.name).toBe(before.get(h.name)!.files)
    expect(await eth0State(lab(), h), h.name).toBe(eth0s.get(h.name))
  }

  it('the bridge strategy: br0 takes over eth0 and the host\'s own manager loads it; SSH kept; the matrix passes; committed', async () => {
    await record()
    const r = await runStrategy(lab(), 'bridge')
    expect(r.code, r.err + JSON.stringify(r.doc?.transaction)).toBe(0)
    expect(r.doc.transaction.status).toBe('committed')
    expect(r.doc.checks.every((c: { ok: boolean }) => c.ok), JSON.stringify(r.doc.checks)).toBe(true)
    runs.push(r.doc.orch.runId)
    for (const h of lab().hosts) {
      await expectBridge(lab(), h, before.get(h.name)!.mac)
      await viaDefaultRoute(lab(), h)
      expect(await configFiles(lab(), h), `${h.name}: the manager's files changed`).not.toBe(before.get(h.name)!.files)
    }
  })

  for (const hard of [false, true]) {
    it(`${hard ? 'a power cut' : 'a clean reboot'}: every host boots into br0 with eth0's address, route and MAC; a new run changes nothing of the takeover and the matrix passes`, async () => {
      await Promise.all(lab().hosts.map((h) => lab().reboot(h, { hard })))
      for (const h of lab().hosts) {
        await expectBridge(lab(), h, before.get(h.name)!.mac)
        await viaDefaultRoute(lab(), h)
      }
      const r = await runStrategy(lab(), 'bridge')
      expect(r.code, r.err + JSON.stringify(r.doc?.transaction)).toBe(0)
      expect(r.doc.checks.every((c: { ok: boolean }) => c.ok), JSON.stringify(r.doc.checks)).toBe(true)
      const takeover = r.doc.plays.flatMap((p: any) => p.tasks).find((t: any) => t.task.module === 'bridge_takeover')
      for (const h of lab().hosts) expect(takeover.hosts[h.name].changed, `${h.name}: ${JSON.stringify(takeover.hosts[h.name].changes)}`).toBe(false)
      if (r.doc.transaction.status === 'committed') runs.push(r.doc.orch.runId)
    })
  }

  it('orch rollback: eth0 back from the manager\'s own files, as they were; a reboot boots plain eth0', async () => {
    for (const id of [...runs].reverse()) {
      const r = await orch('rollback', '-i', lab().inventoryPath, '--run', id)
      expect(r.code, `rollback ${id}: ${r.out}${r.err}`).toBe(0)
    }
    for (const h of lab().hosts) await expectPlainEth0(h, 'after orch rollback')
    await Promise.all(lab().hosts.map((h) => lab().reboot(h)))
    for (const h of lab().hosts) await expectPlainEth0(h, 'after the reboot')
  })

  for (const hard of [false, true]) {
    it(`${hard ? 'a power cut' : 'a clean reboot'} inside the confirm window: every host boots plain eth0 as before the run, the run reports rolled-back-by-reboot and exits non-zero; the next run is not blocked`, async () => {
      await record()
      const go = join(tmpdir(), `orch-test-go-${process.pid}-${hard ? 'hard' : 'clean'}`)
      rmSync(go, { force: true })
      const running = orch('run', WINDOW, '-i', lab().inventoryPath, '-e', `orch_test_go=${go}`, '--json')
      let r
      try {
        // Inside the window: every takeover made and checked, the run held in its checks, nothing committed.
        for (const h of lab().hosts) {
          for (let i = 0; (await lab().exec(h, 'test -f /run/orch-test-held')).code !== 0; i++) {
            if (i > 1200) throw new Error(`${h.name}: the run never reached its check: ${JSON.stringify(await Promise.race([running, sleep(1)]))}`)
            await sleep(250)
          }
        }
        for (const h of lab().hosts) {
          await expectBridge(lab(), h, before.get(h.name)!.mac, { committed: false })
          expect(await configFiles(lab(), h), `${h.name}: /etc written before the commit`).toBe(before.get(h.name)!.files)
          expect(await run(lab(), h, 'test -e /var/lib/orch/lock && echo held'), h.name).toBe('held\n')
        }
        // (Four hosts with docker booting at once on a loaded machine: more than the default 120 s at worst.)
        await Promise.all(lab().hosts.map((h) => lab().reboot(h, { hard, timeoutMs: 300_000 })))
        // Before the controller did anything: the boot units rolled the run back and released the host.
        for (const h of lab().hosts) {
          await expectPlainEth0(h, 'after the reboot')
          expect((await ssh(lab(), h.address, 'test -e /var/lib/orch/lock')).code, `${h.name}: lock left`).not.toBe(0)
          expect(await run(lab(), h, 'systemctl is-active orch-boot-rollback.service orch-boot-rollback-late.service || true'), h.name).toBe('inactive\ninactive\n')
        }
      } finally {
        writeFileSync(go, '')
        r = await running
      }
      expect(r.code, r.out).not.toBe(0)
      for (const h of lab().hosts) expect(r.doc.transaction.hosts[h.name], h.name).toMatchObject({ status: 'rolled-back-by-reboot', restored: true })
      // Not blocked: the next run takes the hosts, commits, and is rolled back.
      const next = await orch('run', WINDOW, '-i', lab().inventoryPath, '-e', 'orch_test_hold=no', '--json')
      expect(next.code, next.err + JSON.stringify(next.doc?.transaction)).toBe(0)
      expect(next.doc.transaction.status).toBe('committed')
      const rb = await orch('rollback', '-i', lab().inventoryPath)
      expect(rb.code, rb.out + rb.err).toBe(0)
      for (const h of lab().hosts) await expectPlainEth0(h, 'after orch rollback')
    }, 900_000)
  }
})
