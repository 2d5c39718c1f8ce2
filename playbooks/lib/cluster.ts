/**
 * What the cross-host playbooks share: the cluster's variables (read and checked for every host before any
 * host is touched), address plans (container subnets, LAN and overlay addresses by inventory order), the
 * route survey the `routes` strategy allocates around, tasks whose arguments are only known on the host
 * (`deferred`), and the probe-container check.
 *
 * Not a playbook itself: playbooks/cross-host.ts and the building-block playbooks import it.
 */
import type { Check, CheckHost, CheckResult } from '../../src/checks/index.ts'
import { containerMatrix } from '../../src/checks/index.ts'
import { ArgError, TaskFailed, task, type Change, type PlaybookContext, type Resource, type Task, type TaskContext, type Undo } from '../../src/engine/types.ts'
import type { Vars } from '../../src/inventory/types.ts'
import { allocateSubnets, contains, hostAddress, intToIp, networkOf, overlaps, parseCidr4, type Cidr4 } from '../../src/net/ip.ts'
import * as v from '../../src/net/validate.ts'
import { Transaction } from '../../src/safety/transaction.ts'

export const STRATEGIES = ['routes', 'bridge', 'ovs-gre', 'vxlan'] as const
export type Strategy = (typeof STRATEGIES)[number]

/** Every variable the playbooks read, with its default (play `defaults`: the inventory overrides them). */
export const DEFAULTS = {
  orch_strategy: 'routes',
  container_image: 'busybox:latest',
  container_pull: 'missing',
  probe_name: 'orch-probe',
  confirm_timeout: 60,
  // routes
  cluster_cidr: '10.244.0.0/16',
  // bridge
  bridge_name: 'br0',
  bridge_iface: 'eth0',
  bridge_persist: 'auto',
  // ovs-gre and vxlan
  overlay_cidr: '10.250.0.0/24',
  ovs_bridge: 'br-int',
  ovs_datapath: 'auto',
  ovs_gre_key: 42,
  ovs_underlay_bridge: 'br-phy',
  vxlan_vni: 42,
  vxlan_port: 4789,
  overlay_network: 'orch-overlay',
  overlay_bridge: 'orch-ovl0',
  overlay_range_prefix: 28,
} as const

/** Bytes a tunnel adds to every inner frame (outer IPv4 + GRE/UDP+VXLAN headers + inner Ethernet). */
export const OVERHEAD = { gre: 20 + 8 + 14, vxlan: 20 + 8 + 8 + 14 } as const

/** Per-host container subnets of the routes strategy are /24s. */
export const SUBNET_PREFIX = 24

// The container task's own image rule: checked here so the error names the inventory variable.
const IMAGE_RE = /^[A-Za-z0-9][A-Za-z0-9._\-/:@+]{0,254}$/

/** One host of the cluster, in inventory order. */
export interface Member {
  name: string
  index: number
  /** The underlay IPv4 address other hosts reach it at: `underlay_ip`, else `ansible_host`. */
  address: string
  vars: Vars
}

/** The address plan and settings of a cluster, computed once per run from every host's variables. */
export interface Cluster {
  strategy: Strategy
  members: Member[]
  /** The hosts this run acts on (after --limit): the survey waits for these. */
  targets: Set<string>
  member(name: string): Member
  // routes
  clusterCidr?: Cidr4
  /** container_subnet set in the inventory (the others are allocated on the hosts, see routeAllocation). */
  explicitSubnets: Map<string, Cidr4>
  // bridge / pipework
  /** container_ip with its prefix when set, else the address allocated from lan_pool (prefix read on the host). */
  lanIps: Map<string, { ip: string; prefix?: number }>
  lanPool?: Cidr4
  // ovs-gre / vxlan
  overlay?: Cidr4
  overlayIps: Map<string, string>
  /** vxlan: each host's docker ip-range (its containers' addresses) and gateway. */
  overlayRanges: Map<string, { range: Cidr4; gateway: string }>
  /** Filled by the survey task (routes strategy). */
  survey: Survey
}

