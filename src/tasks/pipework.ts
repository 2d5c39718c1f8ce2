/**
 * pipework: plug a container into a host bridge (Linux bridge or Open vSwitch) with an address on the
 * bridge's network — like jpetazzo/pipework, but idempotent and with an exact undo.
 *
 *   pipework({ container: 'web', bridge: 'br0', ip: '192.0.2.10/24@192.0.2.1' })
 *
 * A veth pair: the host side has a deterministic name (`vp` + 10 hex of sha1(container id, ifname)) so a
 * re-run finds it; it is enslaved to the bridge (`ip link set master`, or `ovs-vsctl add-port` when
 * `ovs-vsctl br-exists`). The container side is created directly in the container's network namespace
 * (docker inspect → /proc/PID/ns/net) under its final name, with the address, the bridge's MTU, an
 * optional MAC, the default route via the gateway (replacing the container's default routes), and a
 * gratuitous ARP when arping is installed.
 *
 * On a userspace (`netdev`) OVS bridge the container side also gets TX checksum offload, TSO and GSO
 * off (`ethtool -K IFNAME tx off tso off gso off` in its namespace). OVS reads the host side of the veth
 * with a packet socket and forwards frames as they are: a TCP segment with a partial checksum (to be
 * completed by a NIC that never comes) arrives corrupt at the other end, so ping works and TCP never
 * connects; a TSO/GSO super-frame is larger than the MTU and dropped. The host side needs nothing: the
 * kernel never sends through it (OVS writes whole frames into it). A container whose offloads were
 * turned back on is fixed by the next run.
 *
 *   read   one round trip: the container's PID, the bridge's kind and MTU, the host-side veth, the OVS
 *          port, and the container namespace's links, addresses, routes and `ifname`'s offloads.
 *   diff   [] when the container has `ifname` paired with our host veth, in the bridge, with the address,
 *          MTU, MAC and default route (and, on a netdev OVS bridge, offloads off). A restarted container
 *          (new namespace: interface gone) is attached again; a stale host-side veth (its peer gone) is
 *          removed first.
 *   undo   detach: the veth is deleted (both ends go), the OVS port removed, and the container's previous
 *          default routes restored (its PID is looked up again by id, the container may have restarted).
 */
import { argv, quote, raw, sh } from '../net/shell.ts'
import * as v from '../net/validate.ts'
import { contains, parseCidr4 } from '../net/ip.ts'
import { ArgError, TaskFailed, task, type Change, type Resource, type Task, type Undo } from '../engine/types.ts'
import { mustSucceed } from '../engine/taskkit.ts'
import { argSpec, parseArgs } from '../argspec.ts'
import { parseAddrs, parseJsonArray, parseLinks, parseRoutes, routeArgv, type IpAddr, type IpLink, type IpRoute } from './persist/iproute.ts'
import { shortHash } from '../net/hash.ts'

export type PipeworkTarget = string | { pid: number } | { netns: string }

export interface PipeworkArgs {
  /** Docker container name or id, a process id, or a network namespace path (/run/netns/NAME). */
  container: PipeworkTarget
  /** Host bridge (default 'br0'): a Linux bridge or an Open vSwitch bridge. */
  bridge?: string
  /** 'IP/prefix' or 'IP/prefix@gateway' (the gateway becomes the container's default route). */
  ip: string
  /** Interface name inside the container (default 'eth1'). */
  ifname?: string
  mac?: string
  /** Default: the bridge's MTU. */
  mtu?: number
}

export interface PipeworkState {
  /** Network namespace path used to enter the container. */
  nsPath: string
  id?: string
  pid?: number
  bridgeKind: 'linux' | 'ovs'
  ovsDatapath?: string
  ovsPort: boolean
  bridgeMtu: number
  hostVeth?: IpLink
  /** Container side: the interface named ifname, if any. */
  ctrIf?: IpLink
  ctrAddrs: IpAddr[]
  /** Default routes in the container's main table (IPv4). */
  ctrDefaults: IpRoute[]
  arping: boolean
  ethtool: boolean
  /** `ifname`'s offloads in the container as `ethtool -k` prints them ('on', 'off'; absent: unknown). */
  ctrOffloads: Partial<Record<Offload, string>>
}

