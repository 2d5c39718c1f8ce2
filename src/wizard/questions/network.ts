/** The network question group: strategy (suggested from the facts), its variables, the probe container image. */
import { contains, isIpv4, networkOf, parseCidr4, type Cidr4 } from '../../net/ip.ts'
import { validCidrNet, type WizardCtx } from '../options.ts'
import type { Scalar } from '../render.ts'
import {
  conflicts,
  DEFAULTS,
  overlayAddress,
  proposeContainerSubnets,
  proposeLanPool,
  proposeOverlay,
  STRATEGIES,
  STRATEGY_TEXT,
  suggestStrategy,
  takenSubnets,
  underlayOf,
  type PlannedHost,
  type Strategy,
  type Suggestion,
} from '../suggest.ts'
import type { Probed } from './probe.ts'

/** As src/crosshost: the per-host range of the vxlan overlay, and what an image reference is. */
export const VXLAN_RANGE_PREFIX = 28
const IMAGE_RE = /^[A-Za-z0-9][A-Za-z0-9._\-/:@+]{0,254}$/

export interface NetworkAnswers {
  sug: Suggestion
  strategy: Strategy
  /** group_vars/docker_hosts.yml, with a comment per variable where one helps. */
  groupVars: Record<string, Scalar>
  comments: Record<string, string>
  /** Per inventory host name: its host variables. */
  hostVars: Map<string, Record<string, Scalar>>
}