const str = (x: unknown): string | undefined => (x === undefined || x === null || x === '' ? undefined : String(x))

/** A variable that must be the same on every host (a tunnel key, a port): refused naming the odd host. */
function sameEverywhere(c: { members: Member[] }, variable: string, norm: (x: unknown) => unknown = (x) => x): void {
  const first = c.members[0]
  const want = norm(first.vars[variable])
  for (const m of c.members.slice(1))
    if (norm(m.vars[variable]) !== want) throw new ArgError(variable, `the same value on every host (${first.name} has ${JSON.stringify(first.vars[variable])})`, m.vars[variable], m.name)
}

function checkFor<T>(hostName: string, f: () => T): T {
  try {
    return f()
  } catch (e) {
    if (e instanceof ArgError) throw e.forHost(hostName)
    throw e
  }
}

/** A host's vars as the play sees them (play defaults < inventory < play vars < -e). */
function membersOf(ctx: PlaybookContext): Member[] {
  const byName = new Map<string, Vars>([[ctx.host.name, ctx.vars], ...ctx.peers.map((p) => [p.name, p.vars] as [string, Vars])])
  return ctx.hosts.map((h, index) => {
    const vars = byName.get(h.name) ?? h.vars
    const address = checkFor(h.name, () =>
      v.ipv4(vars.underlay_ip !== undefined ? 'underlay_ip' : 'ansible_host', str(vars.underlay_ip) ?? str(vars.ansible_host) ?? h.name),
    )
    return { name: h.name, index, address, vars }
  })
}

const cache = new WeakMap<object, Map<string, Cluster>>()

/**
 * The cluster of this play, built (and every host's variables checked) the first time a host's task list
 * is made; later hosts of the same plan get the same object. Throws ArgError naming host and variable.
 * `force` is the strategy of a building-block playbook (its hosts may say anything in orch_strategy).
 */
export function cluster(ctx: PlaybookContext, force?: Strategy): Cluster {
  let perPlan = cache.get(ctx.hosts)
  if (!perPlan) cache.set(ctx.hosts, (perPlan = new Map()))
  const key = force ?? '*'
  let c = perPlan.get(key)
  if (!c) perPlan.set(key, (c = buildCluster(ctx, force)))
  return c
}

function buildCluster(ctx: PlaybookContext, force?: Strategy): Cluster {
  const members = membersOf(ctx)
  // Own host through need(): the engine's way of saying "this host must define X".
  const strategy = force ?? ctx.need<Strategy>('orch_strategy', (x) => (STRATEGIES as readonly unknown[]).includes(x), `one of ${STRATEGIES.join(', ')}`)
  const seenAddr = new Map<string, string>()
  for (const m of members) {
    checkFor(m.name, () => {
      if (!force) {
        const s = v.oneOf('orch_strategy', m.vars.orch_strategy, STRATEGIES)
        if (s !== strategy) throw new ArgError('orch_strategy', `the same strategy on every host of the play (${ctx.host.name} has ${strategy})`, s)
      }
      const img = m.vars.container_image
      if (typeof img !== 'string' || !IMAGE_RE.test(img)) throw new ArgError('container_image', "an image reference like 'busybox:latest'", img)
      v.oneOf('container_pull', m.vars.container_pull, ['never', 'missing'])
      v.name('probe_name', m.vars.probe_name, 'a container name')
      Transaction.confirmTimeout(m.vars)
      const other = seenAddr.get(m.address)
      if (other) throw new ArgError(m.vars.underlay_ip !== undefined ? 'underlay_ip' : 'ansible_host', `an address no other host has (${other} has it too)`, m.address)
      seenAddr.set(m.address, m.name)
    })
  }
  const c: Cluster = {
    strategy,
    members,
    targets: new Set(ctx.targets.map((t) => t.name)),
    member(name) {
      const m = members.find((x) => x.name === name)
      if (!m) throw new Error(`host ${name} is not in the play`)
      return m
    },
    explicitSubnets: new Map(),
    lanIps: new Map(),
    overlayIps: new Map(),
    overlayRanges: new Map(),
    survey: new Survey(),
  }
  if (strategy === 'routes') planRoutes(c)
  if (strategy === 'bridge') planLan(c)
  if (strategy === 'ovs-gre') planOvs(c)
  if (strategy === 'vxlan') planVxlan(c)
  return c
}

