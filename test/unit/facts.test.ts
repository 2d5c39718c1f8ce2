/**
 * The facts parsers on output captured from lab hosts (see the fixtures at the end), and on hand-made
 * variants of it for what a lab host cannot show (no docker/OVS/iptables installed, netplan renderers).
 */
import { describe, expect, it } from 'vitest'
import { parseFacts, renderFacts } from '../../src/facts/index.ts'
import {
  ovsdbRows,
  ovsdbValue,
  parseDaemonJson,
  parseDockerInfo,
  parseDockerNetworks,
  parseRoutes,
  parseSystem,
} from '../../src/facts/parse.ts'
import { FACT_SECTIONS, factsScript, splitFactSections } from '../../src/facts/script.ts'

describe('facts script', () => {
  it('is one script with a marker per section, and nothing interpolated', () => {
    const s = factsScript()
    for (const [name] of FACT_SECTIONS) expect(s).toContain(`'@@orch-fact@@' '${name}'`)
    expect(s).not.toContain('${')
  })
  it('splits output into sections with their exit status', () => {
    const m = splitFactSections(NODE1)
    expect(m.get('meta')).toEqual({ out: 'node1\n6.18.44-fc-v657\n', rc: 0 })
    expect(m.get('ipt-orch-forward')?.rc).toBe(0)
    expect(splitFactSections(BARE).get('ipt-orch-forward')?.rc).toBe(1)
    expect([...m.keys()]).toEqual(FACT_SECTIONS.map(([n]) => n))
  })
  it('says which WireGuard datapath a host has (wireguard-go on a kernel without the module)', () => {
    expect(parseFacts(NODE1).wireguard).toEqual({ kernel: false, userspace: true, tools: true, datapath: 'userspace', interfaces: ['orch-wg0'] })
    expect(parseFacts(BARE).wireguard).toMatchObject({ datapath: 'none', tools: false, interfaces: [] })
    expect(renderFacts(parseFacts(NODE1))).toMatch(/datapath: wireguard-go \(userspace: no kernel module\); wg tool: yes; devices: orch-wg0/)
  })
})

