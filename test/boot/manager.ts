/** Helpers shared by the test/boot suites: what a booted host's network manager says about eth0, snapshots across a boot. */
import { expect } from 'vitest'
import type { Lab, LabHost } from '../../src/lab/index.ts'
import { ssh } from '../helpers/lab.ts'
import { snapshots } from '../lab/playbook-common.ts'

export async function run(lab: Lab, h: LabHost, cmd: string): Promise<string> {
  const r = await ssh(lab, h.address, cmd)
  if (r.code !== 0) throw new Error(`${h.name} (${h.manager}): ${cmd}: exit ${r.code}: ${r.stderr || r.stdout}`)
  return r.stdout
}

/** The host's own network manager configured eth0 from its own files (and no other manager runs). */
export async function expectManagerOwnsEth0(lab: Lab, h: LabHost): Promise<void> {
  const addr = JSON.parse(await run(lab, h, 'ip -j -4 addr show dev eth0'))[0].addr_info.map((a: { local: string }) => a.local)
  expect(addr, h.name).toEqual([h.address])
  expect(await run(lab, h, 'ip -4 route show default'), h.name).toContain(`default via ${lab.gateway} dev eth0`)
  const active = async (unit: string) => (await ssh(lab, h.address, `systemctl is-active ${unit}`)).stdout.trim()
  switch (h.manager) {
    case 'networkd':
    case 'netplan': {
      const st = await run(lab, h, 'networkctl status eth0 --no-pager')
      expect(st).toMatch(/State: routable \(configured\)/)
      const file = h.manager === 'netplan' ? '/run/systemd/network/10-netplan-eth0.network' : '/etc/systemd/network/10-eth0.network'
      expect(st).toContain(`Network File: ${file}`)
      expect(await active('NetworkManager')).not.toBe('active')
      break
    }
    case 'networkmanager':
      expect(await run(lab, h, 'nmcli -t -f DEVICE,STATE,CONNECTION device')).toContain('eth0:connected:eth0\n')
      expect(await run(lab, h, 'nmcli -t -f NAME,FILENAME connection show --active')).toContain('eth0:/etc/NetworkManager/system-connections/eth0.nmconnection')
      expect(await active('systemd-networkd')).not.toBe('active')
      break
    case 'ifupdown':
      expect(await run(lab, h, 'ifquery --state eth0')).toBe('eth0=eth0\n')
      expect(await active('networking')).toBe('active')
      expect(await active('systemd-networkd')).not.toBe('active')
      break
    default:
      throw new Error(`${h.name}: no manager recorded`)
  }
}

/**
 * Every host's snapshot, but docker0's MAC: dockerd makes docker0 afresh, with a new random MAC, at every
 * start, so a boot changes it whatever orch did (the netns lab's undo restores it; a reboot cannot).
 */
export async function bootSnapshots(l: Lab): Promise<Record<string, unknown>> {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip)
    if (!v || typeof v !== 'object') return v
    const o = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, strip(x)]))
    if (o.ifname === 'docker0') delete o.address
    return o
  }
  return strip(await snapshots(l)) as Record<string, unknown>
}
