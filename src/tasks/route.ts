/**
 * route: an IPv4 route present (added, or replaced when the same destination/metric/table points
 * elsewhere) or absent. Identity is the kernel's: destination + metric + table (TOS 0). One round trip
 * reads the whole table (`ip -d -j -4 route show table T`); undo re-creates what was there before with
 * every attribute the kernel reported (gateway, device, protocol, scope, source, metrics, next hops).
 */
import * as v from '../net/validate.ts'
import { argSpec, parseArgs } from '../argspec.ts'
import type { Task } from '../engine/types.ts'
import { routeText, routeWords, sameKey, type RouteJson } from '../facts/routes.ts'
import { fileReader, routesReader } from '../model/facts.ts'
import type { FileState } from '../engine/taskkit.ts'
import { persistedReader, planPersisted, routeData, routeDataPath, ROUTES, type PersistedFacts } from '../model/persist.ts'
import { compose, mapReader, type Reader } from '../model/read.ts'
import type { Step } from '../model/steps.ts'
import { plannedTask, type Planned } from '../model/task.ts'

export interface RouteArgs {
  /** 'default' or an IPv4 network in CIDR form ('10.1.2.0/24'; host bits zero). */
  to: string
  /** Gateway (IPv4). With state 'present', `via` or `dev` is required. */
  via?: string
  /** Output interface. */
  dev?: string
  /** Default 0 (the kernel's default for IPv4). Part of the route's identity. */
  metric?: number
  /** Routing table number, default 254 (main). Part of the route's identity. */
  table?: number
  state?: 'present' | 'absent'
  /** Also at boot (default true): written at commit to /etc/orch/routes/, added by orch-routes.service (model/persist.ts). */
  persist?: boolean
}

/** The arguments checked and typed. */
export interface Route {
  to: string
  via?: string
  dev?: string
  metric: number
  table: number
  state: 'present' | 'absent'
  persist: boolean
}

export const MAIN_TABLE = 254

/** The declared arguments (docs/tasks/route.md's table is made from it). */
export const ROUTE_SPEC = argSpec(
  'route',
  {
    to: { type: 'str', required: true, parse: v.routeDest, desc: "'default' or an IPv4 network (host bits zero)" },
    via: { type: 'ipv4', desc: 'gateway' },
    dev: { type: 'ifname', desc: 'output interface' },
    metric: { type: 'int', min: 0, max: 4294967295, default: 0, desc: 'part of the route identity' },
    table: { type: 'int', min: 1, max: 4294967295, default: MAIN_TABLE, check: (t: number) => (t === 255 ? 'a routing table number other than 255 (local)' : undefined), desc: 'routing table number (254: main); part of the route identity' },
    state: { type: 'str', choices: ['present', 'absent'], default: 'present' },
    persist: { type: 'bool', default: true, desc: 'also in the network configuration (survives a reboot)' },
  },
  { required_if: [['state', 'present', ['via', 'dev'], 'any']] },
)

export function parseRouteArgs(raw: RouteArgs): Route {
  const a = parseArgs(ROUTE_SPEC, raw)
  return { ...a, to: a.to !== 'default' && a.to.endsWith('/0') ? 'default' : a.to }
}

export interface RouteFacts {
  routes: RouteJson[]
  /** What is persisted (present routes with persist). */
  persisted?: PersistedFacts
  /** An absent route's persisted file (removed with it: a host that left the inventory). */
  persistedFile?: FileState
}

const persists = (a: Route) => a.persist && a.state === 'present'
export const routeFacts = (a: Route): Reader<RouteFacts> =>
  mapReader(
    compose({
      routes: routesReader(4, a.table),
      ...(persists(a) ? { persisted: persistedReader(ROUTES, routeDataPath(a.to, a.metric, a.table)) } : {}),
      ...(a.persist && a.state === 'absent' ? { persistedFile: fileReader(routeDataPath(a.to, a.metric, a.table)) } : {}),
    }),
    (f) => f as RouteFacts,
  )