describe('parseFacts on a docker + OVS host', () => {
  const f = parseFacts(NODE1)
  const iface = (n: string) => f.interfaces.find((i) => i.name === n)

  it('reads host, interfaces, kinds, masters, MAC, MTU and addresses', () => {
    expect(f.errors).toEqual([])
    expect(f.hostname).toBe('node1')
    expect(f.kernel).toBe('6.18.44-fc-v657')
    expect(f.interfaces.map((i) => `${i.name}:${i.kind}`)).toEqual([
      'lo:loopback', 'eth0:veth', 'docker0:bridge', 'br-orchnat:bridge', 'vethc06f8a9:veth', 'ovs-netdev:tun', 'br-t:tun', 'p1:tun', 'br9:bridge', 'vx9:vxlan',
    ])
    expect(iface('eth0')).toEqual({
      name: 'eth0', ifindex: 2, kind: 'veth', state: 'UP', up: true, mtu: 1500, mac: 'e6:0b:f4:2a:79:11',
      addresses: [
        { family: 'inet', address: '198.18.0.1', prefixlen: 24, cidr: '198.18.0.1/24', scope: 'global' },
        { family: 'inet6', address: 'fe80::e40b:f4ff:fe2a:7911', prefixlen: 64, cidr: 'fe80::e40b:f4ff:fe2a:7911/64', scope: 'link' },
      ],
    })
    expect(iface('lo')?.mac).toBeUndefined()
    expect(iface('vethc06f8a9')).toMatchObject({ master: 'br-orchnat', slaveKind: 'bridge' })
    expect(iface('vx9')).toMatchObject({ kind: 'vxlan', master: 'br9', mtu: 1450, up: false, vxlan: { id: 9, remote: '198.18.0.2', port: 4789, dev: 'eth0' } })
    expect(iface('docker0')).toMatchObject({ state: 'DOWN', up: true })
  })

  it('marks OVS ports with their bridge and type', () => {
    expect(iface('p1')?.ovs).toEqual({ bridge: 'br-t', type: 'internal' })
    expect(iface('br-t')?.ovs).toEqual({ bridge: 'br-t', type: 'internal' })
    expect(iface('eth0')?.ovs).toBeUndefined()
  })

  it('reads main-table routes, IPv4 and IPv6 without link-local', () => {
    const v4 = f.routes.filter((r) => r.family === 4)
    expect(v4[0]).toEqual({ family: 4, dst: 'default', type: 'unicast', gateway: '198.18.0.254', dev: 'eth0', protocol: 'boot', scope: 'global', metric: 0, text: 'default via 198.18.0.254 dev eth0' })
    expect(v4.map((r) => r.dst)).toEqual(['default', '10.9.9.0/24', '10.77.0.0/24', '172.17.0.0/16', '198.18.0.0/24'])
    expect(v4.find((r) => r.dst === '10.77.0.0/24')).toMatchObject({ dev: 'br-orchnat', protocol: 'kernel', scope: 'link', src: '10.77.0.1' })
    expect(f.routes.filter((r) => r.family === 6).every((r) => !r.dst.startsWith('fe80:'))).toBe(true)
  })

  it('lists Linux bridges and their ports', () => {
    expect(f.bridges).toEqual([
      { name: 'docker0', ports: [], stp: false, vlanFiltering: false, mtu: 1500, addresses: ['172.17.0.1/16'] },
      { name: 'br-orchnat', ports: ['vethc06f8a9'], stp: false, vlanFiltering: false, mtu: 1500, addresses: ['10.77.0.1/24'] },
      { name: 'br9', ports: ['vx9'], stp: false, vlanFiltering: false, mtu: 1450, addresses: ['10.9.9.1/24'] },
    ])
  })

  it('reads docker: daemon.json, info, networks with subnet, gateway and bridge name', () => {
    const d = f.docker
    expect(d).toMatchObject({
      installed: true, running: true, version: '20.10.24+dfsg1', storageDriver: 'overlay2', cgroupDriver: 'cgroupfs', cgroupVersion: '1',
      ipv4Forwarding: true, containers: { total: 1, running: 1 }, images: 1, rootDir: '/var/lib/docker', swarm: 'inactive', warnings: [],
    })
    expect(d.daemonJson).toEqual({ present: true, content: { bip: '10.1.1.1/24', mtu: 1450 } })
    expect(d.networks.map((n) => [n.name, n.driver, n.subnets.join(), n.gateways.join(), n.bridge, n.masquerade])).toEqual([
      ['bridge', 'bridge', '172.17.0.0/16', '172.17.0.1', 'docker0', true], // gateway from docker0's address
      ['host', 'host', '', '', undefined, undefined],
      ['none', 'null', '', '', undefined, undefined],
      ['orchnat', 'bridge', '10.77.0.0/24', '10.77.0.1', 'br-orchnat', false],
    ])
    expect(d.networks[0].mtu).toBe(1500)
  })

  it('reads OVS: version, datapath types, bridges, ports (tags), interfaces with type and options', () => {
    expect(f.ovs).toMatchObject({ installed: true, running: true, version: '3.1.0', datapathTypes: ['netdev', 'system'] })
    expect(f.ovs.ifaceTypes).toContain('vxlan')
    expect(f.ovs.bridges).toHaveLength(1)
    const b = f.ovs.bridges[0]
    expect(b.name).toBe('br-t')
    expect(b.datapathType).toBe('netdev')
    expect(b.ports.map((p) => [p.name, p.tag, p.interfaces.map((i) => [i.name, i.type, i.options])])).toEqual([
      ['br-t', undefined, [['br-t', 'internal', {}]]],
      ['p1', 10, [['p1', 'internal', {}]]],
      ['vx0', undefined, [['vx0', 'vxlan', { key: '42', remote_ip: '198.18.0.2' }]]],
    ])
    expect(b.ports[1].interfaces[0]).toMatchObject({ mtu: 1500, ofport: 2 })
  })

  it('reads forwarding and iptables: backend, FORWARD policy, DOCKER-USER, nat POSTROUTING, ORCH chains', () => {
    expect(f.forwarding).toEqual({ ipv4: true, ipv6: false })
    expect(f.iptables).toEqual({
      present: true,
      binary: '/usr/sbin/iptables',
      variant: 'nft',
      pathVariant: 'nft',
      version: 'iptables v1.8.9 (nf_tables)',
      legacyTables: ['filter'],
      forwardPolicy: 'DROP',
      forward: expect.arrayContaining(['-A FORWARD -j DOCKER-USER', '-A FORWARD -o docker0 -j DOCKER']),
      dockerUser: true,
      natPostrouting: ['-A POSTROUTING -j ORCH-POSTROUTING', '-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE'],
      orchForward: ['-A ORCH-FORWARD -i eth0 -o docker0 -m comment --comment "orch forward-accept" -j ACCEPT'],
      orchPostrouting: [
        '-A ORCH-POSTROUTING -s 10.1.1.0/24 -d 10.0.0.0/8 -m comment --comment "orch masquerade 10.1.1.0/24" -j ACCEPT',
        '-A ORCH-POSTROUTING -s 10.1.1.0/24 -m comment --comment "orch masquerade 10.1.1.0/24" -j MASQUERADE',
      ],
    })
    expect(f.iptables.forward).toHaveLength(10)
  })

  it('reads init and network configuration', () => {
    expect(f.system).toEqual({
      systemd: false,
      systemctl: true,
      network: { managers: ['netplan', 'ifupdown'], primary: 'netplan', netplanFiles: ['/etc/netplan/01-net.yaml'], netplanRenderer: 'networkd', ifupdownInterfaces: ['eth0'] },
    })
  })

  it('renders a readable view', () => {
    const text = renderFacts(f)
    expect(text).toMatch(/^node1 {2}kernel 6\.18\.44/)
    expect(text).toMatch(/\n {2}eth0 +veth +UP +1500 +e6:0b:f4:2a:79:11 +198\.18\.0\.1\/24\n/)
    expect(text).toContain('master br9, vni 9 remote 198.18.0.2 port 4789 dev eth0')
    expect(text).toContain('  default via 198.18.0.254 dev eth0\n')
    expect(text).toMatch(/\n {2}br-orchnat +ports: vethc06f8a9 +10\.77\.0\.1\/24\n/)
    expect(text).toMatch(/\n {2}bridge +bridge +172\.17\.0\.0\/16 +172\.17\.0\.1 +docker0 +yes\n/)
    expect(text).toContain('  /etc/docker/daemon.json: {"bip":"10.1.1.1/24","mtu":1450}')
    expect(text).toContain('  bridge br-t (datapath netdev)\n    port br-t: br-t [internal] mtu 1500\n    port p1 tag 10: p1 [internal] mtu 1500\n    port vx0: vx0 [vxlan] key=42 remote_ip=198.18.0.2\n')
    expect(text).toContain('  ip_forward 1  ipv6 forwarding 0\n')
    expect(text).toContain('/usr/sbin/iptables (nft)  FORWARD policy DROP  DOCKER-USER present')
    expect(text).toContain('  network configured by: netplan, ifupdown (netplan renderer networkd) (ifupdown: eth0)')
    expect(renderFacts(f, { color: true })).toContain('\x1b[1mInterfaces\x1b[0m')
  })
})

