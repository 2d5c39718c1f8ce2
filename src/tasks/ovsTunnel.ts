/**
 * ovsTunnels: one GRE or VXLAN tunnel port per peer on an OVS bridge. Give every host all its peers and
 * the bridges form a full mesh.
 *
 * Ports are named deterministically (`gre-<peer IPv4 in hex>`, `vxlan-<hex>`, or the peer's `name`) and
 * tagged `external_ids:orch=1`. A second run with the same peers changes nothing; a changed key or
 * remote_ip is updated in place; the tunnel ports orch made on this bridge for peers no longer listed are
 * deleted. Ports orch did not make are never touched. All changes go in one ovs-vsctl transaction.
 *
 * Split horizon: from three hosts on, a full mesh of L2 tunnels is a loop (a broadcast from host 1
 * reaches host 2, which floods it into its tunnel to host 3, which sends it back to host 1 ...: a
 * broadcast storm, no ping gets through). Every host reaches every other directly, so a frame that came
 * in through a tunnel never needs to leave through another: the tunnel ports are OVS `protected` ports
 * (Port.protected=true: the NORMAL action drops traffic between two protected ports; to and from the
 * other ports of the bridge it flows as before). `splitHorizon: false` (a hub relaying between spokes)
 * makes them unprotected instead.
 *
 * Only one ovsTunnels task per bridge: two meshes on one bridge would form a loop.
 */
import { int } from '../net/validate.ts'
import { argSpec, parseArgs } from '../argspec.ts'
import { ArgError, TaskFailed, task, type Change, type Resource, type Task, type Undo } from '../engine/types.ts'
import { mustSucceed } from '../engine/taskkit.ts'
import { OWNER_KEY, colMap, owned, readOvs, vsctl, type OvsDb, type OvsPort, type TunnelType } from './ovsdb.ts'

export interface OvsTunnelPeer {
  /** Port name (1-15 characters); default `<type>-<remote_ip as 8 hex digits>`. */
  name?: string
  /** The peer's underlay IPv4 address (skipped when it is one of this host's own addresses). */
  remote_ip: string
  /** Tunnel key for this peer (GRE key, VXLAN VNI); default the task's `key`. */
  key?: number
}

export interface OvsTunnelsArgs {
  bridge: string
  type: TunnelType
  peers: OvsTunnelPeer[]
  /** Key for every peer without its own: GRE 0-4294967295, VXLAN 0-16777215. Default: none (0). */
  key?: number
  /** VXLAN UDP port (default 4789, OVS's default). Not for GRE. */
  dstPort?: number
  /**
   * Port.protected on the tunnel ports (default true): no frame that came in through one of them leaves
   * through another, which keeps a full mesh of three or more hosts loop-free. false for a hub that
   * must relay between its peers (then not a full mesh).
   */
  splitHorizon?: boolean
}

interface Want {
  name: string
  options: Record<string, string>
}

interface TunnelPlan {
  add: Want[]
  modify: Array<{ want: Want; port: OvsPort; type: string; options: Record<string, string> }>
  /** Existing ports (ours, listed) whose Port.protected is not the one wanted: the value they have. */
  protect: Array<{ name: string; from: boolean }>
  remove: OvsPort[]
}

/** Options orch sets on a tunnel interface; others (set by hand) are kept. */
const MANAGED = ['remote_ip', 'key', 'dst_port']
const TUNNEL_TYPES = new Set(['gre', 'vxlan'])

/** `gre-c6120102` for 198.18.1.2: at most 14 characters, a valid interface name. */
export function tunnelPortName(type: TunnelType, remoteIp: string): string {
  return `${type}-${remoteIp.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join('')}`
}

const isOwnedTunnel = (p: OvsPort): boolean => owned(p) && p.interfaces.some((i) => TUNNEL_TYPES.has(i.type))

interface TunnelState {
  db: OvsDb
  /** This host's IPv4 addresses: a peer list holding every host of the mesh skips its own. */
  own: Set<string>
  /** Port name -> Port.protected; null when this OVS has no such column (too old for protected ports). */
  protected: Map<string, boolean> | null
}

/** Prints `{"headings":["name","protected"],"data":[...]}`, or `unsupported` when OVS has no Port.protected. */
const PROTECTED_READ = "ovs-vsctl --timeout=10 --format=json --columns=name,protected list Port 2>/dev/null || echo unsupported"

export function parseProtected(out: string): Map<string, boolean> | null {
  const t = out.trim()
  if (t === 'unsupported') return null
  let table: { data: Array<[string, unknown]> }
  try {
    table = JSON.parse(t)
  } catch {
    throw new TaskFailed(`unexpected ovs-vsctl output for Port.protected: ${t.slice(0, 200)}`)
  }
  return new Map(table.data.map(([name, prot]) => [String(name), prot === true]))
}

