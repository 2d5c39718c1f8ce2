/**
 * Argument validators shared by every task. Each throws ArgError naming the variable and what was
 * expected, so bad input stops the run before any host is touched.
 */
import { ArgError } from '../errors.ts'
import { hostAddress, isCidr6, isIpv4, isIpv6, isBroadcastAddress, isNetworkAddress, networkOf, parseCidr4, type Cidr4 } from './ip.ts'

/** Linux interface names: 1-15 bytes, no '/', whitespace, ':' or shell metacharacters. */
export function ifname(variable: string, v: unknown): string {
  if (typeof v !== 'string' || !/^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,14}$/.test(v) || v === '.' || v === '..') {
    throw new ArgError(variable, 'an interface name (1-15 characters: letters, digits, _ . - @)', v)
  }
  return v
}

export function ipv4(variable: string, v: unknown): string {
  if (!isIpv4(v)) throw new ArgError(variable, 'an IPv4 address like 198.18.0.1', v)
  return v
}

export function ip(variable: string, v: unknown): string {
  if (!isIpv4(v) && !isIpv6(v)) throw new ArgError(variable, 'an IPv4 or IPv6 address', v)
  return v as string
}

/** Any IPv4 CIDR (network or host address). */
export function cidr4(variable: string, v: unknown): Cidr4 {
  const c = parseCidr4(v)
  if (!c) throw new ArgError(variable, 'an IPv4 CIDR like 10.1.0.0/24 (prefix 0-32)', v)
  return c
}

/** A network in CIDR form whose host bits are zero: 10.1.0.0/24, not 10.1.0.5/24. */
export function network4(variable: string, v: unknown): Cidr4 {
  const c = cidr4(variable, v)
  if (c.addr !== c.network) throw new ArgError(variable, 'a network address (host bits zero), e.g. ' + netOf(c), v)
  return c
}

/** A host address with its prefix: 10.1.1.1/24, not the network 10.1.1.0/24 nor its broadcast. */
export function hostCidr4(variable: string, v: unknown): Cidr4 {
  const c = cidr4(variable, v)
  if (isNetworkAddress(c) || isBroadcastAddress(c)) {
    throw new ArgError(variable, `a host address with prefix, e.g. ${hostOf(c)} (not the network or broadcast address)`, v)
  }
  return c
}

export function cidrAny(variable: string, v: unknown): string {
  if (!parseCidr4(v) && !isCidr6(v)) throw new ArgError(variable, 'an IPv4 or IPv6 CIDR', v)
  return v as string
}

/** A route destination: "default" or a network CIDR. */
export function routeDest(variable: string, v: unknown): string {
  if (v === 'default') return v
  return netOf(network4(variable, v))
}

export function int(variable: string, v: unknown, min: number, max: number): number {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new ArgError(variable, `an integer from ${min} to ${max}`, v)
  }
  return n
}

export const mtu = (variable: string, v: unknown): number => int(variable, v, 68, 65535)
export const vni = (variable: string, v: unknown): number => int(variable, v, 1, 16777215)
export const port = (variable: string, v: unknown): number => int(variable, v, 1, 65535)

export function mac(variable: string, v: unknown): string {
  if (typeof v !== 'string' || !/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(v)) {
    throw new ArgError(variable, 'a MAC address like 02:42:ac:11:00:02', v)
  }
  return v.toLowerCase()
}

/** Docker container / network names and OVS bridge names: a safe, conservative character set. */
export function name(variable: string, v: unknown, what = 'a name'): string {
  if (typeof v !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(v)) {
    throw new ArgError(variable, `${what} (letters, digits, _ . -; starting with a letter or digit)`, v)
  }
  return v
}

export function absPath(variable: string, v: unknown): string {
  if (typeof v !== 'string' || !v.startsWith('/') || v.includes('\0') || v.split('/').includes('..')) {
    throw new ArgError(variable, 'an absolute path without ".."', v)
  }
  return v
}

export function oneOf<T extends string>(variable: string, v: unknown, choices: readonly T[]): T {
  if (typeof v !== 'string' || !choices.includes(v as T)) throw new ArgError(variable, `one of ${choices.join(', ')}`, v)
  return v as T
}

const netOf = networkOf
const hostOf = (c: Cidr4): string => `${hostAddress(c, 1)}/${c.prefix}`
