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
import { isIpv6 } from '../net/ip.ts'
import { ArgError, TaskFailed } from '../errors.ts'
import { argSpec, parseArgs } from '../argspec.ts'
import type { Task } from '../engine/types.ts'
import { addressHoldersReader, bridgePortsReader, fdbReader, linkReader, type FdbEntry } from '../model/facts.ts'
import type { Link } from '../model/link.ts'
import { compose, mapReader, reader, type Reader } from '../model/read.ts'
import { persistedReader, planPersisted, VXLAN, vxlanData, vxlanDataPath, type PersistedFacts } from '../model/persist.ts'
import { ZERO_MAC } from '../model/runtime.ts'
import type { Step } from '../model/steps.ts'
import { plannedTask, type Planned } from '../model/task.ts'

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
  /** Also at boot (default true): written at commit to /etc/orch/vxlan/, created by orch-vxlan.service (model/persist.ts). */
  persist?: boolean
}

/** The arguments checked and typed (peers without this host's own address). */
export interface Vxlan {
  name: string
  vni: number
  port: number
  local: string
  dev?: string
  peers: string[]
  bridge?: string
  mtu?: number
  learning: boolean
  /** VXLAN header overhead over the underlay: 50 (IPv4) or 70 (IPv6). */
  overhead: number
  persist: boolean
}

export const VXLAN_SPEC = argSpec('vxlan', {
  name: { type: 'ifname', required: true, desc: 'device name' },
  vni: { type: 'int', min: 1, max: 16777215, required: true, desc: 'VXLAN network identifier' },
  dstPort: { type: 'int', min: 1, max: 65535, default: 4789, desc: 'UDP port' },
  local: { type: 'ip', required: true, desc: "this host's underlay address" },
  dev: { type: 'ifname', desc: 'underlay device (default: the kernel routes by local)' },
  peers: { type: 'list', elements: { type: 'ip' }, required: true, desc: "the other hosts' underlay addresses" },
  bridge: { type: 'ifname', desc: 'Linux bridge to enslave the device to' },
  mtu: { type: 'int', min: 68, max: 65535, desc: 'device MTU (default: underlay MTU - 50 / - 70 over IPv6)' },
  learning: { type: 'bool', default: true, desc: 'learn remote MACs from received frames' },
  persist: { type: 'bool', desc: 'also in the network configuration (survives a reboot)' },
})

export function parseVxlanArgs(raw: VxlanArgs): Vxlan {
  const a = parseArgs(VXLAN_SPEC, raw)
  if (a.bridge === a.name) throw new ArgError('vxlan.bridge', 'a bridge other than the VXLAN device itself', a.bridge)
  const seen = new Set<string>()
  a.peers.forEach((p, i) => {
    if (isIpv6(p) !== isIpv6(a.local)) throw new ArgError(`vxlan.peers[${i}]`, `an address of the same family as vxlan.local (${a.local})`, p)
    if (seen.has(p)) throw new ArgError(`vxlan.peers[${i}]`, 'each peer once', p)
    seen.add(p)
  })
  return {
    name: a.name,
    vni: a.vni,
    port: a.dstPort,
    local: a.local,
    ...(a.dev !== undefined ? { dev: a.dev } : {}),
    peers: a.peers.filter((p) => p !== a.local),
    ...(a.bridge !== undefined ? { bridge: a.bridge } : {}),
    ...(a.mtu !== undefined ? { mtu: a.mtu } : {}),
    learning: a.learning,
    overhead: isIpv6(a.local) ? 70 : 50,
    persist: a.persist ?? true,
  }
}

export interface DockerBridgeMtus {
  /** Docker bridge networks on the bridge, with their com.docker.network.driver.mtu (0: not set). */
  networks: Array<{ name: string; mtu: number }>
  /** The daemon's default MTU (daemon.json "mtu", else 1500). */
  daemonMtu: number
}

