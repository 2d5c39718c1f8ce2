/**
 * bridgeTakeover's networkd renderer and what each manager is told (pure): golden cases from the files a
 * booted lab host holds. Loaded by the real systemd-networkd in test/boot/bridge-takeover.boot.ts.
 */
import { describe, expect, it } from 'vitest'
import type { FileState } from '../../src/engine/taskkit.ts'
import { detectPersist, planPersist, type PersistFacts, type TakeoverSpec } from '../../src/tasks/persist/index.ts'
import { parseAddrs, parseRoutes } from '../../src/tasks/persist/iproute.ts'
import { managerWork } from '../../src/tasks/takeover/managers.ts'

const file = (text: string, mode = '0644'): FileState => ({ kind: 'file', size: text.length, content: Buffer.from(text), mode, owner: 'root', group: 'root', uid: '0', gid: '0' })
const facts = (files: Record<string, string>, extra: Partial<PersistFacts> = {}): PersistFacts => ({
  tools: { nmcli: false, netplan: false, ifup: false },
  nmRunning: false,
  networkdRunning: true,
  ifstate: false,
  nmDevices: {},
  files: Object.entries(files).map(([path, text]) => ({ path, state: file(text) })),
  ...extra,
})
const spec: TakeoverSpec = {
  bridge: 'br0',
  iface: 'eth0',
  mac: '02:0b:03:00:00:01',
  mtu: 1500,
  stp: false,
  forwardDelay: 0,
  addrs: parseAddrs('[{"ifname":"eth0","addr_info":[{"family":"inet","local":"198.18.3.1","prefixlen":24,"scope":"global","valid_life_time":4294967295,"preferred_life_time":4294967295}]}]').get('eth0')!,
  routes: parseRoutes('[{"dst":"default","gateway":"198.18.3.254","dev":"eth0","protocol":"static","flags":[]}]', 4),
}
const LAB = '[Match]\nName=eth0\n\n[Network]\nAddress=198.18.3.1/24\nGateway=198.18.3.254\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n'

