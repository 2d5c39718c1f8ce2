/**
 * playbooks/cross-host.ts with orch_strategy=wireguard on 3 lab hosts, through the real CLI over SSH:
 * docker0 re-subnetted per host (as routes), the subnets carried by a WireGuard mesh. This kernel has no
 * WireGuard module, so the lab hosts run wireguard-go over /dev/net/tun. Asserted: the device and its
 * peers as the kernel/daemon hold them, only UDP to the WireGuard port on the underlay, the DF limits of
 * the MTU, key rotation and its rollback, and that no private key ever reaches the controller's output or
 * a host's journal.
 */
import { describe, expect, it } from 'vitest'
import type { Lab, LabHost } from '../../src/lab/index.ts'
import { argv } from '../../src/net/shell.ts'
import { labSkipReason, withLab } from '../helpers/lab.ts'
import { exec, pingMatrix, probeIps, refused, run, snapshots, strategySuite, orch } from './playbook-common.ts'

const KEY = '/etc/orch/wireguard/orch-wg0.key'

const privateKey = async (lab: Lab, h: LabHost) => (await exec(lab, h, `cat ${KEY}`)).trim()
const publicKey = async (lab: Lab, h: LabHost) => (await exec(lab, h, `wg pubkey < ${KEY}`)).trim()

/** No private key of any host in `text`, nor in any host's orch journal (entries, snapshots). */
async function assertNoKeyLeak(lab: Lab, text: string): Promise<void> {
  for (const h of lab.hosts) {
    const k = await privateKey(lab, h)
    expect(k).toMatch(/^[A-Za-z0-9+/]{43}=$/)
    expect(text.includes(k), `${h.name}'s private key in the controller output`).toBe(false)
    for (const o of lab.hosts) {
      const r = await lab.exec(o, argv(['grep', '-rlF', '--', k, '/var/lib/orch']))
      expect(r.stdout.trim(), `${h.name}'s private key in ${o.name}'s journal`).toBe('')
    }
  }
}

async function assertWireguard(lab: Lab): Promise<void> {
  const keys = new Map<string, string>()
  for (const h of lab.hosts) keys.set(h.name, await publicKey(lab, h))
  for (const [i, h] of lab.hosts.entries()) {
    expect((await exec(lab, h, `stat -c '%a %U' ${KEY}`)).trim()).toBe('600 root')
    // wireguard-go: a tun device, its process running.
    const link = JSON.parse(await exec(lab, h, 'ip -d -j link show dev orch-wg0'))[0]
    expect(link.linkinfo.info_kind).toBe('tun')
    expect(link.mtu).toBe(1440)
    expect(link.flags).toContain('UP')
    expect((await exec(lab, h, 'pgrep -x wireguard-go | wc -l')).trim()).toBe('1')
    expect((await exec(lab, h, 'wg show orch-wg0 public-key')).trim()).toBe(keys.get(h.name))
    expect((await exec(lab, h, 'wg show orch-wg0 listen-port')).trim()).toBe('51820')
    const peers = (await exec(lab, h, 'wg show orch-wg0 dump | tail -n +2 | cut -f 1,3,4'))
      .trim()
      .split('\n')
      .sort()
    const want = lab.hosts
      .map((p, j) => [p, j] as const)
      .filter(([p]) => p !== h)
      .map(([p, j]) => `${keys.get(p.name)}\t${p.address}:51820\t10.244.${j}.0/24`)
      .sort()
    expect(peers).toEqual(want)
    const routes = JSON.parse(await exec(lab, h, 'ip -j -4 route show dev orch-wg0')) as Array<{ dst: string; protocol: string }>
    expect(routes.map((r) => `${r.dst} ${r.protocol}`).sort()).toEqual(lab.hosts.filter((p) => p !== h).map((p) => `10.244.${lab.hosts.indexOf(p)}.0/24 static`).sort())
    expect(JSON.parse(await exec(lab, h, 'ip -j -4 addr show dev docker0'))[0].addr_info[0].local).toBe(`10.244.${i}.1`)
    expect((await exec(lab, h, 'docker exec orch-probe cat /sys/class/net/eth0/mtu')).trim()).toBe('1440')
  }
  const ips = await probeIps(lab, 'eth0')
  const [a, b] = lab.hosts
  // Full size with don't-fragment crosses (1440 − 28 of IP + ICMP headers); one byte more does not. From
  // the host (busybox ping has no -M), with docker0's address as source: the peer accepts only its subnet.
  const dfPing = (size: number) => lab.exec(a, argv(['ping', '-M', 'do', '-c', '1', '-W', '2', '-s', size, '-I', `10.244.0.1`, ips.get(b.name)!]))
  const fits = await dfPing(1412)
  expect(fits.code, fits.stdout + fits.stderr).toBe(0)
  expect((await dfPing(1413)).code).not.toBe(0)
  // On the underlay: only UDP to/from the WireGuard port between the hosts, never the containers' packets.
  const cap = `/tmp/orch-wgcap-${process.pid}`
  const out = await exec(
    lab,
    a,
    `tcpdump -i eth0 -nn -l -q 'ip and host ${b.address} and not tcp port 22' > ${cap} 2>/dev/null & t=$!; sleep 1; ` +
      argv(['docker', 'exec', 'orch-probe', 'ping', '-c', '3', '-W', '2', ips.get(b.name)!]) +
      ` >/dev/null; sleep 0.5; kill $t; wait $t 2>/dev/null; cat ${cap}; rm -f ${cap}`,
  )
  const lines = out.trim().split('\n').filter(Boolean)
  expect(lines.length).toBeGreaterThanOrEqual(6)
  for (const l of lines) expect(l).toMatch(new RegExp(`^\\S+ IP (${a.address}|${b.address})\\.51820 > (${a.address}|${b.address})\\.51820: UDP`))
  expect(out).not.toMatch(/10\.244\./)
}

