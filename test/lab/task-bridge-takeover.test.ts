/**
 * bridgeTakeover on real lab hosts: br0 takes over eth0 while the controller's own SSH session (ssh2
 * transport) runs over eth0. Asserts what the kernel holds (ip -j), that SSH still works (also from the
 * second controller address, which only works when the default route moved correctly), idempotence,
 * check mode, exact undo (snapshot), the self-revert of a failed step, a dropped session, and the
 * persistence in ifupdown / netplan / NetworkManager files.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import type { Connection } from '../../src/transport/types.ts'
import { bridgeTakeover, takeoverPaths } from '../../src/tasks/bridgeTakeover.ts'
import { waitAndShow } from '../../src/tasks/takeover/scripts.ts'
import type { Lab, LabHost } from '../../src/lab/index.ts'
import { counting, sshTo } from '../helpers/conn.ts'
import { labSkipReason, ssh, withLab } from '../helpers/lab.ts'
import { context, expectRefused, runTask, undoAll } from '../helpers/task.ts'
import { snapshot } from '../helpers/snapshot.ts'

const json = async (lab: Lab, h: LabHost, cmd: string) => {
  const r = await lab.exec(h, cmd)
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout)
}

describe('bridgeTakeover: arguments', () => {
  const refused = (args: Parameters<typeof bridgeTakeover>[0], variable: string) => expectRefused(bridgeTakeover(args), variable)
  it('refuses bad interface and bridge names, persist modes and timeouts', () => {
    refused({ iface: 'eth0;reboot' }, 'bridgeTakeover.iface')
    refused({ bridge: 'br0 && reboot' }, 'bridgeTakeover.bridge')
    refused({ bridge: 'a-very-long-bridge-name' }, 'bridgeTakeover.bridge')
    refused({ bridge: 'eth0', iface: 'eth0' }, 'bridgeTakeover.bridge')
    refused({ persist: 'systemd-networkd' as never }, 'bridgeTakeover.persist')
    refused({ stp: 'no' as never }, 'bridgeTakeover.stp')
    refused({ timeout: 0 }, 'bridgeTakeover.timeout')
  })
})

describe.skipIf(labSkipReason)('bridgeTakeover on lab hosts', () => {
  const lab = withLab({ hosts: 2 })
  let node1: LabHost
  let node2: LabHost
  let conn: Connection
  let before: Record<string, unknown>

  beforeAll(async () => {
    ;[node1, node2] = lab().hosts
    const gw = lab().gateway
    // A host with more than one address and route: default route with a metric and proto, a secondary
    // noprefixroute address, an IPv6 address, a route in another table, a v6 route through a v6 gateway.
    const setup = `set -e
      ip route del default
      ip route add default via ${gw} dev eth0 metric 100 proto static
      ip addr add ${lab().lanCidr.replace(/\.0\/24$/, '.150/24')} dev eth0 noprefixroute
      ip -6 addr add 2001:db8:6::1/64 dev eth0 nodad
      ip route add 10.77.0.0/16 via ${gw} dev eth0 table 100
      ip -6 route add 2001:db8:77::/48 via 2001:db8:6::fe dev eth0 metric 50`
    for (const h of lab().hosts) {
      const r = await lab().exec(h, setup)
      expect(r.code, r.stderr).toBe(0)
    }
    conn = await sshTo(lab(), node1)
  })
  afterAll(async () => {
    await conn?.close()
  })

  it('check mode on a fresh host lists the changes and changes nothing', async () => {
    before = await snapshot(conn)
    const r = await runTask(bridgeTakeover({ persist: 'none' }), conn, { check: true })
    expect(r.changed).toBe(true)
    const what = r.changes.map((c) => c.what)
    expect(what).toContain('create bridge br0')
    expect(what).toContain(`move address ${node1.address}/24 from eth0 to br0`)
    expect(what).toContain('eth0 master')
    expect(what.some((w) => w.startsWith(`move route default via ${lab().gateway} dev br0 proto static metric 100`))).toBe(true)
    expect(await snapshot(conn)).toEqual(before)
  })

  let undo: Awaited<ReturnType<typeof runTask>>['undo']
  it('moves MAC, MTU, addresses and routes to br0 over the SSH session that uses eth0', async () => {
    const ifBefore = (await json(lab(), node1, 'ip -j link show eth0'))[0]
    const r = await runTask(bridgeTakeover({ persist: 'auto' }), conn)
    undo = r.undo
    expect(r.changed).toBe(true)
    expect(String(r.outcome && r.outcome.msg)).toMatch(/runtime only/)

    const br = (await json(lab(), node1, 'ip -d -j link show br0'))[0]
    const eth = (await json(lab(), node1, 'ip -j link show eth0'))[0]
    expect(br.linkinfo.info_kind).toBe('bridge')
    expect(br.address).toBe(ifBefore.address)
    expect(br.mtu).toBe(ifBefore.mtu)
    expect(br.flags).toContain('UP')
    expect(br.linkinfo.info_data.stp_state).toBe(0)
    expect(br.linkinfo.info_data.forward_delay).toBe(0)
    expect(eth.master).toBe('br0')

    const addrs = await json(lab(), node1, 'ip -j addr show')
    const on = (dev: string) => addrs.find((l: { ifname: string }) => l.ifname === dev).addr_info.filter((a: { scope: string }) => a.scope !== 'link')
    expect(on('eth0')).toEqual([])
    const brAddrs = on('br0')
    expect(brAddrs.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`)).toEqual(
      expect.arrayContaining([`${node1.address}/24`, lab().lanCidr.replace(/\.0\/24$/, '.150/24'), '2001:db8:6::1/64']),
    )
    expect(brAddrs.find((a: { local: string }) => a.local.endsWith('.150')).noprefixroute).toBe(true)

    const dflt = await json(lab(), node1, 'ip -j route show default')
    expect(dflt).toEqual([expect.objectContaining({ gateway: lab().gateway, dev: 'br0', metric: 100, protocol: 'static' })])
    const t100 = await json(lab(), node1, 'ip -j route show table 100')
    expect(t100).toEqual([expect.objectContaining({ dst: '10.77.0.0/16', dev: 'br0' })])
    const v6 = await json(lab(), node1, 'ip -6 -j route show 2001:db8:77::/48')
    expect(v6).toEqual([expect.objectContaining({ gateway: '2001:db8:6::fe', dev: 'br0', metric: 50 })])

    // The detached script left its marker and log where safety/ and operators look.
    const p = takeoverPaths('br0')
    expect((await lab().exec(node1, `cat ${p.applyDone}`)).stdout.trim()).toBe('ok')
  })

  it('the controller still reaches the host: same ssh2 session, OpenSSH, and from the routed address', async () => {
    expect((await conn.run('echo alive')).stdout).toBe('alive\n')
    const a = await ssh(lab(), node1.address, 'hostname')
    expect(a.code, a.stderr).toBe(0)
    const b = await ssh(lab(), node1.address, 'hostname', ['-b', lab().controllerIp2])
    expect(b.code, b.stderr).toBe(0)
    expect(b.stdout.trim()).toBe('node1')
    // and node2 still reaches node1 across the LAN, through br0
    expect((await lab().exec(node2, `ping -c1 -W2 ${node1.address}`)).code).toBe(0)
  })

  it('a second run changes nothing, in one round trip', async () => {
    const c = counting(conn)
    const r = await runTask(bridgeTakeover({ persist: 'auto' }), c)
    expect(r.changes).toEqual([])
    expect(r.changed).toBe(false)
    expect(c.count).toBe(1)
  })

  it('drift on a taken-over bridge (MTU, STP changed by hand) is corrected, and that undone exactly', async () => {
    const d = await lab().exec(node1, 'ip link set br0 mtu 1400 type bridge stp_state 1 forward_delay 400')
    expect(d.code, d.stderr).toBe(0)
    const drifted = await snapshot(conn)
    const r = await runTask(bridgeTakeover({ persist: 'none' }), conn)
    expect(r.changes.map((c) => c.what)).toEqual(['br0 mtu', 'br0 stp_state', 'br0 forward_delay'])
    const br = (await json(lab(), node1, 'ip -d -j link show br0'))[0]
    expect([br.mtu, br.linkinfo.info_data.stp_state, br.linkinfo.info_data.forward_delay]).toEqual([1500, 0, 0])
    expect((await runTask(bridgeTakeover({ persist: 'none' }), conn)).changes).toEqual([])
    await undoAll(conn, [r.undo])
    expect(await snapshot(conn)).toEqual(drifted)
    expect((await lab().exec(node1, 'ip link set br0 mtu 1500 type bridge stp_state 0 && ip link set br0 type bridge forward_delay 0')).code).toBe(0)
  })

  it('undo (detached) gives eth0 everything back: snapshot equals the one before', async () => {
    expect(undo).toBeTruthy()
    await undoAll(conn, [undo])
    expect(await snapshot(conn)).toEqual(before)
    const b = await ssh(lab(), node1.address, 'hostname', ['-b', lab().controllerIp2])
    expect(b.code, b.stderr).toBe(0)
    expect((await lab().exec(node1, `cat ${takeoverPaths('br0').undoDone}`)).stdout.trim()).toBe('ok')
  })

  it('a failing step makes the detached script revert by itself', async () => {
    const snap0 = await snapshot(conn)
    const t = bridgeTakeover({ persist: 'none' })
    const ctx = context(conn)
    const state = await t.resource.read(ctx)
    const changes = t.resource.diff(state, ctx)
    // The world changes between read and apply: an address the script will try to delete is gone.
    const extra = lab().lanCidr.replace(/\.0\/24$/, '.150/24')
    expect((await lab().exec(node1, `ip addr del ${extra} dev eth0`)).code).toBe(0)
    const snap1 = await snapshot(conn)
    await expect(t.resource.apply(ctx, state, changes)).rejects.toThrow(/failed: .*addr del.*reverted/)
    expect(await snapshot(conn)).toEqual(snap1)
    expect((await lab().exec(node1, `ip addr add ${extra} dev eth0 noprefixroute`)).code).toBe(0)
    expect(await snapshot(conn)).toEqual(snap0)
  })

  it('the wait after a dropped session never takes an earlier launch\'s done-marker for its own', async () => {
    const p = takeoverPaths('br0')
    const launch = { script: p.applyScript, line: '# launch 0f0e' }
    const first = async () => (await lab().exec(node1, waitAndShow(p.applyDone, p.applyLog, 1, launch))).stdout.split('\n')[0]
    expect((await lab().exec(node1, `mkdir -p ${p.dir} && printf '#!/bin/sh\\n# launch 0a0b\\n' > ${p.applyScript} && echo ok > ${p.applyDone}`)).code).toBe(0)
    expect(await first()).toMatch(/^not started: /)
    expect((await lab().exec(node1, `printf '#!/bin/sh\\n# launch 0f0e\\n' > ${p.applyScript}`)).code).toBe(0)
    expect(await first()).toBe('ok')
    await lab().exec(node1, `rm -f ${p.applyScript} ${p.applyDone}`)
  })

  it('the takeover completes when the SSH session drops right after starting it', async () => {
    const p = takeoverPaths('br0')
    // The session closes a moment after the apply command went out. On a loaded machine sshd may not have
    // started it yet: then nothing changed and the task said so; the drop is tried again a little later.
    for (const delay of [20, 60, 150, 400]) {
      const c2 = await sshTo(lab(), node1)
      const snap0 = await snapshot(c2)
      const t = bridgeTakeover({ persist: 'none' })
      const ctx = context(c2)
      const state = await t.resource.read(ctx)
      const changes = t.resource.diff(state, ctx)
      const u = t.resource.undo!(state, changes, ctx)
      // An earlier test's done-marker must not pass for this launch's.
      expect((await lab().exec(node1, `rm -f ${p.applyDone} ${p.applyLog}`)).code).toBe(0)
      setTimeout(() => void c2.close(), delay)
      await expect(t.resource.apply(ctx, state, changes)).rejects.toThrow()
      // startDetached creates the log before the script runs: no log a moment after the drop, no launch.
      let started = false
      for (let i = 0; i < 20 && !started; i++) {
        started = (await lab().exec(node1, `test -e ${p.applyLog}`)).code === 0
        if (!started) await new Promise((r) => setTimeout(r, 100))
      }
      if (!started) {
        expect(await snapshot(conn)).toEqual(snap0)
        continue
      }
      let marker = ''
      for (let i = 0; i < 100 && marker !== 'ok'; i++) {
        marker = (await lab().exec(node1, `cat ${p.applyDone} 2>/dev/null`)).stdout.trim()
        if (marker !== 'ok') await new Promise((r) => setTimeout(r, 100))
      }
      expect(marker).toBe('ok')
      expect((await json(lab(), node1, 'ip -j link show eth0'))[0].master).toBe('br0')
      const c3 = await sshTo(lab(), node1)
      try {
        expect((await ssh(lab(), node1.address, 'true', ['-b', lab().controllerIp2])).code).toBe(0)
        await undoAll(c3, [u])
        expect(await snapshot(c3)).toEqual(snap0)
      } finally {
        await c3.close()
      }
      return
    }
    throw new Error('the takeover script never started before the session dropped, even 400 ms after the command went out')
  })

  it('a route whose gateway is gone (kernel keeps it, refuses it again) stays on eth0 and is reported', async () => {
    // An IPv6 gateway route outliving its prefix, as when a SLAAC address expires.
    const dead = `ip -6 addr add 2001:db8:dd::1/64 dev eth0 nodad && ip -6 route add 2001:db8:ee::/48 via 2001:db8:dd::fe dev eth0 && ip -6 addr del 2001:db8:dd::1/64 dev eth0`
    expect((await lab().exec(node1, dead)).code).toBe(0)
    const snap0 = await snapshot(conn)
    const r = await runTask(bridgeTakeover({ persist: 'none' }), conn)
    expect(r.changes.map((c) => c.what).join('\n')).not.toContain('2001:db8:ee::/48')
    expect(String(r.outcome && r.outcome.msg)).toContain('left on eth0: route 2001:db8:ee::/48 via 2001:db8:dd::fe dev eth0')
    expect(await json(lab(), node1, 'ip -6 -j route show 2001:db8:ee::/48')).toEqual([expect.objectContaining({ dev: 'eth0' })])
    expect((await ssh(lab(), node1.address, 'true', ['-b', lab().controllerIp2])).code).toBe(0)
    expect((await runTask(bridgeTakeover({ persist: 'none' }), conn)).changes).toEqual([])
    await undoAll(conn, [r.undo])
    expect(await snapshot(conn)).toEqual(snap0)
    expect((await lab().exec(node1, 'ip -6 route del 2001:db8:ee::/48')).code).toBe(0)
  })

  describe('persistence', () => {
    let c2: Connection
    beforeAll(async () => {
      c2 = await sshTo(lab(), node2)
    })
    afterAll(async () => {
      await c2?.close()
    })
    const gw = () => lab().gateway

    it('ifupdown: eth0 stanza becomes a bridge stanza; idempotent; undo restores the file', async () => {
      const original = `# interfaces(5)\nsource /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\nallow-hotplug eth0\niface eth0 inet static\n    address ${node2.address}/24\n    gateway ${gw()}\n    dns-nameservers ${gw()}\n`
      expect((await lab().exec(node2, 'mkdir -p /etc/network && cat > /etc/network/interfaces', original)).code).toBe(0)
      const snap0 = await snapshot(c2)
      const chk = await runTask(bridgeTakeover(), c2, { check: true })
      expect(chk.changes.map((c) => c.what)).toContain('rewrite /etc/network/interfaces (ifupdown)')
      expect(await snapshot(c2)).toEqual(snap0)

      const r = await runTask(bridgeTakeover(), c2)
      expect(String(r.outcome && r.outcome.msg)).toMatch(/detected ifupdown/)
      const text = (await lab().exec(node2, 'cat /etc/network/interfaces')).stdout
      expect(text).toContain('auto br0\niface br0 inet static\n    bridge_ports eth0\n    bridge_stp off\n    bridge_fd 0\n')
      expect(text).toContain(`    address ${node2.address}/24\n    gateway ${gw()}\n    metric 100\n`)
      expect(text).toContain(`    dns-nameservers ${gw()}\n`)
      expect(text).toMatch(/up ip -4 addr add 198\.18\.\d+\.150\/24 dev br0 noprefixroute/)
      expect(text).toContain('iface eth0 inet manual')
      expect(text).not.toMatch(/allow-hotplug eth0|iface eth0 inet static/)
      expect(text).toContain('iface br0 inet6 static\n    address 2001:db8:6::1/64\n    dad-attempts 0\n')
      expect((await runTask(bridgeTakeover(), c2)).changes).toEqual([])

      await undoAll(c2, [r.undo])
      expect(await snapshot(c2)).toEqual(snap0)
      expect((await lab().exec(node2, 'cat /etc/network/interfaces')).stdout).toBe(original)
      await lab().exec(node2, 'rm -f /etc/network/interfaces')
    })

    it('netplan: eth0 addressing moves to bridges.br0 in the same file; undo restores it', async () => {
      const original = `# cloud-init\nnetwork:\n  version: 2\n  ethernets:\n    eth0:\n      addresses: [${node2.address}/24]\n      routes:\n        - to: default\n          via: ${gw()}\n      nameservers:\n        addresses: [${gw()}]\n      mtu: 1500\n`
      expect((await lab().exec(node2, 'mkdir -p /etc/netplan && cat > /etc/netplan/50-cloud-init.yaml && chmod 600 /etc/netplan/50-cloud-init.yaml', original)).code).toBe(0)
      const snap0 = await snapshot(c2)
      const r = await runTask(bridgeTakeover(), c2)
      expect(String(r.outcome && r.outcome.msg)).toMatch(/detected netplan/)
      const text = (await lab().exec(node2, 'cat /etc/netplan/50-cloud-init.yaml')).stdout
      const y = parseYaml(text)
      const mac = (await json(lab(), node2, 'ip -j link show eth0'))[0].address
      expect(text).toMatch(/^# cloud-init/)
      expect(y.network.ethernets.eth0).toEqual({ mtu: 1500 })
      expect(y.network.bridges.br0).toEqual({
        interfaces: ['eth0'],
        macaddress: mac,
        mtu: 1500,
        parameters: { stp: false, 'forward-delay': 0 },
        addresses: [`${node2.address}/24`],
        routes: [{ to: 'default', via: gw() }],
        nameservers: { addresses: [gw()] },
      })
      expect(text).toContain(`macaddress: "${mac}"`)
      expect((await lab().exec(node2, 'stat -c %a /etc/netplan/50-cloud-init.yaml')).stdout.trim()).toBe('600')
      expect((await runTask(bridgeTakeover(), c2)).changes).toEqual([])
      await undoAll(c2, [r.undo])
      expect(await snapshot(c2)).toEqual(snap0)
      await lab().exec(node2, 'rm -f /etc/netplan/50-cloud-init.yaml')
    })

    it('networkmanager: bridge and port keyfiles (0600), old profile autoconnect=false; undo removes/restores', async () => {
      const dir = '/etc/NetworkManager/system-connections'
      const old = `[connection]\nid=Wired\nuuid=8d5c6b4e-0000-4000-8000-000000000001\ntype=ethernet\ninterface-name=eth0\n\n[ipv4]\nmethod=manual\naddress1=${node2.address}/24,${gw()}\ndns=${gw()};\n\n[ipv6]\nmethod=ignore\n`
      expect((await lab().exec(node2, `mkdir -p ${dir} && cat > ${dir}/Wired.nmconnection && chmod 600 ${dir}/Wired.nmconnection`, old)).code).toBe(0)
      const snap0 = await snapshot(c2)
      // NetworkManager is not installed here: 'auto' would not pick it; ask for it explicitly.
      const r = await runTask(bridgeTakeover({ persist: 'networkmanager' }), c2)
      const ls = (await lab().exec(node2, `stat -c '%n %a' ${dir}/*`)).stdout
      expect(ls).toContain(`${dir}/orch-br0.nmconnection 600`)
      expect(ls).toContain(`${dir}/orch-br0-eth0.nmconnection 600`)
      const br = (await lab().exec(node2, `cat ${dir}/orch-br0.nmconnection`)).stdout
      expect(br).toContain('type=bridge\ninterface-name=br0\n')
      expect(br).toContain('stp=false')
      expect(br).toContain(`[ipv4]\nmethod=manual\naddress1=${node2.address}/24,${gw()}\ndns=${gw()};\n`)
      const port = (await lab().exec(node2, `cat ${dir}/orch-br0-eth0.nmconnection`)).stdout
      expect(port).toContain('interface-name=eth0\nmaster=br0\nslave-type=bridge\n')
      expect((await lab().exec(node2, `cat ${dir}/Wired.nmconnection`)).stdout).toContain('interface-name=eth0\nautoconnect=false\n')
      expect((await runTask(bridgeTakeover({ persist: 'networkmanager' }), c2)).changes).toEqual([])
      await undoAll(c2, [r.undo])
      expect(await snapshot(c2)).toEqual(snap0)
      expect((await lab().exec(node2, `ls ${dir}`)).stdout).toBe('Wired.nmconnection\n')
      expect((await lab().exec(node2, `cat ${dir}/Wired.nmconnection`)).stdout).toBe(old)
    })
  })
})
