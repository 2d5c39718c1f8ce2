/**
 * The task lists of the cross-host strategies, per host. crossHostTasks picks one by `orch_strategy`
 * (playbooks/cross-host.ts); the building-block playbooks use the parts. See docs/playbooks.md.
 */
import { TaskFailed } from '../errors.ts'
import type { PlaybookContext, Task, TaskContext } from '../engine/types.ts'
import { contains, hostAddress, networkOf, parseCidr4 } from '../net/ip.ts'
import { argv, sh } from '../net/shell.ts'
import {
  bridgeTakeover,
  container,
  dockerBip,
  dockerNetwork,
  file,
  forwardAccept,
  ipForward,
  masquerade,
  ovsBridge,
  ovsTunnels,
  ovsUnderlay,
  pipework,
  route,
  vxlan,
  type Datapath,
} from '../tasks/index.ts'
import { DETECT_DATAPATH_SCRIPT } from '../tasks/ovsBridge.ts'
import { cluster } from './cluster.ts'
import { deferred, sections, type Pending } from './deferred.ts'
import { planLanIps } from './lan.ts'
import { MARKER_PATH, staleMarked, surveyRoutes } from './routes.ts'
import { wireguardTasks } from './wireguard.ts'
import { OVERHEAD, type Cluster, type Member, type Strategy } from './types.ts'

export interface StrategyOptions {
  /** Place the probe container (default true). */
  probe?: boolean
}

const MARK = '@@orch-playbook@@'
const mark = `echo ${MARK}`

/** The probe container: busybox sleeping, on `network`, optionally with a static address on it. */
export function probeContainer(me: Member, network?: string, ip?: string): Task {
  return container({
    name: String(me.vars.probe_name),
    image: String(me.vars.container_image),
    pull: me.vars.container_pull as 'never' | 'missing',
    command: ['sleep', 'infinity'],
    // A host that reboots runs its probe again (docker starts it), so the matrix passes with nothing re-run.
    restart: 'unless-stopped',
    network,
    ip,
  })
}

// ---------------------------------------------------------------- routes

/**
 * routes: each host's docker0 gets its own subnet (container_subnet, or a /24 of cluster_cidr allocated
 * around the routes the hosts have), every host routes the other hosts' subnets via their underlay
 * address, forwards, lets routed traffic into docker0 and masquerades only what leaves the cluster.
 */
export function routesTasks(c: Cluster, me: Member, o: StrategyOptions = {}): Task[] {
  const cc = networkOf(c.clusterCidr!)
  // The allocation: the survey barrier's plan, settled by the engine before any of these tasks runs.
  const subnetOf = async (name: string) => c.survey.value().get(name)!
  const peers = c.members.filter((m) => m !== me)
  const wantedRoutes = async () => Promise.all(peers.map(async (p) => ({ dst: networkOf(await subnetOf(p.name)), via: p.address })))
  return [
    surveyRoutes(c, me),
    deferred({
      module: 'dockerBip',
      name: 'docker0 subnet (bip) and MTU',
      build: async (ctx) => {
        const s = await subnetOf(me.name)
        // Routed, no encapsulation: the containers' MTU is the underlay's (docker's default 1500 is not).
        const r = await ctx.run(argv(['ip', '-j', '-4', 'addr', 'show', 'to', `${me.address}/32`]))
        if (r.code !== 0) throw new TaskFailed(`reading ${ctx.host.name} failed: ${r.stderr.trim()}`, r)
        return dockerBip(`${hostAddress(s, 1)}/${s.prefix}`, { mtu: underlayMtu(me, ctx, r.stdout) })
      },
    }),
    ipForward(),
    forwardAccept({ source: cc, out: 'docker0' }),
    deferred({
      module: 'route',
      name: "routes to the other hosts' container subnets",
      build: async () => {
        const want = await wantedRoutes()
        // A host that left the inventory: the routes orch made to it go (only those its marker lists).
        const stale = staleMarked(c, me.name, want)
        return [...want.map((w) => route({ to: w.dst, via: w.via })), ...stale.map((m) => route({ to: m.dst, via: m.via, state: 'absent' }))]
      },
    }),
    deferred({
      module: 'file',
      name: `orch's marker of these routes (${MARKER_PATH})`,
      build: async () => file({ path: MARKER_PATH, mode: '0644', content: (await wantedRoutes()).map((w) => `${w.dst} via ${w.via}\n`).join('') }),
    }),
    deferred({
      module: 'masquerade',
      name: `masquerade containers except towards ${cc}`,
      build: async () => masquerade({ from: networkOf(await subnetOf(me.name)), except: [cc] }),
    }),
    ...(o.probe === false ? [] : [probeContainer(me)]),
  ]
}

