/**
 * vxlan: a kernel VXLAN device with several peers, optionally bridged into a Linux bridge (such as a
 * docker network's bridge), so the L2 segments of several hosts become one.
 *
 *   ip link add NAME mtu M type vxlan id VNI dstport P local IP [dev DEV] [nolearning]
 *   bridge fdb append 00:00:00:00:00:00 dev NAME dst PEER      (one per peer: head-end replication)
 *   ip link set NAME master BRIDGE; ip link set NAME up
 *
 * Learning is on by default: broadcast and unknown frames go to every peer through the all-zeros FDB
 * entries, and the device learns which peer holds which MAC from what it receives, so unicast then goes
 * to one peer only. With `learning: false` every unicast frame goes to all peers (no control plane tells
 * the device where container MACs live).
 *
 * MTU: underlay MTU − 50 (IPv4; − 70 over IPv6) unless `mtu` is given (it may not be larger). Every other
 * port of `bridge`, and the docker network that owns the bridge (com.docker.network.driver.mtu, or the
 * daemon's mtu, default 1500), must not have a larger MTU, or large frames are dropped silently: the task
 * fails with what to change (create the network with `-o com.docker.network.driver.mtu=1450`).
 *
 * Idempotent: a second run changes nothing. Changed peers add/remove only those FDB entries; a changed
 * vni, dstPort, local, dev or learning recreates the device. The undo deletes a device it created, or
 * puts back the previous FDB entries, MTU, bridge and link state (recreating the previous device, with
 * its MAC address, when it had to be recreated).
 */
import { argv, quote } from '../net/shell.ts'
import { ifname, ip, mtu as mtuArg, port as portArg, vni as vniArg } from '../net/validate.ts'
import { isIpv6 } from '../net/ip.ts'
import { ArgError, TaskFailed, task, type Change, type Resource, type Task, type Undo } from '../engine/types.ts'
import { mustSucceed, sectionMark, splitSections } from '../engine/taskkit.ts'

export interface VxlanArgs {
  /** Device name (1-15 characters): 'vxlan42'. */
  name: string
  /** VXLAN network identifier, 1-16777215. */
  vni: number
  /** UDP port, default 4789 (IANA). */
  dstPort?: number
  /** This host's underlay address (must be one of its addresses). */
  local: string
  /** Underlay device; default: none (the kernel routes by `local`). */
  dev?: string
  /** The other hosts' underlay addresses (this host's own address is skipped if listed). */
  peers: string[]
  /** Linux bridge to enslave the device to (e.g. a docker network's com.docker.network.bridge.name). */
  bridge?: string
  /** Device MTU; default underlay MTU − 50 (IPv4) / − 70 (IPv6). */
  mtu?: number
  /** Learn remote MACs from received frames (default true). */
  learning?: boolean
}

interface VxlanDev {
  kind: string
  id?: number
  port?: number
  local?: string
  remote?: string
  group?: string
  link?: string
  learning?: boolean
  ttl?: number
  tos?: string
  ageing?: number
  udpCsum?: boolean
  srcport?: [number, number]
  mtu: number
  address: string
  master?: string
  up: boolean
}

interface VxlanState {
  dev?: VxlanDev
  fdb: string[]
  /** MTU of the underlay device (dev, or the one holding `local`). */
  underlayMtu: number
  underlayDev: string
  bridgeExists: boolean
  /** Other ports of the bridge with their MTUs. */
  bridgePorts: Array<{ name: string; mtu: number }>
  /** Docker networks using the bridge, with their MTU (0 = not set). */
  dockerNets: Array<{ name: string; mtu: number }>
  dockerDefaultMtu: number
}

interface VxlanPlan {
  create: boolean
  recreate: boolean
  mtu: number
  addPeers: string[]
  delPeers: string[]
  setMtu?: number
  setMaster: boolean
  up: boolean
}

const ZERO_MAC = '00:00:00:00:00:00'

