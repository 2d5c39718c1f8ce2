/**
 * Links (network interfaces) as the model holds them: one parser of `ip -d -j link|addr show` output,
 * IPv4 and IPv6 addresses, and the details of the kinds the tasks manage (vxlan).
 */

export interface Address {
  family: 4 | 6
  address: string
  prefixlen: number
  scope: string
}

export interface VxlanInfo {
  id?: number
  port?: number
  local?: string
  remote?: string
  group?: string
  /** Underlay device. */
  link?: string
  learning?: boolean
  ttl?: number
  tos?: string
  ageing?: number
  udpCsum?: boolean
  srcport?: [number, number]
}

export interface Link {
  name: string
  ifindex: number
  /** linkinfo.info_kind: 'vxlan', 'bridge', 'veth', ...; '' for a device without one. */
  kind: string
  mtu: number
  mac?: string
  master?: string
  /** Administratively up (flag UP). */
  up: boolean
  operstate: string
  /** From `ip addr` output; [] from `ip link`. */
  addresses: Address[]
  vxlan?: VxlanInfo
}

type Json = Record<string, any>

/** `ip -d -j link show ...` or `ip -d -j addr show ...` → links ('' or no output: none). */
export function parseLinks(text: string): Link[] {
  const t = text.trim()
  if (!t) return []
  const v = JSON.parse(t) as unknown
  if (!Array.isArray(v)) throw new Error('ip -j link: expected a JSON array')
  return (v as Json[]).map(parseLink)
}

function parseLink(l: Json): Link {
  const info = (l.linkinfo ?? {}) as Json
  const link: Link = {
    name: String(l.ifname),
    ifindex: Number(l.ifindex),
    kind: typeof info.info_kind === 'string' ? info.info_kind : '',
    mtu: Number(l.mtu),
    up: Array.isArray(l.flags) && l.flags.includes('UP'),
    operstate: typeof l.operstate === 'string' ? l.operstate : 'UNKNOWN',
    addresses: ((l.addr_info ?? []) as Json[])
      .filter((a) => typeof a.local === 'string')
      .map((a) => ({ family: a.family === 'inet6' ? 6 : 4, address: a.local, prefixlen: Number(a.prefixlen), scope: typeof a.scope === 'string' ? a.scope : 'global' })),
  }
  if (typeof l.address === 'string') link.mac = l.address
  if (typeof l.master === 'string') link.master = l.master
  if (link.kind === 'vxlan') {
    const d = (info.info_data ?? {}) as Json
    const x: VxlanInfo = {}
    if (d.id !== undefined) x.id = d.id
    if (d.port !== undefined) x.port = d.port
    if ((d.local ?? d.local6) !== undefined) x.local = d.local ?? d.local6
    if ((d.remote ?? d.remote6) !== undefined) x.remote = d.remote ?? d.remote6
    if ((d.group ?? d.group6) !== undefined) x.group = d.group ?? d.group6
    if (d.link !== undefined) x.link = d.link
    if (d.learning !== undefined) x.learning = d.learning
    if (d.ttl !== undefined) x.ttl = d.ttl
    if (d.tos !== undefined) x.tos = String(d.tos)
    if (d.ageing !== undefined) x.ageing = d.ageing
    if (d.udp_csum !== undefined) x.udpCsum = d.udp_csum
    if (d.port_range) x.srcport = [d.port_range.low, d.port_range.high]
    link.vxlan = x
  }
  return link
}