describe('bridgeTakeover: networkd', () => {
  it('auto picks networkd when it runs and a .network file matches eth0 (not when it does not run)', () => {
    expect(detectPersist(facts({ '/etc/systemd/network/10-eth0.network': LAB }), 'eth0', 'br0')).toBe('networkd')
    expect(detectPersist(facts({ '/etc/systemd/network/10-eth0.network': LAB }, { networkdRunning: false }), 'eth0', 'br0')).toBe(null)
    expect(detectPersist(facts({ '/etc/systemd/network/10-en.network': '[Match]\nName=en* eth*\n' }), 'eth0', 'br0')).toBe('networkd')
  })

  it("eth0's addressing moves to br0's .network; eth0's file keeps [Match] and gets Bridge=br0; a .netdev makes br0", () => {
    const p = planPersist('auto', facts({ '/etc/systemd/network/10-eth0.network': LAB }), spec)
    expect(p.kind).toBe('networkd')
    const by = Object.fromEntries(p.writes.map((w) => [w.path, w.content]))
    expect(by['/etc/systemd/network/10-orch-br0.netdev']).toBe(
      '# orch bridgeTakeover: br0 takes over eth0\n[NetDev]\nName=br0\nKind=bridge\nMACAddress=02:0b:03:00:00:01\nMTUBytes=1500\n\n[Bridge]\nSTP=no\nForwardDelaySec=0\n',
    )
    expect(by['/etc/systemd/network/10-orch-br0.network']).toBe(
      '# orch bridgeTakeover: br0 takes over eth0\n[Match]\nName=br0\n\n[Network]\nAddress=198.18.3.1/24\nGateway=198.18.3.254\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n\n[Network]\nConfigureWithoutCarrier=yes\n',
    )
    expect(by['/etc/systemd/network/10-eth0.network']).toBe('[Match]\nName=eth0\n\n[Network]\nBridge=br0\n')
    // A second run over the written files plans nothing.
    const again = planPersist('auto', facts(by), spec)
    expect(again.writes).toEqual([])
  })

  it('no file matches eth0: the port file and br0 from the running address and route', () => {
    const p = planPersist('networkd', facts({}), spec)
    const by = Object.fromEntries(p.writes.map((w) => [w.path, w.content]))
    expect(by['/etc/systemd/network/10-orch-br0-eth0.network']).toBe('# orch bridgeTakeover: br0 takes over eth0\n[Match]\nName=eth0\n\n[Network]\nBridge=br0\n')
    expect(by['/etc/systemd/network/10-orch-br0.network']).toContain('[Network]\nIPv6AcceptRA=no\nLinkLocalAddressing=no\nAddress=198.18.3.1/24\n\n[Route]\nGateway=198.18.3.254\n')
  })

  it('the confirm window uses /run copies of the files; commit writes /etc and drops them; a manager that does not run is told nothing', () => {
    const f = facts({ '/etc/systemd/network/10-eth0.network': LAB })
    const p = planPersist('auto', f, spec)
    const m = managerWork(p, f, spec)
    expect(m.runtime.map((r) => r.path).sort()).toEqual(['/run/systemd/network/10-eth0.network', '/run/systemd/network/10-orch-br0.netdev', '/run/systemd/network/10-orch-br0.network'])
    expect(m.load[0]).toBe('networkctl reload')
    expect(m.commit[0]).toMatch(/^rm -f -- /)
    expect(m.unloadAfter).toEqual(['networkctl reload', 'networkctl reconfigure eth0'])
    const idle = managerWork(p, { ...f, networkdRunning: false }, spec)
    expect([idle.runtime, idle.load, idle.commit]).toEqual([[], [], []])
  })

  it('NetworkManager: the new profiles only go to /run, the bridge is activated before its port', () => {
    const eth0 = '[connection]\nid=eth0\ntype=ethernet\ninterface-name=eth0\n\n[ipv4]\nmethod=manual\naddress1=198.18.3.2/24,198.18.3.254\n'
    const f = facts({ '/etc/NetworkManager/system-connections/eth0.nmconnection': eth0 }, { nmRunning: true, networkdRunning: false, nmDevices: { eth0: 'connected' } })
    const s = { ...spec, routes: parseRoutes('[{"dst":"default","gateway":"198.18.3.254","dev":"eth0","protocol":"static","metric":100,"flags":[]}]', 4) }
    const p = planPersist('auto', f, s)
    expect(p.kind).toBe('networkmanager')
    expect(p.writes.find((w) => w.path.endsWith('/orch-br0.nmconnection'))!.content).toContain('[ipv4]\nmethod=manual\naddress1=198.18.3.2/24,198.18.3.254\nroute-metric=100\n')
    const m = managerWork(p, f, s)
    expect(m.runtime.map((r) => r.path)).toEqual(['/run/NetworkManager/system-connections/orch-br0.nmconnection', '/run/NetworkManager/system-connections/orch-br0-eth0.nmconnection'])
    expect(m.load.slice(1)).toEqual(["nmcli --wait 30 connection up id orch-br0", "nmcli --wait 30 connection up id orch-br0-eth0"])
    expect(m.unloadAfter).toEqual(['nmcli --wait 30 connection up id eth0'])
  })

  it('netplan: the rewritten YAML shadows /etc/netplan from /run/netplan, generated for networkd; ifupdown: only ifstate at commit', () => {
    const yaml = 'network:\n  version: 2\n  renderer: networkd\n  ethernets:\n    eth0:\n      addresses: [198.18.3.3/24]\n'
    const f = facts({ '/etc/netplan/10-eth0.yaml': yaml })
    const p = planPersist('auto', f, spec)
    expect(p.kind).toBe('netplan')
    const m = managerWork(p, f, spec)
    expect(m.runtime.map((r) => r.path)).toEqual(['/run/netplan/10-eth0.yaml'])
    expect(m.load.slice(0, 2)).toEqual(['netplan generate', 'networkctl reload'])
    expect(m.unloadBefore).toEqual(["rm -f -- /run/netplan/10-eth0.yaml", 'netplan generate'])
    const ifs = facts({ '/etc/network/interfaces': 'auto eth0\niface eth0 inet static\n    address 198.18.3.4/24\n' }, { networkdRunning: false, ifstate: true })
    const pi = planPersist('auto', ifs, spec)
    expect(pi.kind).toBe('ifupdown')
    const mi = managerWork(pi, ifs, spec)
    expect([mi.runtime, mi.load]).toEqual([[], []])
    expect(mi.commit.join('\n')).toContain('echo br0=br0 >> /run/network/ifstate')
    expect(mi.commitUndo.join('\n')).toContain("sed -i '/^br0=/d' /run/network/ifstate")
  })
})
