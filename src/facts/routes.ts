/**
 * Routes as `ip -d -j route show` prints them, and the helpers the route task and the facts share:
 * normalising destinations, the kernel's identity of a route, and turning a route back into the
 * `ip route` words that re-create it exactly (for undo).
 */
import { argv } from '../net/shell.ts'

export interface NextHopJson {
  gateway?: string
  dev?: string
  weight?: number
  flags?: string[]
}

/** One element of `ip -d -j route show`. Unknown keys are kept (and ignored). */
export interface RouteJson {
  type?: string
  dst: string
  tos?: string
  gateway?: string
  via?: { family?: string; host?: string }
  dev?: string
  table?: string
  protocol?: string
  scope?: string
  prefsrc?: string
  metric?: number
  flags?: string[]
  metrics?: Array<Record<string, unknown>>
  nexthops?: NextHopJson[]
  nhid?: number
  pref?: string
  [k: string]: unknown
}

/** 'default', '0.0.0.0/0' → 'default'; a bare IPv4 address (ip prints host routes so) → a.b.c.d/32. */
export function normDst(dst: string, family: 4 | 6 = 4): string {
  if (dst === 'default' || dst === '0.0.0.0/0' || dst === '::/0') return 'default'
  if (!dst.includes('/')) return `${dst}/${family === 4 ? 32 : 128}`
  return dst
}

/** Parse `ip -j route show` output; a table that does not exist yet (ip exits 2, prints "[") is empty. */
export function parseRoutesJson(text: string): RouteJson[] {
  const t = text.trim()
  if (t === '' || t === '[') return []
  const v = JSON.parse(t) as unknown
  if (!Array.isArray(v)) throw new Error('ip -j route: expected a JSON array')
  return v as RouteJson[]
}

/** Kernel identity inside one table (IPv4): destination, TOS and metric. */
export function sameKey(r: RouteJson, dst: string, metric: number): boolean {
  return normDst(r.dst) === normDst(dst) && (r.metric ?? 0) === metric && (!r.tos || r.tos === '0' || r.tos === '0x00')
}

const KNOWN_METRICS = new Set([
  'mtu', 'advmss', 'window', 'rtt', 'rttvar', 'ssthresh', 'cwnd', 'initcwnd', 'initrwnd', 'quickack',
  'hoplimit', 'reordering', 'rto_min', 'fastopen_no_cookie', 'features', 'congctl',
])

/**
 * The `ip route` words (after `ip route add|replace`) that re-create this route exactly: type, tos,
 * gateway, device, table, protocol, scope, preferred source, metric, onlink, route metrics (mtu, advmss...)
 * and multipath next hops.
 */
export function routeWords(r: RouteJson, table: number): string[] {
  const w: string[] = []
  if (r.type && r.type !== 'unicast') w.push(r.type)
  w.push(normDst(r.dst) === 'default' ? 'default' : r.dst)
  if (r.tos && r.tos !== '0' && r.tos !== '0x00') w.push('tos', r.tos)
  if (r.nhid !== undefined) w.push('nhid', String(r.nhid))
  else if (!r.nexthops) {
    if (r.gateway) w.push('via', r.gateway)
    if (r.dev) w.push('dev', r.dev)
  }
  w.push('table', String(table))
  if (r.protocol) w.push('proto', r.protocol)
  if (r.scope) w.push('scope', r.scope)
  if (r.prefsrc) w.push('src', r.prefsrc)
  w.push('metric', String(r.metric ?? 0))
  if (!r.nexthops && r.flags?.includes('onlink')) w.push('onlink')
  for (const m of r.metrics ?? []) {
    for (const [k, v] of Object.entries(m)) {
      if (!KNOWN_METRICS.has(k)) continue
      if (typeof v === 'number' || typeof v === 'string') w.push(k, String(v))
      else if (v && typeof v === 'object' && 'value' in v) {
        const o = v as { value: unknown; lock?: boolean }
        w.push(k, ...(o.lock ? ['lock'] : []), String(o.value))
      }
    }
  }
  for (const nh of r.nhid === undefined ? (r.nexthops ?? []) : []) {
    w.push('nexthop')
    if (nh.gateway) w.push('via', nh.gateway)
    if (nh.dev) w.push('dev', nh.dev)
    if (nh.weight !== undefined) w.push('weight', String(nh.weight))
    if (nh.flags?.includes('onlink')) w.push('onlink')
  }
  return w
}

/** `ip route add ...` for a route, every word quoted. */
export const routeCommand = (verb: 'add' | 'replace' | 'del', r: RouteJson, table: number, family: 4 | 6 = 4): string =>
  argv(['ip', `-${family}`, 'route', verb, ...routeWords(r, table)])

/** Words selecting exactly one existing route for `ip route del`: identity, type, gateway/device. */
export function deleteWords(r: RouteJson, table: number): string[] {
  const w: string[] = []
  if (r.type && r.type !== 'unicast') w.push(r.type)
  w.push(normDst(r.dst) === 'default' ? 'default' : r.dst)
  if (r.tos && r.tos !== '0' && r.tos !== '0x00') w.push('tos', r.tos)
  if (!r.nexthops && r.nhid === undefined) {
    if (r.gateway) w.push('via', r.gateway)
    if (r.dev) w.push('dev', r.dev)
  }
  w.push('metric', String(r.metric ?? 0), 'table', String(table))
  return w
}

/** One line as `ip route show` would print it (for diffs and the facts view). */
export function routeText(r: RouteJson): string {
  const w = routeWords(r, 254).filter((x, i, a) => !(x === 'table' || a[i - 1] === 'table'))
  return w.join(' ').replace(/ metric 0\b/, '').replace(/ proto boot\b/, '').replace(/ scope global\b/, '')
}
