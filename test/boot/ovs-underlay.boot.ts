/**
 * The OVS underlay move (ovsUnderlay: eth0's addresses and routes onto an OVS bridge) rebooted inside its
 * confirm window, on a host that boots systemd with openvswitch-switch: the OVS database keeps the new
 * bridge on disk, so the host would boot with eth0 a port of it. orch-boot-rollback.service puts the
 * database back as begin found it before ovsdb-server starts; the host boots eth0 with its address and
 * routes from its manager, reachable, the run reports it rolled back by reboot and exits non-zero, and
 * the next run is not blocked. Asserted on the host (ovs-vsctl, ip -j, its journal).
 */
import { rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { bootUnavailableReason, type Lab, type LabHost } from '../../src/lab/index.ts'
import { labSkipReason, ssh, withLab } from '../helpers/lab.ts'
import { orch } from '../lab/playbook-common.ts'
import { expectManagerOwnsEth0, run } from './manager.ts'

const skip = labSkipReason ?? (await bootUnavailableReason())
const WINDOW = 'test/boot/fixtures/takeover-window.ts'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** What OVS holds (bridges, ports, interfaces with their settings) and eth0's IPv4 addresses and routes. */
async function state(lab: Lab, h: LabHost): Promise<string> {
  const ovs = await run(lab, h, 'ovs-vsctl show')
  const addrs = JSON.parse(await run(lab, h, 'ip -4 -j addr show dev eth0'))[0].addr_info.map((a: any) => ({ ...a, valid_life_time: undefined, preferred_life_time: undefined }))
  const routes = JSON.parse(await run(lab, h, 'ip -4 -j route show table all dev eth0'))
  const link = JSON.parse(await run(lab, h, 'ip -j link show dev eth0'))[0]
  return JSON.stringify({ ovs, mac: link.address, master: link.master ?? null, addrs, routes }, null, 1)
}

describe.skipIf(skip)('the OVS underlay move rebooted inside its window (booted host, openvswitch-switch)', () => {
  const lab = withLab({ hosts: 1, boot: true, ovs: true, manager: 'networkd' })
  let before = ''

  for (const hard of [false, true]) {
    it(`${hard ? 'a power cut' : 'a clean reboot'} inside the window: the OVS database as before the run, eth0 back, reachable; rolled-back-by-reboot, exit non-zero; the next run is not blocked`, async () => {
      const h = lab().hosts[0]
      await expectManagerOwnsEth0(lab(), h)
      before ||= await state(lab(), h)
      expect(await run(lab(), h, 'ovs-vsctl br-exists br-ul; echo $?')).toBe('2\n')
      const go = join(tmpdir(), `orch-test-go-ovs-${process.pid}-${hard ? 'hard' : 'clean'}`)
      rmSync(go, { force: true })
      const running = orch('run', WINDOW, '-i', lab().inventoryPath, '-e', 'window_task=ovs', '-e', `orch_test_go=${go}`, '--json')
      let r
      try {
        for (let i = 0; (await lab().exec(h, 'test -f /run/orch-test-held')).code !== 0; i++) {
          if (i > 1200) throw new Error(`the run never reached its check: ${JSON.stringify(await Promise.race([running, sleep(1)]))}`)
          await sleep(250)
        }
        // Inside the window: eth0 is a port of br-ul, which holds its address and the default route.
        expect(await run(lab(), h, 'ovs-vsctl list-ports br-ul')).toBe('eth0\n')
        expect(JSON.parse(await run(lab(), h, 'ip -4 -j addr show dev br-ul'))[0].addr_info.map((a: any) => a.local)).toEqual([h.address])
        expect(await run(lab(), h, 'ip -4 route show default')).toContain('dev br-ul')
        const journal = `/var/lib/orch/journal/${(await run(lab(), h, 'ls -t /var/lib/orch/journal | head -n 1')).trim()}`
        expect(await run(lab(), h, `head -n 1 ${journal}/status`)).toBe('applying\n')
        await lab().reboot(h, { hard, timeoutMs: 300_000 })
        // Before the controller did anything: the database as the run found it, eth0 from networkd.
        expect(await run(lab(), h, 'ovs-vsctl br-exists br-ul; echo $?')).toBe('2\n')
        expect(await state(lab(), h)).toBe(before)
        await expectManagerOwnsEth0(lab(), h)
        expect((await ssh(lab(), h.address, 'true', ['-b', lab().controllerIp2])).code, 'SSH through the default route').toBe(0)
        expect((await ssh(lab(), h.address, 'test -e /var/lib/orch/lock')).code, 'lock left').not.toBe(0)
        expect(await run(lab(), h, `cat ${journal}/rollback.log`)).toContain('-- restored /etc/openvswitch/conf.db as the run found it')
        expect(await run(lab(), h, `head -n 1 ${journal}/status; cat ${journal}/rolled-back-by`)).toBe('rolled-back\nreboot\n')
      } finally {
        writeFileSync(go, '')
        r = await running
      }
      expect(r.code, r.out).not.toBe(0)
      expect(r.doc.transaction.hosts[h.name]).toMatchObject({ status: 'rolled-back-by-reboot', restored: true })
      // Not blocked: the next run commits, `orch rollback` gives eth0 back and OVS as it was.
      const next = await orch('run', WINDOW, '-i', lab().inventoryPath, '-e', 'window_task=ovs', '-e', 'orch_test_hold=no', '--json')
      expect(next.code, next.err + JSON.stringify(next.doc?.transaction)).toBe(0)
      expect(next.doc.transaction.status).toBe('committed')
      expect(await run(lab(), h, 'ovs-vsctl list-ports br-ul')).toBe('eth0\n')
      const rb = await orch('rollback', '-i', lab().inventoryPath)
      expect(rb.code, rb.out + rb.err).toBe(0)
      expect(await state(lab(), h)).toBe(before)
    }, 900_000)
  }
})