// ---------------------------------------------------------------- bridge

/** bridge: br0 takes over eth0 (risky: commit-confirmed), bridged traffic accepted, probe on the LAN. */
export function bridgeTasks(c: Cluster, me: Member, o: StrategyOptions = {}): Task[] {
  const br = String(me.vars.bridge_name)
  return [
    bridgeTakeover({ bridge: br, iface: String(me.vars.bridge_iface), persist: me.vars.bridge_persist as 'auto' }),
    // docker's FORWARD DROP also drops traffic bridged on br0 (br_netfilter): eth0 <-> the probe's veth.
    forwardAccept({ in: br, out: br }),
    ...(o.probe === false ? [] : lanProbeTasks(c, me, br)),
  ]
}

/** A probe container (no docker network) plugged into `bridge` with its LAN address and default gateway. */
export function lanProbeTasks(c: Cluster, me: Member, bridge: string): Task[] {
  const probe = String(me.vars.probe_name)
  planLanIps(c)
  const want = c.lanIps.get(me.name)!
  return [
    probeContainer(me, 'none'),
    deferred({
      module: 'pipework',
      name: `pipework ${probe} eth1 on ${bridge} (LAN address)`,
      build: async (ctx) => {
        const r = await ctx.run(
          [
            sh`docker inspect -f '{{.State.Running}}' -- ${probe} 2>/dev/null || echo absent`,
            mark,
            sh`if [ -d /sys/class/net/${bridge}/bridge ] || { command -v ovs-vsctl >/dev/null 2>&1 && ovs-vsctl --timeout=5 br-exists ${bridge}; }; then echo yes; else echo no; fi`,
            mark,
            'ip -j -4 addr show',
            mark,
            'ip -j -4 route show default',
          ].join('\n'),
        )
        if (r.code !== 0) throw new TaskFailed(`reading the LAN of ${ctx.host.name} failed: ${r.stderr.trim()}`, r)
        const [running, hasBridge, addrs, defaults] = sections(r.stdout, MARK)
        let prefix = want.prefix
        if (prefix === undefined) {
          const lan = (JSON.parse(addrs || '[]') as Array<{ ifname: string; addr_info: Array<{ local: string; prefixlen: number }> }>)
            .flatMap((l) => l.addr_info.map((a) => ({ ...a, ifname: l.ifname })))
            .find((a) => a.prefixlen < 31 && parseCidr4(`${a.local}/${a.prefixlen}`) && isInside(want.ip, `${a.local}/${a.prefixlen}`))
          if (!lan) throw new TaskFailed(`container address ${want.ip} (from lan_pool) is on no LAN of ${ctx.host.name}: lan_pool must be inside the hosts' LAN`)
          prefix = lan.prefixlen
        }
        const gw = me.vars.lan_gateway ? String(me.vars.lan_gateway) : (JSON.parse(defaults || '[]') as Array<{ gateway?: string }>)[0]?.gateway
        if (!gw) throw new TaskFailed(`${ctx.host.name} has no IPv4 default gateway: set lan_gateway`)
        if (!isInside(gw, `${want.ip}/${prefix}`)) throw new TaskFailed(`lan_gateway ${gw} is not inside the container's LAN ${want.ip}/${prefix}: set lan_gateway`)
        const ip = `${want.ip}/${prefix}@${gw}`
        const missing = running.trim() !== 'true' || hasBridge.trim() !== 'yes'
        if (missing && ctx.check) return pendingAttach(probe, bridge, `eth1 ${want.ip}/${prefix} default via ${gw}`)
        return pipework({ container: probe, bridge, ip })
      },
    }),
  ]
}

