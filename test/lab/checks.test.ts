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