describe.skipIf(labSkipReason)('playbook cross-host.ts: wireguard', () => {
  const lab = withLab({ hosts: 3, docker: true })
  let outputs = ''
  const runW = async (...more: string[]) => {
    const r = await run(lab(), 'wireguard', ...more)
    outputs += r.out + r.err
    return r
  }

  it('refuses bad variables before any host is touched, naming the variable', async () => {
    await refused(lab(), 'wireguard', ['wireguard_port=0'], 'wireguard_port')
    await refused(lab(), 'wireguard', ['wireguard_iface=wg0;reboot'], 'wireguard_iface')
    await refused(lab(), 'wireguard', ['wireguard_rotate_keys=maybe'], 'wireguard_rotate_keys')
    // The others: test/unit/crosshost-plan.test.ts (the same check, without hosts).
  })

  strategySuite(lab, 'wireguard', { assertState: assertWireguard, other: 'routes' })

  it('rotates the keys on request (-e wireguard_rotate_keys=true), never showing a private key; rollback puts the old keys back', async () => {
    const first = await runW()
    expect(first.code, first.err).toBe(0)
    const before = await snapshots(lab())
    const old = await Promise.all(lab().hosts.map((h) => publicKey(lab(), h)))
    const r = await orch('run', 'playbooks/cross-host.ts', '-i', lab().inventoryPath, '-e', 'orch_strategy=wireguard', '-e', 'wireguard_rotate_keys=true', '-vvv', '--diff')
    outputs += r.out + r.err
    expect(r.code, r.out.slice(-3000) + r.err).toBe(0)
    expect(r.out).toMatch(/PASS container to container/)
    const now = await Promise.all(lab().hosts.map((h) => publicKey(lab(), h)))
    now.forEach((k, i) => expect(k).not.toBe(old[i]))
    await assertWireguard(lab())
    expect(await pingMatrix(lab(), await probeIps(lab(), 'eth0'))).toEqual([])
    await assertNoKeyLeak(lab(), outputs)

    const back = await orch('rollback', '-i', lab().inventoryPath)
    expect(back.code, back.out + back.err).toBe(0)
    expect(await Promise.all(lab().hosts.map((h) => publicKey(lab(), h)))).toEqual(old)
    expect(await snapshots(lab())).toEqual(before)
    expect(await pingMatrix(lab(), await probeIps(lab(), 'eth0'))).toEqual([])
    const last = await orch('rollback', '-i', lab().inventoryPath)
    expect(last.code, last.out + last.err).toBe(0)
  })
})