// ---------------------------------------------------------------- routes: container subnets

function planRoutes(c: Cluster): void {
  for (const m of c.members) {
    checkFor(m.name, () => {
      const cc = v.network4('cluster_cidr', m.vars.cluster_cidr)
      if (cc.prefix > SUBNET_PREFIX) throw new ArgError('cluster_cidr', `a network of prefix /${SUBNET_PREFIX} or shorter (it is cut into a /${SUBNET_PREFIX} per host)`, m.vars.cluster_cidr)
      if (c.clusterCidr && networkOf(c.clusterCidr) !== networkOf(cc))
        throw new ArgError('cluster_cidr', `the same network on every host (${c.members[0].name} has ${networkOf(c.clusterCidr)})`, m.vars.cluster_cidr)
      c.clusterCidr = cc
    })
  }
  const cc = c.clusterCidr!
  const room = 2 ** (SUBNET_PREFIX - cc.prefix)
  if (room < c.members.length)
    throw new ArgError('cluster_cidr', `a network with room for ${c.members.length} /${SUBNET_PREFIX} subnets (one per host)`, networkOf(cc), c.members[0].name)
  for (const m of c.members) {
    const s = str(m.vars.container_subnet)
    if (s === undefined) continue
    checkFor(m.name, () => {
      const n = v.network4('container_subnet', s)
      if (n.prefix > 30 || n.prefix < 8) throw new ArgError('container_subnet', 'a network of prefix /8 to /30, e.g. 10.244.1.0/24', s)
      if (!contains(cc, n.network) || n.prefix < cc.prefix) throw new ArgError('container_subnet', `a network inside cluster_cidr ${networkOf(cc)}`, s)
      for (const [other, o] of c.explicitSubnets)
        if (overlaps(o, n)) throw new ArgError('container_subnet', `a network that does not overlap ${other}'s container_subnet ${networkOf(o)}`, s)
      c.explicitSubnets.set(m.name, n)
    })
  }
}

/** A route as `ip -j -4 route show table all` prints it (the fields the survey needs). */
export interface SurveyRoute {
  dst: string
  type?: string
  dev?: string
  gateway?: string
  protocol?: string
  table?: string
}

/** What the survey task found on each host; the routes strategy allocates container subnets around it. */
export class Survey {
  readonly routes = new Map<string, SurveyRoute[]>()
  readonly failed = new Map<string, string>()
  private allocation?: Map<string, Cidr4>

  record(host: string, routes: SurveyRoute[]): void {
    this.routes.set(host, routes)
    this.allocation = undefined
  }

  /**
   * Waits until every target of the run reported (immediate with the linear strategy: the survey is task 1
   * on every host before task 2 starts anywhere), then allocates.
   */
  async allocate(c: Cluster, timeoutMs = 60_000): Promise<Map<string, Cidr4>> {
    const until = Date.now() + timeoutMs
    for (;;) {
      const missing = [...c.targets].filter((t) => !this.routes.has(t))
      const broken = [...this.failed.keys()]
      if (broken.length) throw new TaskFailed(`the route survey failed on ${broken.join(', ')}: container subnets cannot be allocated`)
      if (!missing.length) break
      if (Date.now() > until) throw new TaskFailed(`the route survey did not report from ${missing.join(', ')}: container subnets cannot be allocated`)
      await new Promise((r) => setTimeout(r, 200))
    }
    this.allocation ??= allocateContainerSubnets(c, this.routes)
    return this.allocation
  }
}

/**
 * Routes that are not in the way of the cluster's container subnets: the kernel's local table, default
 * routes, non-unicast entries, docker0's own subnet (dockerBip moves it), and the routes this playbook
 * added on an earlier run (proto static, to a network inside cluster_cidr, via a cluster host).
 */