type Offload = 'tx' | 'tso' | 'gso'
/** ethtool -K name -> the line ethtool -k prints for it. In this order: tx off takes TSO with it. */
const OFFLOADS: Array<[Offload, string]> = [
  ['tx', 'tx-checksumming'],
  ['tso', 'tcp-segmentation-offload'],
  ['gso', 'generic-segmentation-offload'],
]

export function parseOffloads(out: string): Partial<Record<Offload, string>> {
  const m: Partial<Record<Offload, string>> = {}
  for (const line of out.split('\n')) {
    const [k, v] = line.trim().split(/:\s+/)
    const hit = OFFLOADS.find(([, label]) => label === k)
    if (hit && v) m[hit[0]] = v.split(/\s/)[0]
  }
  return m
}

const SEC = '@@orch-pipework-section@@'
const mark = sh`printf '\n%s\n' ${SEC}`

/** Host-side veth name: deterministic per container and interface, 12 characters. */
export function pipeworkVethName(containerKey: string, ifname: string): string {
  return `vp${shortHash(`${containerKey}/${ifname}`, 10)}`
}

interface Parsed {
  addr: string
  prefix: number
  gateway?: string
}

export function parsePipeworkIp(variable: string, value: unknown): Parsed {
  if (typeof value !== 'string') throw new ArgError(variable, "'IP/prefix' or 'IP/prefix@gateway' like 198.18.0.101/24@198.18.0.254", value)
  const [cidr, gw, ...more] = value.split('@')
  if (more.length || !cidr.includes('/')) throw new ArgError(variable, "'IP/prefix' or 'IP/prefix@gateway' like 198.18.0.101/24@198.18.0.254", value)
  const c = v.hostCidr4(variable, cidr)
  const out: Parsed = { addr: cidr.split('/')[0], prefix: c.prefix }
  if (gw !== undefined) {
    v.ipv4(variable, gw)
    if (!contains(parseCidr4(cidr)!, gw) || gw === out.addr) throw new ArgError(variable, `a gateway inside ${cidr} other than the address itself`, value)
    out.gateway = gw
  }
  return out
}

function pipeworkTarget(variable: string, target: unknown): PipeworkTarget {
  if (typeof target === 'string') return v.name(variable, target, 'a container name or id')
  if (target && typeof target === 'object' && 'pid' in target) return { pid: v.int(`${variable}.pid`, target.pid, 1, 4194304) }
  if (target && typeof target === 'object' && 'netns' in target) return { netns: v.absPath(`${variable}.netns`, target.netns) }
  throw new ArgError(variable, 'a container name or id, { pid } or { netns: path }', target)
}

export const PIPEWORK_SPEC = argSpec('pipework', {
  container: { type: 'raw', parse: pipeworkTarget, required: true, desc: 'docker container name or id, { pid }, or { netns: path }' },
  bridge: { type: 'ifname', default: 'br0', desc: 'host bridge: a Linux bridge or an Open vSwitch bridge' },
  ip: { type: 'str', parse: parsePipeworkIp, required: true, desc: "'IP/prefix' or 'IP/prefix@gateway' (the gateway becomes the container's default route)" },
  ifname: { type: 'ifname', default: 'eth1', desc: 'interface name inside the container' },
  mac: { type: 'mac' },
  mtu: { type: 'int', min: 68, max: 65535, desc: "default: the bridge's MTU" },
})

