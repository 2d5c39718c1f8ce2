/**
 * The booted lab itself: hosts that boot Debian 12 systemd, one network manager each, and reboot
 * (clean and power cut) with what a real machine keeps and loses. Everything is asserted on the host
 * (over SSH, as an operator would look) or on the controller's kernel and filesystem.
 */
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { bootUnavailableReason, repoRoot, type Lab, type LabHost } from '../../src/lab/index.ts'
import { labSkipReason, ssh, withLab } from '../helpers/lab.ts'
import { expectManagerOwnsEth0, run } from './manager.ts'

const skip = labSkipReason ?? (await bootUnavailableReason())
if (skip && !labSkipReason) console.warn(`booted lab tests skipped: ${skip}`)

// Boots the journal knows of (it lives in /var/log/journal, which stays): one line per boot after the header.
const boots = async (lab: Lab, h: LabHost) => Number(await run(lab, h, "journalctl --list-boots --no-pager | grep -cE '^ *-?[0-9]+ '"))

describe.skipIf(skip)('booted lab: systemd hosts, one network manager each, reboots', () => {
  const lab = withLab({ hosts: 4, boot: true, docker: true, ovs: true, manager: 'networkd,networkmanager,netplan,ifupdown' })

  it('every host boots systemd to "running" and its own network manager configured eth0', async () => {
    expect(lab().hosts.map((h) => h.manager)).toEqual(['networkd', 'networkmanager', 'netplan', 'ifupdown'])
    for (const h of lab().hosts) {
      expect(await run(lab(), h, 'systemctl is-system-running'), h.name).toBe('running\n')
      expect(await run(lab(), h, 'readlink /proc/1/exe; hostname'), h.name).toBe(`/usr/lib/systemd/systemd\n${h.name}\n`)
      await expectManagerOwnsEth0(lab(), h)
      expect(await run(lab(), h, 'systemctl is-active docker openvswitch-switch ssh')).toBe('active\nactive\nactive\n')
    }
    const inv = readFileSync(lab().inventoryPath, 'utf8')
    expect(inv).toContain(`node2 ansible_host=${lab().hosts[1].address} lab_network_manager=networkmanager`)
    expect(inv).toContain('[booted:children]')
  })

  for (const hard of [false, true]) {
    it(`${hard ? 'a power cut' : 'a clean reboot'}: /etc and /var stay; routes, rules, links, processes go; services come back`, async () => {
      const before = new Map<string, { boots: number; machineId: string }>()
      for (const h of lab().hosts) {
        await run(
          lab(),
          h,
          `set -e
          echo kept > /etc/orch-keep; echo kept > /var/lib/orch-keep
          ip route add 10.99.0.0/24 via ${lab().gateway}
          iptables -A INPUT -s 10.98.0.0/24 -j DROP
          ip link add brtmp type bridge
          systemd-run --quiet --unit=orch-sleep sleep 100000
          ovs-vsctl --may-exist add-br brp -- set bridge brp datapath_type=netdev`,
        )
        before.set(h.name, { boots: await boots(lab(), h), machineId: await run(lab(), h, 'cat /etc/machine-id') })
      }
      await Promise.all(lab().hosts.map((h) => lab().reboot(h, { hard })))
      for (const h of lab().hosts) {
        expect(before.get(h.name)!.boots, h.name).toBeGreaterThan(0)
        expect(await run(lab(), h, 'systemctl is-system-running'), h.name).toBe('running\n')
        expect(await boots(lab(), h), `${h.name}: one more boot in the journal`).toBe(before.get(h.name)!.boots + 1)
        expect(await run(lab(), h, 'cat /etc/machine-id'), h.name).toBe(before.get(h.name)!.machineId)
        expect(await run(lab(), h, 'cat /etc/orch-keep /var/lib/orch-keep')).toBe('kept\nkept\n')
        expect(await run(lab(), h, 'ip route show 10.99.0.0/24'), h.name).toBe('')
        expect(await run(lab(), h, 'iptables -S INPUT'), h.name).not.toContain('10.98.0.0/24')
        expect((await ssh(lab(), h.address, 'ip link show brtmp')).code, h.name).not.toBe(0)
        expect((await ssh(lab(), h.address, 'systemctl is-active orch-sleep')).stdout.trim(), h.name).not.toBe('active')
        expect(await run(lab(), h, 'pgrep -x sleep || true'), h.name).toBe('')
        await expectManagerOwnsEth0(lab(), h)
        // docker and Open vSwitch are enabled units: they start again, with their state (/var, /etc).
        expect(await run(lab(), h, 'systemctl is-active docker openvswitch-switch')).toBe('active\nactive\n')
        expect(await run(lab(), h, `docker run --rm --pull never ${lab().image} echo ok`), h.name).toBe('ok\n')
        expect(await run(lab(), h, 'ovs-vsctl list-br'), h.name).toContain('brp\n')
      }
    })
  }

  it('npm run lab:reboot reboots a host and returns once it answers on SSH; unknown hosts are named', async () => {
    const h = lab().hosts[0]
    const n = await boots(lab(), h)
    const out = await new Promise<{ code: number; text: string }>((resolve) =>
      execFile('node', ['bin/lab.js', 'reboot', '--hard', '--prefix', lab().prefix, h.name], { cwd: repoRoot }, (err, stdout, stderr) =>
        resolve({ code: err ? 1 : 0, text: stdout + stderr }),
      ),
    )
    expect(out.code, out.text).toBe(0)
    expect(out.text).toContain(`${h.name} rebooted (power cut)`)
    expect(await boots(lab(), h)).toBe(n + 1)
    await expect(lab().reboot('node9')).rejects.toThrow(`no lab host node9 in lab ${lab().prefix}`)
  })

  it('lab:down removes processes, network namespaces, cgroups, mounts and files', async () => {
    const l = lab()
    const pids = l.hosts.map((h) => h.pid)
    await l.down()
    for (const p of pids) expect(existsSync(`/proc/${p}`), `supervisor ${p}`).toBe(false)
    const nspawns = await new Promise<string>((r) => execFile('pgrep', ['-a', '-x', 'systemd-nspawn'], (_e, out) => r(out)))
    expect(nspawns).not.toContain(l.dir)
    const netns = await new Promise<string>((r) => execFile('ip', ['netns', 'list'], (_e, out) => r(out)))
    expect(netns).not.toMatch(new RegExp(`^${l.prefix}-`, 'm'))
    for (const h of l.hosts) {
      for (const root of ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified']) expect(existsSync(join(root, 'orch-lab', h.ns)), `${root} ${h.ns}`).toBe(false)
    }
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(l.dir)
    expect(existsSync(l.dir)).toBe(false)
  })
})