export function foreignRoutes(routes: SurveyRoute[], c: Pick<Cluster, 'clusterCidr' | 'members'>): Array<SurveyRoute & { net: Cidr4 }> {
  const addrs = new Set(c.members.map((m) => m.address))
  const out: Array<SurveyRoute & { net: Cidr4 }> = []
  for (const r of routes) {
    if (r.table === 'local' || r.dst === 'default') continue
    if (r.type && r.type !== 'unicast' && r.type !== 'blackhole' && r.type !== 'unreachable' && r.type !== 'prohibit') continue
    if (r.dev === 'docker0') continue
    const net = parseCidr4(r.dst.includes('/') ? r.dst : `${r.dst}/32`)
    if (!net || net.prefix === 0) continue
    const ours = r.protocol === 'static' && !!r.gateway && addrs.has(r.gateway) && !!c.clusterCidr && contains(c.clusterCidr, net.network) && net.prefix >= c.clusterCidr.prefix
    if (!ours) out.push({ ...r, net })
  }
  return out
}

const describeRoute = (r: SurveyRoute): string =>
  [r.type && r.type !== 'unicast' ? r.type : '', r.dst, r.gateway ? `via ${r.gateway}` : '', r.dev ? `dev ${r.dev}` : '', r.table && r.table !== 'main' ? `table ${r.table}` : '']
    .filter(Boolean)
    .join(' ')

/**
 * Container subnets by inventory order: a host's container_subnet when set, else the next /24 of
 * cluster_cidr that overlaps no other host's subnet, no host's underlay address and no route found on
 * any surveyed host. Deterministic: the same inventory and the same foreign routes give the same plan.
 */
export function allocateContainerSubnets(c: Cluster, routes: Map<string, SurveyRoute[]>): Map<string, Cidr4> {
  const cc = c.clusterCidr!
  const taken: Cidr4[] = [...c.explicitSubnets.values(), ...c.members.map((m) => parseCidr4(`${m.address}/32`)!)]
  const blockers: string[] = []
  for (const [host, rs] of routes)
    for (const r of foreignRoutes(rs, c)) {
      if (!overlaps(r.net, cc)) continue
      taken.push(r.net)
      blockers.push(`${describeRoute(r)} on ${host}`)
    }
  const auto = c.members.filter((m) => !c.explicitSubnets.has(m.name))
  let subnets: Cidr4[]
  try {
    subnets = allocateSubnets(cc, SUBNET_PREFIX, auto.length, taken)
  } catch (e) {
    throw new TaskFailed(
      `cluster_cidr ${networkOf(cc)}: ${(e as Error).message}${blockers.length ? ` (routes in the way: ${blockers.join('; ')})` : ''}: choose another cluster_cidr or set container_subnet per host`,
    )
  }
  const out = new Map<string, Cidr4>()
  for (const m of c.members) out.set(m.name, c.explicitSubnets.get(m.name) ?? subnets[auto.indexOf(m)])
  return out
}

/**
 * The survey: one `ip -j -4 route show table all` per host, recorded for the allocation. Changes nothing.
 * Fails (before any host changes: it is the first task) when a container_subnet set in the inventory
 * overlaps a route this host already has.
 */
export function surveyRoutes(c: Cluster, me: Member): Task {
  const resource: Resource<SurveyRoute[]> = {
    module: 'survey',
    name: 'survey routes (container subnets)',
    async read(ctx) {
      const r = await ctx.run('ip -j -4 route show table all')
      if (r.code !== 0) {
        c.survey.failed.set(me.name, r.stderr.trim())
        throw new TaskFailed(`reading the routes failed (rc=${r.code}): ${r.stderr.trim()}`, r)
      }
      let routes: SurveyRoute[]
      try {
        routes = JSON.parse(r.stdout.trim() || '[]')
      } catch {
        c.survey.failed.set(me.name, 'unreadable ip -j output')
        throw new TaskFailed(`unexpected output of ip -j route: ${r.stdout.slice(0, 200)}`)
      }
      for (const f of foreignRoutes(routes, c))
        for (const [owner, s] of c.explicitSubnets)
          if (overlaps(f.net, s)) {
            c.survey.failed.set(me.name, 'overlap')
            throw new TaskFailed(`container_subnet ${networkOf(s)} of ${owner} overlaps the route "${describeRoute(f)}" on ${me.name}: choose another container_subnet`)
          }
      c.survey.record(me.name, routes)
      return routes
    },
    diff: () => [],
    async apply() {},
  }
  return task(resource)
}

