/**
 * The cluster of a cross-host play: every host's variables read and checked before any host is touched,
 * then the strategy's address plan (container subnets, LAN and overlay addresses by inventory order).
 * Built once per plan; the strategies (strategies.ts) make each host's tasks from it.
 */
import { ArgError } from '../errors.ts'
import type { PlaybookContext } from '../engine/types.ts'
import type { Vars } from '../inventory/types.ts'
import * as v from '../net/validate.ts'
import { confirmTimeout } from '../safety/confirm.ts'
import { planLan } from './lan.ts'
import { planOvs, planVxlan } from './overlay.ts'
import { planRoutes, routeSurvey } from './routes.ts'
import { KeyGathering, planWireguard } from './wireguard.ts'
import { STRATEGIES, type Cluster, type Member, type Strategy } from './types.ts'
import { checkFor, IMAGE_RE, str } from './vars.ts'

/** A host's vars as the play sees them (play defaults < inventory < play vars < -e). */
function membersOf(ctx: PlaybookContext): Member[] {
  const byName = new Map<string, Vars>([[ctx.host.name, ctx.vars], ...ctx.peers.map((p) => [p.name, p.vars] as [string, Vars])])
  return ctx.hosts.map((h, index) => {
    const vars = byName.get(h.name) ?? h.vars
    const address = checkFor(h.name, () =>
      v.ipv4(vars.underlay_ip !== undefined ? 'underlay_ip' : 'ansible_host', str(vars.underlay_ip) ?? str(vars.ansible_host) ?? h.name),
    )
    return { name: h.name, index, address, vars }
  })
}

const cache = new WeakMap<object, Map<string, Cluster>>()

/**
 * The cluster of this play, built (and every host's variables checked) the first time a host's task list
 * is made; later hosts of the same plan get the same object. Throws ArgError naming host and variable.
 * `force` is the strategy of a building-block playbook (its hosts may say anything in orch_strategy).
 */
export function cluster(ctx: PlaybookContext, force?: Strategy): Cluster {
  let perPlan = cache.get(ctx.hosts)
  if (!perPlan) cache.set(ctx.hosts, (perPlan = new Map()))
  const key = force ?? '*'
  let c = perPlan.get(key)
  if (!c) perPlan.set(key, (c = buildCluster(ctx, force)))
  return c
}

function buildCluster(ctx: PlaybookContext, force?: Strategy): Cluster {
  const members = membersOf(ctx)
  // Own host through need(): the engine's way of saying "this host must define X".
  const strategy = force ?? ctx.need<Strategy>('orch_strategy', (x) => (STRATEGIES as readonly unknown[]).includes(x), `one of ${STRATEGIES.join(', ')}`)
  const seenAddr = new Map<string, string>()
  for (const m of members) {
    checkFor(m.name, () => {
      if (!force) {
        const s = v.oneOf('orch_strategy', m.vars.orch_strategy, STRATEGIES)
        if (s !== strategy) throw new ArgError('orch_strategy', `the same strategy on every host of the play (${ctx.host.name} has ${strategy})`, s)
      }
      const img = m.vars.container_image
      if (typeof img !== 'string' || !IMAGE_RE.test(img)) throw new ArgError('container_image', "an image reference like 'busybox:latest'", img)
      v.oneOf('container_pull', m.vars.container_pull, ['never', 'missing'])
      v.name('probe_name', m.vars.probe_name, 'a container name')
      confirmTimeout(m.vars)
      const other = seenAddr.get(m.address)
      if (other) throw new ArgError(m.vars.underlay_ip !== undefined ? 'underlay_ip' : 'ansible_host', `an address no other host has (${other} has it too)`, m.address)
      seenAddr.set(m.address, m.name)
    })
  }
  const c: Cluster = {
    strategy,
    members,
    targets: new Set(ctx.targets.map((t) => t.name)),
    member(name) {
      const m = members.find((x) => x.name === name)
      if (!m) throw new Error(`host ${name} is not in the play`)
      return m
    },
    explicitSubnets: new Map(),
    lanIps: new Map(),
    overlayIps: new Map(),
    overlayRanges: new Map(),
    survey: routeSurvey(() => c),
    wgKeys: new KeyGathering(),
  }
  if (strategy === 'routes') planRoutes(c)
  if (strategy === 'bridge') planLan(c)
  if (strategy === 'ovs-gre') planOvs(c)
  if (strategy === 'vxlan') planVxlan(c)
  if (strategy === 'wireguard') planRoutes(c), planWireguard(c)
  return c
}

