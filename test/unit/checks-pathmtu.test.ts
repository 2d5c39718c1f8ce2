/**
 * The path MTU check without hosts: its scripts' shell syntax, the round-1 parser on recorded output,
 * the fragment counters read from recorded /proc/net/snmp{,6} by the check's own awk, and the MTU each
 * strategy expects. test/lab/playbook-mtu.test.ts runs it for real (and proves it fails).
 */
import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { parseRead, probeScript, readScript } from '../../src/checks/pathmtu.ts'
import { expectedMtu } from '../../src/crosshost/check.ts'

const SNMP = `Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates
Ip: 1 64 2254 0 0 1130 0 0 1112 2310 0 0 0 0 0 0 3 0 7
Icmp: InMsgs InErrors
Icmp: 10 0
`
const SNMP6 = `Ip6InReceives                   	42
Ip6FragOKs                      	1
Ip6FragCreates                  	5
`

/** The awk program of a probe script for `family`, run on `input` (the recorded counters file). */
function counter(family: 4 | 6, input: string): string {
  const script = probeScript(1, 1400, family, [])
  const awk = /f0=\$\((awk .*?) \/proc\/net\/snmp6?\)/.exec(script)![1]
  return execFileSync('sh', ['-c', awk], { input }).toString().trim()
}

describe('path MTU check', () => {
  it('writes scripts sh accepts', () => {
    for (const f of [4, 6] as const) {
      execFileSync('sh', ['-n'], { input: readScript('orch-probe', 'eth1', '198.18.0.1', f) })
      execFileSync('sh', ['-n'], { input: probeScript(4242, 1350, f, [[1, '10.250.0.2'], [2, 'fd00::2']]) })
    }
  })

  it('probes at the MTU minus the IP+ICMP header, and one byte over', () => {
    expect(probeScript(7, 1400, 4, [[1, '10.0.0.2']])).toMatch(/-M do -c 3 .* -s 1372 '?10\.0\.0\.2/)
    expect(probeScript(7, 1400, 4, [[1, '10.0.0.2']])).toMatch(/-M do -c 1 .* -s 1373 /)
    expect(probeScript(7, 1400, 6, [[1, 'fd00::2']])).toMatch(/ping -6 -n -M do -c 3 .* -s 1352 /)
  })

  it('reads the fragment counters of both families', () => {
    expect(counter(4, SNMP)).toBe('7')
    expect(counter(6, SNMP6)).toBe('5')
  })

  it('parses round 1', () => {
    expect(parseRead('@@ pid 4242\n@@ mtu 1350\n@@ addr 10.250.0.2\n@@ umtu 1400\n')).toEqual({ pid: 4242, mtu: 1350, address: '10.250.0.2', underlayMtu: 1400 })
    expect(parseRead('@@ pid 9\n@@ mtu 1400\n@@ addr fd00:10:244:1::2\n')).toEqual({ pid: 9, mtu: 1400, address: 'fd00:10:244:1::2' })
    expect(parseRead('@@ error no container orch-probe: Error: No such object: orch-probe\n').problem).toMatch(/no container/)
  })

  it('expects underlay MTU minus each strategy overhead, the override variable first', () => {
    expect([expectedMtu('routes', {}, 1400), expectedMtu('bridge', {}, 1400), expectedMtu('vxlan', {}, 1400), expectedMtu('ovs-gre', {}, 1400), expectedMtu('wireguard', {}, 1400)]).toEqual([1400, 1400, 1350, 1358, 1340])
    expect(expectedMtu('vxlan', { overlay_mtu: 1300 }, 1400)).toBe(1300)
    expect(expectedMtu('wireguard', { wireguard_mtu: 1280 }, 1500)).toBe(1280)
  })
})
