/**
 * Pure parsers: the output of the facts script (or of each command) in, typed facts out. No I/O, so
 * they are unit-tested on captured output.
 */
import { parseIptablesS, rulesIn } from './iptables.ts'
import { normDst, parseRoutesJson, routeText, type RouteJson } from './routes.ts'
import { splitFactSections, type Section } from './script.ts'
import type {
  AddressFact,
  BridgeFact,
  DockerFacts,
  DockerNetworkFact,
  HostFacts,
  InterfaceFact,
  IptablesFacts,
  NetworkManagerKind,
  OvsBridgeFact,
  OvsFacts,
  WireguardFacts,
  OvsInterfaceFact,
  RouteFact,
  SystemFacts,
} from './types.ts'
import { byCodeUnit } from '../sort.ts'

type Json = Record<string, unknown>
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)

// ---------------------------------------------------------------- ip

/** `ip -d -j addr show` → interfaces (addresses, MTU, MAC, state, kind, master, vxlan details). */
export function parseIpAddr(text: string): InterfaceFact[] {
  const t = text.trim()
  if (!t) return []
  const links = JSON.parse(t) as Json[]
  return links.map((l) => {
    const info = (l.linkinfo ?? {}) as Json
    const data = (info.info_data ?? {}) as Json
    const linkType = str(l.link_type)
    const kind = str(info.info_kind) ?? (linkType === 'loopback' ? 'loopback' : linkType === 'ether' || !linkType ? 'device' : linkType)
    const flags = Array.isArray(l.flags) ? (l.flags as string[]) : []
    const addresses: AddressFact[] = ((l.addr_info ?? []) as Json[])
      .filter((a) => typeof a.local === 'string')
      .map((a) => ({
        family: a.family === 'inet6' ? 'inet6' : 'inet',
        address: a.local as string,
        prefixlen: Number(a.prefixlen),
        cidr: `${a.local}/${a.prefixlen}`,
        scope: str(a.scope) ?? 'global',
      }))
    const f: InterfaceFact = {
      name: String(l.ifname),
      ifindex: Number(l.ifindex),
      kind,
      state: str(l.operstate) ?? 'UNKNOWN',
      up: flags.includes('UP'),
      mtu: Number(l.mtu),
      addresses,
    }
    if (linkType !== 'loopback' && str(l.address)) f.mac = str(l.address)
    if (str(l.master)) f.master = str(l.master)
    if (str(info.info_slave_kind)) f.slaveKind = str(info.info_slave_kind)
    if (kind === 'vxlan') {
      f.vxlan = { id: Number(data.id) }
      if (str(data.remote)) f.vxlan.remote = str(data.remote)
      if (str(data.local)) f.vxlan.local = str(data.local)
      if (str(data.group)) f.vxlan.group = str(data.group)
      if (num(data.port) !== undefined) f.vxlan.port = num(data.port)
      if (str(data.link)) f.vxlan.dev = str(data.link)
    }
    return f
  })
}

/** `ip -d -j route show` → routes (IPv6 link-local routes left out: every interface has one). */
export function parseRoutes(text: string, family: 4 | 6): RouteFact[] {
  return parseRoutesJson(text)
    .filter((r) => !(family === 6 && (r.dst.startsWith('fe80:') || r.dst.startsWith('ff00:') || r.type === 'multicast')))
    .map((r: RouteJson) => {
      const f: RouteFact = { family, dst: normDst(r.dst, family), type: r.type ?? 'unicast', metric: r.metric ?? 0, text: routeText(r) }
      if (r.gateway) f.gateway = r.gateway
      if (r.dev) f.dev = r.dev
      if (r.protocol) f.protocol = r.protocol
      if (r.scope) f.scope = r.scope
      if (r.prefsrc) f.src = r.prefsrc
      if (r.nexthops) f.nexthops = r.nexthops.map((n) => ({ gateway: n.gateway, dev: n.dev, weight: n.weight }))
      return f
    })
}

