/**
 * The routes strategy's plan: a container subnet per host, from container_subnet or allocated from
 * cluster_cidr around the routes the hosts already have (the survey reads them in the engine's gather
 * phase; the allocation is the barrier's one plan over every host's routes).
 */
import { ArgError, TaskFailed } from '../errors.ts'
import { Barrier, gatherTask } from '../engine/phases.ts'
import type { Task } from '../engine/types.ts'
import { allocateSubnets, contains, networkOf, overlaps, parseCidr4, type Cidr4 } from '../net/ip.ts'
import * as v from '../net/validate.ts'
import { SUBNET_PREFIX, type Cluster, type MarkedRoute, type Member, type RouteSurvey, type SurveyRoute } from './types.ts'
import { checkFor, str } from './vars.ts'

export function planRoutes(c: Cluster): void {
  for (const m of c.members) {
    checkFor(m.name, () => {
      const cc = v.network4('cluster_cidr', m.vars.cluster_cidr)
      if (cc.prefix > SUBNET_PREFIX) throw new ArgError('cluster_cidr', `a network of prefix /${SUBNET_PREFIX} or shorter (it is cut into a /${SUBNET_PREFIX} per host)`, m.vars.cluster_cidr)
      if (c.clusterCidr && networkOf(c.clusterCidr) !== networkOf(cc))
        throw new ArgError('cluster_cidr', `the same network on every host (${c.members[0].name} has ${networkOf(c.clusterCidr)})`, m.vars.cluster_cidr)
      c.clusterCidr = cc
    })
  }
  const cc = c.clusterCidr!
  const room = 2 ** (SUBNET_PREFIX - cc.prefix)
  if (room < c.members.length)
    throw new ArgError('cluster_cidr', `a network with room for ${c.members.length} /${SUBNET_PREFIX} subnets (one per host)`, networkOf(cc), c.members[0].name)
  for (const m of c.members) {
    const s = str(m.vars.container_subnet)
    if (s === undefined) continue
    checkFor(m.name, () => {
      const n = v.network4('container_subnet', s)
      if (n.prefix > 30 || n.prefix < 8) throw new ArgError('container_subnet', 'a network of prefix /8 to /30, e.g. 10.244.1.0/24', s)
      if (!contains(cc, n.network) || n.prefix < cc.prefix) throw new ArgError('container_subnet', `a network inside cluster_cidr ${networkOf(cc)}`, s)
      for (const [other, o] of c.explicitSubnets)
        if (overlaps(o, n)) throw new ArgError('container_subnet', `a network that does not overlap ${other}'s container_subnet ${networkOf(o)}`, s)
      c.explicitSubnets.set(m.name, n)
    })
  }
}

/**
 * The routes strategy's cross-host barrier: every target's routes (the survey, in the engine's gather
 * phase), then ONE allocation of the container subnets around all of them (allocateContainerSubnets).
 */
class Survey extends Barrier<SurveyRoute[], Map<string, Cidr4>> {
  readonly marked = new Map<string, MarkedRoute[]>()
  get routes(): ReadonlyMap<string, SurveyRoute[]> {
    return this.facts
  }
}

export function routeSurvey(cluster: () => Cluster): RouteSurvey {
  return new Survey('route survey', (routes) => allocateContainerSubnets(cluster(), routes))
}

/**
 * Routes that are not in the way of the cluster's container subnets: the kernel's local table, default
 * routes, non-unicast entries, docker0's own subnet (dockerBip moves it), and the routes this playbook
 * added on an earlier run (proto static, to a network inside cluster_cidr, via a cluster host or, for
 * wireguard, through its device).
 */
export function foreignRoutes(routes: SurveyRoute[], c: Pick<Cluster, 'clusterCidr' | 'members'> & { wgIface?: string }): Array<SurveyRoute & { net: Cidr4 }> {
  const addrs = new Set(c.members.map((m) => m.address))
  const out: Array<SurveyRoute & { net: Cidr4 }> = []
  for (const r of routes) {
    if (r.table === 'local' || r.dst === 'default') continue
    if (r.type && r.type !== 'unicast' && r.type !== 'blackhole' && r.type !== 'unreachable' && r.type !== 'prohibit') continue
    if (r.dev === 'docker0') continue
    const net = parseCidr4(r.dst.includes('/') ? r.dst : `${r.dst}/32`)
    if (!net || net.prefix === 0) continue
    // wireguard: a route through the strategy's device (no gateway) is its own too.
    const mine = (!!r.gateway && addrs.has(r.gateway)) || (!!c.wgIface && !r.gateway && r.dev === c.wgIface)
    const ours = r.protocol === 'static' && mine && !!c.clusterCidr && contains(c.clusterCidr, net.network) && net.prefix >= c.clusterCidr.prefix
    if (!ours) out.push({ ...r, net })
  }
  return out
}

const describeRoute = (r: SurveyRoute): string =>
  [r.type && r.type !== 'unicast' ? r.type : '', r.dst, r.gateway ? `via ${r.gateway}` : '', r.dev ? `dev ${r.dev}` : '', r.table && r.table !== 'main' ? `table ${r.table}` : '']
    .filter(Boolean)
    .join(' ')