describe('parseFacts when things are missing', () => {
  it('a bare host: docker and OVS installed but not running, no rules, forwarding off', () => {
    const f = parseFacts(BARE)
    expect(f.errors).toEqual([])
    expect(f.interfaces.map((i) => i.name)).toEqual(['lo', 'eth0'])
    expect(f.docker).toEqual({ installed: true, running: false, daemonJson: { present: false }, warnings: [], networks: [] })
    expect(f.ovs).toEqual({ installed: true, running: false, datapathTypes: [], ifaceTypes: [], bridges: [] })
    expect(f.forwarding.ipv4).toBe(false)
    expect(f.iptables).toMatchObject({ present: true, forwardPolicy: 'ACCEPT', dockerUser: false, natPostrouting: [], orchForward: null, orchPostrouting: null, legacyTables: [] })
    expect(f.system.network).toMatchObject({ managers: [], primary: 'none' })
    const text = renderFacts(f)
    expect(text).toContain('Docker\n  installed, daemon not answering\n  /etc/docker/daemon.json: absent\n')
    expect(text).toContain('Open vSwitch\n  installed, ovsdb-server not answering\n')
    expect(text).toContain('network configured by: none detected')
  })

  /** The bare capture with some sections replaced, as on a host without these tools. */
  function withSections(base: string, replace: Record<string, { out: string; rc: number }>): string {
    const m = splitFactSections(base)
    for (const [k, v] of Object.entries(replace)) m.set(k, v)
    return [...m].map(([k, v]) => `\n@@orch-fact@@ ${k}\n${v.out}\n@@orch-fact@@ rc ${v.rc}\n`).join('')
  }

  it('no docker, no OVS, no iptables installed', () => {
    const none = { out: '', rc: 127 }
    const f = parseFacts(
      withSections(BARE, {
        'docker-cmd': { out: '', rc: 1 },
        'docker-info': none,
        'docker-networks': none,
        'ovs-cmd': { out: '', rc: 1 },
        ovs: none,
        iptables: { out: 'absent\n', rc: 0 },
        'ipt-forward': none,
        'ipt-docker-user': none,
        'ipt-nat-postrouting': none,
        'ipt-orch-forward': none,
        'ipt-orch-postrouting': none,
      }),
    )
    expect(f.errors).toEqual([])
    expect(f.docker.installed).toBe(false)
    expect(f.ovs.installed).toBe(false)
    expect(f.iptables).toEqual({ present: false, legacyTables: [], forward: [], dockerUser: false, natPostrouting: [], orchForward: null, orchPostrouting: null })
    const text = renderFacts(f)
    expect(text).toContain('Docker\n  not installed\n')
    expect(text).toContain('Open vSwitch\n  not installed\n')
    expect(text).toContain('  iptables: not installed\n')
  })

  it('iptables-nft on PATH while docker wrote legacy rules', () => {
    const f = parseFacts(withSections(BARE, { iptables: { out: '/usr/sbin/iptables-legacy nft legacy\niptables v1.8.9 (legacy)\nlegacy-tables filter nat \n', rc: 0 } }))
    expect(f.iptables).toMatchObject({ binary: '/usr/sbin/iptables-legacy', variant: 'legacy', pathVariant: 'nft', legacyTables: ['filter', 'nat'] })
    expect(renderFacts(f)).toContain('/usr/sbin/iptables-legacy (legacy; iptables on PATH is nft)')
  })

  it('an ip without JSON output (busybox, old iproute2) is reported, not taken for "no interfaces"', () => {
    const f = parseFacts(withSections(BARE, { addr: { out: 'ip: invalid option -- j', rc: 1 }, route4: { out: '', rc: 1 } }))
    expect(f.interfaces).toEqual([])
    expect(f.errors).toEqual([expect.stringMatching(/^interfaces: ip -d -j addr show failed \(rc=1\): iproute2 with JSON/), expect.stringMatching(/^routes \(IPv4\): /)])
    expect(f.docker.installed).toBe(true)
  })

  it('a section that cannot be parsed is reported, the rest is still there', () => {
    const f = parseFacts(withSections(NODE1, { ovs: { out: '{"data": [', rc: 0 } }))
    expect(f.errors).toEqual([expect.stringMatching(/^ovs: /)])
    expect(f.ovs).toMatchObject({ installed: true, running: false, bridges: [] })
    expect(f.docker.running).toBe(true)
    expect(renderFacts(f)).toContain('Could not read\n  ovs: ')
  })
})