function isInside(ip: string, cidr: string): boolean {
  const c = parseCidr4(cidr)
  return !!c && contains(c, ip)
}

function pendingAttach(probe: string, bridge: string, what: string): Pending {
  return { pending: [{ what: `attach ${probe} to ${bridge}`, after: `${what} (once the tasks before it have run)` }] }
}

// ---------------------------------------------------------------- ovs-gre

/**
 * ovs-gre: an OVS bridge per host, a full mesh of GRE tunnels between them, the probe plugged into it
 * with its overlay address. With the userspace datapath (no openvswitch kernel module), the underlay
 * address first moves onto an OVS bridge (ovsUnderlay, risky: commit-confirmed).
 */
export function ovsGreTasks(c: Cluster, me: Member, o: StrategyOptions = {}): Task[] {
  const br = String(me.vars.ovs_bridge)
  const dp = String(me.vars.ovs_datapath) as Datapath | 'auto'
  const ubr = String(me.vars.ovs_underlay_bridge)
  const iface = String(me.vars.ovs_underlay_iface ?? me.vars.bridge_iface)
  const tasks: Task[] = [
    deferred({
      module: 'ovs_underlay',
      name: `ovs underlay ${iface} -> ${ubr} (userspace datapath only)`,
      risky: true,
      build: async (ctx) => {
        if (dp === 'system') return { pending: [] }
        if (dp === 'auto') {
          const r = await ctx.run(DETECT_DATAPATH_SCRIPT)
          if (r.stdout.trim() === 'system') return { pending: [] }
        }
        return ovsUnderlay({ bridge: ubr, iface })
      },
    }),
    ovsBridge({ name: br, datapath: dp }),
    // Its tunnel ports are protected (split horizon): a full mesh of L2 tunnels is a loop from three hosts on.
    ovsTunnels({ bridge: br, type: 'gre', key: Number(me.vars.ovs_gre_key), peers: c.members.map((m) => ({ remote_ip: m.address })) }),
  ]
  if (o.probe === false) return tasks
  // pipework turns the probe's TX checksum offload off on a userspace (netdev) bridge.
  return [...tasks, ...overlayProbeTasks(c, me, br, 'gre')]
}

/** The probe (no docker network) on an OVS bridge with its overlay address, MTU = underlay MTU − tunnel overhead. */
export function overlayProbeTasks(c: Cluster, me: Member, bridge: string, tunnel: 'gre' | 'vxlan'): Task[] {
  const probe = String(me.vars.probe_name)
  const ip = `${c.overlayIps.get(me.name)}/${c.overlay!.prefix}`
  return [
    probeContainer(me, 'none'),
    deferred({
      module: 'pipework',
      name: `pipework ${probe} eth1 on ${bridge} (overlay address)`,
      build: async (ctx) => {
        const r = await ctx.run(
          [
            sh`docker inspect -f '{{.State.Running}}' -- ${probe} 2>/dev/null || echo absent`,
            mark,
            sh`if command -v ovs-vsctl >/dev/null 2>&1 && ovs-vsctl --timeout=5 br-exists ${bridge}; then echo yes; elif [ -d /sys/class/net/${bridge}/bridge ]; then echo yes; else echo no; fi`,
            mark,
            argv(['ip', '-j', '-4', 'addr', 'show', 'to', `${me.address}/32`]),
          ].join('\n'),
        )
        if (r.code !== 0) throw new TaskFailed(`reading ${ctx.host.name} failed: ${r.stderr.trim()}`, r)
        const [running, hasBridge, holder] = sections(r.stdout, MARK)
        const mtu = overlayMtu(me, ctx, holder, tunnel)
        if ((running.trim() !== 'true' || hasBridge.trim() !== 'yes') && ctx.check) return pendingAttach(probe, bridge, `eth1 ${ip} mtu ${mtu}`)
        return pipework({ container: probe, bridge, ip, mtu })
      },
    }),
  ]
}