// ---------------------------------------------------------------- bridge: LAN addresses

function planLan(c: Cluster): void {
  for (const m of c.members)
    checkFor(m.name, () => {
      const b = v.ifname('bridge_name', m.vars.bridge_name)
      const i = v.ifname('bridge_iface', m.vars.bridge_iface)
      if (b === i) throw new ArgError('bridge_name', `a bridge name other than bridge_iface (${i})`, b)
      v.oneOf('bridge_persist', m.vars.bridge_persist, ['auto', 'none', 'ifupdown', 'netplan', 'networkmanager'])
      if (str(m.vars.lan_gateway) !== undefined) v.ipv4('lan_gateway', m.vars.lan_gateway)
    })
}

/**
 * container_ip per host, or the next free address of lan_pool by inventory order (planned once, when the
 * first host's probe tasks are made: br0-bridge.ts alone needs neither).
 */
export function planLanIps(c: Cluster): void {
  if (c.lanIps.size) return
  for (const m of c.members) checkFor(m.name, () => str(m.vars.lan_gateway) !== undefined && v.ipv4('lan_gateway', m.vars.lan_gateway))
  const used = new Map<string, string>()
  for (const m of c.members) used.set(m.address, `${m.name}'s underlay address`)
  for (const m of c.members) {
    const gw = str(m.vars.lan_gateway)
    if (gw) used.set(gw, 'lan_gateway')
  }
  for (const m of c.members) {
    const s = str(m.vars.container_ip)
    if (s === undefined) continue
    checkFor(m.name, () => {
      const cidr = v.hostCidr4('container_ip', s)
      if (used.has(cidr.address)) throw new ArgError('container_ip', `an address nothing else uses (it is ${used.get(cidr.address)})`, s)
      const gw = str(m.vars.lan_gateway)
      if (gw && (!contains(cidr, gw) || gw === cidr.address)) throw new ArgError('lan_gateway', `an address inside container_ip ${s} other than the container's`, gw)
      used.set(cidr.address, `${m.name}'s container_ip`)
      c.lanIps.set(m.name, { ip: cidr.address, prefix: cidr.prefix })
    })
  }
  const auto = c.members.filter((m) => !c.lanIps.has(m.name))
  if (!auto.length) return
  for (const m of auto)
    checkFor(m.name, () => {
      const p = str(m.vars.lan_pool)
      if (p === undefined) throw new ArgError('lan_pool', 'a CIDR inside the LAN to take container addresses from (e.g. 198.18.0.96/28), or set container_ip for this host', m.vars.lan_pool)
      const pool = v.network4('lan_pool', p)
      if (c.lanPool && networkOf(c.lanPool) !== networkOf(pool)) throw new ArgError('lan_pool', `the same pool on every host (${networkOf(c.lanPool)})`, p)
      c.lanPool = pool
    })
  const pool = c.lanPool!
  const size = 2 ** (32 - pool.prefix)
  let k = pool.prefix >= 31 ? 0 : 1 // skip the pool's first address (a network address when the pool is the LAN)
  for (const m of auto) {
    while (k < size && used.has(intToIp(pool.network + k))) k++
    const last = pool.prefix >= 31 ? size : size - 1
    if (k >= last) throw new ArgError('lan_pool', `a pool with room for ${auto.length} container addresses (or container_ip per host)`, networkOf(pool), m.name)
    const ip = intToIp(pool.network + k)
    used.set(ip, `${m.name}'s container address`)
    c.lanIps.set(m.name, { ip })
    k++
  }
}