/** The route a present task wants (protocol static marks routes orch added). */
const wanted = (a: Route): RouteJson => ({ dst: a.to, ...(a.via ? { gateway: a.via } : {}), ...(a.dev ? { dev: a.dev } : {}), protocol: 'static', metric: a.metric })
const labelOf = (a: Route) => `${a.to}${a.via ? ` via ${a.via}` : ''}${a.dev ? ` dev ${a.dev}` : ''}${a.metric ? ` metric ${a.metric}` : ''}${a.table === MAIN_TABLE ? '' : ` table ${a.table}`}`

/** Pure: the route's file for orch-routes.service (model/persist.ts), unless it is there already. */
export function persistRoute(f: RouteFacts, a: Route, host: string): Step[] {
  // Absent: its file goes too, when it names the same gateway/device as via/dev narrow the removal to.
  if (a.state === 'absent') {
    const pf = f.persistedFile
    if (pf?.kind !== 'file') return []
    const words = pf.content.toString('utf8').split('\n').find((l) => l.trim() !== '' && !l.startsWith('#'))?.trim().split(/\s+/) ?? []
    const after = (k: string) => (words.indexOf(k) >= 0 ? words[words.indexOf(k) + 1] : undefined)
    if ((a.via && after('via') !== a.via) || (a.dev && after('dev') !== a.dev)) return []
    return [{ kind: 'file-absent', path: routeDataPath(a.to, a.metric, a.table), before: pf }]
  }
  if (!persists(a) || !f.persisted) return []
  return planPersisted(ROUTES, f.persisted, routeDataPath(a.to, a.metric, a.table), routeData(labelOf(a), routeWords(wanted(a), a.table)), host)
}

/** Pure: the routes of the table (as read) → the steps. */
export function planRoute(routes: RouteJson[], a: Route): Step[] {
  const matches = routes.filter((x) => sameKey(x, a.to, a.metric))
  const tableText = a.table === MAIN_TABLE ? '' : ` table ${a.table}`
  const base = { kind: 'route', family: 4, table: a.table } as const
  if (a.state === 'absent') {
    // With state absent, via/dev narrow which route is removed.
    const selected = (r: RouteJson) => (a.via ? r.gateway === a.via : true) && (a.dev ? r.dev === a.dev : true)
    return matches.filter(selected).map((r) => ({ ...base, op: 'del', route: r, label: `${routeText(r)}${tableText}` }))
  }
  /** Does an existing route already do what is asked? (Attributes not asked for are not compared.) */
  const satisfies = (r: RouteJson): boolean =>
    (r.type ?? 'unicast') === 'unicast' && !r.nexthops && r.nhid === undefined && (a.via ? r.gateway === a.via : !r.gateway) && (a.dev ? r.dev === a.dev : true)
  // The kernel uses the first route of an identity (others only exist after `ip route append`).
  if (matches.length >= 1 && satisfies(matches[0])) return []
  const route = wanted(a)
  const label = labelOf(a)
  if (matches.length === 0) return [{ ...base, op: 'add', route, label }]
  // `ip route replace` changes the first route with this identity (any further one is left alone).
  return [{ ...base, op: 'replace', route, previous: matches, label }]
}

export function route(args: RouteArgs): Task<Planned<RouteFacts>> {
  const a = args ?? ({} as RouteArgs)
  return plannedTask<Route, RouteFacts>({
    module: 'route',
    name: `route ${a.to}${a.via ? ` via ${a.via}` : ''}${a.dev ? ` dev ${a.dev}` : ''}${a.state === 'absent' ? ' absent' : ''}`,
    parseArgs: () => parseRouteArgs(a),
    reader: routeFacts,
    reading: (x) => `reading routing table ${x.table}`,
    plan: (f, x) => planRoute(f.routes, x),
    persist: persistRoute,
    applying: (x, steps) => {
      const s = steps[0]
      const verb = s?.kind === 'route' ? ({ add: 'adding', replace: 'replacing', del: 'removing' } as const)[s.op] : 'changing'
      return `${verb} route ${x.to}`
    },
    readAhead: true,
  })
}