describe('single parsers', () => {
  it('ovsdbValue: sets, maps, uuids, a one-element set printed bare', () => {
    expect(ovsdbValue(['set', [['uuid', 'a'], ['uuid', 'b']]])).toEqual(['a', 'b'])
    expect(ovsdbValue(['uuid', 'a'])).toBe('a')
    expect(ovsdbValue(['map', [['key', '42'], ['remote_ip', '10.0.0.2']]])).toEqual({ key: '42', remote_ip: '10.0.0.2' })
    expect(ovsdbValue(['set', []])).toEqual([])
    expect(ovsdbValue(7)).toBe(7)
    expect(ovsdbRows('{"data":[["br0",["uuid","u1"],"",["map",[]]]],"headings":["name","ports","datapath_type","other_config"]}')).toEqual([
      { name: 'br0', ports: 'u1', datapath_type: '', other_config: {} },
    ])
  })

  it('parseRoutes: host routes as /32, multipath next hops, metrics', () => {
    const r = parseRoutes(
      '[{"type":"unicast","dst":"10.9.0.1","dev":"eth0","protocol":"static","scope":"link","flags":[]},' +
        '{"type":"unicast","dst":"10.8.0.0/24","protocol":"boot","scope":"global","metric":20,"flags":[],"nexthops":[{"gateway":"198.18.0.2","dev":"eth0","weight":2,"flags":[]},{"gateway":"198.18.0.254","dev":"eth0","weight":1,"flags":[]}]},' +
        '{"type":"blackhole","dst":"10.7.0.0/24","protocol":"boot","scope":"global","flags":[]}]',
      4,
    )
    expect(r.map((x) => x.dst)).toEqual(['10.9.0.1/32', '10.8.0.0/24', '10.7.0.0/24'])
    expect(r[1]).toMatchObject({ metric: 20, nexthops: [{ gateway: '198.18.0.2', dev: 'eth0', weight: 2 }, { gateway: '198.18.0.254', dev: 'eth0', weight: 1 }] })
    expect(r[1].text).toBe('10.8.0.0/24 metric 20 nexthop via 198.18.0.2 dev eth0 weight 2 nexthop via 198.18.0.254 dev eth0 weight 1')
    expect(r[2]).toMatchObject({ type: 'blackhole', text: 'blackhole 10.7.0.0/24' })
    expect(parseRoutes('', 4)).toEqual([])
  })

  it('parseDaemonJson: absent, empty, valid, invalid', () => {
    expect(parseDaemonJson('absent\n')).toEqual({ present: false })
    expect(parseDaemonJson('present\n')).toEqual({ present: true, content: {} })
    expect(parseDaemonJson('present\n{"bip": "10.1.1.1/24"}\n')).toEqual({ present: true, content: { bip: '10.1.1.1/24' } })
    expect(parseDaemonJson('present\n{"bip": "10.1.1.1/24",}\n')).toMatchObject({ present: true, error: expect.any(String) })
    expect(parseDaemonJson('present\n[1]\n')).toEqual({ present: true, error: 'not a JSON object' })
  })

  it('parseDockerInfo: a daemon that does not answer gives nothing', () => {
    expect(parseDockerInfo('{"ServerVersion":"","Containers":0}')).toBeUndefined()
    expect(parseDockerInfo('Cannot connect to the Docker daemon')).toBeUndefined()
    expect(parseDockerInfo('{"ServerVersion":"28.2.2","Containers":3,"ContainersRunning":2,"Warnings":["WARNING: bridge-nf-call-iptables is disabled"]}')).toEqual({
      version: '28.2.2', containers: { total: 3, running: 2 }, warnings: ['WARNING: bridge-nf-call-iptables is disabled'],
    })
  })

  it('parseDockerNetworks: bridge name defaults to br-<id12>, gateway from IPAM', () => {
    const [n] = parseDockerNetworks('[{"Name":"net1","Id":"0123456789abcdef","Driver":"bridge","Scope":"local","IPAM":{"Config":[{"Subnet":"10.5.0.0/24","Gateway":"10.5.0.1"}]},"Options":{}}]')
    expect(n).toMatchObject({ name: 'net1', bridge: 'br-0123456789ab', subnets: ['10.5.0.0/24'], gateways: ['10.5.0.1'], masquerade: true, internal: false })
  })

  it('parseSystem: NetworkManager and systemd-networkd by their processes, netplan renderer', () => {
    const s = parseSystem('systemd 1\nsystemctl /usr/bin/systemctl\nnetplan-file /etc/netplan/50-cloud-init.yaml\nnetplan-renderer NetworkManager\nprocs NetworkManager sshd systemd systemd-network \n')
    expect(s).toEqual({
      systemd: true,
      systemctl: true,
      network: { managers: ['netplan', 'NetworkManager', 'systemd-networkd'], primary: 'netplan', netplanFiles: ['/etc/netplan/50-cloud-init.yaml'], netplanRenderer: 'NetworkManager', ifupdownInterfaces: [] },
    })
    expect(parseSystem('systemd 0\nsystemctl -\nifupdown-iface lo\nprocs sh\n').network).toMatchObject({ managers: [], primary: 'none' })
  })
})

// ---------------------------------------------------------------- captured output