/** Linux bridges from the interface list (ports: interfaces whose master is the bridge). */
export function bridgesOf(interfaces: InterfaceFact[], addrJson?: string): BridgeFact[] {
  const data = new Map<string, Json>()
  if (addrJson?.trim()) {
    for (const l of JSON.parse(addrJson) as Json[]) data.set(String(l.ifname), (((l.linkinfo ?? {}) as Json).info_data ?? {}) as Json)
  }
  return interfaces
    .filter((i) => i.kind === 'bridge')
    .map((b) => {
      const d = data.get(b.name) ?? {}
      return {
        name: b.name,
        ports: interfaces.filter((i) => i.master === b.name).map((i) => i.name),
        stp: Number(d.stp_state ?? 0) !== 0,
        vlanFiltering: Number(d.vlan_filtering ?? 0) !== 0,
        mtu: b.mtu,
        addresses: b.addresses.filter((a) => a.scope !== 'link').map((a) => a.cidr),
      }
    })
}

// ---------------------------------------------------------------- docker

export function parseDaemonJson(text: string): DockerFacts['daemonJson'] {
  const nl = text.indexOf('\n')
  const head = (nl < 0 ? text : text.slice(0, nl)).trim()
  if (head !== 'present') return { present: false }
  const body = nl < 0 ? '' : text.slice(nl + 1)
  if (!body.trim()) return { present: true, content: {} }
  try {
    const v = JSON.parse(body) as unknown
    if (!v || typeof v !== 'object' || Array.isArray(v)) return { present: true, error: 'not a JSON object' }
    return { present: true, content: v as Record<string, unknown> }
  } catch (e) {
    return { present: true, error: (e as Error).message }
  }
}

/** `docker info --format '{{json .}}'` → the essentials (undefined when the daemon did not answer). */
export function parseDockerInfo(text: string): Partial<DockerFacts> | undefined {
  const t = text.trim()
  if (!t.startsWith('{')) return undefined
  const j = JSON.parse(t) as Json
  if (!str(j.ServerVersion)) return undefined
  const out: Partial<DockerFacts> = { version: str(j.ServerVersion) }
  if (str(j.Driver)) out.storageDriver = str(j.Driver)
  if (str(j.CgroupDriver)) out.cgroupDriver = str(j.CgroupDriver)
  if (str(j.CgroupVersion)) out.cgroupVersion = str(j.CgroupVersion)
  if (typeof j.IPv4Forwarding === 'boolean') out.ipv4Forwarding = j.IPv4Forwarding
  if (typeof j.BridgeNfIptables === 'boolean') out.bridgeNfIptables = j.BridgeNfIptables
  if (num(j.Containers) !== undefined) out.containers = { total: num(j.Containers)!, running: num(j.ContainersRunning) ?? 0 }
  if (num(j.Images) !== undefined) out.images = num(j.Images)
  if (str(j.DockerRootDir)) out.rootDir = str(j.DockerRootDir)
  const swarm = (j.Swarm ?? {}) as Json
  if (str(swarm.LocalNodeState)) out.swarm = str(swarm.LocalNodeState)
  out.warnings = Array.isArray(j.Warnings) ? (j.Warnings as unknown[]).map(String) : []
  return out
}

/** `docker network inspect <ids>` → networks (bridge name resolved as docker names it). */
export function parseDockerNetworks(text: string): DockerNetworkFact[] {
  const t = text.trim()
  if (!t) return []
  const nets = JSON.parse(t) as Json[]
  return nets.map((n) => {
    const ipam = (n.IPAM ?? {}) as Json
    const configs = (Array.isArray(ipam.Config) ? ipam.Config : []) as Json[]
    const options = Object.fromEntries(Object.entries((n.Options ?? {}) as Json).map(([k, v]) => [k, String(v)]))
    const driver = String(n.Driver ?? '')
    const id = String(n.Id ?? '')
    const f: DockerNetworkFact = {
      name: String(n.Name),
      id,
      driver,
      scope: String(n.Scope ?? 'local'),
      subnets: configs.map((c) => str(c.Subnet)).filter((x): x is string => !!x),
      gateways: configs.map((c) => str(c.Gateway)).filter((x): x is string => !!x),
      internal: n.Internal === true,
      ipv6: n.EnableIPv6 === true,
      options,
    }
    if (driver === 'bridge') {
      f.bridge = options['com.docker.network.bridge.name'] ?? `br-${id.slice(0, 12)}`
      f.masquerade = options['com.docker.network.bridge.enable_ip_masquerade'] !== 'false'
    }
    if (options['com.docker.network.driver.mtu']) f.mtu = Number(options['com.docker.network.driver.mtu'])
    return f
  })
}

