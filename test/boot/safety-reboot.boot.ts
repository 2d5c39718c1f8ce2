/**
 * A reboot inside a run's window is a rollback (issue 16 §3), on hosts that boot systemd, through the real
 * CLI: the routes strategy (docker0 re-subnetted with a docker restart: daemon.json is written in the
 * window; routes, NAT, a probe container) runs, and while it is still inside its window one host reboots,
 * cleanly or by a power cut. That host boots into its pre-run state (orch-boot-rollback*.service undid
 * what the window left on disk and the container docker would start again), is reachable, the run
 * reports it rolled back by reboot and exits non-zero, and the next run is not blocked.
 */
import { describe, expect, it } from 'vitest'
import { bootUnavailableReason } from '../../src/lab/index.ts'
import { labSkipReason, ssh, withLab } from '../helpers/lab.ts'
import { exec, orch, PLAYBOOK } from '../lab/playbook-common.ts'
import { bootSnapshots as state } from './manager.ts'

const skip = labSkipReason ?? (await bootUnavailableReason())
const WINDOW = 'test/boot/fixtures/reboot-window.ts'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe.skipIf(skip)('a reboot inside the window is a rollback (booted hosts, routes strategy)', () => {
  const lab = withLab({ hosts: 2, boot: true, docker: true, manager: 'networkd,netplan' })

  for (const hard of [false, true]) {
    it(`${hard ? 'a power cut' : 'a clean reboot'} inside the window: the host boots into its pre-run state, the run reports it rolled back by reboot and exits non-zero; the next run is not blocked`, async () => {
      const [stay, boots] = lab().hosts
      await exec(lab(), stay, 'rm -f /run/orch-go /run/orch-window')
      const before = await state(lab())
      const running = orch('run', WINDOW, '-i', lab().inventoryPath, '-e', 'orch_strategy=routes', '--json')
      let r
      try {
        // Inside the window: every change made (the checks run after the last task), nothing committed.
        for (let i = 0; (await lab().exec(boots, 'test -e /run/orch-window')).code !== 0; i++) {
          if (i > 600) throw new Error(`the run never reached its checks: ${JSON.stringify(await Promise.race([running, sleep(1)]))}`)
          await sleep(250)
        }
        expect(await exec(lab(), boots, 'cat /var/lib/orch/lock')).toMatch(/^\S+ \d+ /)
        expect(await state(lab())).not.toEqual(before)
        await lab().reboot(boots, { hard })
        // Reachable, in its pre-run state, before the controller did anything to it.
        expect((await ssh(lab(), boots.address, 'true')).code).toBe(0)
        expect((await state(lab()))[boots.name]).toEqual(before[boots.name])
      } finally {
        await exec(lab(), stay, 'touch /run/orch-go')
        r = await running
      }
      expect(r.code, r.err).not.toBe(0)
      expect(r.doc.transaction.hosts[boots.name]).toMatchObject({ status: 'rolled-back-by-reboot', restored: true })
      expect(r.doc.transaction.hosts[stay.name]).toMatchObject({ status: 'rolled-back', restored: true })
      expect(await state(lab())).toEqual(before)
      // What the boot units did, on the host's own journal; nothing of them stays running.
      expect(await exec(lab(), boots, 'systemctl is-active orch-boot-rollback.service orch-boot-rollback-late.service || true')).toBe('inactive\ninactive\n')
      expect(await exec(lab(), boots, 'journalctl -b -u orch-boot-rollback.service --no-pager -o cat')).toContain('Finished')
      // The next run is not blocked (no lock left, no unfinished run), commits, and is rolled back again.
      const next = await orch('run', PLAYBOOK, '-i', lab().inventoryPath, '-e', 'orch_strategy=routes', '--json')
      expect(next.code, next.err).toBe(0)
      expect(next.doc.transaction.status).toBe('committed')
      expect((await orch('rollback', '-i', lab().inventoryPath)).code).toBe(0)
      expect(await state(lab())).toEqual(before)
    })
  }
})
