/**
 * bridgeTakeover's view of the host: what it reads (links, addresses, routes of every table, one round
 * trip), the pure plan derived from it, and the check of the state the detached script left.
 */
import { argv, sh } from '../../net/shell.ts'
import { TaskFailed } from '../../errors.ts'
import {
  addrKey,
  gatewaysReachable,
  inPrefix,
  isKernelRoute,
  isMovableAddr,
  parseAddrs,
  parseLinks,
  parseRoutes,
  routeArgv,
  routeKey,
  routeOrder,
  routeUses,
  type IpAddr,
  type IpLink,
  type IpRoute,
} from '../persist/iproute.ts'
import { parsePersistFacts, planPersist, type PersistFacts, type PersistMode, type PersistPlan, type TakeoverSpec } from '../persist/index.ts'

export interface TakeoverPaths {
  dir: string
  applyScript: string
  applyLog: string
  /** First line "ok" or "failed: ...". Written last (atomically) by the apply script. */
  applyDone: string
  undoScript: string
  undoLog: string
  undoDone: string
}

export interface TakeoverState {
  iface: IpLink
  bridge?: IpLink
  /** Movable addresses (all IPv4; IPv6 but link-local and kernel privacy ones). */
  ifaceAddrs: IpAddr[]
  bridgeAddrs: IpAddr[]
  /** Non-kernel routes (every table) through the interface / the bridge. */
  ifaceRoutes: IpRoute[]
  /**
   * Routes through the interface whose gateway is no longer on-link (e.g. an expired SLAAC prefix): the
   * kernel keeps them but would refuse them again, so they are left untouched on the interface (reported).
   */
  deadRoutes: IpRoute[]
  bridgeRoutes: IpRoute[]
  persist?: PersistFacts
}

/** What apply does, derived from the state (pure; diff, undo and apply all use it). */
export interface TakeoverPlan {
  createBridge: boolean
  /** Settings of an existing bridge to change. */
  fix: { mac?: string; mtu?: number; stp?: number; forwardDelay?: number; up?: boolean }
  moveAddrs: IpAddr[]
  moveRoutes: IpRoute[]
  enslave: boolean
  spec: TakeoverSpec
  persist: PersistPlan
}

export const SEC = '@@orch-takeover-section@@'
export const secMark = sh`printf '\n%s\n' ${SEC}`

/** One round trip: links, addresses, routes (v4 and v6, every table). */
export function stateScript(): string {
  return [`ip -d -j link show`, secMark, `ip -j addr show`, secMark, `ip -4 -j route show table all`, secMark, `ip -6 -j route show table all`].join('; ')
}

export function parseState(text: string, bridge: string, iface: string, persist?: string): TakeoverState {
  const [links, addrs, r4, r6] = text.split(`\n${SEC}\n`)
  if (r6 === undefined) throw new TaskFailed(`unexpected output reading the network state: ${text.slice(0, 300)}`)
  const all = parseLinks(links)
  const ifl = all.find((l) => l.name === iface)
  if (!ifl) throw new TaskFailed(`no interface ${iface} on this host`)
  const brl = all.find((l) => l.name === bridge)
  const addrMap = parseAddrs(addrs)
  const allRoutes = [...parseRoutes(r4, 4), ...parseRoutes(r6, 6)]
  // An address with noprefixroute (NetworkManager's) has its prefix route added by the manager, with
  // proto kernel: when no other address of the prefix makes it, it does not come back with the address
  // by itself, so it moves like any other route.
  const managerPrefix = (r: IpRoute) =>
    r.json.protocol === 'kernel' &&
    (r.json.type ?? 'unicast') === 'unicast' &&
    typeof r.json.dst === 'string' &&
    ((covers) => covers.length > 0 && covers.every((a) => a.flags.includes('noprefixroute')))(
      (addrMap.get(String(r.json.dev)) ?? []).filter((a) => String(r.json.dst).endsWith(`/${a.prefixlen}`) && inPrefix(a.local, String(r.json.dst))),
    )
  const routes = allRoutes.filter((r) => !isKernelRoute(r) || managerPrefix(r))
  const onIface = routes.filter((r) => routeUses(r, iface))
  const s: TakeoverState = {
    iface: ifl,
    ifaceAddrs: (addrMap.get(iface) ?? []).filter(isMovableAddr),
    bridgeAddrs: (addrMap.get(bridge) ?? []).filter(isMovableAddr),
    ifaceRoutes: onIface.filter((r) => gatewaysReachable(r, iface, allRoutes)),
    deadRoutes: onIface.filter((r) => !gatewaysReachable(r, iface, allRoutes)),
    bridgeRoutes: routes.filter((r) => routeUses(r, bridge)),
  }
  if (brl) s.bridge = brl
  if (persist !== undefined) s.persist = parsePersistFacts(persist)
  return s
}