// ---------------------------------------------------------------- Open vSwitch

/** An OVSDB JSON value: ["set", [...]], ["map", [[k, v]...]], ["uuid", "..."], or an atom. */
export function ovsdbValue(v: unknown): unknown {
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'string') return v
  switch (v[0]) {
    case 'set':
      return (v[1] as unknown[]).map(ovsdbValue)
    case 'map':
      return Object.fromEntries((v[1] as Array<[unknown, unknown]>).map(([k, x]) => [String(ovsdbValue(k)), ovsdbValue(x)]))
    case 'uuid':
    case 'named-uuid':
      return v[1]
    default:
      return v
  }
}
/** A column that may hold 0..n values: a one-element set is printed as the bare value. */
const many = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v])
/** An optional column: an empty set means "none". */
const opt = (v: unknown): unknown => (Array.isArray(v) && v.length === 0 ? undefined : v)
const strMap = (v: unknown): Record<string, string> => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)])) : {})

/** The wireguard section: one word per line (kernel, userspace, tools), then `interfaces A B`. */
export function parseWireguard(out: string): WireguardFacts {
  const lines = out.split('\n').map((l) => l.trim())
  const has = (w: string) => lines.includes(w)
  const ifs = lines.find((l) => l.startsWith('interfaces'))?.split(/\s+/).slice(1).filter(Boolean) ?? []
  return { kernel: has('kernel'), userspace: has('userspace'), tools: has('tools'), datapath: has('kernel') ? 'kernel' : has('userspace') ? 'userspace' : 'none', interfaces: ifs }
}

/** One `ovs-vsctl --format=json list TABLE` object → rows keyed by heading. */
export function ovsdbRows(text: string): Array<Record<string, unknown>> {
  const j = JSON.parse(text) as { headings: string[]; data: unknown[][] }
  return j.data.map((row) => Object.fromEntries(j.headings.map((h, i) => [h, ovsdbValue(row[i])])))
}

/** The four JSON lines of the facts' ovs-vsctl call (Open_vSwitch, Bridge, Port, Interface). */
export function parseOvs(text: string): Omit<OvsFacts, 'installed' | 'running'> {
  const lines = text.split('\n').filter((l) => l.trim().startsWith('{'))
  if (lines.length < 4) throw new Error(`ovs-vsctl: expected 4 tables, got ${lines.length}`)
  const [ovs, bridges, ports, ifaces] = lines.map(ovsdbRows)
  const ifaceBy = new Map<string, OvsInterfaceFact>()
  for (const i of ifaces) {
    const f: OvsInterfaceFact = { name: String(i.name), type: String(i.type ?? ''), options: strMap(i.options) }
    const mtu = opt(i.mtu)
    if (typeof mtu === 'number') f.mtu = mtu
    const req = opt(i.mtu_request)
    if (typeof req === 'number') f.mtuRequest = req
    const ofport = opt(i.ofport)
    if (typeof ofport === 'number') f.ofport = ofport
    const mac = opt(i.mac_in_use)
    if (typeof mac === 'string') f.mac = mac
    const err = opt(i.error)
    if (typeof err === 'string') f.error = err
    ifaceBy.set(String(i._uuid), f)
  }
  const portBy = new Map<string, { name: string; tag?: number; interfaces: OvsInterfaceFact[] }>()
  for (const p of ports) {
    const tag = opt(p.tag)
    portBy.set(String(p._uuid), {
      name: String(p.name),
      ...(typeof tag === 'number' ? { tag } : {}),
      interfaces: many(p.interfaces).map((u) => ifaceBy.get(String(u))).filter((x): x is OvsInterfaceFact => !!x),
    })
  }
  const brs: OvsBridgeFact[] = bridges.map((b) => ({
    name: String(b.name),
    datapathType: String(b.datapath_type ?? '') || 'system',
    otherConfig: strMap(b.other_config),
    ports: many(b.ports)
      .map((u) => portBy.get(String(u)))
      .filter((x): x is NonNullable<typeof x> => !!x)
      .sort((x, y) => byCodeUnit(x.name, y.name)),
  }))
  brs.sort((x, y) => byCodeUnit(x.name, y.name))
  const o = ovs[0] ?? {}
  return {
    version: typeof opt(o.ovs_version) === 'string' ? (o.ovs_version as string) : undefined,
    datapathTypes: many(o.datapath_types).map(String),
    ifaceTypes: many(o.iface_types).map(String),
    bridges: brs,
  }
}