/** The docker networks whose Linux bridge is `bridge`, with their MTU option, and the daemon's default MTU. */
export function dockerBridgeMtusReader(bridge: string): Reader<DockerBridgeMtus> {
  const script =
    `if command -v docker >/dev/null 2>&1; then docker network ls -q --filter driver=bridge 2>/dev/null | xargs -r docker network inspect ` +
    `--format '{{.Name}}|{{index .Options "com.docker.network.bridge.name"}}|{{index .Options "com.docker.network.driver.mtu"}}' 2>/dev/null; fi; ` +
    `echo "daemon-mtu|$(sed -n 's/.*"mtu"[[:space:]]*:[[:space:]]*\\([0-9][0-9]*\\).*/\\1/p' /etc/docker/daemon.json 2>/dev/null | head -n 1)"`
  return reader('docker', script, (s) => {
    const out: DockerBridgeMtus = { networks: [], daemonMtu: 1500 }
    for (const line of s.out.split('\n')) {
      const [name, brName, mtu] = line.trim().split('|')
      if (name === 'daemon-mtu') out.daemonMtu = Number(mtu) || 1500
      else if (name && brName === bridge) out.networks.push({ name, mtu: /^\d+$/.test(mtu ?? '') ? Number(mtu) : 0 })
    }
    return out
  })
}

export interface VxlanFacts {
  link: Link | null
  fdb: FdbEntry[]
  holders: Link[]
  dev?: Link | null
  bridge?: Link | null
  ports?: Link[]
  docker?: DockerBridgeMtus
  persisted?: PersistedFacts
}

export function vxlanFacts(a: Vxlan): Reader<VxlanFacts> {
  const r = compose({
    link: linkReader(a.name),
    fdb: fdbReader(a.name),
    holders: addressHoldersReader(a.local),
    ...(a.dev ? { dev: linkReader(a.dev) } : {}),
    ...(a.bridge ? { bridge: linkReader(a.bridge), ports: bridgePortsReader(a.bridge), docker: dockerBridgeMtusReader(a.bridge) } : {}),
    ...(a.persist ? { persisted: persistedReader(VXLAN, vxlanDataPath(a.name)) } : {}),
  })
  return mapReader(r, (f) => f as VxlanFacts)
}

/** The device's MTU: the one asked for, else the underlay's minus the VXLAN overhead. */
export function vxlanMtu(f: VxlanFacts, a: Vxlan, host: string): { mtu: number; max: number; underlay: Link } {
  if (!f.holders.length) throw new TaskFailed(`vxlan.local ${a.local} is not an address of ${host}`)
  let underlay = f.holders[0]
  if (a.dev) {
    if (!f.dev) throw new TaskFailed(`vxlan.dev ${a.dev}: no such interface on ${host}`)
    underlay = f.dev
  }
  const max = underlay.mtu - a.overhead
  return { mtu: a.mtu ?? max, max, underlay }
}