// ---------------------------------------------------------------- overlays

function planOverlay(c: Cluster): Cidr4 {
  for (const m of c.members)
    checkFor(m.name, () => {
      const o = v.network4('overlay_cidr', m.vars.overlay_cidr)
      if (o.prefix > 30) throw new ArgError('overlay_cidr', 'a network of prefix /30 or shorter', m.vars.overlay_cidr)
      if (c.overlay && networkOf(c.overlay) !== networkOf(o)) throw new ArgError('overlay_cidr', `the same network on every host (${networkOf(c.overlay)})`, m.vars.overlay_cidr)
      c.overlay = o
      if (m.vars.overlay_mtu !== undefined) v.mtu('overlay_mtu', m.vars.overlay_mtu)
    })
  return c.overlay!
}

/** overlay_ip: a plain address, or address/prefix with overlay_cidr's prefix; inside overlay_cidr. */
function overlayIpOf(m: Member, overlay: Cidr4, within?: Cidr4): string | undefined {
  const s = str(m.vars.overlay_ip)
  if (s === undefined) return undefined
  return checkFor(m.name, () => {
    const ip = s.includes('/') ? v.hostCidr4('overlay_ip', s) : null
    if (ip && ip.prefix !== overlay.prefix) throw new ArgError('overlay_ip', `an address in overlay_cidr ${networkOf(overlay)} (prefix /${overlay.prefix}, or no prefix)`, s)
    const addr = ip ? ip.address : v.ipv4('overlay_ip', s)
    const n = parseCidr4(`${addr}/${overlay.prefix}`)!
    if (!contains(overlay, addr) || n.addr === n.network || (overlay.prefix < 31 && n.addr === n.network + 2 ** (32 - overlay.prefix) - 1))
      throw new ArgError('overlay_ip', `a host address inside overlay_cidr ${networkOf(overlay)}`, s)
    if (within && !contains(within, addr)) throw new ArgError('overlay_ip', `an address inside this host's overlay_range ${networkOf(within)}`, s)
    return addr
  })
}

function planOvs(c: Cluster): void {
  const overlay = planOverlay(c)
  for (const m of c.members)
    checkFor(m.name, () => {
      const b = v.ifname('ovs_bridge', m.vars.ovs_bridge)
      const u = v.ifname('ovs_underlay_bridge', m.vars.ovs_underlay_bridge)
      const i = v.ifname('ovs_underlay_iface', m.vars.ovs_underlay_iface ?? m.vars.bridge_iface)
      if (b === u) throw new ArgError('ovs_underlay_bridge', `a bridge other than ovs_bridge (${b})`, u)
      if (u === i) throw new ArgError('ovs_underlay_bridge', `a bridge name other than the interface (${i})`, u)
      v.oneOf('ovs_datapath', m.vars.ovs_datapath, ['auto', 'system', 'netdev'])
      v.int('ovs_gre_key', m.vars.ovs_gre_key, 0, 4294967295)
    })
  sameEverywhere(c, 'ovs_gre_key', Number)
  const used = new Map<string, string>()
  for (const m of c.members) {
    const ip = overlayIpOf(m, overlay)
    if (!ip) continue
    if (used.has(ip)) throw new ArgError('overlay_ip', `an address no other host uses (${used.get(ip)} has it)`, ip, m.name)
    used.set(ip, m.name)
    c.overlayIps.set(m.name, ip)
  }
  let k = 1
  const size = 2 ** (32 - overlay.prefix)
  for (const m of c.members) {
    if (c.overlayIps.has(m.name)) continue
    while (k < size - 1 && used.has(hostAddress(overlay, k))) k++
    if (k >= size - 1) throw new ArgError('overlay_cidr', `a network with room for ${c.members.length} addresses`, networkOf(overlay), m.name)
    c.overlayIps.set(m.name, hostAddress(overlay, k))
    used.set(hostAddress(overlay, k), m.name)
    k++
  }
}

