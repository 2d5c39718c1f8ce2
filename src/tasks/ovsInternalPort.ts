/**
 * ovsInternalPort: an internal port on an OVS bridge (a host interface into the bridge) with one IPv4
 * address and an MTU that fits the bridge's tunnels.
 *
 * MTU: `mtu` when given; otherwise the smallest (underlay MTU − tunnel overhead) over the tunnel ports
 * on the bridge (VXLAN 50, GRE 42), the underlay being the device the kernel routes each remote_ip
 * through. Create the tunnels first, or pass `mtu`; with neither, the MTU is left alone.
 * The address is exclusive: other IPv4 addresses on the port are removed (and put back by the undo).
 */
import { argv } from '../net/shell.ts'
import { argSpec, parseArgs } from '../argspec.ts'
import { ArgError, TaskFailed, task, type Change, type Resource, type Task, type Undo } from '../engine/types.ts'
import { mustSucceed } from '../engine/taskkit.ts'
import {
  OWNER_KEY,
  TUNNEL_UNDERLAY_SCRIPT,
  innerMtu,
  mtuRequestCmd,
  parseTunnelUnderlay,
  readOvs,
  vsctl,
  type OvsDb,
} from './ovsdb.ts'

export interface OvsInternalPortArgs {
  bridge: string
  /** Port and interface name (1-15 characters). */
  name: string
  /** Host address with prefix: '10.88.0.1/24'. */
  address: string
  /** MTU (mtu_request); default computed from the bridge's tunnels. */
  mtu?: number
}

interface Addr {
  cidr: string
  brd?: string
}

interface PortState {
  db: OvsDb
  exists: boolean
  up: boolean
  addrs: Addr[]
  mtu?: number
}

interface PortPlan {
  create: boolean
  mtu?: { from?: number; to: number }
  addAddr: boolean
  delAddrs: Addr[]
  up: boolean
}

export const OVS_INTERNAL_PORT_SPEC = argSpec('ovsInternalPort', {
  bridge: { type: 'ifname', required: true },
  name: { type: 'ifname', required: true, desc: 'port and interface name' },
  address: { type: 'hostcidr4', required: true, desc: "host address with prefix: '10.88.0.1/24'" },
  mtu: { type: 'int', min: 68, max: 65535, desc: "mtu_request; default computed from the bridge's tunnels" },
})

export function ovsInternalPort(args: OvsInternalPortArgs): Task<PortState> {
  const a = args ?? ({} as OvsInternalPortArgs)

  const plan = (s: PortState): PortPlan => {
    const port = s.db.ports.get(a.name)
    if (port && port.bridge !== a.bridge) throw new TaskFailed(`port ${a.name} already exists on OVS bridge ${port.bridge || '(none)'}, not ${a.bridge}`)
    const iface = port?.interfaces[0]
    if (port && iface?.type !== 'internal') throw new TaskFailed(`port ${a.name} on ${a.bridge} is not an internal port (type ${iface?.type || 'system'})`)
    const to = s.mtu
    const p: PortPlan = {
      create: !port,
      addAddr: !s.addrs.some((x) => x.cidr === a.address),
      delAddrs: s.addrs.filter((x) => x.cidr !== a.address),
      up: !s.up,
    }
    if (to !== undefined && iface?.mtuRequest !== to) p.mtu = { from: iface?.mtuRequest, to }
    return p
  }

  const resource: Resource<PortState> = {
    module: 'ovs_internal_port',
    name: `ovs internal port ${a.name} ${a.address} on ${a.bridge}`,
    validate() {
      parseArgs(OVS_INTERNAL_PORT_SPEC, a)
      if (a.name === a.bridge) throw new ArgError('ovsInternalPort.name', 'a port name other than the bridge (the bridge has its own internal port)', a.name)
    },
    async read(ctx) {
      const extra = [`${argv(['ip', '-j', '-4', 'addr', 'show', 'dev', a.name])} 2>/dev/null || true`, `${argv(['ip', '-j', 'link', 'show', 'dev', a.name])} 2>/dev/null || true`]
      if (a.mtu === undefined) extra.push(TUNNEL_UNDERLAY_SCRIPT)
      const { db, sections } = await readOvs(ctx, extra)
      const addrJson = sections[0].trim()
      const linkJson = sections[1].trim()
      const addrs: Addr[] = []
      for (const l of addrJson ? (JSON.parse(addrJson) as Array<{ addr_info?: Array<Record<string, unknown>> }>) : [])
        for (const x of l.addr_info ?? []) if (x.family === 'inet') addrs.push({ cidr: `${String(x.local)}/${String(x.prefixlen)}`, brd: x.broadcast ? String(x.broadcast) : undefined })
      const link = linkJson ? (JSON.parse(linkJson)[0] as { flags?: string[] }) : undefined
      const mtu = a.mtu ?? innerMtu(db.bridges.get(a.bridge), parseTunnelUnderlay(sections[2] ?? ''))
      return { db, exists: !!link, up: !!link?.flags?.includes('UP'), addrs, mtu }
    },
    diff(s) {
      const p = plan(s)
      const out: Change[] = []
      if (p.create) out.push({ what: `add internal port ${a.name} to ${a.bridge}` })
      if (p.mtu) out.push({ what: `${a.name} mtu_request`, before: String(p.mtu.from ?? '(none)'), after: String(p.mtu.to) })
      if (p.addAddr) out.push({ what: `address on ${a.name}`, after: a.address })
      for (const d of p.delAddrs) out.push({ what: `remove address ${d.cidr} from ${a.name}`, before: d.cidr })
      if (p.up) out.push({ what: `set ${a.name} up` })
      return out
    },
    undo(s): Undo {
      const p = plan(s)
      if (p.create) return { description: `delete internal port ${a.name}`, script: vsctl([['--if-exists', 'del-port', a.bridge, a.name]]) }
      const lines: string[] = []
      if (p.mtu) lines.push(vsctl([mtuRequestCmd(a.name, p.mtu.from)]))
      if (p.addAddr) lines.push(`${argv(['ip', 'addr', 'del', a.address, 'dev', a.name])} 2>/dev/null || true`)
      for (const d of p.delAddrs) lines.push(argv(['ip', 'addr', 'replace', d.cidr, ...(d.brd ? ['brd', d.brd] : []), 'dev', a.name]))
      if (p.up) lines.push(argv(['ip', 'link', 'set', 'dev', a.name, 'down']))
      return { description: `restore internal port ${a.name}`, script: lines.join(' && ') || 'true' }
    },
    async apply(ctx, s) {
      const p = plan(s)
      const ops: Array<Array<string | number>> = []
      if (p.create) ops.push(['add-port', a.bridge, a.name], ['set', 'Interface', a.name, 'type=internal'], ['set', 'Port', a.name, `external_ids:${OWNER_KEY}=1`])
      if (p.mtu) ops.push(mtuRequestCmd(a.name, p.mtu.to))
      const lines: string[] = []
      if (ops.length) lines.push(vsctl(ops))
      for (const d of p.delAddrs) lines.push(argv(['ip', 'addr', 'del', d.cidr, 'dev', a.name]))
      if (p.addAddr) lines.push(argv(['ip', 'addr', 'add', a.address, 'brd', '+', 'dev', a.name]))
      lines.push(argv(['ip', 'link', 'set', 'dev', a.name, 'up']))
      mustSucceed(await ctx.run(lines.join(' && ')), `configuring internal port ${a.name}`)
      return { data: { mtu: s.mtu } }
    },
  }
  return task(resource)
}