/**
 * Container subnets by inventory order: a host's container_subnet when set, else the next /24 of
 * cluster_cidr that overlaps no other host's subnet, no host's underlay address and no route found on
 * any surveyed host. Deterministic: the same inventory and the same foreign routes give the same plan.
 */
export function allocateContainerSubnets(c: Cluster, routes: ReadonlyMap<string, SurveyRoute[]>): Map<string, Cidr4> {
  const cc = c.clusterCidr!
  const taken: Cidr4[] = [...c.explicitSubnets.values(), ...c.members.map((m) => parseCidr4(`${m.address}/32`)!)]
  const blockers: string[] = []
  for (const [host, rs] of routes)
    for (const r of foreignRoutes(rs, c)) {
      if (!overlaps(r.net, cc)) continue
      taken.push(r.net)
      blockers.push(`${describeRoute(r)} on ${host}`)
    }
  // A host keeps the subnet its docker0 has in cluster_cidr (an earlier run's): when another host leaves
  // or joins, the subnets of the hosts that stay never move.
  const kept = new Map<string, Cidr4>()
  for (const m of c.members) {
    if (c.explicitSubnets.has(m.name)) continue
    const cur = currentSubnet(routes.get(m.name) ?? [], cc)
    if (cur && ![...taken, ...kept.values()].some((t) => overlaps(t, cur))) kept.set(m.name, cur)
  }
  taken.push(...kept.values())
  const auto = c.members.filter((m) => !c.explicitSubnets.has(m.name) && !kept.has(m.name))
  let subnets: Cidr4[]
  try {
    subnets = allocateSubnets(cc, SUBNET_PREFIX, auto.length, taken)
  } catch (e) {
    throw new TaskFailed(
      `cluster_cidr ${networkOf(cc)}: ${(e as Error).message}${blockers.length ? ` (routes in the way: ${blockers.join('; ')})` : ''}: choose another cluster_cidr or set container_subnet per host`,
    )
  }
  const out = new Map<string, Cidr4>()
  for (const m of c.members) out.set(m.name, c.explicitSubnets.get(m.name) ?? kept.get(m.name) ?? subnets[auto.indexOf(m)])
  return out
}

/** docker0's subnet when it is a /24 of cluster_cidr (the kernel's route for it). */
function currentSubnet(routes: SurveyRoute[], cc: Cidr4): Cidr4 | undefined {
  for (const r of routes) {
    if (r.dev !== 'docker0' || r.protocol !== 'kernel' || (r.table && r.table !== 'main')) continue
    const n = parseCidr4(r.dst)
    if (n && n.prefix === SUBNET_PREFIX && contains(cc, n.network)) return n
  }
  return undefined
}

/** orch's marker of the routes it added to the peers' subnets (one 'DST via GW' per line), for pruning. */
export const MARKER_PATH = '/var/lib/orch/crosshost-routes'

export function parseMarked(text: string): MarkedRoute[] {
  return text
    .split('\n')
    .map((l) => /^(\S+) via (\S+)$/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => !!m && !!parseCidr4(m[1]) && !!parseCidr4(`${m[2]}/32`))
    .map((m) => ({ dst: m[1], via: m[2] }))
}

/** Marked routes the host still has that no current peer needs: a host that left the inventory. */
export function staleMarked(c: Cluster, host: string, want: MarkedRoute[]): MarkedRoute[] {
  const have = c.survey.routes.get(host) ?? []
  return (c.survey.marked.get(host) ?? []).filter(
    (m) => !want.some((w) => w.dst === m.dst && w.via === m.via) && have.some((r) => r.dst === m.dst && r.gateway === m.via && r.protocol === 'static' && (r.table ?? 'main') === 'main'),
  )
}

/**
 * The survey: one `ip -j -4 route show table all` per host, in the engine's gather phase (before any task
 * changes any host), reported to the cluster's barrier. Changes nothing. Fails when a container_subnet
 * set in the inventory overlaps a route this host already has.
 */
const SURVEY_MARK = '@@orch-survey-marker@@'

export function surveyRoutes(c: Cluster, me: Member): Task {
  return gatherTask<SurveyRoute[]>({
    module: 'survey',
    name: 'survey routes (container subnets)',
    barrier: c.survey,
    async read(ctx) {
      const r = await ctx.run(`ip -j -4 route show table all && echo ${SURVEY_MARK} && { cat ${MARKER_PATH} 2>/dev/null || true; }`)
      if (r.code !== 0) throw new TaskFailed(`reading the routes failed (rc=${r.code}): ${r.stderr.trim()}`, r)
      let routes: SurveyRoute[]
      const [json, marks = ''] = r.stdout.split(`${SURVEY_MARK}\n`)
      c.survey.marked.set(me.name, parseMarked(marks))
      try {
        routes = JSON.parse(json.trim() || '[]')
      } catch {
        throw new TaskFailed(`unexpected output of ip -j route: ${r.stdout.slice(0, 200)}`)
      }
      for (const f of foreignRoutes(routes, c))
        for (const [owner, s] of c.explicitSubnets)
          if (overlaps(f.net, s))
            throw new TaskFailed(`container_subnet ${networkOf(s)} of ${owner} overlaps the route "${describeRoute(f)}" on ${me.name}: choose another container_subnet`)
      return routes
    },
  })
}