function planVxlan(c: Cluster): void {
  const overlay = planOverlay(c)
  let rangePrefix = 0
  for (const m of c.members)
    checkFor(m.name, () => {
      v.vni('vxlan_vni', m.vars.vxlan_vni)
      v.port('vxlan_port', m.vars.vxlan_port)
      v.name('overlay_network', m.vars.overlay_network, 'a docker network name')
      if (['bridge', 'host', 'none'].includes(String(m.vars.overlay_network))) throw new ArgError('overlay_network', 'a user-defined network name (not bridge, host, none)', m.vars.overlay_network)
      v.ifname('overlay_bridge', m.vars.overlay_bridge)
      const p = v.int('overlay_range_prefix', m.vars.overlay_range_prefix, overlay.prefix, 30)
      if (rangePrefix && p !== rangePrefix) throw new ArgError('overlay_range_prefix', `the same prefix on every host (${rangePrefix})`, p)
      rangePrefix = p
    })
  sameEverywhere(c, 'vxlan_vni', Number)
  sameEverywhere(c, 'vxlan_port', Number)
  const explicit = new Map<string, Cidr4>()
  for (const m of c.members) {
    const s = str(m.vars.overlay_range)
    if (s === undefined) continue
    checkFor(m.name, () => {
      const r = v.network4('overlay_range', s)
      if (!contains(overlay, r.network) || r.prefix < overlay.prefix || r.prefix > 30) throw new ArgError('overlay_range', `a network inside overlay_cidr ${networkOf(overlay)} (prefix up to /30)`, s)
      for (const [o, x] of explicit) if (overlaps(x, r)) throw new ArgError('overlay_range', `a range that does not overlap ${o}'s overlay_range ${networkOf(x)}`, s)
      explicit.set(m.name, r)
    })
  }
  const auto = c.members.filter((m) => !explicit.has(m.name))
  let ranges: Cidr4[] = []
  try {
    ranges = allocateSubnets(overlay, rangePrefix, auto.length, [...explicit.values()])
  } catch {
    throw new ArgError('overlay_cidr', `a network with room for ${c.members.length} ranges of /${rangePrefix} (or a longer overlay_range_prefix)`, networkOf(overlay), c.members[0].name)
  }
  const used = new Map<string, string>()
  for (const m of c.members) {
    const range = explicit.get(m.name) ?? ranges[auto.indexOf(m)]
    // The host's gateway on the overlay network: the first address of its range (never overlay_cidr's network address).
    const gateway = hostAddress(range, 1)
    c.overlayRanges.set(m.name, { range, gateway })
    const ip = overlayIpOf(m, overlay, range) ?? hostAddress(range, 2)
    if (ip === gateway) throw new ArgError('overlay_ip', `an address other than this host's overlay gateway ${gateway}`, ip, m.name)
    if (used.has(ip)) throw new ArgError('overlay_ip', `an address no other host uses (${used.get(ip)} has it)`, ip, m.name)
    used.set(ip, m.name)
    c.overlayIps.set(m.name, ip)
  }
}

// ---------------------------------------------------------------- tasks whose arguments come from the host

/** Nothing to apply yet: what check mode lists when a prerequisite is made by an earlier task. */
export interface Pending {
  pending: Change[]
}

interface DeferredState {
  inner: Array<{ task: Task<unknown>; state: unknown }>
  pending?: Change[]
}

/**
 * A task whose arguments are only known on the host (an allocation waiting for the survey, the LAN
 * prefix, the underlay MTU, the datapath): `build` runs at read time (it may run one command of its own)
 * and returns the real task, or several (shown as one: the routes to every peer) — whose read, diff, undo
 * and apply are then used unchanged — or `{ pending }`: the changes check mode lists when the real task
 * cannot read yet because an earlier task would have made what it needs (`{ pending: [] }`: nothing to
 * do on this host).
 */