/** overlay_mtu, else the MTU of the interface holding the underlay address minus the tunnel's overhead. */
function overlayMtu(me: Member, ctx: TaskContext, holderJson: string, tunnel: 'gre' | 'vxlan'): number {
  if (me.vars.overlay_mtu !== undefined) return Number(me.vars.overlay_mtu)
  return underlayMtu(me, ctx, holderJson) - OVERHEAD[tunnel]
}

/** The MTU of the interface holding the underlay address (`ip -j addr show to A/32`). */
function underlayMtu(me: Member, ctx: TaskContext, holderJson: string): number {
  const holder = (JSON.parse(holderJson.trim() || '[]') as Array<{ ifname: string; mtu: number }>)[0]
  if (!holder) throw new TaskFailed(`${me.address} (the underlay address) is not an address of ${ctx.host.name}: set underlay_ip`)
  return holder.mtu
}

// ---------------------------------------------------------------- vxlan

/**
 * vxlan: a docker bridge network with the same subnet on every host (each host hands out its own range),
 * its bridge joined by a kernel VXLAN device with every other host as a peer: one L2 segment.
 */
export function vxlanTasks(c: Cluster, me: Member, o: StrategyOptions = {}): Task[] {
  const vni = Number(me.vars.vxlan_vni)
  const bridge = String(me.vars.overlay_bridge)
  const network = String(me.vars.overlay_network)
  const { range, gateway } = c.overlayRanges.get(me.name)!
  const tasks: Task[] = [
    deferred({
      module: 'dockerNetwork',
      name: `docker network ${network} ${networkOf(c.overlay!)} (bridge ${bridge})`,
      build: async (ctx) => {
        const r = await ctx.run(argv(['ip', '-j', '-4', 'addr', 'show', 'to', `${me.address}/32`]))
        if (r.code !== 0) throw new TaskFailed(`reading ${ctx.host.name} failed: ${r.stderr.trim()}`, r)
        return dockerNetwork({
          name: network,
          subnet: networkOf(c.overlay!),
          gateway,
          ipRange: networkOf(range),
          bridgeName: bridge,
          mtu: overlayMtu(me, ctx, r.stdout, 'vxlan'),
        })
      },
    }),
    vxlan({
      name: `orch-vx${vni}`,
      vni,
      dstPort: Number(me.vars.vxlan_port),
      local: me.address,
      peers: c.members.map((m) => m.address),
      bridge,
      ...(me.vars.overlay_mtu !== undefined ? { mtu: Number(me.vars.overlay_mtu) } : {}),
    }),
  ]
  if (o.probe === false) return tasks
  return [...tasks, probeContainer(me, network, c.overlayIps.get(me.name))]
}

// ---------------------------------------------------------------- all of them

export function strategyTasks(c: Cluster, me: Member, o: StrategyOptions = {}): Task[] {
  const by: Record<Strategy, () => Task[]> = {
    routes: () => routesTasks(c, me, o),
    bridge: () => bridgeTasks(c, me, o),
    'ovs-gre': () => ovsGreTasks(c, me, o),
    vxlan: () => vxlanTasks(c, me, o),
    wireguard: () => [...wireguardTasks(c, me), ...(o.probe === false ? [] : [probeContainer(me)])],
  }
  return by[c.strategy]()
}

/** The tasks of this host for `ctx`'s play: the cluster (checked for every host), then the strategy. */
export function crossHostTasks(ctx: PlaybookContext, force?: Strategy, o: StrategyOptions = {}): Task[] {
  const c = cluster(ctx, force)
  return strategyTasks(c, c.member(ctx.host.name), o)
}