// ---------------------------------------------------------------- iptables

export function parseIptablesFacts(sections: Map<string, Section>): IptablesFacts {
  const head = sections.get('iptables')?.out.trim() ?? 'absent'
  const f: IptablesFacts = { present: false, legacyTables: [], forward: [], dockerUser: false, natPostrouting: [], orchForward: null, orchPostrouting: null }
  if (head === 'absent' || head === '') return f
  const [sel = '', version = '', legacy = ''] = head.split('\n')
  const [binary, pathVariant, variant] = sel.trim().split(/\s+/)
  f.present = true
  f.binary = binary
  f.pathVariant = pathVariant === 'nft' ? 'nft' : 'legacy'
  f.variant = variant === 'nft' ? 'nft' : 'legacy'
  f.version = version.trim() || undefined
  f.legacyTables = legacy.replace(/^legacy-tables\s*/, '').trim().split(/\s+/).filter(Boolean)
  const sec = (name: string) => sections.get(name)
  const fwd = sec('ipt-forward')
  if (fwd && fwd.rc === 0) {
    const t = parseIptablesS(fwd.out)
    f.forwardPolicy = t.policies.FORWARD
    f.forward = rulesIn(t, 'FORWARD').map((r) => r.line)
  }
  f.dockerUser = sec('ipt-docker-user')?.rc === 0
  const nat = sec('ipt-nat-postrouting')
  if (nat && nat.rc === 0) f.natPostrouting = rulesIn(parseIptablesS(nat.out), 'POSTROUTING').map((r) => r.line)
  const of = sec('ipt-orch-forward')
  if (of && of.rc === 0) f.orchForward = rulesIn(parseIptablesS(of.out), 'ORCH-FORWARD').map((r) => r.line)
  const op = sec('ipt-orch-postrouting')
  if (op && op.rc === 0) f.orchPostrouting = rulesIn(parseIptablesS(op.out), 'ORCH-POSTROUTING').map((r) => r.line)
  return f
}

// ---------------------------------------------------------------- system

export function parseSystem(text: string): SystemFacts {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean)
  const val = (k: string) => lines.filter((l) => l.startsWith(k + ' ')).map((l) => l.slice(k.length + 1).trim())
  const procs = new Set((val('procs')[0] ?? '').split(/\s+/).filter(Boolean))
  const netplanFiles = val('netplan-file')
  const ifupdownInterfaces = [...new Set(val('ifupdown-iface'))].filter((i) => i !== 'lo')
  const managers: NetworkManagerKind[] = []
  if (netplanFiles.length) managers.push('netplan')
  if (procs.has('NetworkManager')) managers.push('NetworkManager')
  // comm is cut at 15 characters: systemd-networkd shows as systemd-network.
  if (procs.has('systemd-network') || procs.has('systemd-networkd')) managers.push('systemd-networkd')
  if (ifupdownInterfaces.length) managers.push('ifupdown')
  const renderer = val('netplan-renderer')[0]
  return {
    systemd: val('systemd')[0] === '1',
    systemctl: (val('systemctl')[0] ?? '-') !== '-',
    network: {
      managers,
      primary: managers[0] ?? 'none',
      netplanFiles,
      ...(renderer ? { netplanRenderer: renderer } : {}),
      ifupdownInterfaces,
    },
  }
}