export function deferred(o: { module: string; name: string; risky?: boolean; build(ctx: TaskContext): Promise<Task<any> | Task<any>[] | Pending> }): Task<DeferredState> {
  const diffs = (s: DeferredState, ctx: TaskContext) => s.inner.map((x) => x.task.resource.diff(x.state, ctx) ?? [])
  const resource: Resource<DeferredState> = {
    module: o.module,
    name: o.name,
    risky: o.risky,
    async read(ctx) {
      const b = await o.build(ctx)
      if ('pending' in b) return { inner: [], pending: b.pending }
      const tasks = (Array.isArray(b) ? b : [b]) as Task<unknown>[]
      for (const t of tasks) {
        try {
          t.resource.validate?.(ctx.host, ctx.vars)
        } catch (e) {
          throw new TaskFailed(`computed arguments are invalid: ${(e as Error).message}`)
        }
      }
      const states = await Promise.all(tasks.map((t) => t.resource.read(ctx)))
      return { inner: tasks.map((task, i) => ({ task, state: states[i] })) }
    },
    diff(s, ctx) {
      return s.pending ?? diffs(s, ctx).flat()
    },
    undo(s, _changes, ctx): Undo | null {
      const d = diffs(s, ctx)
      const undos = s.inner
        .map((x, i) => (d[i].length ? x.task.resource.undo?.(x.state, d[i], ctx) ?? null : null))
        .filter((u): u is Undo => !!u)
      if (!undos.length) return null
      if (undos.length === 1) return undos[0]
      // Newest first, each in its own subshell so one failing does not skip the others.
      const backups = undos.filter((u) => u.backup)
      if (backups.length) throw new TaskFailed(`${o.name}: cannot combine undos that need a backup`)
      return {
        description: undos.map((u) => u.description).join('; '),
        script: ['rc=0', ...undos.reverse().map((u) => `( ${u.script}\n) || rc=1`), 'exit $rc'].join('\n'),
      }
    },
    async apply(ctx, s) {
      if (s.pending) throw new TaskFailed(`${o.name}: a prerequisite is missing (${s.pending.map((c) => c.what).join('; ')})`)
      const d = diffs(s, ctx)
      const out: Record<string, unknown>[] = []
      for (const [i, x] of s.inner.entries()) {
        if (!d[i].length) continue
        const r = (await x.task.resource.apply(ctx, x.state, d[i])) || {}
        if (r.failed) return r
        if (r.data) out.push(r.data)
      }
      return s.inner.length === 1 ? { data: out[0] } : { data: { results: out } }
    },
  }
  return task(resource)
}

/** Sections of one script's output, split on a marker line. */
export function sections(out: string, marker: string): string[] {
  return out.split(`${marker}\n`).map((s) => s.replace(/\n$/, ''))
}

// ---------------------------------------------------------------- the check

/** The probe's interface that carries the cluster address: docker's eth0, or pipework's eth1. */
export const probeIface = (s: Strategy): string => (s === 'bridge' || s === 'ovs-gre' ? 'eth1' : 'eth0')

/**
 * containerMatrix with the probe addresses read from the probes themselves (the routes strategy's are
 * given by docker; the others' are allocated by the plan): ping and `tcpBytes` over TCP, every pair.
 * The addresses are read in the matrix's first round, with its listeners (one `docker exec` per host).
 */
export function probeMatrix(opts: { tcpBytes?: number; strategy?: Strategy } = {}): Check {
  const probe = (h: CheckHost) => String(h.vars.probe_name ?? DEFAULTS.probe_name)
  const strategyOf = (h: CheckHost) => opts.strategy ?? ((h.vars.orch_strategy ?? DEFAULTS.orch_strategy) as Strategy)
  const matrix = containerMatrix({ container: probe, iface: (h) => probeIface(strategyOf(h)), tcpBytes: opts.tcpBytes })
  return {
    name: matrix.name,
    validate(hosts) {
      for (const h of hosts) checkFor(h.host.name, () => v.name('probe_name', probe(h), 'a container name'))
    },
    run: (hosts): Promise<CheckResult> => matrix.run(hosts),
  }
}
