/**
 * The data of the cross-host strategies: which strategies exist, a host of the cluster, and the address
 * plan computed once per run from every host's variables (cluster.ts builds it, the planners fill it).
 */
import type { Vars } from '../inventory/types.ts'
import type { Barrier } from '../engine/phases.ts'
import type { Cidr4 } from '../net/ip.ts'

export const STRATEGIES = ['routes', 'bridge', 'ovs-gre', 'vxlan', 'wireguard'] as const
export type Strategy = (typeof STRATEGIES)[number]

/** Bytes a tunnel adds to every inner frame (outer IPv4 + GRE/UDP+VXLAN headers + inner Ethernet). */
export const OVERHEAD = { gre: 20 + 8 + 14, vxlan: 20 + 8 + 8 + 14, wireguard: 20 + 8 + 32 } as const

/** Per-host container subnets of the routes strategy are /24s. */
export const SUBNET_PREFIX = 24

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
  /** The hosts this run acts on (after --limit): the ones the survey reads. */
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
  /** The routes strategy's barrier: the survey reports to it, the allocation is its plan. */
  survey: RouteSurvey
  // wireguard
  /** The WireGuard device (the same on every host): routes through it are the strategy's own. */
  wgIface?: string
  /** The hosts' public keys, gathered by the key task. */
  wgKeys: KeyGatheringLike
}

/** The public keys of the cluster's hosts (crosshost/wireguard.ts KeyGathering). */
export interface KeyGatheringLike {
  readonly keys: Map<string, string | null>
  readonly failed: Set<string>
  record(host: string, key: string | null): void
  all(c: Cluster, timeoutMs?: number): Promise<Map<string, string | null>>
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

/** A route orch's marker file says it added (routes strategy): pruned when no peer needs it any more. */
export interface MarkedRoute {
  dst: string
  via: string
}

/**
 * The routes strategy's barrier (engine/phases.ts): every target's routes, then the container subnets
 * allocated once around all of them (by host name); `value()` in the apply phase. `routes` is its facts;
 * `marked`: per host, the routes orch's marker lists (MARKER_PATH).
 */
export type RouteSurvey = Barrier<SurveyRoute[], Map<string, Cidr4>> & {
  readonly routes: ReadonlyMap<string, SurveyRoute[]>
  readonly marked: Map<string, MarkedRoute[]>
}
