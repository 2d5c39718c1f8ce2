/**
 * The wireguard strategy persisted at commit (issue 16 §2, issue 19 §1), on hosts that boot real systemd
 * (netplan on networkd, NetworkManager, ifupdown), through the real CLI. No kernel WireGuard on this machine: the
 * hosts run wireguard-go over /dev/net/tun. A reboot inside the window comes back without any of it;
 * after a committed run every host is power-cut, then cleanly rebooted, and with nothing re-run
 * orch-wireguard.service brings the device back (key, port, peers, MTU) before orch-routes adds the
 * routes through it, and the container matrix passes over the tunnel. The private key stays in its 0600
 * file (never in a unit, a data file or the journal). A second run changes nothing; `--check --diff`
 * shows the persisted file; `orch rollback` then a reboot gives every host its pre-run snapshot.
 */
import { describe, expect, it } from 'vitest'
import { bootUnavailableReason, type Lab, type LabHost } from '../../src/lab/index.ts'
import { nsenterConnection } from '../../src/lab/connection.ts'
import { renderCheck } from '../../src/checks/index.ts'
import { probeMatrix } from '../../src/crosshost/index.ts'
import { labSkipReason, ssh, withLab } from '../helpers/lab.ts'
import { exec, orch, run, strategyVars } from '../lab/playbook-common.ts'
import { bootSnapshots as state } from './manager.ts'