/** Pure: facts + arguments → steps (throws when the MTUs do not fit or the name is taken by another kind of device). */
export function planVxlan(f: VxlanFacts, a: Vxlan, host: string): Step[] {
  const { mtu, max, underlay } = vxlanMtu(f, a, host)
  if (mtu > max) throw new TaskFailed(`vxlan.mtu ${mtu} does not fit: ${underlay.name} has MTU ${underlay.mtu}, minus ${a.overhead} bytes of VXLAN overhead = ${max}`)
  if (a.bridge) {
    for (const p of f.ports ?? [])
      if (p.name !== a.name && p.mtu > mtu)
        throw new TaskFailed(`port ${p.name} of bridge ${a.bridge} has MTU ${p.mtu}, more than the VXLAN device's ${mtu}: frames that big would be dropped (give the network MTU ${mtu})`)
    for (const n of f.docker?.networks ?? []) {
      const m = n.mtu || f.docker!.daemonMtu
      if (m > mtu)
        throw new TaskFailed(
          `docker network ${n.name} (bridge ${a.bridge}) has MTU ${m}${n.mtu ? '' : ' (not set: the daemon default)'}, more than the VXLAN device's ${mtu}: ` +
            `recreate it with -o com.docker.network.driver.mtu=${mtu}`,
        )
    }
  }
  const d = f.link
  if (d && d.kind !== 'vxlan') throw new TaskFailed(`${a.name} exists and is a ${d.kind || 'plain'} device, not vxlan: refusing to replace it`)
  const x = d?.vxlan ?? {}
  const oldPeers = f.fdb.filter((e) => e.mac === ZERO_MAC && e.dst && !e.flags.includes('master')).map((e) => e.dst!)
  const recreate = !!d && (x.id !== a.vni || x.port !== a.port || x.local !== a.local || (x.link ?? '') !== (a.dev ?? '') || x.learning !== a.learning || !!x.remote || !!x.group)
  const fresh = !d || recreate
  const have = fresh ? [] : oldPeers
  const masterTo = a.bridge && (fresh || d!.master !== a.bridge) ? { ...(d?.master ? { before: d.master } : {}), after: a.bridge, exists: !!f.bridge } : undefined
  const steps: Step[] = []
  if (fresh) {
    steps.push({
      kind: 'vxlan-create',
      name: a.name,
      mtu,
      id: a.vni,
      port: a.port,
      local: a.local,
      ...(a.dev ? { dev: a.dev } : {}),
      learning: a.learning,
      ...(recreate
        ? {
            replaces: { mtu: d!.mtu, mac: d!.mac ?? '', ...(d!.master ? { master: d!.master } : {}), up: d!.up, vxlan: x, peers: oldPeers },
            // The new device gets its peers and bridge again: its diff shows only what differs from the old one.
            peersAdded: a.peers.filter((p) => !oldPeers.includes(p)),
            peersRemoved: oldPeers.filter((p) => !a.peers.includes(p)),
            ...(masterTo && d!.master !== a.bridge ? { masterChange: masterTo } : {}),
          }
        : {}),
    })
  } else if (d!.mtu !== mtu) steps.push({ kind: 'link-set', name: a.name, mtu: { before: d!.mtu, after: mtu } })
  const flags = fresh ? { fresh: true, ...(recreate ? { quiet: true } : {}) } : {}
  for (const p of a.peers.filter((p) => !have.includes(p))) steps.push({ kind: 'fdb', op: 'append', dev: a.name, mac: ZERO_MAC, dst: p, ...flags })
  for (const p of have.filter((p) => !a.peers.includes(p))) steps.push({ kind: 'fdb', op: 'del', dev: a.name, mac: ZERO_MAC, dst: p })
  if (masterTo) steps.push({ kind: 'link-set', name: a.name, master: masterTo, ...flags })
  if (fresh || !d!.up) steps.push({ kind: 'link-set', name: a.name, up: true, ...(fresh ? { fresh: true, quiet: true } : {}) })
  return steps
}

/** Pure: the device's file for orch-vxlan.service (its parameters as created, peers, bridge), unless it is there already. */
export function persistVxlan(f: VxlanFacts, a: Vxlan, host: string): Step[] {
  if (!f.persisted) return []
  const { mtu } = vxlanMtu(f, a, host)
  const link = ['mtu', mtu, 'type', 'vxlan', 'id', a.vni, 'dstport', a.port, 'local', a.local, ...(a.dev ? ['dev', a.dev] : []), ...(a.learning ? [] : ['nolearning'])]
  return planPersisted(VXLAN, f.persisted, vxlanDataPath(a.name), vxlanData(a.name, link, a.peers, a.bridge), host)
}

export function vxlan(args: VxlanArgs): Task<Planned<VxlanFacts>> {
  const a = args ?? ({} as VxlanArgs)
  return plannedTask<Vxlan, VxlanFacts>({
    module: 'vxlan',
    name: `vxlan ${a.name} vni ${a.vni}${a.bridge ? ` in ${a.bridge}` : ''}`,
    parseArgs: () => parseVxlanArgs(a),
    reader: vxlanFacts,
    reading: (x) => `reading vxlan ${x.name}`,
    plan: planVxlan,
    persist: persistVxlan,
    applying: (x) => `configuring vxlan ${x.name}`,
    data: (x, f) => ({ mtu: vxlanMtu(f, x, '').mtu }),
    readAhead: true,
  })
}