export const wantStp = (stp: boolean) => (stp ? 1 : 0)
/** Centiseconds, as the kernel and `ip link` count them. */
export const wantFd = (stp: boolean) => (stp ? 200 : 0)


export interface TakeoverOptions {
  bridge: string
  iface: string
  stp: boolean
  persist: PersistMode
}

/** What apply does, derived from the state (pure; diff, undo and apply all use it). */
export function planTakeover(s: TakeoverState, o: TakeoverOptions): TakeoverPlan {
  const { bridge, iface, stp } = o
  const createBridge = !s.bridge
  const enslave = s.iface.master !== bridge
  const fix: TakeoverPlan['fix'] = {}
  if (s.bridge) {
    if (s.bridge.mac.toLowerCase() !== s.iface.mac.toLowerCase()) fix.mac = s.iface.mac
    if (s.bridge.mtu !== s.iface.mtu) fix.mtu = s.iface.mtu
    if (s.bridge.stpState !== wantStp(stp)) fix.stp = wantStp(stp)
    // Without STP the kernel forwards at once and ignores the delay (NetworkManager writes 2 s at least).
    if (s.bridge.forwardDelay !== wantFd(stp) && (stp || s.bridge.stpState !== 0)) fix.forwardDelay = wantFd(stp)
    if (!s.bridge.up) fix.up = true
  }
  const moveAddrs = s.ifaceAddrs
  const moveRoutes = [...s.ifaceRoutes].sort(routeOrder)
  // The configuration describes the end state: what moves plus what the bridge already holds.
  const spec: TakeoverSpec = {
    bridge,
    iface,
    mac: s.iface.mac,
    mtu: s.iface.mtu,
    stp,
    forwardDelay: wantFd(stp) / 100,
    addrs: [...s.bridgeAddrs, ...moveAddrs],
    routes: [...s.bridgeRoutes, ...moveRoutes],
  }
  return { createBridge, fix, moveAddrs, moveRoutes, enslave, spec, persist: planPersist(o.persist, s.persist, spec) }
}

export const runtimeWork = (p: TakeoverPlan): boolean =>
  p.createBridge || p.enslave || p.moveAddrs.length > 0 || p.moveRoutes.length > 0 || Object.keys(p.fix).length > 0

/** Checks the detached script's output (marker, new state, log tail): throws TaskFailed unless the bridge holds everything. */
export function verifyTakeover(
  out: string,
  before: TakeoverState,
  p: TakeoverPlan,
  bridge: string,
  iface: string,
  paths: TakeoverPaths,
): void {
  const i = out.indexOf(`\n${SEC}\n`)
  const marker = (i < 0 ? out : out.slice(0, i)).trim()
  const rest = i < 0 ? '' : out.slice(i + SEC.length + 2)
  const j = rest.lastIndexOf(`\n${SEC}\n`)
  const stateText = j < 0 ? rest : rest.slice(0, j)
  const logTail = j < 0 ? '' : rest.slice(j + SEC.length + 2).trim()
  const first = marker.split('\n')[0]
  if (first !== 'ok') {
    throw new TaskFailed(`bridge takeover on ${bridge}: ${first || 'no done-marker'} (log ${paths.applyLog}): ${logTail.split('\n').slice(-5).join(' / ')}`, { stdout: out })
  }
  const now = parseState(stateText, bridge, iface)
  const problems: string[] = []
  if (now.iface.master !== bridge) problems.push(`${iface} is not a port of ${bridge}`)
  if (!now.bridge?.up) problems.push(`${bridge} is not up`)
  const have = new Set(now.bridgeAddrs.map(addrKey))
  for (const ad of p.moveAddrs) if (!have.has(addrKey(ad))) problems.push(`${addrKey(ad)} missing on ${bridge}`)
  const routes = new Set(now.bridgeRoutes.map((r) => routeKey(r, bridge)))
  for (const rt of p.moveRoutes) if (!routes.has(routeKey(rt, iface))) problems.push(`route ${argv(routeArgv(rt, 'add', iface, bridge).slice(4))} missing`)
  if (now.ifaceAddrs.length) problems.push(`${iface} still has ${now.ifaceAddrs.map(addrKey).join(', ')}`)
  if (problems.length) throw new TaskFailed(`bridge takeover on ${bridge} did not reach the wanted state: ${problems.join('; ')}`, { stdout: out })
  void before
}