export function vxlan(args: VxlanArgs): Task<VxlanState> {
  const a = args ?? ({} as VxlanArgs)
  const port = a.dstPort ?? 4789
  const learning = a.learning ?? true
  const overhead = isIpv6(a.local) ? 70 : 50
  const peers = () => [...new Set((a.peers ?? []).filter((p) => p !== a.local))]

  const plan = (s: VxlanState): VxlanPlan => {
    const max = s.underlayMtu - overhead
    const mtu = a.mtu ?? max
    if (mtu > max) throw new TaskFailed(`vxlan.mtu ${mtu} does not fit: ${s.underlayDev} has MTU ${s.underlayMtu}, minus ${overhead} bytes of VXLAN overhead = ${max}`)
    if (a.bridge) {
      for (const p of s.bridgePorts)
        if (p.name !== a.name && p.mtu > mtu)
          throw new TaskFailed(`port ${p.name} of bridge ${a.bridge} has MTU ${p.mtu}, more than the VXLAN device's ${mtu}: frames that big would be dropped (give the network MTU ${mtu})`)
      for (const n of s.dockerNets) {
        const m = n.mtu || s.dockerDefaultMtu
        if (m > mtu)
          throw new TaskFailed(
            `docker network ${n.name} (bridge ${a.bridge}) has MTU ${m}${n.mtu ? '' : ' (not set: the daemon default)'}, more than the VXLAN device's ${mtu}: ` +
              `recreate it with -o com.docker.network.driver.mtu=${mtu}`,
          )
      }
    }
    const d = s.dev
    if (d && d.kind !== 'vxlan') throw new TaskFailed(`${a.name} exists and is a ${d.kind || 'plain'} device, not vxlan: refusing to replace it`)
    const recreate =
      !!d && (d.id !== a.vni || d.port !== port || d.local !== a.local || (d.link ?? '') !== (a.dev ?? '') || d.learning !== learning || !!d.remote || !!d.group)
    const fresh = !d || recreate
    const want = peers()
    const have = fresh ? [] : s.fdb
    return {
      create: !d,
      recreate,
      mtu,
      addPeers: want.filter((p) => !have.includes(p)),
      delPeers: have.filter((p) => !want.includes(p)),
      setMtu: fresh || d!.mtu !== mtu ? mtu : undefined,
      setMaster: !!a.bridge && (fresh || d!.master !== a.bridge),
      up: fresh || !d!.up,
    }
  }

  const createWords = (mtu: number): Array<string | number> => {
    const w: Array<string | number> = ['ip', 'link', 'add', a.name, 'mtu', mtu, 'type', 'vxlan', 'id', a.vni, 'dstport', port, 'local', a.local]
    if (a.dev) w.push('dev', a.dev)
    if (!learning) w.push('nolearning')
    return w
  }

  /** Commands that rebuild the device as it was read. */
  const restoreOld = (d: VxlanDev, fdb: string[]): string[] => {
    const w: Array<string | number> = ['ip', 'link', 'add', a.name, 'address', d.address, 'mtu', d.mtu, 'type', 'vxlan', 'id', d.id ?? 0]
    if (d.port !== undefined) w.push('dstport', d.port)
    if (d.local) w.push('local', d.local)
    if (d.remote) w.push('remote', d.remote)
    if (d.group) w.push('group', d.group)
    if (d.link) w.push('dev', d.link)
    if (d.learning === false) w.push('nolearning')
    if (d.ttl) w.push('ttl', d.ttl)
    if (d.tos && d.tos !== '0' && d.tos !== 'inherit') w.push('tos', d.tos)
    else if (d.tos === 'inherit') w.push('tos', 'inherit')
    if (d.ageing !== undefined) w.push('ageing', d.ageing)
    if (d.udpCsum === false) w.push('noudpcsum')
    if (d.srcport && (d.srcport[0] || d.srcport[1])) w.push('srcport', d.srcport[0], d.srcport[1])
    const out = [argv(w)]
    for (const p of fdb) out.push(argv(['bridge', 'fdb', 'append', ZERO_MAC, 'dev', a.name, 'dst', p]))
    if (d.master) out.push(argv(['ip', 'link', 'set', 'dev', a.name, 'master', d.master]))
    if (d.up) out.push(argv(['ip', 'link', 'set', 'dev', a.name, 'up']))
    return out
  }

  const resource: Resource<VxlanState> = {
    module: 'vxlan',
    name: `vxlan ${a.name} vni ${a.vni}${a.bridge ? ` in ${a.bridge}` : ''}`,
    validate() {
      ifname('vxlan.name', a.name)
      vniArg('vxlan.vni', a.vni)
      if (a.dstPort !== undefined) portArg('vxlan.dstPort', a.dstPort)
      ip('vxlan.local', a.local)
      if (a.dev !== undefined) ifname('vxlan.dev', a.dev)
      if (a.bridge !== undefined) ifname('vxlan.bridge', a.bridge)
      if (a.bridge === a.name) throw new ArgError('vxlan.bridge', 'a bridge other than the VXLAN device itself', a.bridge)
      if (a.mtu !== undefined) mtuArg('vxlan.mtu', a.mtu)
      if (a.learning !== undefined && typeof a.learning !== 'boolean') throw new ArgError('vxlan.learning', 'true or false', a.learning)
      if (!Array.isArray(a.peers)) throw new ArgError('vxlan.peers', 'a list of peer IP addresses', a.peers)
      const seen = new Set<string>()
      a.peers.forEach((p, i) => {
        ip(`vxlan.peers[${i}]`, p)
        if (isIpv6(p) !== isIpv6(a.local)) throw new ArgError(`vxlan.peers[${i}]`, `an address of the same family as vxlan.local (${a.local})`, p)
        if (seen.has(p)) throw new ArgError(`vxlan.peers[${i}]`, 'each peer once', p)
        seen.add(p)
      })
    },
    async read(ctx) {
      const fam = isIpv6(a.local) ? '-6' : '-4'
      const n = a.name
      const parts = [
        `${argv(['ip', '-d', '-j', 'link', 'show', 'dev', n])} 2>/dev/null || true`,
        `${argv(['bridge', '-j', 'fdb', 'show', 'dev', n])} 2>/dev/null || true`,
        argv(['ip', '-j', fam, 'addr', 'show', 'to', `${a.local}/${isIpv6(a.local) ? 128 : 32}`]),
        a.dev ? `${argv(['ip', '-j', 'link', 'show', 'dev', a.dev])} 2>/dev/null || true` : 'true',
        a.bridge
          ? // One line each: the bridge, its ports (ip -j prints one line), then the docker networks.
            `{ ${argv(['ip', '-j', 'link', 'show', 'dev', a.bridge])} 2>/dev/null || echo '[]'; } | tr -d '\\n'; echo; ` +
            `{ ${argv(['ip', '-j', 'link', 'show', 'master', a.bridge])} 2>/dev/null || echo '[]'; } | tr -d '\\n'; echo; ` +
            // Docker networks whose bridge this is, with their MTU option; then the daemon's default.
            `if command -v docker >/dev/null 2>&1; then docker network ls -q --filter driver=bridge 2>/dev/null | xargs -r docker network inspect ` +
            `--format '{{.Name}}|{{index .Options "com.docker.network.bridge.name"}}|{{index .Options "com.docker.network.driver.mtu"}}' 2>/dev/null; fi; ` +
            `echo "daemon-mtu|$(sed -n 's/.*"mtu"[[:space:]]*:[[:space:]]*\\([0-9][0-9]*\\).*/\\1/p' /etc/docker/daemon.json 2>/dev/null | head -n 1)"`
          : 'true',
      ]
      const r = mustSucceed(await ctx.run(parts.join(`\n${sectionMark}\n`)), `reading vxlan ${n}`)
      const [linkJ, fdbJ, localJ, devJ, brOut] = splitSections(r.stdout)
      const s: VxlanState = { fdb: [], underlayMtu: 0, underlayDev: '', bridgeExists: false, bridgePorts: [], dockerNets: [], dockerDefaultMtu: 1500 }
      const link = linkJ.trim() ? (JSON.parse(linkJ)[0] as Record<string, any>) : undefined
      if (link) {
        const info = link.linkinfo?.info_data ?? {}
        s.dev = {
          kind: link.linkinfo?.info_kind ?? '',
          id: info.id,
          port: info.port,
          local: info.local ?? info.local6,
          remote: info.remote ?? info.remote6,
          group: info.group ?? info.group6,
          link: info.link,
          learning: info.learning,
          ttl: info.ttl,
          tos: info.tos !== undefined ? String(info.tos) : undefined,
          ageing: info.ageing,
          udpCsum: info.udp_csum,
          srcport: info.port_range ? [info.port_range.low, info.port_range.high] : undefined,
          mtu: link.mtu,
          address: link.address,
          master: link.master,
          up: (link.flags ?? []).includes('UP'),
        }
        for (const e of fdbJ.trim() ? (JSON.parse(fdbJ) as Array<Record<string, any>>) : [])
          if (e.mac === ZERO_MAC && e.dst && !(e.flags ?? []).includes('master')) s.fdb.push(String(e.dst))
      }
      const holders = localJ.trim() ? (JSON.parse(localJ) as Array<{ ifname: string; mtu: number }>) : []
      if (!holders.length) throw new TaskFailed(`vxlan.local ${a.local} is not an address of ${ctx.host.name}`)
      if (a.dev) {
        const d = devJ.trim() ? (JSON.parse(devJ)[0] as { ifname: string; mtu: number } | undefined) : undefined
        if (!d) throw new TaskFailed(`vxlan.dev ${a.dev}: no such interface on ${ctx.host.name}`)
        s.underlayMtu = d.mtu
        s.underlayDev = d.ifname
      } else {
        s.underlayMtu = holders[0].mtu
        s.underlayDev = holders[0].ifname
      }
      if (a.bridge) {
        const [brJ, portsJ, ...docker] = (brOut ?? '').split('\n')
        s.bridgeExists = JSON.parse(brJ.trim() || '[]').length > 0
        s.bridgePorts = (JSON.parse(portsJ?.trim() || '[]') as Array<{ ifname: string; mtu: number }>).map((p) => ({ name: p.ifname, mtu: p.mtu }))
        for (const line of docker) {
          const [name, brName, mtu] = line.trim().split('|')
          if (name === 'daemon-mtu') s.dockerDefaultMtu = Number(mtu) || 1500
          else if (brName === a.bridge) s.dockerNets.push({ name, mtu: /^\d+$/.test(mtu ?? '') ? Number(mtu) : 0 })
        }
      }
      return s
    },
    diff(s) {
      const p = plan(s)
      const out: Change[] = []
      if (p.create) out.push({ what: `create vxlan ${a.name}`, after: `vni ${a.vni} dstport ${port} local ${a.local}${a.dev ? ` dev ${a.dev}` : ''}${learning ? '' : ' nolearning'} mtu ${p.mtu}` })
      else if (p.recreate) {
        const d = s.dev!
        out.push({
          what: `recreate vxlan ${a.name}`,
          before: `vni ${d.id} dstport ${d.port} local ${d.local}${d.link ? ` dev ${d.link}` : ''}${d.learning ? '' : ' nolearning'}${d.remote ? ` remote ${d.remote}` : ''}`,
          after: `vni ${a.vni} dstport ${port} local ${a.local}${a.dev ? ` dev ${a.dev}` : ''}${learning ? '' : ' nolearning'}`,
        })
      } else if (p.setMtu !== undefined) out.push({ what: `${a.name} mtu`, before: String(s.dev!.mtu), after: String(p.setMtu) })
      // A recreated device gets its peers and bridge again: show only what differs from the old one.
      const want = peers()
      const adds = p.recreate ? want.filter((x) => !s.fdb.includes(x)) : p.addPeers
      const dels = p.recreate ? s.fdb.filter((x) => !want.includes(x)) : p.delPeers
      for (const x of adds) out.push({ what: `fdb ${a.name}: add peer ${x}` })
      for (const x of dels) out.push({ what: `fdb ${a.name}: remove peer ${x}` })
      if (p.setMaster && s.dev?.master !== a.bridge)
        out.push({ what: `${a.name} master`, before: s.dev?.master ?? '(none)', after: a.bridge! + (s.bridgeExists ? '' : ' (does not exist yet)') })
      if (p.up && !p.create && !p.recreate) out.push({ what: `set ${a.name} up` })
      return out
    },
    undo(s): Undo {
      const p = plan(s)
      const del = argv(['ip', 'link', 'del', 'dev', a.name])
      if (p.create) return { description: `delete vxlan ${a.name}`, script: `${del} 2>/dev/null || true` }
      const d = s.dev!
      if (p.recreate) return { description: `recreate the previous vxlan ${a.name} (vni ${d.id})`, script: [`{ ${del} 2>/dev/null || true; }`, ...restoreOld(d, s.fdb)].join(' && ') }
      const lines: string[] = []
      for (const x of p.addPeers) lines.push(`${argv(['bridge', 'fdb', 'del', ZERO_MAC, 'dev', a.name, 'dst', x])} 2>/dev/null || true`)
      for (const x of p.delPeers) lines.push(argv(['bridge', 'fdb', 'append', ZERO_MAC, 'dev', a.name, 'dst', x]))
      if (p.setMtu !== undefined) lines.push(argv(['ip', 'link', 'set', 'dev', a.name, 'mtu', d.mtu]))
      if (p.setMaster) lines.push(d.master ? argv(['ip', 'link', 'set', 'dev', a.name, 'master', d.master]) : argv(['ip', 'link', 'set', 'dev', a.name, 'nomaster']))
      if (p.up) lines.push(argv(['ip', 'link', 'set', 'dev', a.name, 'down']))
      return { description: `restore vxlan ${a.name}`, script: lines.join(' && ') }
    },
    async apply(ctx, s) {
      const p = plan(s)
      const lines: string[] = []
      if (p.setMaster) lines.push(`${argv(['ip', 'link', 'show', 'dev', a.bridge!])} >/dev/null 2>&1 || { echo ${quote(`bridge ${a.bridge} does not exist`)} >&2; exit 3; }`)
      if (p.recreate) lines.push(argv(['ip', 'link', 'del', 'dev', a.name]))
      if (p.create || p.recreate) lines.push(argv(createWords(p.mtu)))
      else if (p.setMtu !== undefined) lines.push(argv(['ip', 'link', 'set', 'dev', a.name, 'mtu', p.setMtu]))
      for (const x of p.delPeers) lines.push(argv(['bridge', 'fdb', 'del', ZERO_MAC, 'dev', a.name, 'dst', x]))
      for (const x of p.addPeers) lines.push(argv(['bridge', 'fdb', 'append', ZERO_MAC, 'dev', a.name, 'dst', x]))
      if (p.setMaster) lines.push(argv(['ip', 'link', 'set', 'dev', a.name, 'master', a.bridge!]))
      if (p.up) lines.push(argv(['ip', 'link', 'set', 'dev', a.name, 'up']))
      mustSucceed(await ctx.run(lines.join(' && ')), `configuring vxlan ${a.name}`)
      return { data: { mtu: p.mtu } }
    },
  }
  return task(resource)
}