const KEY = { type: 'int', min: 0, max: 4294967295 } as const
export const OVS_TUNNELS_SPEC = argSpec('ovsTunnels', {
  bridge: { type: 'ifname', required: true },
  type: { type: 'str', choices: ['gre', 'vxlan'], required: true },
  peers: {
    type: 'list',
    required: true,
    elements: { type: 'dict', options: { remote_ip: { type: 'ipv4', required: true }, name: { type: 'ifname' }, key: KEY } },
    desc: 'a list of { remote_ip, name?, key? }',
  },
  key: { ...KEY, desc: 'key for every peer without its own: GRE 0-4294967295, VXLAN 0-16777215 (default none)' },
  dstPort: { type: 'int', min: 1, max: 65535, desc: 'VXLAN UDP port (default 4789); not for GRE' },
  splitHorizon: { type: 'bool', desc: 'Port.protected on the tunnel ports (default true)' },
})

export function ovsTunnels(args: OvsTunnelsArgs): Task<TunnelState> {
  const a = args ?? ({} as OvsTunnelsArgs)
  const keyMax = a.type === 'vxlan' ? 16777215 : 4294967295
  const prot = a.splitHorizon !== false

  const wanted = (own: Set<string>): Want[] =>
    (a.peers ?? []).filter((p) => !own.has(p.remote_ip)).map((p) => {
      const options: Record<string, string> = { remote_ip: p.remote_ip }
      const key = p.key ?? a.key
      if (key !== undefined) options.key = String(key)
      if (a.type === 'vxlan' && a.dstPort !== undefined) options.dst_port = String(a.dstPort)
      return { name: p.name ?? tunnelPortName(a.type, p.remote_ip), options }
    })

  const plan = ({ db, own, protected: protectedOf }: TunnelState): TunnelPlan => {
    const want = wanted(own)
    const p: TunnelPlan = { add: [], modify: [], protect: [], remove: [] }
    const b = db.bridges.get(a.bridge)
    for (const w of want) {
      const port = db.ports.get(w.name)
      if (!port) {
        p.add.push(w)
        continue
      }
      if (port.bridge !== a.bridge) throw new TaskFailed(`port ${w.name} already exists on OVS bridge ${port.bridge || '(none)'}, not ${a.bridge}`)
      if (!owned(port)) throw new TaskFailed(`port ${w.name} on ${a.bridge} was not made by orch (no external_ids:${OWNER_KEY}=1): remove it or give the peer another name`)
      const iface = port.interfaces[0]
      const cur = iface?.options ?? {}
      const same = iface?.type === a.type && MANAGED.every((k) => cur[k] === w.options[k])
      if (!same) p.modify.push({ want: w, port, type: iface?.type ?? '', options: cur })
      const isProt = protectedOf?.get(w.name) === true
      if (protectedOf && isProt !== prot) p.protect.push({ name: w.name, from: isProt })
    }
    const names = new Set(want.map((w) => w.name))
    for (const port of b?.ports ?? []) if (isOwnedTunnel(port) && !names.has(port.name)) p.remove.push(port)
    // Without Port.protected a mesh of two or more tunnel ports on this bridge would loop.
    if (!protectedOf && prot && want.length >= 2)
      throw new TaskFailed(
        `Open vSwitch on this host has no Port.protected column (too old for protected ports): ${want.length} tunnel ports on ${a.bridge} would form an L2 loop. ` +
          'Upgrade Open vSwitch, or set splitHorizon: false and break the loop otherwise',
      )
    return p
  }

  const newOptions = (cur: Record<string, string>, w: Want): Record<string, string> => {
    const out: Record<string, string> = {}
    for (const [k, v] of Object.entries(cur)) if (!MANAGED.includes(k)) out[k] = v
    return { ...out, ...w.options }
  }

  const show = (o: Record<string, string>) => MANAGED.filter((k) => o[k] !== undefined).map((k) => `${k}=${o[k]}`).join(' ')

  const resource: Resource<TunnelState> = {
    module: 'ovs_tunnels',
    name: `ovs ${a.type} tunnels on ${a.bridge} (${(a.peers ?? []).length} peers)`,
    validate() {
      parseArgs(OVS_TUNNELS_SPEC, a)
      if (a.key !== undefined) int('ovsTunnels.key', a.key, 0, keyMax)
      if (a.dstPort !== undefined && a.type !== 'vxlan') throw new ArgError('ovsTunnels.dstPort', 'no dstPort for GRE (only VXLAN has a UDP port)', a.dstPort)
      const names = new Set<string>()
      const ips = new Set<string>()
      a.peers.forEach((p, i) => {
        if (p.key !== undefined) int(`ovsTunnels.peers[${i}].key`, p.key, 0, keyMax)
        const n = p.name ?? tunnelPortName(a.type, p.remote_ip)
        if (names.has(n)) throw new ArgError(`ovsTunnels.peers[${i}].name`, 'a port name no other peer uses', n)
        if (ips.has(p.remote_ip)) throw new ArgError(`ovsTunnels.peers[${i}].remote_ip`, 'a remote_ip no other peer uses', p.remote_ip)
        if (n === a.bridge) throw new ArgError(`ovsTunnels.peers[${i}].name`, 'a port name other than the bridge', n)
        names.add(n)
        ips.add(p.remote_ip)
      })
    },
    async read(ctx) {
      const { db, sections } = await readOvs(ctx, ["ip -4 -o addr show | awk '{ sub(\"/.*\", \"\", $4); print $4 }'", PROTECTED_READ])
      return { db, own: new Set(sections[0].split('\n').map((l) => l.trim()).filter(Boolean)), protected: parseProtected(sections[1] ?? '') }
    },
    diff(s) {
      const db = s.db
      const p = plan(s)
      const out: Change[] = []
      if (!db.bridges.has(a.bridge) && p.add.length) out.push({ what: `(OVS bridge ${a.bridge} does not exist yet)` })
      const protNote = s.protected ? ` protected=${prot}` : ''
      for (const w of p.add) out.push({ what: `add ${a.type} port ${w.name} to ${a.bridge}`, after: show(w.options) + protNote })
      for (const m of p.modify) out.push({ what: `update port ${m.port.name}`, before: `${m.type} ${show(m.options)}`, after: `${a.type} ${show(m.want.options)}` })
      for (const x of p.protect) out.push({ what: `port ${x.name} protected (split horizon)`, before: String(x.from), after: String(prot) })
      for (const r of p.remove) out.push({ what: `delete port ${r.name} (peer no longer listed)`, before: `${r.interfaces[0]?.type} ${show(r.interfaces[0]?.options ?? {})}` })
      return out
    },
    undo(s): Undo | null {
      const p = plan(s)
      const ops: Array<Array<string | number>> = []
      for (const w of p.add) ops.push(['--if-exists', 'del-port', a.bridge, w.name])
      for (const m of p.modify) ops.push(['set', 'Interface', m.port.interfaces[0].name, `type=${m.type}`, colMap('options', m.options)])
      for (const x of p.protect) ops.push(['set', 'Port', x.name, `protected=${x.from}`])
      for (const r of p.remove) {
        ops.push(['--may-exist', 'add-port', a.bridge, r.name], ['set', 'Port', r.name, colMap('external_ids', r.externalIds)])
        if (s.protected) ops.push(['set', 'Port', r.name, `protected=${s.protected.get(r.name) === true}`])
        for (const i of r.interfaces) {
          const cols = [`type=${i.type}`, colMap('options', i.options), colMap('external_ids', i.externalIds)]
          if (i.mtuRequest !== undefined) cols.push(`mtu_request=${i.mtuRequest}`)
          ops.push(['set', 'Interface', i.name, ...cols])
        }
      }
      if (!ops.length) return null
      const parts = [
        p.add.length ? `delete ${p.add.map((w) => w.name).join(', ')}` : '',
        p.modify.length ? `restore ${p.modify.map((m) => m.port.name).join(', ')}` : '',
        p.protect.length ? `protected=${!prot} on ${p.protect.map((x) => x.name).join(', ')}` : '',
        p.remove.length ? `recreate ${p.remove.map((r) => r.name).join(', ')}` : '',
      ].filter(Boolean)
      return { description: `ovs tunnels on ${a.bridge}: ${parts.join('; ')}`, script: vsctl(ops) }
    },
    async apply(ctx, s) {
      const p = plan(s)
      const ops: Array<Array<string | number>> = []
      for (const r of p.remove) ops.push(['del-port', a.bridge, r.name])
      // protected only where OVS has the column (an old OVS with a single tunnel port gets none).
      const portCols = [`external_ids:${OWNER_KEY}=1`, ...(s.protected ? [`protected=${prot}`] : [])]
      for (const w of p.add) ops.push(['add-port', a.bridge, w.name], ['set', 'Interface', w.name, `type=${a.type}`, colMap('options', w.options)], ['set', 'Port', w.name, ...portCols])
      for (const m of p.modify) ops.push(['set', 'Interface', m.port.interfaces[0].name, `type=${a.type}`, colMap('options', newOptions(m.options, m.want))])
      for (const x of p.protect) ops.push(['set', 'Port', x.name, `protected=${prot}`])
      const r = await ctx.run(`${vsctl(ops)} 2>&1`)
      mustSucceed(r, `configuring ${a.type} tunnels on ${a.bridge}`)
      if (/Error detected while setting up/.test(r.stdout)) throw new TaskFailed(`ovs-vswitchd could not set up a tunnel port on ${a.bridge}: ${r.stdout.trim()}`, { rc: r.code, stdout: r.stdout })
      return { data: { ports: wanted(s.own).map((w) => w.name) } }
    },
  }
  return task(resource)
}