export function pipework(args: PipeworkArgs): Task<PipeworkState> {
  const a = args ?? ({} as PipeworkArgs)
  const bridge = a.bridge ?? 'br0'
  const ifname = a.ifname ?? 'eth1'
  let ip: Parsed = { addr: '', prefix: 0 }
  const target = a.container
  const targetName = typeof target === 'string' ? target : target && 'pid' in target ? `pid ${target.pid}` : target && 'netns' in target ? target.netns : '?'

  const key = (s: PipeworkState) => (s.id ? s.id : typeof target === 'object' && 'pid' in target ? `pid:${target.pid}` : `netns:${s.nsPath}`)
  const vethOf = (s: PipeworkState) => pipeworkVethName(key(s), ifname)
  const wantMtu = (s: PipeworkState) => a.mtu ?? s.bridgeMtu
  const cidr = () => `${ip.addr}/${ip.prefix}`
  const paired = (s: PipeworkState) =>
    !!s.hostVeth && !!s.ctrIf && s.ctrIf.kind === 'veth' && s.hostVeth.linkIndex === s.ctrIf.ifindex && s.ctrIf.linkIndex === s.hostVeth.ifindex
  /** A userspace OVS bridge: the container side needs its offloads off. */
  const offloadsOff = (s: PipeworkState) => s.bridgeKind === 'ovs' && s.ovsDatapath === 'netdev'
  const offloadsOn = (s: PipeworkState): Offload[] => OFFLOADS.map(([k]) => k).filter((k) => s.ctrOffloads[k] === 'on')
  const ethtoolOff = argv(['ethtool', '-K', ifname, ...OFFLOADS.flatMap(([k]) => [k, 'off'])])
  const hasDefault = (s: PipeworkState) =>
    !ip.gateway || (s.ctrDefaults.length === 1 && s.ctrDefaults[0].json.gateway === ip.gateway && s.ctrDefaults[0].json.dev === ifname && !s.ctrDefaults[0].json.table)

  /** Shell that sets $ns (and $pid) to the container's network namespace, or fails. */
  const resolveNs = (s?: PipeworkState): string => {
    if (typeof target === 'string') {
      const ref = s?.id ?? target
      return (
        sh`ref=${ref}; out=$(docker inspect -f '{{.Id}} {{.State.Pid}} {{.State.Running}}' -- "$ref" 2>&1) || { echo "orch: no container $ref: $out" >&2; exit 4; }\n` +
        `set -- $out; [ "$3" = true ] && [ "$2" -gt 0 ] || { echo "orch: container $ref is not running" >&2; exit 5; }\n` +
        'id=$1; pid=$2; ns=/proc/$pid/ns/net\n'
      )
    }
    if ('pid' in target) return sh`id=''; pid=${target.pid}; ns=/proc/${target.pid}/ns/net\n`
    return sh`id=''; pid=''; ns=${target.netns}\n`
  }

  const resource: Resource<PipeworkState> = {
    module: 'pipework',
    name: `pipework ${targetName} ${ifname} ${typeof a.ip === 'string' ? a.ip : ''} on ${bridge}`,
    validate() {
      ip = parseArgs(PIPEWORK_SPEC, a).ip
    },
    async read(ctx) {
      if (!ip.addr) ip = parsePipeworkIp('pipework.ip', a.ip)
      // The host veth name depends on the container id: print the id first, then everything else.
      const script =
        resolveNs() +
        `[ -e "$ns" ] || { echo "orch: no network namespace $ns" >&2; exit 6; }\n` +
        `echo "target $id $pid $ns"\n` +
        sh`if command -v ovs-vsctl >/dev/null 2>&1 && ovs-vsctl --timeout=5 br-exists ${bridge} 2>/dev/null; then ` +
        sh`echo "ovs $(ovs-vsctl --timeout=5 get bridge ${bridge} datapath_type)"; ovs-vsctl --timeout=5 list-ports ${bridge} | sed 's/^/port /'; ` +
        sh`elif [ -d /sys/class/net/${bridge}/bridge ]; then echo linux; else echo none; fi\n` +
        `command -v arping >/dev/null 2>&1 && echo arping; command -v ethtool >/dev/null 2>&1 && echo ethtool; ${mark}\n` +
        sh`ip -d -j link show dev ${bridge} 2>/dev/null || echo '[]'; ${raw(mark)}\n` +
        `ip -d -j link show type veth; ${mark}\n` +
        `nsenter --net="$ns" ip -d -j link show; ${mark}\n` +
        `nsenter --net="$ns" ip -j addr show; ${mark}\n` +
        `nsenter --net="$ns" ip -4 -j route show table main default; ${mark}\n` +
        sh`if command -v ethtool >/dev/null 2>&1; then nsenter --net="$ns" ethtool -k ${ifname} 2>/dev/null || true; fi\n`
      const r = await ctx.run(script)
      if (r.code === 4 || r.code === 5 || r.code === 6) throw new TaskFailed(r.stderr.trim() || `container ${targetName} not found`, r)
      mustSucceed(r, `reading ${targetName}'s network`)
      const [head, brJson, veths, cLinks, cAddrs, cRoutes, cOffloads] = r.stdout.split(`\n${SEC}\n`)
      if (cOffloads === undefined) throw new TaskFailed(`unexpected output reading ${targetName}: ${r.stdout.slice(0, 300)}`)
      const lines = head.split('\n').map((l) => l.trim())
      const [, id, pid, ...ns] = (lines.find((l) => l.startsWith('target ')) ?? '').split(' ')
      const kindLine = lines.find((l) => l === 'linux' || l === 'none' || l.startsWith('ovs')) ?? 'none'
      if (kindLine === 'none') throw new TaskFailed(`no bridge ${bridge} on this host (neither a Linux bridge nor an OVS bridge)`)
      const s: PipeworkState = {
        nsPath: ns.join(' '),
        bridgeKind: kindLine === 'linux' ? 'linux' : 'ovs',
        ovsPort: false,
        bridgeMtu: parseLinks(brJson)[0]?.mtu ?? 1500,
        ctrAddrs: [],
        ctrDefaults: [],
        arping: lines.includes('arping'),
        ethtool: lines.includes('ethtool'),
        ctrOffloads: {},
      }
      if (id) s.id = id
      if (pid) s.pid = Number(pid)
      if (s.bridgeKind === 'ovs') s.ovsDatapath = kindLine.slice(4).replace(/"/g, '').trim() || 'system'
      const veth = vethOf(s)
      s.ovsPort = lines.includes(`port ${veth}`)
      s.hostVeth = parseLinks(veths).find((l) => l.name === veth)
      s.ctrIf = parseLinks(cLinks).find((l) => l.name === ifname)
      s.ctrAddrs = parseAddrs(cAddrs).get(ifname) ?? []
      s.ctrDefaults = parseRoutes(cRoutes, 4)
      if (s.ctrIf) s.ctrOffloads = parseOffloads(cOffloads)
      if (s.ctrIf && !paired(s) && s.ctrIf.kind !== 'veth') throw new TaskFailed(`${targetName} already has an interface ${ifname} (${s.ctrIf.kind ?? 'device'}) that orch did not attach`)
      if (s.ctrIf && !paired(s)) throw new TaskFailed(`${targetName} already has an interface ${ifname} whose host side is not ${veth}: attached by something else`)
      parseJsonArray(brJson, 'bridge link')
      return s
    },
    diff(s, ctx) {
      const veth = vethOf(s)
      const out: Change[] = []
      if (offloadsOff(s) && !s.ethtool)
        throw new TaskFailed(
          `ethtool is not installed on ${ctx.host.name}: a container on the userspace (netdev) OVS bridge ${bridge} needs TX checksum offload off, or its TCP never connects (apt-get install ethtool)`,
        )
      if (!paired(s)) {
        if (s.hostVeth) out.push({ what: `remove stale host veth ${veth} (its peer is gone)` })
        out.push({
          what: `attach ${targetName} to ${bridge} (${s.bridgeKind === 'ovs' ? 'OVS' : 'Linux bridge'})`,
          after: `${veth} <-> ${ifname} ${cidr()}${ip.gateway ? ` default via ${ip.gateway}` : ''} mtu ${wantMtu(s)}${a.mac ? ` mac ${a.mac}` : ''}${offloadsOff(s) ? ' tx/tso/gso offload off' : ''}`,
        })
        return out
      }
      if (s.bridgeKind === 'linux' && s.hostVeth!.master !== bridge) out.push({ what: `${veth} master`, before: s.hostVeth!.master ?? '(none)', after: bridge })
      if (s.bridgeKind === 'ovs' && !s.ovsPort) out.push({ what: `OVS port ${veth} on ${bridge}`, before: 'absent', after: 'present' })
      if (!s.hostVeth!.up) out.push({ what: `${veth} up`, before: 'down', after: 'up' })
      const ci = s.ctrIf!
      if (ci.mtu !== wantMtu(s)) out.push({ what: `${ifname} mtu`, before: String(ci.mtu), after: String(wantMtu(s)) })
      if (a.mac && ci.mac.toLowerCase() !== a.mac.toLowerCase()) out.push({ what: `${ifname} mac`, before: ci.mac, after: a.mac.toLowerCase() })
      if (!s.ctrAddrs.some((x) => x.family === 'inet' && x.local === ip.addr && x.prefixlen === ip.prefix)) out.push({ what: `${ifname} address`, after: cidr() })
      if (!ci.up) out.push({ what: `${ifname} up`, before: 'down', after: 'up' })
      if (!hasDefault(s)) out.push({ what: `${targetName} default route`, before: s.ctrDefaults.map(describeRoute).join(', ') || '(none)', after: `via ${ip.gateway} dev ${ifname}` })
      const on = offloadsOn(s)
      if (offloadsOff(s) && on.length) out.push({ what: `${ifname} offloads (userspace OVS)`, before: on.map((k) => `${k} on`).join(', '), after: 'tx tso gso off' })
      return out
    },
    undo(s, changes): Undo | null {
      const veth = vethOf(s)
      const host: string[] = []
      const inner: string[] = []
      const restoreDefaults = () => {
        inner.push(`while nsenter --net="$ns" ip -4 route del default 2>/dev/null; do :; done`)
        for (const r of s.ctrDefaults) inner.push(`nsenter --net="$ns" ${argv(routeArgv(r, 'replace', '', ''))} || rc=1`)
      }
      let description: string
      if (!paired(s)) {
        // We attach: detach deletes the veth (both ends go), the OVS port, and puts the old default routes back.
        host.push(sh`if ip link show dev ${veth} >/dev/null 2>&1; then ip link del dev ${veth} || rc=1; fi`)
        if (s.bridgeKind === 'ovs') host.push(sh`ovs-vsctl --timeout=5 --if-exists del-port ${bridge} ${veth} || rc=1`)
        if (ip.gateway) restoreDefaults()
        description = `detach ${targetName}: delete ${veth}${ip.gateway ? ', restore its default routes' : ''}`
      } else {
        // Fix-ups on an attached container: put back what changed.
        const ci = s.ctrIf!
        for (const c of changes) {
          if (c.what === `${veth} master`) host.push(s.hostVeth!.master ? sh`ip link set dev ${veth} master ${s.hostVeth!.master} || rc=1` : sh`ip link set dev ${veth} nomaster || rc=1`)
          else if (c.what === `OVS port ${veth} on ${bridge}`) host.push(sh`ovs-vsctl --timeout=5 --if-exists del-port ${bridge} ${veth} || rc=1`)
          else if (c.what === `${veth} up`) host.push(sh`ip link set dev ${veth} down || rc=1`)
          else if (c.what === `${ifname} mtu`) inner.push(sh`nsenter --net="$ns" ip link set dev ${ifname} mtu ${ci.mtu} || rc=1`)
          else if (c.what === `${ifname} mac`) inner.push(sh`nsenter --net="$ns" ip link set dev ${ifname} address ${ci.mac} || rc=1`)
          else if (c.what === `${ifname} address`) inner.push(sh`nsenter --net="$ns" ip addr del ${cidr()} dev ${ifname} || rc=1`)
          else if (c.what === `${ifname} up`) inner.push(sh`nsenter --net="$ns" ip link set dev ${ifname} down || rc=1`)
          else if (c.what === `${targetName} default route`) restoreDefaults()
          else if (c.what === `${ifname} offloads (userspace OVS)`) inner.push(`nsenter --net="$ns" ${argv(['ethtool', '-K', ifname, ...offloadsOn(s).flatMap((k) => [k, 'on'])])} >/dev/null || rc=1`)
        }
        description = `undo ${changes.map((c) => c.what).join(', ')}`
      }
      if (!host.length && !inner.length) return null
      // The namespace is looked up again: a docker container may have restarted (new PID) since.
      let find: string
      if (typeof target === 'string') find = sh`pid=$(docker inspect -f '{{.State.Pid}}' -- ${s.id ?? target} 2>/dev/null) || pid=0; ns=/proc/$pid/ns/net`
      else if ('pid' in target) find = sh`pid=${target.pid}; ns=/proc/${target.pid}/ns/net`
      else find = sh`pid=1; ns=${target.netns}`
      const lines = ['rc=0', find, ...host]
      if (inner.length) lines.push(`if [ "\${pid:-0}" -gt 0 ] && [ -e "$ns" ]; then`, ...inner.map((l) => '  ' + l), 'fi')
      lines.push('exit $rc')
      return { description, script: lines.join('\n') }
    },
    async apply(ctx, s, changes) {
      const veth = vethOf(s)
      const mtu = wantMtu(s)
      const N = `nsenter --net="$ns"`
      const cmds: string[] = ['set -e', `ns=${quote(s.nsPath)}`]
      if (!paired(s)) {
        if (s.hostVeth) cmds.push(sh`ip link del dev ${veth}`)
        // The container side is born in the namespace under its final name: no temporary name on the host.
        const into = s.pid ? String(s.pid) : s.nsPath
        const peer = ['peer', 'name', ifname, ...(a.mac ? ['address', a.mac.toLowerCase()] : []), 'mtu', String(mtu), 'netns', into]
        cmds.push(argv(['ip', 'link', 'add', 'name', veth, 'mtu', String(mtu), 'type', 'veth', ...peer]))
        if (s.bridgeKind === 'ovs') cmds.push(sh`ovs-vsctl --timeout=10 --may-exist add-port ${bridge} ${veth}`)
        else cmds.push(sh`ip link set dev ${veth} master ${bridge}`)
        cmds.push(sh`ip link set dev ${veth} up`)
        cmds.push(`${N} ${sh`ip addr add ${cidr()} dev ${ifname}`}`, `${N} ${sh`ip link set dev ${ifname} up`}`)
        // OVS's userspace datapath forwards what a veth hands it as it is: checksums complete and
        // segments no larger than the MTU must come from the container.
        if (offloadsOff(s)) cmds.push(`${N} ${ethtoolOff} >/dev/null`)
        if (ip.gateway) cmds.push(`while ${N} ip -4 route del default 2>/dev/null; do :; done`, `${N} ${sh`ip route add default via ${ip.gateway} dev ${ifname}`}`)
      } else {
        for (const c of changes) {
          if (c.what === `${veth} master`) cmds.push(sh`ip link set dev ${veth} master ${bridge}`)
          else if (c.what === `OVS port ${veth} on ${bridge}`) cmds.push(sh`ovs-vsctl --timeout=10 --may-exist add-port ${bridge} ${veth}`)
          else if (c.what === `${veth} up`) cmds.push(sh`ip link set dev ${veth} up`)
          else if (c.what === `${ifname} mtu`) cmds.push(`${N} ${sh`ip link set dev ${ifname} mtu ${mtu}`}`)
          else if (c.what === `${ifname} mac`) cmds.push(`${N} ${sh`ip link set dev ${ifname} address ${a.mac!.toLowerCase()}`}`)
          else if (c.what === `${ifname} address`) cmds.push(`${N} ${sh`ip addr add ${cidr()} dev ${ifname}`}`)
          else if (c.what === `${ifname} up`) cmds.push(`${N} ${sh`ip link set dev ${ifname} up`}`)
          else if (c.what === `${targetName} default route`)
            cmds.push(`while ${N} ip -4 route del default 2>/dev/null; do :; done`, `${N} ${sh`ip route add default via ${ip.gateway!} dev ${ifname}`}`)
          else if (c.what === `${ifname} offloads (userspace OVS)`) cmds.push(`${N} ${ethtoolOff} >/dev/null`)
        }
      }
      // Tell the LAN (and the bridge's FDB) where the address lives now.
      // In the background: iputils arping lingers a second after sending; nobody needs to wait for it.
      if (s.arping) cmds.push(`(timeout 3 ${N} ${sh`arping -q -c 1 -U -I ${ifname} ${ip.addr}`} </dev/null >/dev/null 2>&1 &)`)
      mustSucceed(await ctx.run(cmds.join('\n')), `attaching ${targetName} to ${bridge}`)
      return { data: { hostVeth: veth, ifname, ip: cidr(), gateway: ip.gateway, netns: s.nsPath, pid: s.pid, id: s.id, bridgeKind: s.bridgeKind } }
    },
  }

  return task(resource)
}

function describeRoute(r: IpRoute): string {
  return argv(routeArgv(r, 'add', '', '').slice(4))
}
