/**
 * From the hosts' facts to a plan: each host's underlay (the interface and subnet its peers reach it
 * on), a suggested strategy with the reason, and non-overlapping subnets. Pure functions.
 */
import type { HostFacts } from '../facts/types.ts'
import { allocateSubnets, contains, hostAddress, intToIp, isIpv4, networkOf, overlaps, parseCidr4, type Cidr4 } from '../net/ip.ts'

export const STRATEGIES = ['routes', 'bridge', 'ovs-gre', 'vxlan', 'wireguard'] as const
export type Strategy = (typeof STRATEGIES)[number]

export const STRATEGY_TEXT: Record<Strategy, string> = {
  routes: 'routes: one container /24 per host (docker0), static routes to the peers, no encapsulation',
  bridge: "bridge: containers get addresses on the hosts' LAN (br0 takes over the uplink)",
  'ovs-gre': 'ovs-gre: Open vSwitch bridge per host, GRE tunnels between them (crosses routers)',
  vxlan: 'vxlan: one overlay L2 network over kernel VXLAN (no change to the uplink)',
  wireguard: 'wireguard: as routes, every packet between the hosts encrypted (WireGuard; keys made on each host)',
}

export const DEFAULTS = {
  cluster_cidr: '10.244.0.0/16',
  overlay_cidr: '10.250.0.0/24',
  vxlan_vni: 42,
  vxlan_port: 4789,
  bridge_name: 'br0',
  ovs_bridge: 'br-int',
} as const

export interface Underlay {
  iface: string
  /** The host's own address on it. */
  address: string
  /** address/prefix */
  cidr: string
  /** network/prefix */
  network: string
  /** Default gateway when the default route leaves through this interface. */
  gateway?: string
  mtu?: number
  /** How it was found. */
  how: 'ssh-address' | 'default-route'
}

/**
 * The interface peers reach this host on: the one holding the address the controller connected to, else
 * (NAT, port forward, DNS name) the default route's interface. null when neither is there.
 */
export function underlayOf(f: HostFacts, sshAddress: string): Underlay | null {
  const v4 = (i: HostFacts['interfaces'][number]) => i.addresses.filter((a) => a.family === 'inet' && a.scope !== 'host')
  const def = f.routes.find((r) => r.family === 4 && r.dst === 'default')
  const make = (i: HostFacts['interfaces'][number], a: { address: string; prefixlen: number; cidr: string }, how: Underlay['how']): Underlay => {
    const c = parseCidr4(`${a.address}/${a.prefixlen}`)!
    const u: Underlay = { iface: i.name, address: a.address, cidr: `${a.address}/${a.prefixlen}`, network: networkOf(c), mtu: i.mtu, how }
    if (def?.gateway && (def.dev === i.name || (!def.dev && contains(c, def.gateway)))) u.gateway = def.gateway
    return u
  }
  if (isIpv4(sshAddress)) {
    for (const i of f.interfaces) {
      if (i.kind === 'loopback') continue
      const a = v4(i).find((x) => x.address === sshAddress)
      if (a) return make(i, a, 'ssh-address')
    }
  }
  const dev = def?.dev ?? def?.nexthops?.[0]?.dev
  const i = dev ? f.interfaces.find((x) => x.name === dev) : undefined
  const a = i ? v4(i)[0] : undefined
  return i && a ? make(i, a, 'default-route') : null
}

export interface PlannedHost {
  name: string
  /** ansible_host */
  address: string
  facts: HostFacts
  underlay: Underlay | null
}

export interface Suggestion {
  strategy: Strategy
  reason: string
  /** Same L2 segment (one subnet on every underlay). */
  sameL2: boolean
  warnings: string[]
}

const list = (xs: string[]) => (xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`)

/**
 * Hosts on one L2 segment (the same subnet on their underlay interface) → vxlan (bridge is the
 * alternative); routed (different subnets) → ovs-gre when every host runs Open vSwitch, else routes.
 */
export function suggestStrategy(hosts: PlannedHost[]): Suggestion {
  const warnings: string[] = []
  for (const h of hosts) {
    if (!h.underlay) warnings.push(`${h.name}: no IPv4 address on the SSH address's interface nor a default route: cannot tell its underlay`)
    else if (h.underlay.how === 'default-route' && isIpv4(h.address)) {
      warnings.push(`${h.name}: ${h.address} (its SSH address) is not one of its addresses (NAT or port forward?): peers are set up with ansible_host, which must reach it`)
    }
    if (!h.facts.docker.installed) warnings.push(`${h.name}: docker is not installed`)
    else if (!h.facts.docker.running) warnings.push(`${h.name}: dockerd is not running`)
  }
  const nets = [...new Set(hosts.map((h) => h.underlay?.network ?? '?'))]
  const sameL2 = hosts.length > 0 && nets.length === 1 && nets[0] !== '?'
  const where = (h: PlannedHost) => (h.underlay ? `${h.name} ${h.underlay.cidr} on ${h.underlay.iface}` : `${h.name} (unknown)`)
  if (sameL2) {
    const u = hosts[0].underlay!
    const ifaces = [...new Set(hosts.map((h) => h.underlay!.iface))]
    return {
      strategy: 'vxlan',
      sameL2,
      warnings,
      reason:
        `every host has an address in ${u.network} on its underlay interface (${list(ifaces)}): they share one L2 segment. ` +
        `vxlan gives the containers one overlay network without touching ${list(ifaces)}; ` +
        `bridge (containers directly on ${u.network}) is the alternative when the LAN has free addresses for them.`,
    }
  }
  const noOvs = hosts.filter((h) => !h.facts.ovs.installed || !h.facts.ovs.running).map((h) => h.name)
  const subnets = `the hosts are on different subnets (${hosts.map(where).join('; ')}): traffic between them is routed`
  if (hosts.length && !noOvs.length) {
    return { strategy: 'ovs-gre', sameL2, warnings, reason: `${subnets}. Every host runs Open vSwitch: GRE tunnels between the OVS bridges cross the routers.` }
  }
  return {
    strategy: 'routes',
    sameL2,
    warnings,
    reason:
      `${subnets}. routes needs the routers between them to forward the container subnets (or peers on-link); ` +
      `ovs-gre would tunnel instead, but Open vSwitch is not running on ${list(noOvs)}.`,
  }
}