const skip = labSkipReason ?? (await bootUnavailableReason())
const WINDOW = 'test/boot/fixtures/reboot-window.ts'
const DEV = 'orch-wg0'
const KEY = `/etc/orch/wireguard/${DEV}.key`
const CONF = `/etc/orch/wireguard/${DEV}.conf`
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Every file a run may have written (orch's own boot-rollback units stay: docs/persistence.md). */
const ORCH_FILES =
  'ls -d /etc/orch /etc/systemd/system/orch-* /etc/systemd/system/*.wants/orch-* /etc/sysctl.d/*orch* 2>/dev/null | grep -v "/orch-boot-rollback\\(-late\\)\\?\\.service$"; true'

/** No device, no wireguard-go, no orch file: what a host without the run holds. */
async function noWireguard(lab: Lab, h: LabHost): Promise<void> {
  expect(await exec(lab, h, ORCH_FILES), h.name).toBe('')
  expect((await lab.exec(h, `ip link show dev ${DEV}`)).code, h.name).not.toBe(0)
  expect(await exec(lab, h, 'pgrep -c -x wireguard-go || true'), h.name).toBe('0\n')
}

async function matrix(lab: Lab): Promise<void> {
  const hosts = lab.hosts.map((h) => ({ host: { name: h.name, vars: {}, groups: ['all'] }, vars: { orch_strategy: 'wireguard' }, address: h.address, conn: nsenterConnection(lab, h) }))
  const m = await probeMatrix({ tcpBytes: 1 << 20 }).run(hosts)
  expect(m.ok, renderCheck(m)).toBe(true)
  expect(m.probes).toHaveLength(6)
}

const rebootAll = (lab: Lab, hard: boolean) => Promise.all(lab.hosts.map((h) => lab.reboot(h, { hard })))

/** The device as `wg` and the kernel show it (public key, port, peers, MTU, state); never the private key. */
async function wgState(lab: Lab, h: LabHost) {
  const dump = (await exec(lab, h, `wg show ${DEV} dump | cut -f 1,3,4,8`)).trim().split('\n').map((l) => l.split('\t'))
  const link = JSON.parse(await exec(lab, h, `ip -j link show dev ${DEV}`))[0]
  return { port: dump[0][1], peers: dump.slice(1).map((p) => p.join(' ')).sort(), mtu: link.mtu, up: link.flags.includes('UP'), publicKey: (await exec(lab, h, `wg show ${DEV} public-key`)).trim() }
}

describe.skipIf(skip)('persisted at commit: the wireguard strategy survives reboots (booted hosts, wireguard-go)', () => {
  const lab = withLab({ hosts: 3, boot: true, docker: true, manager: 'netplan,networkmanager,ifupdown' })
  let pre: Record<string, unknown> = {}
  let committed: Awaited<ReturnType<typeof wgState>>[] = []

  it('--check --diff lists the persisted unit and file (at commit); a power cut inside the window comes back without any wireguard config, the run rolls back and exits non-zero', async () => {
    pre = await state(lab())
    const check = await run(lab(), 'wireguard', '--check', '--diff')
    expect(check.code, check.err).toBe(0)
    expect(check.out).toContain(`orch-wireguard.service (enabled) (at commit)`)
    expect(check.out).toContain(`${CONF} (at commit)`)
    const boots = lab().hosts[1]
    const stay = lab().hosts.filter((h) => h !== boots)
    for (const h of lab().hosts) await exec(lab(), h, 'rm -f /run/orch-go /run/orch-window')
    const running = orch('run', WINDOW, '-i', lab().inventoryPath, ...strategyVars(lab(), 'wireguard'), '--json')
    let r
    try {
      for (let i = 0; (await lab().exec(boots, 'test -e /run/orch-window')).code !== 0; i++) {
        if (i > 600) throw new Error(`the run never reached its checks: ${JSON.stringify(await Promise.race([running, sleep(1)]))}`)
        await sleep(250)
      }
      // Inside the window: the device runs with its key, nothing is persisted yet.
      expect((await wgState(lab(), boots)).peers).toHaveLength(2)
      expect(await exec(lab(), boots, `ls /etc/orch/wireguard`)).toBe(`${DEV}.key\n`)
      await lab().reboot(boots, { hard: true })
      expect((await ssh(lab(), boots.address, 'true')).code).toBe(0)
      expect((await state(lab()))[boots.name]).toEqual(pre[boots.name])
      await noWireguard(lab(), boots)
    } finally {
      for (const h of stay) await exec(lab(), h, 'touch /run/orch-go')
      r = await running
    }
    expect(r.code, r.err).not.toBe(0)
    expect(r.doc.transaction.hosts[boots.name]).toMatchObject({ status: 'rolled-back-by-reboot', restored: true })
    for (const h of stay) expect(r.doc.transaction.hosts[h.name], h.name).toMatchObject({ status: 'rolled-back', restored: true })
    expect(await state(lab())).toEqual(pre)
  })

  it('the commit writes orch-wireguard.service and /etc/orch/wireguard/orch-wg0.conf: the key by its path only (0600 file), never in a unit, a file or the journal', async () => {
    const r = await run(lab(), 'wireguard')
    expect(r.code, r.err + r.out.slice(-2000)).toBe(0)
    expect(r.doc.transaction.status).toBe('committed')
    for (const [i, h] of lab().hosts.entries()) {
      expect((await exec(lab(), h, 'systemctl is-enabled orch-wireguard.service orch-routes.service orch-nat.service')).trim().split('\n'), h.name).toEqual(['enabled', 'enabled', 'enabled'])
      expect((await exec(lab(), h, `stat -c '%a %U' ${KEY}`)).trim(), h.name).toBe('600 root')
      const conf = await exec(lab(), h, `cat ${CONF}`)
      expect(conf).toContain(`device ${DEV}\nimpl userspace\nmtu 1440\nprivate-key-file ${KEY}\n[Interface]\nListenPort = 51820\n`)
      expect(conf).not.toMatch(/PrivateKey/i)
      const peers = lab().hosts.filter((p) => p !== h)
      expect(conf.match(/^\[Peer\]$/gm), h.name).toHaveLength(2)
      for (const p of peers) expect(conf, h.name).toContain(`AllowedIPs = 10.244.${lab().hosts.indexOf(p)}.0/24\nEndpoint = ${p.address}:51820\n`)
      // The private key, looked for on the host itself: in orch's files, the units, and this boot's journal.
      const leak = await exec(lab(), h, `k=$(cat ${KEY}); grep -rlF -- "$k" /etc/orch/wireguard/*.conf /etc/orch/*/apply.sh /etc/systemd/system /var/lib/orch 2>/dev/null; journalctl --no-pager -o cat | grep -cF -- "$k" || true`)
      expect(leak, h.name).toBe('0\n')
      void i
    }
    committed = await Promise.all(lab().hosts.map((h) => wgState(lab(), h)))
  })

  for (const hard of [true, false]) {
    it(`after ${hard ? 'a power cut' : 'a clean reboot'} of every host the device is back with its key, port, peers and MTU, the routes go through it and the matrix passes, nothing re-run${hard ? '' : '; also after a restart of orch-wireguard.service by hand'}`, async () => {
      await rebootAll(lab(), hard)
      expect(await Promise.all(lab().hosts.map((h) => wgState(lab(), h)))).toEqual(committed)
      for (const h of lab().hosts) {
        // The unit's script is done; wireguard-go (the datapath) stays, in the unit's cgroup.
        expect((await exec(lab(), h, 'systemctl show -p ActiveState,SubState orch-wireguard orch-routes')).trim(), h.name).toBe('ActiveState=active\nSubState=exited\n\nActiveState=active\nSubState=exited')
        expect(await exec(lab(), h, 'cat /proc/$(pgrep -x wireguard-go)/cgroup'), h.name).toContain('/system.slice/orch-wireguard.service')
        const routes = (JSON.parse(await exec(lab(), h, `ip -j -4 route show dev ${DEV}`)) as Array<{ dst: string; protocol: string }>).map((x) => `${x.dst} ${x.protocol}`).sort()
        expect(routes, h.name).toEqual(lab().hosts.filter((p) => p !== h).map((p) => `10.244.${lab().hosts.indexOf(p)}.0/24 static`))
      }
      await matrix(lab())
      if (hard) return
      // A restart by hand ends wireguard-go and its device; the unit makes it anew and orch-routes adds its routes again.
      const [h] = lab().hosts
      const pid = (await exec(lab(), h, 'pgrep -x wireguard-go')).trim()
      await exec(lab(), h, 'systemctl restart orch-wireguard.service')
      expect((await exec(lab(), h, 'pgrep -x wireguard-go')).trim()).not.toBe(pid)
      expect(await wgState(lab(), h)).toEqual(committed[0])
      const want = lab().hosts.slice(1).map((p) => `10.244.${lab().hosts.indexOf(p)}.0/24`)
      let routes: string[] = []
      for (let i = 0; i < 100 && routes.length < want.length; i++) {
        routes = (JSON.parse(await exec(lab(), h, `ip -j -4 route show dev ${DEV}`)) as Array<{ dst: string }>).map((x) => x.dst).sort()
        if (routes.length < want.length) await sleep(100)
      }
      expect(routes).toEqual(want)
      await matrix(lab())
    })
  }

  it('a second run changes nothing; --check --diff shows a change of the persisted file; orch status says what is persisted where', async () => {
    const r = await run(lab(), 'wireguard')
    expect(r.code, r.err).toBe(0)
    for (const h of lab().hosts) expect(r.doc.stats[h.name].changed, `${h.name}: ${JSON.stringify(r.doc.plays?.[0]?.tasks?.filter((t: any) => t.results?.some((x: any) => x.changed)).map((t: any) => t.name))}`).toBe(0)
    const d = await run(lab(), 'wireguard', '-e', 'wireguard_keepalive=25', '--check', '--diff')
    expect(d.code, d.err).toBe(0)
    expect(d.out).toContain(`${CONF} (at commit)`)
    expect(d.out).toContain('+PersistentKeepalive = 25')
    const st = await orch('status', '-i', lab().inventoryPath)
    expect(st.code, st.err).toBe(0)
    expect(st.out.split('orch-wireguard.service (enabled, 1 file in /etc/orch/wireguard)').length - 1, st.out).toBe(3)
  })

  it('orch rollback after the reboots, then a reboot: every host as before the run, no device, no wireguard-go, no orch file', async () => {
    const rb = await orch('rollback', '-i', lab().inventoryPath)
    expect(rb.code, rb.out + rb.err).toBe(0)
    await rebootAll(lab(), false)
    expect(await state(lab())).toEqual(pre)
    for (const h of lab().hosts) await noWireguard(lab(), h)
  })
})
