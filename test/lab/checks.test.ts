import { describe, expect, it } from 'vitest'
import { containerMatrix, gatewayPing, hostPing, hostTcp, renderCheck, commandCheck, type CheckHost } from '../../src/checks/index.ts'
import { nsenterConnection } from '../../src/lab/connection.ts'
import { labSkipReason, withLab } from '../helpers/lab.ts'

describe.skipIf(labSkipReason)('connectivity checks', () => {
  const lab = withLab({ hosts: 3, docker: true })
  const hosts = (): CheckHost[] =>
    lab().hosts.map((h) => ({
      host: { name: h.name, vars: {}, groups: ['all'] },
      // Probe containers share the host's network namespace here, so their address is the host's.
      vars: { probe_container: 'probe', probe_ip: h.address },
      address: h.address,
      conn: nsenterConnection(lab(), h),
    }))

  it('host ping, tcp and gateway pass on a healthy LAN', async () => {
    for (const check of [hostPing(), hostTcp(22), gatewayPing()]) {
      const r = await check.run(hosts())
      expect(r.ok, renderCheck(r)).toBe(true)
    }
    const ping = await hostPing().run(hosts())
    expect(ping.probes).toHaveLength(6)
  })

  it('a blocked pair fails, only that pair, and the matrix shows which', async () => {
    const [a, b] = lab().hosts
    await lab().exec(b, `iptables -I INPUT -s ${a.address} -p icmp --icmp-type echo-request -j DROP`)
    try {
      const r = await hostPing().run(hosts())
      expect(r.ok).toBe(false)
      expect(r.probes.filter((p) => !p.ok).map((p) => `${p.from}->${p.to}`)).toEqual([`${a.name}->${b.name}`])
      const text = renderCheck(r)
      expect(text).toMatch(/^FAIL host to host/)
      expect(text).toContain(`! ${a.name} -> ${b.name}`)
    } finally {
      await lab().exec(b, `iptables -D INPUT -s ${a.address} -p icmp --icmp-type echo-request -j DROP`)
    }
  })

  it('container matrix pings and moves bytes over TCP between every pair', async () => {
    for (const h of lab().hosts) {
      const r = await lab().exec(h, `docker rm -f probe >/dev/null 2>&1; docker run -d --pull never --init --name probe --network host ${lab().image} sleep 3600`)
      expect(r.code, r.stderr).toBe(0)
    }
    const r = await containerMatrix({ tcpBytes: 1 << 20 }).run(hosts())
    expect(r.ok, renderCheck(r)).toBe(true)
    expect(r.probes).toHaveLength(6)
    const [a, , c] = lab().hosts
    await lab().exec(c, `iptables -I INPUT -s ${a.address} -p tcp --syn -j DROP`)
    try {
      const bad = await containerMatrix({ tcpBytes: 1 << 20 }).run(hosts())
      expect(bad.ok).toBe(false)
      expect(bad.probes.filter((p) => !p.ok).map((p) => `${p.from}->${p.to}`)).toEqual([`${a.name}->${c.name}`])
    } finally {
      await lab().exec(c, `iptables -D INPUT -s ${a.address} -p tcp --syn -j DROP`)
    }
  })

  /**
   * What is left in the probes after a check: processes other than init and sleep, and the work directory.
   * busybox `timeout`'s watcher notices within a second that its sender is gone: allowed 3 s to go.
   */
  async function leftovers(): Promise<string[]> {
    let out: string[] = []
    for (let i = 0; i < 15; i++) {
      out = []
      for (const h of lab().hosts) {
        // `exe` is runc starting a docker exec in the container (/proc/self/exe), not a process of the matrix:
        // the full suite once caught one still starting under load.
        const r = await lab().exec(h, "docker exec probe sh -c 'ps -o comm | grep -v -e ^COMMAND -e ^docker-init -e ^init -e ^sleep -e ^ps -e ^sh -e ^grep -e ^exe; ls /tmp | grep orch-matrix'")
        if (r.stdout.trim()) out.push(`${h.name}: ${r.stdout.trim()}`)
      }
      if (!out.length) break
      await new Promise((r) => setTimeout(r, 200))
    }
    return out
  }

  it('container matrix: one docker exec per host per round (listen, then send + ping), nothing left behind', async () => {
    const hs = hosts()
    const execs = new Map<string, string[]>()
    for (const h of hs) {
      const run = h.conn.run.bind(h.conn)
      h.conn = { ...h.conn, run: (script, o) => (execs.set(h.host.name, [...(execs.get(h.host.name) ?? []), script]), run(script, o)) }
    }
    const r = await containerMatrix({ tcpBytes: 1 << 20 }).run(hs)
    expect(r.ok, renderCheck(r)).toBe(true)
    for (const h of hs) {
      expect(execs.get(h.host.name)).toHaveLength(2)
      expect(execs.get(h.host.name)!.every((x) => x.startsWith('docker exec probe sh -c '))).toBe(true)
    }
    expect(await leftovers()).toEqual([])
  })

  it('container matrix: bytes lost on the way fail that pair with the count that arrived', async () => {
    const [a, , c] = lab().hosts
    // c drops a's segments once 200 kB of the connection to its listener for a (port 7700 + a's index) went through.
    const rule = `INPUT -s ${a.address} -p tcp --dport 7700 -m connbytes --connbytes 200000: --connbytes-dir original --connbytes-mode bytes -j DROP`
    const ins = await lab().exec(c, `iptables -I ${rule}`)
    expect(ins.code, `iptables -I ${rule} (xt_connbytes): ${ins.stderr}`).toBe(0)
    try {
      const r = await containerMatrix({ tcpBytes: 1 << 20 }).run(hosts())
      expect(r.ok).toBe(false)
      const bad = r.probes.filter((p) => !p.ok)
      expect(bad.map((p) => `${p.from}->${p.to}`)).toEqual([`${a.name}->${c.name}`])
      const m = /^tcp: (\d+) of 1048576 bytes arrived \(the connection stalled; node1's sender stopped after 20 s/.exec(bad[0].detail)
      expect(m, bad[0].detail).not.toBeNull()
      expect(Number(m![1])).toBeGreaterThan(0)
      expect(Number(m![1])).toBeLessThan(1 << 20)
      expect(renderCheck(r)).toContain(`! ${a.name} -> ${c.name}: tcp: ${m![1]} of 1048576 bytes arrived`)
    } finally {
      await lab().exec(c, `iptables -D ${rule}`)
    }
    expect(await leftovers()).toEqual([])
  })

  it('container matrix reads the probe addresses from an interface; a probe without one fails per host', async () => {
    const hs = hosts()
    for (const h of hs) h.vars.probe_ip = '192.0.2.1' // not used: the address comes from eth0 inside the probe
    const r = await containerMatrix({ iface: 'eth0', tcpBytes: 65536 }).run(hs)
    expect(r.ok, renderCheck(r)).toBe(true)
    expect(r.probes).toHaveLength(6)
    const bad = await containerMatrix({ iface: (h) => (h.host.name === 'node2' ? 'nosuch0' : 'eth0'), tcpBytes: 65536 }).run(hosts())
    expect(bad.ok).toBe(false)
    expect(bad.matrix).toBe(false)
    expect(bad.probes.map((p) => p.from)).toEqual(['node2'])
    expect(bad.probes[0].detail).toMatch(/^node2: probe probe has no address on nosuch0: /)
    expect(await leftovers()).toEqual([])
  })

  it('container matrix: a host without its probe container fails every pair from and to it, naming docker\'s error', async () => {
    const [, b] = lab().hosts
    await lab().exec(b, 'docker rename probe probe-away')
    try {
      const r = await containerMatrix({ tcpBytes: 65536 }).run(hosts())
      expect(r.ok).toBe(false)
      expect(r.probes.filter((p) => !p.ok).map((p) => `${p.from}->${p.to}`).sort()).toEqual(['node1->node2', 'node2->node1', 'node2->node3', 'node3->node2'])
      expect(r.probes.find((p) => p.from === 'node2')!.detail).toMatch(/docker exec probe on node2 failed \(exit \d+\): .*probe/)
    } finally {
      await lab().exec(b, 'docker rename probe-away probe')
    }
    expect(await leftovers()).toEqual([])
  })

  it('command check reports per host', async () => {
    const r = await commandCheck('hostname is node1', '[ "$(hostname)" = node1 ]').run(hosts())
    expect(r.probes.map((p) => p.ok)).toEqual([true, false, false])
  })

  it('refuses a probe address that is not an IP before running', () => {
    const hs = hosts()
    hs[1].vars.probe_ip = '10.0.0.1;reboot'
    expect(() => containerMatrix().validate!(hs)).toThrow(/node2: probe ip: expected an IPv4 address/)
  })
})