/**
 * Subnets already in use on any host: routes (main table), interface addresses, docker networks. Left
 * out: the default route, link-local, and what orch itself manages: `ignoreDevs` (docker0 for routes,
 * which readdresses it; the OVS bridge), VXLAN devices and the bridges holding one, routes via another
 * host of the plan. So a second wizard run proposes the same subnets as the first.
 */
export function takenSubnets(facts: HostFacts[], opts: { peerAddresses?: string[]; ignoreDevs?: string[] } = {}): Cidr4[] {
  const peers = new Set(opts.peerAddresses ?? [])
  const out: Cidr4[] = []
  const add = (s: string | undefined) => {
    const c = s ? parseCidr4(s.includes('/') ? s : `${s}/32`) : null
    if (!c || c.prefix === 0) return
    const net = parseCidr4(networkOf(c))!
    if (overlaps(net, parseCidr4('169.254.0.0/16')!) && net.prefix >= 16) return
    if (overlaps(net, parseCidr4('127.0.0.0/8')!) && net.prefix >= 8) return
    if (!out.some((o) => o.network === net.network && o.prefix === net.prefix)) out.push(net)
  }
  for (const f of facts) {
    const ignore = new Set(opts.ignoreDevs ?? [])
    for (const i of f.interfaces) if (i.kind === 'vxlan') ignore.add(i.name).add(i.master ?? i.name)
    for (const r of f.routes) {
      if (r.family !== 4 || r.dst === 'default') continue
      if (r.dev && ignore.has(r.dev)) continue
      if (r.gateway && peers.has(r.gateway)) continue
      add(r.dst)
    }
    for (const i of f.interfaces) {
      if (ignore.has(i.name) || i.kind === 'loopback') continue
      for (const a of i.addresses) if (a.family === 'inet') add(a.cidr)
    }
    for (const n of f.docker.networks ?? []) {
      if (n.bridge && ignore.has(n.bridge)) continue
      for (const s of n.subnets) if (parseCidr4(s)) add(s)
    }
  }
  return out
}

/** Why a CIDR cannot be used (as text), or null. */
export function conflicts(c: Cidr4, taken: Cidr4[]): string | null {
  const hit = taken.find((t) => overlaps(t, c))
  return hit ? `${networkOf(c)} overlaps ${networkOf(hit)}, already in use on a host` : null
}

/** One container /24 per host from the cluster CIDR, skipping subnets in use. */
export function proposeContainerSubnets(cluster: Cidr4, count: number, taken: Cidr4[]): string[] {
  if (cluster.prefix > 24) throw new Error(`${networkOf(cluster)}: a cluster CIDR must be /24 or larger to hold one /24 per host`)
  return allocateSubnets(cluster, 24, count, taken).map(networkOf)
}

/**
 * The overlay network: the preferred CIDR when it is free, else the first free subnet of the same size
 * in 10.250.0.0/16, then 10.0.0.0/8.
 */
export function proposeOverlay(preferred: Cidr4, taken: Cidr4[]): string {
  if (!conflicts(preferred, taken)) return networkOf(preferred)
  for (const pool of ['10.250.0.0/16', '10.0.0.0/8']) {
    const p = parseCidr4(pool)!
    if (preferred.prefix < p.prefix) continue
    try {
      return networkOf(allocateSubnets(p, preferred.prefix, 1, taken)[0])
    } catch {
      /* full: next pool */
    }
  }
  throw new Error(`no free /${preferred.prefix} for the overlay: pass one that is free`)
}

/** Host n (0-based) on the overlay: .1, .2, ... */
export function overlayAddress(overlay: Cidr4, index: number): string {
  const max = 2 ** (32 - overlay.prefix) - 2
  if (index + 1 > max) throw new Error(`${networkOf(overlay)} has room for ${max} hosts only`)
  return hostAddress(overlay, index + 1)
}

/**
 * A pool of LAN addresses for the bridge strategy: the highest /`prefix` of the LAN that holds none of
 * the known addresses (hosts, gateway) and not the LAN's broadcast address. Still a guess: the user must
 * make sure nothing else (a DHCP range) hands those addresses out.
 */
export function proposeLanPool(lan: Cidr4, used: string[], prefix = 28): string | null {
  if (prefix <= lan.prefix) return null
  const size = 2 ** (32 - prefix)
  const count = 2 ** (prefix - lan.prefix)
  const bcast = lan.network + 2 ** (32 - lan.prefix) - 1
  for (let i = count - 1; i >= 1; i--) {
    const start = lan.network + i * size
    const c = parseCidr4(`${intToIp(start)}/${prefix}`)!
    if (contains(c, bcast)) continue
    if (used.some((u) => isIpv4(u) && contains(c, u))) continue
    return networkOf(c)
  }
  return null
}
