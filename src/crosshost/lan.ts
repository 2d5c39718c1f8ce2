/** The bridge strategy's plan: the bridge's variables and each host's container address on the LAN. */
import { ArgError } from '../errors.ts'
import { contains, intToIp, networkOf } from '../net/ip.ts'
import * as v from '../net/validate.ts'
import type { Cluster } from './types.ts'
import { checkFor, str } from './vars.ts'

export function planLan(c: Cluster): void {
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

