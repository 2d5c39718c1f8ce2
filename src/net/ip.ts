/**
 * Pure IPv4/IPv6 address and CIDR helpers: parsing, containment, overlap, allocation.
 * IPv4 is handled as 32-bit numbers; IPv6 addresses are validated (tasks move them as they are).
 */
import { isIPv4, isIPv6 } from 'node:net'

export interface Cidr4 {
  /** Address as written (may be a host address: 10.1.1.1/24). */
  address: string
  prefix: number
  /** Network address as a number. */
  network: number
  /** Address as a number. */
  addr: number
}

export const ipToInt = (ip: string): number => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0)
export const intToIp = (n: number): string => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.')

export function isIpv4(s: unknown): s is string {
  return typeof s === 'string' && isIPv4(s)
}
export function isIpv6(s: unknown): s is string {
  return typeof s === 'string' && isIPv6(s)
}

const maskOf = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0)

/** Parse "a.b.c.d/n"; null when it is not a valid IPv4 CIDR (prefix 0-32, canonical octets). */
export function parseCidr4(s: unknown): Cidr4 | null {
  if (typeof s !== 'string') return null
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(s)
  if (!m || !isIPv4(m[1])) return null
  const prefix = Number(m[2])
  if (prefix > 32 || String(prefix) !== m[2]) return null
  const addr = ipToInt(m[1])
  return { address: m[1], prefix, addr, network: (addr & maskOf(prefix)) >>> 0 }
}

export function isCidr6(s: unknown): boolean {
  if (typeof s !== 'string') return false
  const m = /^([0-9a-fA-F:.]+)\/(\d{1,3})$/.exec(s)
  return !!m && isIPv6(m[1]) && Number(m[2]) <= 128 && String(Number(m[2])) === m[2]
}

export const networkOf = (c: Cidr4): string => `${intToIp(c.network)}/${c.prefix}`
export const broadcastOf = (c: Cidr4): number => (c.network + 2 ** (32 - c.prefix) - 1) >>> 0
export const isNetworkAddress = (c: Cidr4): boolean => c.prefix < 31 && c.addr === c.network
export const isBroadcastAddress = (c: Cidr4): boolean => c.prefix < 31 && c.addr === broadcastOf(c)

export function contains(outer: Cidr4, ip: string | number): boolean {
  const n = typeof ip === 'number' ? ip : ipToInt(ip)
  return ((n & maskOf(outer.prefix)) >>> 0) === outer.network
}

export function overlaps(a: Cidr4, b: Cidr4): boolean {
  const p = Math.min(a.prefix, b.prefix)
  return ((a.network & maskOf(p)) >>> 0) === ((b.network & maskOf(p)) >>> 0)
}

/**
 * Carve `count` subnets of size /`prefix` out of `pool`, skipping any that overlap `taken`.
 * Deterministic: the same inputs give the same subnets, so reruns allocate the same.
 */
export function allocateSubnets(pool: Cidr4, prefix: number, count: number, taken: Cidr4[] = []): Cidr4[] {
  if (prefix < pool.prefix || prefix > 30) throw new Error(`cannot carve /${prefix} subnets from ${networkOf(pool)}`)
  const out: Cidr4[] = []
  const size = 2 ** (32 - prefix)
  const total = 2 ** (prefix - pool.prefix)
  for (let i = 0; i < total && out.length < count; i++) {
    const network = (pool.network + i * size) >>> 0
    const c: Cidr4 = { address: intToIp(network), prefix, network, addr: network }
    if (!taken.some((t) => overlaps(t, c)) && !out.some((o) => overlaps(o, c))) out.push(c)
  }
  if (out.length < count) throw new Error(`${networkOf(pool)} has room for only ${out.length} free /${prefix} subnets, ${count} needed`)
  return out
}

/** The n-th host address of a network (1 = first usable). */
export const hostAddress = (c: Cidr4, n: number): string => intToIp((c.network + n) >>> 0)
