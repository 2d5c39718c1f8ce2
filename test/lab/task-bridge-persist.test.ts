/**
 * bridgeTakeover's persistence planners on their own (pure: no host needed): the branches the lab test
 * does not walk through — DHCP stanzas, interfaces.d, netplan set-name and new-file cases,
 * NetworkManager without an old profile, detection order, idempotence of the generated files.
 */
import { describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import type { FileState } from '../../src/engine/taskkit.ts'
import { detectPersist, parsePersistFacts, planPersist, type PersistFacts, type TakeoverSpec } from '../../src/tasks/persist/index.ts'
import { parseAddrs, parseRoutes } from '../../src/tasks/persist/iproute.ts'

const file = (text: string, mode = '0644'): FileState => ({ kind: 'file', size: text.length, content: Buffer.from(text), mode, owner: 'root', group: 'root', uid: '0', gid: '0' })
const facts = (files: Record<string, string>, extra: Partial<PersistFacts> = {}): PersistFacts => ({
  tools: { nmcli: false, netplan: false, ifup: false },
  nmRunning: false,
  networkdRunning: false,
  ifstate: false,
  nmDevices: {},
  files: Object.entries(files).map(([path, text]) => ({ path, state: file(text) })),
  ...extra,
})

const addrs = parseAddrs(
  JSON.stringify([
    {
      ifname: 'eth0',
      addr_info: [
        { family: 'inet', local: '192.0.2.10', prefixlen: 24, scope: 'global', label: 'eth0', dynamic: true, valid_life_time: 3000, preferred_life_time: 3000 },
        { family: 'inet6', local: '2001:db8::10', prefixlen: 64, scope: 'global', valid_life_time: 4294967295, preferred_life_time: 4294967295 },
      ],
    },
  ]),
).get('eth0')!
const routes = [
  ...parseRoutes(JSON.stringify([{ dst: 'default', gateway: '192.0.2.1', dev: 'eth0', protocol: 'dhcp', metric: 100, flags: [] }, { dst: '10.8.0.0/16', gateway: '192.0.2.1', dev: 'eth0', flags: [] }]), 4),
  ...parseRoutes(JSON.stringify([{ dst: 'default', gateway: 'fe80::1', dev: 'eth0', protocol: 'ra', metric: 1024, flags: [], pref: 'medium' }]), 6),
]
const spec: TakeoverSpec = { bridge: 'br0', iface: 'eth0', mac: '52:54:00:12:34:56', mtu: 1500, stp: false, forwardDelay: 0, addrs, routes }

describe('bridgeTakeover persistence planners', () => {
  it('reads the facts the read script prints', () => {
    const b64 = Buffer.from('auto lo\n').toString('base64')
    const f = parsePersistFacts(`tools nmcli ifup\nnm running\nnmdev eth0:connected\nnmdev lo:unmanaged\n@@orch-conf-file@@ /etc/network/interfaces\nfile 644 root root 8 0 0\n${b64}\n`)
    expect(f.tools).toEqual({ nmcli: true, netplan: false, ifup: true })
    expect(f.nmRunning).toBe(true)
    expect(f.nmDevices).toEqual({ eth0: 'connected', lo: 'unmanaged' })
    expect(f.files).toHaveLength(1)
    expect(f.files[0].path).toBe('/etc/network/interfaces')
    expect(f.files[0].state.kind === 'file' && f.files[0].state.content.toString()).toBe('auto lo\n')
  })

  it('detects netplan before NetworkManager before ifupdown, and nothing on a bare host', () => {
    const np = { '/etc/netplan/50.yaml': 'network:\n  ethernets:\n    eth0: {dhcp4: true}\n' }
    const ifu = { '/etc/network/interfaces': 'iface eth0 inet dhcp\n' }
    expect(detectPersist(facts({ ...np, ...ifu }, { nmRunning: true, nmDevices: { eth0: 'connected' } }), 'eth0', 'br0')).toBe('netplan')
    expect(detectPersist(facts(ifu, { nmRunning: true, nmDevices: { eth0: 'connected' } }), 'eth0', 'br0')).toBe('networkmanager')
    expect(detectPersist(facts(ifu, { nmRunning: true, nmDevices: { eth0: 'unmanaged' } }), 'eth0', 'br0')).toBe('ifupdown')
    expect(detectPersist(facts({ '/etc/network/interfaces': 'auto lo\niface lo inet loopback\n' }), 'eth0', 'br0')).toBe(null)
    const none = planPersist('auto', facts({}), spec)
    expect(none.kind).toBe('none')
    expect(none.notes.join()).toMatch(/runtime only/)
  })

  it('ifupdown: a dhcp stanza in interfaces.d becomes a dhcp bridge; inet6 auto follows; idempotent', () => {
    const main = 'source /etc/network/interfaces.d/*\nauto lo\niface lo inet loopback\n'
    const d = '# the uplink\nallow-hotplug eth0\niface eth0 inet dhcp\n    hostname web1\niface eth0 inet6 auto\n'
    const plan = planPersist('auto', facts({ '/etc/network/interfaces': main, '/etc/network/interfaces.d/eth0': d }), spec)
    expect(plan.kind).toBe('ifupdown')
    expect(plan.writes.map((w) => w.path)).toEqual(['/etc/network/interfaces.d/eth0'])
    const text = plan.writes[0].content
    expect(text).toBe(
      '# the uplink\n' +
        '# orch bridgeTakeover: br0 takes over eth0\nauto br0\niface br0 inet dhcp\n    bridge_ports eth0\n    bridge_stp off\n    bridge_fd 0\n' +
        '    hwaddress ether 52:54:00:12:34:56\n    mtu 1500\n    hostname web1\niface br0 inet6 auto\n\niface eth0 inet manual\n',
    )
    const again = planPersist('auto', facts({ '/etc/network/interfaces': main, '/etc/network/interfaces.d/eth0': text }), spec)
    expect(again.writes).toEqual([])
  })

  it('ifupdown requested on a host without the file: written from the running state', () => {
    const plan = planPersist('ifupdown', facts({}), { ...spec, addrs: addrs.map((a) => ({ ...a, dynamic: false, validLft: undefined, preferredLft: undefined })) })
    expect(plan.writes[0].path).toBe('/etc/network/interfaces')
    expect(plan.writes[0].before).toEqual({ kind: 'absent' })
    const text = plan.writes[0].content
    expect(text).toMatch(/^auto lo\niface lo inet loopback\n\n# orch bridgeTakeover/)
    expect(text).toContain('iface br0 inet static\n')
    expect(text).toContain('    address 192.0.2.10/24\n')
    // the DHCP default route is left to DHCP; the static one becomes an up line
    expect(text).not.toContain('gateway 192.0.2.1')
    expect(text).toContain('    up ip -4 route add 10.8.0.0/16 via 192.0.2.1 dev br0\n')
    expect(text).toContain('iface br0 inet6 static\n    address 2001:db8::10/64\n')
  })

  it('netplan: an interface renamed by set-name is found by its id; comments survive', () => {
    const y = '# by cloud-init\nnetwork:\n  version: 2\n  ethernets:\n    uplink:\n      match: {macaddress: "52:54:00:12:34:56"}\n      set-name: eth0\n      dhcp4: true  # lease\n'
    const plan = planPersist('auto', facts({ '/etc/netplan/50-cloud-init.yaml': y }), spec)
    expect(plan.kind).toBe('netplan')
    const out = parseYaml(plan.writes[0].content)
    expect(out.network.ethernets.uplink).toEqual({ match: { macaddress: '52:54:00:12:34:56' }, 'set-name': 'eth0' })
    expect(out.network.bridges.br0).toMatchObject({ interfaces: ['uplink'], dhcp4: true, parameters: { stp: false, 'forward-delay': 0 } })
    expect(plan.writes[0].content).toMatch(/^# by cloud-init/)
    expect(plan.writes[0].mode).toBe('0600')
    expect(planPersist('auto', facts({ '/etc/netplan/50-cloud-init.yaml': plan.writes[0].content }), spec).writes).toEqual([])
  })

  it('netplan requested without a file defining eth0: 90-orch-br0.yaml from the running state', () => {
    const plan = planPersist('netplan', facts({}), spec)
    expect(plan.writes[0].path).toBe('/etc/netplan/90-orch-br0.yaml')
    const out = parseYaml(plan.writes[0].content)
    expect(out.network.ethernets.eth0).toEqual({})
    expect(out.network.bridges.br0).toEqual({
      interfaces: ['eth0'],
      macaddress: '52:54:00:12:34:56',
      mtu: 1500,
      parameters: { stp: false, 'forward-delay': 0 },
      dhcp4: true,
      addresses: ['2001:db8::10/64'],
      routes: [{ to: '10.8.0.0/16', via: '192.0.2.1' }],
    })
  })

  it('networkmanager without an old profile: the bridge profile from the running state', () => {
    const plan = planPersist('networkmanager', facts({}), spec)
    const br = plan.writes.find((w) => w.path.endsWith('/orch-br0.nmconnection'))!.content
    expect(br).toContain('[ipv4]\nmethod=auto\nroute1=10.8.0.0/16,192.0.2.1\n')
    expect(br).toContain('[ipv6]\nmethod=manual\naddress1=2001:db8::10/64\n')
    expect(br).toMatch(/uuid=[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n/)
    expect(plan.writes.every((w) => w.mode === '0600')).toBe(true)
    // the same profile on every run (deterministic uuid)
    expect(planPersist('networkmanager', facts({}), spec).writes.map((w) => w.content)).toEqual(plan.writes.map((w) => w.content))
  })
})