export async function askNetwork(ctx: WizardCtx, probed: readonly Probed[]): Promise<NetworkAnswers> {
  const { o, ask, say, color } = ctx
  const planned: PlannedHost[] = probed.map((p) => ({ name: p.name, address: p.hop.host, facts: p.facts, underlay: underlayOf(p.facts, p.hop.host) }))
  const sug: Suggestion = suggestStrategy(planned)
  say()
  say(`${color.bold('Suggested strategy:')} ${sug.strategy}`)
  say(`  why: ${sug.reason}`)
  for (const w of sug.warnings) say(`  ${color.yellow('!')} ${w}`)
  // The encrypt question: yes means wireguard (routes' layout over WireGuard); asked when no --strategy says.
  const encrypt =
    o.encrypt === true ||
    (o.strategy === undefined && (await ask.confirm({ message: 'Encrypt the traffic between the hosts (WireGuard)?', flag: '--encrypt', value: o.encrypt, default: false })))
  const strategy = encrypt ? 'wireguard' : await ask.select<Strategy>({
    message: 'Strategy',
    flag: '--strategy',
    value: o.strategy as Strategy | undefined,
    default: sug.strategy,
    choices: STRATEGIES.map((s) => ({ name: `${s}${s === sug.strategy ? ' (suggested)' : ''}`, value: s, description: STRATEGY_TEXT[s] })),
  })
  if (o.strategy && o.strategy !== sug.strategy) say(`Strategy: ${strategy} (--strategy; suggested: ${sug.strategy})`)

  const peerAddresses = [...new Set(planned.flatMap((h) => [h.address, h.underlay?.address ?? '']).filter(Boolean))]
  const ovsBridge = o.ovsBridge ?? DEFAULTS.ovs_bridge
  const taken = takenSubnets(
    probed.map((p) => p.facts),
    { peerAddresses, ignoreDevs: strategy === 'routes' || strategy === 'wireguard' ? ['docker0'] : [ovsBridge] },
  )
  const groupVars: Record<string, Scalar> = { orch_strategy: strategy }
  const comments: Record<string, string> = { orch_strategy: `${strategy}: ${sug.strategy === strategy ? sug.reason : `chosen (suggested: ${sug.strategy})`}` }
  const hostVars = new Map<string, Record<string, Scalar>>(probed.map((p) => [p.name, {}]))
  // The playbook reaches peers at underlay_ip, else ansible_host: when the SSH address is not the host's
  // own (NAT, a vagrant port forward, a DNS name), say which address is.
  for (const h of planned) if (h.underlay && h.underlay.address !== h.address) hostVars.get(h.name)!.underlay_ip = h.underlay.address
  /** A variable for every host: one group variable when all agree, else per host. */
  const everyHost = (name: string, value: (h: PlannedHost) => Scalar | undefined) => {
    const vals = planned.map(value)
    if (vals.every((x) => x === undefined)) return
    if (vals.every((x) => x === vals[0])) groupVars[name] = vals[0]!
    else planned.forEach((h, i) => vals[i] !== undefined && (hostVars.get(h.name)![name] = vals[i]!))
  }

  if (strategy === 'routes' || strategy === 'wireguard') {
    let subnets: string[] = []
    const cluster = await ask.input({
      message: 'Cluster CIDR (one /24 per host is carved from it)',
      flag: '--cluster-cidr',
      value: o.clusterCidr,
      default: DEFAULTS.cluster_cidr,
      validate: (s) => {
        const r = validCidrNet(s.trim(), 24)
        if (r !== true) return r
        try {
          subnets = proposeContainerSubnets(parseCidr4(s.trim())!, probed.length, taken)
          return true
        } catch (e) {
          return `${(e as Error).message} (subnets in use on the hosts: ${taken.map(networkOf).join(', ')})`
        }
      },
    })
    groupVars.cluster_cidr = cluster.trim()
    comments.cluster_cidr = 'every container subnet is inside it (routes and masquerade exceptions use it)'
    probed.forEach((p, i) => (hostVars.get(p.name)!.container_subnet = subnets[i]))
  } else if (strategy === 'vxlan' || strategy === 'ovs-gre') {
    if (strategy === 'vxlan') {
      const vni = await ask.input({
        message: 'VXLAN network identifier (VNI)',
        flag: '--vxlan-vni',
        value: o.vxlanVni,
        default: String(DEFAULTS.vxlan_vni),
        validate: (s) => (/^\d+$/.test(s) && +s >= 1 && +s <= 16777215 ? true : 'an integer from 1 to 16777215'),
      })
      groupVars.vxlan_vni = Number(vni)
      groupVars.vxlan_port = o.vxlanPort ? Number(o.vxlanPort) : DEFAULTS.vxlan_port
    } else {
      groupVars.ovs_bridge = ovsBridge
      const notInstalled = probed.filter((p) => !p.facts.ovs.installed).map((p) => p.name)
      const notRunning = probed.filter((p) => p.facts.ovs.installed && !p.facts.ovs.running).map((p) => p.name)
      if (notInstalled.length) say(color.yellow(`! Open vSwitch is not installed on ${notInstalled.join(', ')}: install openvswitch-switch before running`))
      if (notRunning.length) say(color.yellow(`! Open vSwitch is installed but not running on ${notRunning.join(', ')}: start it before running`))
      everyHost('ovs_underlay_iface', (h) => h.underlay?.iface)
    }
    let proposed: string = DEFAULTS.overlay_cidr
    try {
      proposed = proposeOverlay(parseCidr4(DEFAULTS.overlay_cidr)!, taken)
    } catch {
      /* the user picks */
    }
    // vxlan: the playbook gives every host a /28 of the overlay (its containers' range, gateway .1, host .2).
    const perHostPrefix = strategy === 'vxlan' ? VXLAN_RANGE_PREFIX : 32
    const overlay = await ask.input({
      message: strategy === 'vxlan' ? `Overlay CIDR (a /${VXLAN_RANGE_PREFIX} of it per host)` : 'Overlay CIDR (one address per host)',
      flag: '--overlay-cidr',
      value: o.overlayCidr,
      default: proposed,
      validate: (s) => {
        const r = validCidrNet(s.trim(), 30)
        if (r !== true) return r
        const cidr = parseCidr4(s.trim())!
        if (perHostPrefix < 32) {
          if (cidr.prefix > perHostPrefix || 2 ** (perHostPrefix - cidr.prefix) < probed.length) return `room for ${probed.length} ranges of /${perHostPrefix} needed (one per host)`
        } else if (2 ** (32 - cidr.prefix) - 2 < probed.length) return `room for ${2 ** (32 - cidr.prefix) - 2} hosts only`
        return conflicts(cidr, taken) ?? true
      },
    })
    const ov = parseCidr4(overlay.trim())!
    groupVars.overlay_cidr = networkOf(ov)
    // ovs-gre: the addresses the playbook would pick (inventory order), written so they can be read and kept.
    if (strategy === 'ovs-gre') probed.forEach((p, i) => (hostVars.get(p.name)!.overlay_ip = overlayAddress(ov, i)))
  } else {
    // bridge: containers on the LAN.
    if (!sug.sameL2) say(color.yellow('! the hosts are not on one L2 segment: bridge puts containers on each host\'s LAN, which other hosts reach only through routers'))
    const u0 = planned.find((h) => h.underlay)?.underlay
    const lan: Cidr4 | null = u0 ? parseCidr4(u0.network) : null
    const used = planned.flatMap((h) => [h.underlay?.address ?? '', h.underlay?.gateway ?? '']).filter(Boolean)
    const pool = await ask.input({
      message: `LAN addresses for containers (a CIDR inside ${u0?.network ?? 'the LAN'} that nothing else uses, e.g. outside the DHCP range)`,
      flag: '--lan-pool',
      value: o.lanPool,
      default: lan ? proposeLanPool(lan, used) ?? undefined : undefined,
      required: true,
      validate: (s) => {
        const r = validCidrNet(s.trim(), 30)
        if (r !== true) return r
        const c = parseCidr4(s.trim())!
        if (lan && !(c.prefix >= lan.prefix && contains(lan, c.network))) return `not inside the LAN ${networkOf(lan)}`
        const hit = used.find((a) => contains(c, a))
        return hit ? `${hit} (a host or the gateway) is inside it` : true
      },
    })
    groupVars.lan_pool = pool.trim()
    const gw = await ask.input({
      message: "LAN gateway: the containers' default route (empty: none)",
      flag: '--lan-gateway',
      value: o.lanGateway,
      default: u0?.gateway,
      validate: (s) => (!s.trim() || isIpv4(s.trim()) ? true : 'an IPv4 address'),
    })
    if (gw.trim()) groupVars.lan_gateway = gw.trim()
    groupVars.bridge_name = o.bridgeName ?? DEFAULTS.bridge_name
    everyHost('bridge_iface', (h) => h.underlay?.iface)
  }

  const image = await ask.input({
    message: "Container image for the probe containers (empty: the playbook's default)",
    flag: '--container-image',
    value: o.containerImage,
    default: '',
    validate: (s) => (!s.trim() || IMAGE_RE.test(s.trim()) ? true : "an image reference like 'busybox:latest'"),
  })
  if (image.trim()) {
    groupVars.container_image = image.trim()
    const pull = await ask.select({
      message: 'Pull it when a host does not have it?',
      flag: '--container-pull',
      value: o.containerPull,
      default: 'missing',
      choices: [
        { name: 'missing: pull when absent', value: 'missing' },
        { name: 'never: it must be on every host already (offline hosts)', value: 'never' },
      ],
    })
    groupVars.container_pull = pull
  }
  return { sug, strategy, groupVars, comments, hostVars }
}