/** node1: dockerd (docker0 + a user bridge network without masquerade), OVS netdev bridge with a VXLAN port and a tagged internal port, a Linux bridge with a kernel VXLAN port, ORCH chains, daemon.json, /etc/network/interfaces and a netplan file. */
const NODE1 = [
  "",
  "@@orch-fact@@ meta",
  "node1",
  "6.18.44-fc-v657",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ addr",
  "[{\"ifindex\":1,\"ifname\":\"lo\",\"flags\":[\"LOOPBACK\",\"UP\",\"LOWER_UP\"],\"mtu\":65536,\"operstate\":\"UNKNOWN\",\"link_type\":\"loopback\",\"address\":\"00:00:00:00:00:00\",\"addr_info\":[{\"family\":\"inet\",\"local\":\"127.0.0.1\",\"prefixlen\":8,\"scope\":\"host\"},{\"family\":\"inet6\",\"local\":\"::1\",\"prefixlen\":128,\"scope\":\"host\"}]},{\"ifindex\":2,\"ifname\":\"eth0\",\"flags\":[\"BROADCAST\",\"MULTICAST\",\"UP\",\"LOWER_UP\"],\"mtu\":1500,\"operstate\":\"UP\",\"link_type\":\"ether\",\"address\":\"e6:0b:f4:2a:79:11\",\"linkinfo\":{\"info_kind\":\"veth\"},\"addr_info\":[{\"family\":\"inet\",\"local\":\"198.18.0.1\",\"prefixlen\":24,\"scope\":\"global\"},{\"family\":\"inet6\",\"local\":\"fe80::e40b:f4ff:fe2a:7911\",\"prefixlen\":64,\"scope\":\"link\"}]},{\"ifindex\":3,\"ifname\":\"docker0\",\"flags\":[\"NO-CARRIER\",\"BROADCAST\",\"MULTICAST\",\"UP\"],\"mtu\":1500,\"operstate\":\"DOWN\",\"link_type\":\"ether\",\"address\":\"02:42:4c:27:f3:0d\",\"linkinfo\":{\"info_kind\":\"bridge\",\"info_data\":{\"stp_state\":0,\"vlan_filtering\":0}},\"addr_info\":[{\"family\":\"inet\",\"local\":\"172.17.0.1\",\"prefixlen\":16,\"scope\":\"global\"}]},{\"ifindex\":11,\"ifname\":\"br-orchnat\",\"flags\":[\"BROADCAST\",\"MULTICAST\",\"UP\",\"LOWER_UP\"],\"mtu\":1500,\"operstate\":\"UP\",\"link_type\":\"ether\",\"address\":\"02:42:ef:da:54:83\",\"linkinfo\":{\"info_kind\":\"bridge\",\"info_data\":{\"stp_state\":0,\"vlan_filtering\":0}},\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.77.0.1\",\"prefixlen\":24,\"scope\":\"global\"},{\"family\":\"inet6\",\"local\":\"fe80::42:efff:feda:5483\",\"prefixlen\":64,\"scope\":\"link\"}]},{\"ifindex\":13,\"ifname\":\"vethc06f8a9\",\"flags\":[\"BROADCAST\",\"MULTICAST\",\"UP\",\"LOWER_UP\"],\"mtu\":1500,\"master\":\"br-orchnat\",\"operstate\":\"UP\",\"link_type\":\"ether\",\"address\":\"82:b3:0a:b6:ae:48\",\"linkinfo\":{\"info_kind\":\"veth\",\"info_slave_kind\":\"bridge\"},\"addr_info\":[{\"family\":\"inet6\",\"local\":\"fe80::80b3:aff:feb6:ae48\",\"prefixlen\":64,\"scope\":\"link\"}]},{\"ifindex\":14,\"ifname\":\"ovs-netdev\",\"flags\":[\"BROADCAST\",\"MULTICAST\",\"PROMISC\"],\"mtu\":1500,\"operstate\":\"DOWN\",\"link_type\":\"ether\",\"address\":\"4e:df:bf:e9:05:00\",\"linkinfo\":{\"info_kind\":\"tun\"},\"addr_info\":[]},{\"ifindex\":15,\"ifname\":\"br-t\",\"flags\":[\"BROADCAST\",\"MULTICAST\",\"PROMISC\"],\"mtu\":1500,\"operstate\":\"DOWN\",\"link_type\":\"ether\",\"address\":\"7a:2f:34:68:b8:4a\",\"linkinfo\":{\"info_kind\":\"tun\"},\"addr_info\":[]},{\"ifindex\":16,\"ifname\":\"p1\",\"flags\":[\"BROADCAST\",\"MULTICAST\",\"PROMISC\"],\"mtu\":1500,\"operstate\":\"DOWN\",\"link_type\":\"ether\",\"address\":\"06:b1:22:03:41:c1\",\"linkinfo\":{\"info_kind\":\"tun\"},\"addr_info\":[]},{\"ifindex\":17,\"ifname\":\"br9\",\"flags\":[\"NO-CARRIER\",\"BROADCAST\",\"MULTICAST\",\"UP\"],\"mtu\":1450,\"operstate\":\"DOWN\",\"link_type\":\"ether\",\"address\":\"f2:67:f6:ff:af:e8\",\"linkinfo\":{\"info_kind\":\"bridge\",\"info_data\":{\"stp_state\":0,\"vlan_filtering\":0}},\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.9.9.1\",\"prefixlen\":24,\"scope\":\"global\"}]},{\"ifindex\":18,\"ifname\":\"vx9\",\"flags\":[\"BROADCAST\",\"MULTICAST\"],\"mtu\":1450,\"master\":\"br9\",\"operstate\":\"DOWN\",\"link_type\":\"ether\",\"address\":\"f2:67:f6:ff:af:e8\",\"linkinfo\":{\"info_kind\":\"vxlan\",\"info_data\":{\"id\":9,\"remote\":\"198.18.0.2\",\"link\":\"eth0\",\"port\":4789},\"info_slave_kind\":\"bridge\"},\"addr_info\":[]}]",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ route4",
  "[{\"type\":\"unicast\",\"dst\":\"default\",\"gateway\":\"198.18.0.254\",\"dev\":\"eth0\",\"protocol\":\"boot\",\"scope\":\"global\",\"flags\":[]},{\"type\":\"unicast\",\"dst\":\"10.9.9.0/24\",\"dev\":\"br9\",\"protocol\":\"kernel\",\"scope\":\"link\",\"prefsrc\":\"10.9.9.1\",\"flags\":[\"linkdown\"]},{\"type\":\"unicast\",\"dst\":\"10.77.0.0/24\",\"dev\":\"br-orchnat\",\"protocol\":\"kernel\",\"scope\":\"link\",\"prefsrc\":\"10.77.0.1\",\"flags\":[]},{\"type\":\"unicast\",\"dst\":\"172.17.0.0/16\",\"dev\":\"docker0\",\"protocol\":\"kernel\",\"scope\":\"link\",\"prefsrc\":\"172.17.0.1\",\"flags\":[\"linkdown\"]},{\"type\":\"unicast\",\"dst\":\"198.18.0.0/24\",\"dev\":\"eth0\",\"protocol\":\"kernel\",\"scope\":\"link\",\"prefsrc\":\"198.18.0.1\",\"flags\":[]}]",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ route6",
  "[{\"type\":\"unicast\",\"dst\":\"fe80::/64\",\"dev\":\"eth0\",\"protocol\":\"kernel\",\"scope\":\"global\",\"metric\":256,\"flags\":[],\"pref\":\"medium\"},{\"type\":\"unicast\",\"dst\":\"fe80::/64\",\"dev\":\"vethc06f8a9\",\"protocol\":\"kernel\",\"scope\":\"global\",\"metric\":256,\"flags\":[],\"pref\":\"medium\"},{\"type\":\"unicast\",\"dst\":\"fe80::/64\",\"dev\":\"br-orchnat\",\"protocol\":\"kernel\",\"scope\":\"global\",\"metric\":256,\"flags\":[],\"pref\":\"medium\"}]",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ forwarding",
  "1",
  "0",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ iptables",
  "/usr/sbin/iptables nft nft",
  "iptables v1.8.9 (nf_tables)",
  "legacy-tables filter ",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ ipt-forward",
  "-P FORWARD DROP",
  "-A FORWARD -j DOCKER-USER",
  "-A FORWARD -j DOCKER-ISOLATION-STAGE-1",
  "-A FORWARD -o br-orchnat -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
  "-A FORWARD -o br-orchnat -j DOCKER",
  "-A FORWARD -i br-orchnat ! -o br-orchnat -j ACCEPT",
  "-A FORWARD -i br-orchnat -o br-orchnat -j ACCEPT",
  "-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
  "-A FORWARD -o docker0 -j DOCKER",
  "-A FORWARD -i docker0 ! -o docker0 -j ACCEPT",
  "-A FORWARD -i docker0 -o docker0 -j ACCEPT",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ ipt-docker-user",
  "-N DOCKER-USER",
  "-A DOCKER-USER -j ORCH-FORWARD",
  "-A DOCKER-USER -j RETURN",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ ipt-orch-forward",
  "-N ORCH-FORWARD",
  "-A ORCH-FORWARD -i eth0 -o docker0 -m comment --comment \"orch forward-accept\" -j ACCEPT",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ ipt-nat-postrouting",
  "-P POSTROUTING ACCEPT",
  "-A POSTROUTING -j ORCH-POSTROUTING",
  "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ ipt-orch-postrouting",
  "-N ORCH-POSTROUTING",
  "-A ORCH-POSTROUTING -s 10.1.1.0/24 -d 10.0.0.0/8 -m comment --comment \"orch masquerade 10.1.1.0/24\" -j ACCEPT",
  "-A ORCH-POSTROUTING -s 10.1.1.0/24 -m comment --comment \"orch masquerade 10.1.1.0/24\" -j MASQUERADE",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ docker-cmd",
  "/usr/local/bin/docker",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ daemon-json",
  "present",
  "{",
  "  \"bip\": \"10.1.1.1/24\",",
  "  \"mtu\": 1450",
  "}",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ docker-info",
  "{\"Containers\":1,\"ContainersRunning\":1,\"Images\":1,\"Driver\":\"overlay2\",\"IPv4Forwarding\":true,\"CgroupDriver\":\"cgroupfs\",\"CgroupVersion\":\"1\",\"KernelVersion\":\"6.18.44-fc-v657\",\"DockerRootDir\":\"/var/lib/docker\",\"Name\":\"node1\",\"ServerVersion\":\"20.10.24+dfsg1\",\"Swarm\":{\"LocalNodeState\":\"inactive\"},\"Warnings\":null}",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ docker-networks",
  "[{\"Name\":\"bridge\",\"Id\":\"6bd09161ebc2f81397fa5f29b649ae900e9be6eabe91d0f98f0ea5c0e83cfc56\",\"Scope\":\"local\",\"Driver\":\"bridge\",\"EnableIPv6\":false,\"IPAM\":{\"Driver\":\"default\",\"Options\":null,\"Config\":[{\"Subnet\":\"172.17.0.0/16\"}]},\"Internal\":false,\"Options\":{\"com.docker.network.bridge.default_bridge\":\"true\",\"com.docker.network.bridge.enable_icc\":\"true\",\"com.docker.network.bridge.enable_ip_masquerade\":\"true\",\"com.docker.network.bridge.host_binding_ipv4\":\"0.0.0.0\",\"com.docker.network.bridge.name\":\"docker0\",\"com.docker.network.driver.mtu\":\"1500\"}},{\"Name\":\"host\",\"Id\":\"3e1440ad2d4cb9f9325fdf215762f5d96de5d51f110f8ef06a48f6163bea61ce\",\"Scope\":\"local\",\"Driver\":\"host\",\"EnableIPv6\":false,\"IPAM\":{\"Driver\":\"default\",\"Options\":null,\"Config\":[]},\"Internal\":false,\"Options\":{}},{\"Name\":\"none\",\"Id\":\"d270c7c6cb1c06fec6093f588448494ba139575b94023b0e1ee3bc14bdc39018\",\"Scope\":\"local\",\"Driver\":\"null\",\"EnableIPv6\":false,\"IPAM\":{\"Driver\":\"default\",\"Options\":null,\"Config\":[]},\"Internal\":false,\"Options\":{}},{\"Name\":\"orchnat\",\"Id\":\"5f55cb2fd2992f0b30e3b85f7dd4871aa3a5fa7199c084f4fdde7a37dbd611a3\",\"Scope\":\"local\",\"Driver\":\"bridge\",\"EnableIPv6\":false,\"IPAM\":{\"Driver\":\"default\",\"Options\":{},\"Config\":[{\"Subnet\":\"10.77.0.0/24\"}]},\"Internal\":false,\"Options\":{\"com.docker.network.bridge.enable_ip_masquerade\":\"false\",\"com.docker.network.bridge.name\":\"br-orchnat\"}}]",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ ovs-cmd",
  "/usr/bin/ovs-vsctl",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ ovs",
  "{\"data\":[[\"3.1.0\",[\"set\",[\"netdev\",\"system\"]],[\"set\",[\"afxdp\",\"afxdp-nonpmd\",\"bareudp\",\"erspan\",\"geneve\",\"gre\",\"gtpu\",\"internal\",\"ip6erspan\",\"ip6gre\",\"lisp\",\"patch\",\"stt\",\"system\",\"tap\",\"vxlan\"]]]],\"headings\":[\"ovs_version\",\"datapath_types\",\"iface_types\"]}",
  "{\"data\":[[[\"uuid\",\"68342f78-9615-4ab8-ab95-d2a54e14390c\"],\"br-t\",[\"set\",[[\"uuid\",\"90b57402-b897-4f7a-9e1c-10c6723953d0\"],[\"uuid\",\"e3cb8a67-b943-4da5-adb7-dddff9c16b1b\"],[\"uuid\",\"fc28145d-e281-4fbf-888a-fd8f6bac5aad\"]]],\"netdev\",[\"map\",[]]]],\"headings\":[\"_uuid\",\"name\",\"ports\",\"datapath_type\",\"other_config\"]}",
  "{\"data\":[[[\"uuid\",\"fc28145d-e281-4fbf-888a-fd8f6bac5aad\"],\"br-t\",[\"uuid\",\"b4c7054d-b73b-4aa7-9481-9b3efe75c6f1\"],[\"set\",[]]],[[\"uuid\",\"90b57402-b897-4f7a-9e1c-10c6723953d0\"],\"vx0\",[\"uuid\",\"8e38666a-d52b-4655-b3fc-77bca7397443\"],[\"set\",[]]],[[\"uuid\",\"e3cb8a67-b943-4da5-adb7-dddff9c16b1b\"],\"p1\",[\"uuid\",\"7cfa061b-60d9-4dcd-94f2-9cca72172b0d\"],10]],\"headings\":[\"_uuid\",\"name\",\"interfaces\",\"tag\"]}",
  "{\"data\":[[[\"uuid\",\"b4c7054d-b73b-4aa7-9481-9b3efe75c6f1\"],\"br-t\",\"internal\",[\"map\",[]],1500,[\"set\",[]],65534,[\"set\",[]],\"7a:2f:34:68:b8:4a\"],[[\"uuid\",\"8e38666a-d52b-4655-b3fc-77bca7397443\"],\"vx0\",\"vxlan\",[\"map\",[[\"key\",\"42\"],[\"remote_ip\",\"198.18.0.2\"]]],[\"set\",[]],[\"set\",[]],1,[\"set\",[]],\"fe:eb:22:17:b3:b4\"],[[\"uuid\",\"7cfa061b-60d9-4dcd-94f2-9cca72172b0d\"],\"p1\",\"internal\",[\"map\",[]],1500,[\"set\",[]],2,[\"set\",[]],\"06:b1:22:03:41:c1\"]],\"headings\":[\"_uuid\",\"name\",\"type\",\"options\",\"mtu\",\"mtu_request\",\"ofport\",\"error\",\"mac_in_use\"]}",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ wireguard",
  "userspace",
  "tools",
  "interfaces orch-wg0",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ system",
  "systemd 0",
  "systemctl /usr/local/sbin/systemctl",
  "netplan-file /etc/netplan/01-net.yaml",
  "netplan-renderer networkd",
  "ifupdown-iface lo",
  "ifupdown-iface eth0",
  "procs cat containerd containerd-shim docker-init dockerd ovs-vswitchd ovsdb-server sh sleep sort sshd tini tr ",
  "",
  "@@orch-fact@@ rc 0",
  "",
].join('\n')
/** A bare lab host: docker and OVS installed but their daemons not running, ip_forward 0, no rules. */
const BARE = [
  "",
  "@@orch-fact@@ meta",
  "node1",
  "6.18.44-fc-v657",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ addr",
  "[{\"ifindex\":1,\"ifname\":\"lo\",\"flags\":[\"LOOPBACK\",\"UP\",\"LOWER_UP\"],\"mtu\":65536,\"operstate\":\"UNKNOWN\",\"link_type\":\"loopback\",\"address\":\"00:00:00:00:00:00\",\"addr_info\":[{\"family\":\"inet\",\"local\":\"127.0.0.1\",\"prefixlen\":8,\"scope\":\"host\"},{\"family\":\"inet6\",\"local\":\"::1\",\"prefixlen\":128,\"scope\":\"host\"}]},{\"ifindex\":2,\"ifname\":\"eth0\",\"flags\":[\"BROADCAST\",\"MULTICAST\",\"UP\",\"LOWER_UP\"],\"mtu\":1500,\"operstate\":\"UP\",\"link_type\":\"ether\",\"address\":\"7a:15:1b:af:2e:4f\",\"linkinfo\":{\"info_kind\":\"veth\"},\"addr_info\":[{\"family\":\"inet\",\"local\":\"198.18.4.1\",\"prefixlen\":24,\"scope\":\"global\"},{\"family\":\"inet6\",\"local\":\"fe80::7815:1bff:feaf:2e4f\",\"prefixlen\":64,\"scope\":\"link\"}]}]",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ route4",
  "[{\"type\":\"unicast\",\"dst\":\"default\",\"gateway\":\"198.18.4.254\",\"dev\":\"eth0\",\"protocol\":\"boot\",\"scope\":\"global\",\"flags\":[]},{\"type\":\"unicast\",\"dst\":\"198.18.4.0/24\",\"dev\":\"eth0\",\"protocol\":\"kernel\",\"scope\":\"link\",\"prefsrc\":\"198.18.4.1\",\"flags\":[]}]",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ route6",
  "[{\"type\":\"unicast\",\"dst\":\"fe80::/64\",\"dev\":\"eth0\",\"protocol\":\"kernel\",\"scope\":\"global\",\"metric\":256,\"flags\":[],\"pref\":\"medium\"}]",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ forwarding",
  "0",
  "0",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ iptables",
  "/usr/sbin/iptables nft nft",
  "iptables v1.8.9 (nf_tables)",
  "legacy-tables ",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ ipt-forward",
  "-P FORWARD ACCEPT",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ ipt-docker-user",
  "",
  "@@orch-fact@@ rc 1",
  "",
  "@@orch-fact@@ ipt-orch-forward",
  "",
  "@@orch-fact@@ rc 1",
  "",
  "@@orch-fact@@ ipt-nat-postrouting",
  "-P POSTROUTING ACCEPT",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ ipt-orch-postrouting",
  "",
  "@@orch-fact@@ rc 1",
  "",
  "@@orch-fact@@ docker-cmd",
  "/usr/local/bin/docker",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ daemon-json",
  "absent",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ docker-info",
  "{\"Containers\":0,\"ContainersRunning\":0,\"Images\":0,\"Driver\":\"\",\"IPv4Forwarding\":false,\"CgroupDriver\":\"\",\"KernelVersion\":\"\",\"DockerRootDir\":\"\",\"Name\":\"\",\"ServerVersion\":\"\",\"Swarm\":{\"LocalNodeState\":\"\"},\"Warnings\":null}",
  "",
  "@@orch-fact@@ rc 1",
  "",
  "@@orch-fact@@ docker-networks",
  "",
  "@@orch-fact@@ rc 1",
  "",
  "@@orch-fact@@ ovs-cmd",
  "/usr/bin/ovs-vsctl",
  "",
  "@@orch-fact@@ rc 0",
  "",
  "@@orch-fact@@ ovs",
  "",
  "@@orch-fact@@ rc 1",
  "",
  "@@orch-fact@@ system",
  "systemd 0",
  "systemctl /usr/local/sbin/systemctl",
  "procs cat sh sleep sshd tini ",
  "",
  "@@orch-fact@@ rc 0",
  "",
].join('\n')