// ---------------------------------------------------------------- all together

/** The facts script's whole output → HostFacts. A section that fails is noted in `errors`. */
export function parseFacts(stdout: string): HostFacts {
  const s = splitFactSections(stdout)
  const errors: string[] = []
  const get = (name: string) => s.get(name) ?? { out: '', rc: 127 }
  function attempt<T>(name: string, fallback: T, fn: () => T): T {
    try {
      return fn()
    } catch (e) {
      errors.push(`${name}: ${(e as Error).message}`)
      return fallback
    }
  }
  const [hostname = '', kernel = ''] = get('meta').out.trim().split('\n')
  const addr = get('addr')
  const needJson = (name: string, what: string) => {
    if (get(name).rc !== 0) throw new Error(`${what} failed (rc=${get(name).rc}): iproute2 with JSON output (ip -j, iproute2 >= 4.13) is needed`)
  }
  const interfaces = attempt('interfaces', [] as InterfaceFact[], () => (needJson('addr', 'ip -d -j addr show'), parseIpAddr(addr.out)))
  const routes = [
    ...attempt('routes (IPv4)', [] as RouteFact[], () => (needJson('route4', 'ip -d -j -4 route show'), parseRoutes(get('route4').out, 4))),
    ...attempt('routes (IPv6)', [] as RouteFact[], () => (get('route6').rc === 0 ? parseRoutes(get('route6').out, 6) : [])),
  ]
  const bridges = attempt('bridges', [] as BridgeFact[], () => bridgesOf(interfaces, addr.rc === 0 ? addr.out : undefined))

  const [fw4 = '', fw6 = '-'] = get('forwarding').out.trim().split('\n')

  const docker: DockerFacts = { installed: get('docker-cmd').rc === 0, running: false, daemonJson: parseDaemonJson(get('daemon-json').out), warnings: [], networks: [] }
  if (docker.installed) {
    const info = attempt('docker info', undefined, () => (get('docker-info').rc === 0 ? parseDockerInfo(get('docker-info').out) : undefined))
    if (info) {
      Object.assign(docker, info)
      docker.running = true
      docker.networks = attempt('docker networks', [] as DockerNetworkFact[], () => parseDockerNetworks(get('docker-networks').out))
      // The default bridge network has no gateway in its IPAM config: it is the bridge's address.
      for (const n of docker.networks) {
        if (n.gateways.length || !n.bridge) continue
        const br = interfaces.find((i) => i.name === n.bridge)
        n.gateways = br?.addresses.filter((a) => a.family === 'inet' && a.scope !== 'link').map((a) => a.address) ?? []
      }
    }
  }

  const ovs: OvsFacts = { installed: get('ovs-cmd').rc === 0, running: false, datapathTypes: [], ifaceTypes: [], bridges: [] }
  if (ovs.installed && get('ovs').rc === 0) {
    const o = attempt('ovs', undefined, () => parseOvs(get('ovs').out))
    if (o) Object.assign(ovs, o, { running: true })
  }
  for (const b of ovs.bridges)
    for (const p of b.ports)
      for (const i of p.interfaces) {
        const link = interfaces.find((x) => x.name === i.name)
        if (link) link.ovs = { bridge: b.name, type: i.type || 'system' }
      }

  return {
    hostname,
    kernel,
    interfaces,
    routes,
    bridges,
    docker,
    ovs,
    wireguard: parseWireguard(get('wireguard').out),
    forwarding: { ipv4: fw4.trim() === '1', ipv6: fw6.trim() === '-' ? null : fw6.trim() === '1' },
    iptables: attempt('iptables', parseIptablesFacts(new Map()), () => parseIptablesFacts(s)),
    system: attempt('system', parseSystem(''), () => parseSystem(get('system').out)),
    errors,
  }
}
