/** The overlay strategies' plans (ovs-gre, vxlan): overlay addresses and vxlan's per-host ranges. */
import { ArgError } from '../errors.ts'
import { allocateSubnets, contains, hostAddress, networkOf, overlaps, parseCidr4, type Cidr4 } from '../net/ip.ts'
import * as v from '../net/validate.ts'
import type { Cluster, Member } from './types.ts'
import { checkFor, sameEverywhere, str } from './vars.ts'

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

export function planOvs(c: Cluster): void {
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

export function planVxlan(c: Cluster): void {
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

