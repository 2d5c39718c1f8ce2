/**
 * route: an IPv4 route present (added, or replaced when the same destination/metric/table points
 * elsewhere) or absent. Identity is the kernel's: destination + metric + table (TOS 0). One round trip
 * reads the whole table (`ip -d -j -4 route show table T`); undo re-creates what was there before with
 * every attribute the kernel reported (gateway, device, protocol, scope, source, metrics, next hops).
 */
import { argv } from '../net/shell.ts'
import * as v from '../net/validate.ts'
import { ArgError, TaskFailed, task, type Change, type Resource, type Task, type Undo } from '../engine/types.ts'
import { mustSucceed } from '../engine/taskkit.ts'
import { normDst, parseRoutesJson, routeCommand, routeText, sameKey, type RouteJson } from '../facts/routes.ts'

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
}

export interface RouteState {
  table: number
  /** Routes of the table with the same identity (dst, metric, TOS 0): usually zero or one. */
  matches: RouteJson[]
}

export const MAIN_TABLE = 254

export function route(args: RouteArgs): Task<RouteState> {
  const a = args ?? ({} as RouteArgs)
  const state = a.state ?? 'present'
  let to = a.to
  const metric = () => a.metric ?? 0
  const table = () => a.table ?? MAIN_TABLE

  /** The route this task wants, as ip would print it (protocol static marks routes orch added). */
  const wanted = (): RouteJson => ({
    dst: to,
    ...(a.via ? { gateway: a.via } : {}),
    ...(a.dev ? { dev: a.dev } : {}),
    protocol: 'static',
    metric: metric(),
  })
  /** Does an existing route already do what is asked? (Attributes not asked for are not compared.) */
  const satisfies = (r: RouteJson): boolean =>
    (r.type ?? 'unicast') === 'unicast' &&
    !r.nexthops &&
    r.nhid === undefined &&
    (a.via ? r.gateway === a.via : !r.gateway) &&
    (a.dev ? r.dev === a.dev : true)
  /** With state absent, via/dev narrow which route is removed. */
  const selected = (r: RouteJson): boolean => (a.via ? r.gateway === a.via : true) && (a.dev ? r.dev === a.dev : true)
  const tableWords = () => (table() === MAIN_TABLE ? [] : ['table', String(table())])
  const label = () => `${to}${a.via ? ` via ${a.via}` : ''}${a.dev ? ` dev ${a.dev}` : ''}${metric() ? ` metric ${metric()}` : ''}${tableWords().length ? ` table ${table()}` : ''}`

  const resource: Resource<RouteState> = {
    module: 'route',
    name: `route ${a.to}${a.via ? ` via ${a.via}` : ''}${a.dev ? ` dev ${a.dev}` : ''}${state === 'absent' ? ' absent' : ''}`,
    validate() {
      to = v.routeDest('route.to', a.to)
      if (to !== 'default' && to.endsWith('/0')) to = 'default'
      v.oneOf('route.state', state, ['present', 'absent'])
      if (a.via !== undefined) v.ipv4('route.via', a.via)
      if (a.dev !== undefined) v.ifname('route.dev', a.dev)
      if (a.metric !== undefined) v.int('route.metric', a.metric, 0, 4294967295)
      if (a.table !== undefined) {
        v.int('route.table', a.table, 1, 4294967295)
        if (Number(a.table) === 255) throw new ArgError('route.table', 'a routing table number other than 255 (local)', a.table)
      }
      if (state === 'present' && a.via === undefined && a.dev === undefined)
        throw new ArgError('route.via', "a gateway address (or route.dev) for a present route, e.g. via: '198.18.0.1'", a.via)
    },
    async read(ctx) {
      const r = await ctx.run(argv(['ip', '-d', '-j', '-4', 'route', 'show', 'table', table()]))
      // A numbered table that holds no route yet does not exist: ip exits 2 with "FIB table does not exist".
      if (r.code !== 0 && !/table does not exist/i.test(r.stderr)) mustSucceed(r, `reading routing table ${table()}`)
      let routes: RouteJson[]
      try {
        routes = r.code === 0 ? parseRoutesJson(r.stdout) : []
      } catch (e) {
        throw new TaskFailed(`cannot parse ip -j route output on ${ctx.host.name}: ${(e as Error).message}`)
      }
      return { table: table(), matches: routes.filter((x) => sameKey(x, to, metric())) }
    },
    diff(s) {
      if (state === 'absent') {
        const gone = s.matches.filter(selected)
        return gone.map((r) => ({ what: `remove route ${routeText(r)}${tableWords().length ? ` table ${table()}` : ''}`, before: routeText(r), after: '' }))
      }
      // The kernel uses the first route of an identity (others only exist after `ip route append`).
      if (s.matches.length >= 1 && satisfies(s.matches[0])) return []
      if (s.matches.length === 0) return [{ what: `add route ${label()}`, before: '', after: routeText(wanted()) }]
      return [{ what: `replace route ${label()}`, before: s.matches.map(routeText).join('\n'), after: routeText(wanted()) }]
    },
    undo(s): Undo | null {
      if (state === 'absent') {
        const gone = s.matches.filter(selected)
        if (!gone.length) return null
        return { description: `re-add ${gone.map(routeText).join('; ')}`, script: gone.map((r) => routeCommand('add', r, s.table)).join(' && ') }
      }
      if (s.matches.length === 0) {
        // Delete exactly the route added: identity plus the gateway/device given.
        const del = argv(['ip', '-4', 'route', 'del', to, ...(a.via ? ['via', a.via] : []), ...(a.dev ? ['dev', a.dev] : []), 'metric', metric(), 'table', table()])
        return { description: `remove route ${label()} (it did not exist)`, script: del }
      }
      // `ip route replace` changed the first route with this identity (any further one, made with
      // `ip route append`, is left alone): put it back as it was.
      const old = s.matches[0]
      return { description: `restore route ${routeText(old)}`, script: routeCommand('replace', old, s.table) }
    },
    async apply(ctx, s) {
      if (state === 'absent') {
        const cmds = s.matches.filter(selected).map((r) => argv(['ip', '-4', 'route', 'del', ...deleteWords(r, s.table)]))
        mustSucceed(await ctx.run(cmds.join(' && ')), `removing route ${label()}`)
        return
      }
      const verb = s.matches.length === 0 ? 'add' : 'replace'
      const words = ['ip', '-4', 'route', verb, to, ...(a.via ? ['via', a.via] : []), ...(a.dev ? ['dev', a.dev] : []), 'proto', 'static', 'metric', metric(), 'table', table()]
      mustSucceed(await ctx.run(argv(words)), `${verb === 'add' ? 'adding' : 'replacing'} route ${label()}`)
    },
  }
  return task(resource)
}

/** Words selecting exactly one existing route for `ip route del`: identity, type, gateway/device. */
function deleteWords(r: RouteJson, table: number): string[] {
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
