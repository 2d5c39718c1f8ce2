/**
 * Open vSwitch: what the OVS tasks share (reading the database in one round trip, OVSDB value syntax,
 * tunnel overheads, detached scripts), and ovsUnderlay: the host's underlay address moved onto an OVS
 * bridge, which the userspace datapath needs for tunnels.
 *
 *   ovsBridge        src/tasks/ovsBridge.ts
 *   ovsTunnels       src/tasks/ovsTunnel.ts
 *   ovsInternalPort  src/tasks/ovsInternalPort.ts
 *   ovsUnderlay      here
 *   shared helpers   src/tasks/ovsdb.ts (re-exported here)
 *
 * Every port orch creates carries `external_ids:orch=1` on its Port row: only those are ever deleted.
 */
import { argv, quote, sh } from '../net/shell.ts'
import { argSpec, parseArgs } from '../argspec.ts'
import { ArgError, TaskFailed, task, type Change, type Resource, type Task, type Undo } from '../engine/types.ts'
import { mustSucceed } from '../engine/taskkit.ts'
import { OWNER_KEY, detached, mtuRequestCmd, ovsStr, readOvs, vsctl, type OvsDb } from './ovsdb.ts'

// The shared OVS helpers moved to ovsdb.ts; importers of './ovs.ts' keep working.
export * from './ovsdb.ts'

// ---------------------------------------------------------------- ovsUnderlay

export interface OvsUnderlayArgs {
  /** The OVS bridge that takes the address (datapath netdev): 'br-phy'. */
  bridge: string
  /** The interface holding the underlay address today: 'eth0'. */
  iface: string
}

interface AddrInfo {
  local: string
  prefixlen: number
  broadcast?: string
  scope?: string
  label?: string
  noprefixroute?: boolean
}

interface RouteInfo {
  type?: string
  dst: string
  gateway?: string
  protocol?: string
  scope?: string
  prefsrc?: string
  metric?: number
  table?: string
  onlink?: boolean
}

interface UnderlayState {
  db: OvsDb
  ifaceMac: string
  ifaceMtu: number
  ifaceUp: boolean
  ifaceAddrs: AddrInfo[]
  ifaceRoutes: RouteInfo[]
  bridgeUp: boolean
}

interface UnderlayPlan {
  createBridge: boolean
  datapath?: { from: string }
  hwaddr?: { from?: string }
  mtu?: { from?: number }
  addPort: boolean
  up: boolean
  addrs: AddrInfo[]
  routes: RouteInfo[]
}

function parseAddrs(json: string): AddrInfo[] {
  const t = json.trim()
  if (!t) return []
  const links = JSON.parse(t) as Array<{ addr_info?: Array<Record<string, unknown>> }>
  const out: AddrInfo[] = []
  for (const l of links)
    for (const a of l.addr_info ?? []) {
      if (a.family !== 'inet') continue
      out.push({
        local: String(a.local),
        prefixlen: Number(a.prefixlen),
        broadcast: a.broadcast ? String(a.broadcast) : undefined,
        scope: a.scope ? String(a.scope) : undefined,
        label: a.label ? String(a.label) : undefined,
        noprefixroute: a.noprefixroute === true,
      })
    }
  return out
}

/** Routes a task must move: all but those the kernel makes for addresses (proto kernel, table local). */
function parseRoutes(json: string, dev: string): RouteInfo[] {
  const t = json.trim()
  if (!t) return []
  const out: RouteInfo[] = []
  for (const r of JSON.parse(t) as Array<Record<string, unknown>>) {
    if (r.protocol === 'kernel' || r.table === 'local') continue
    if (r.nexthops) throw new TaskFailed(`a multipath route through ${dev} (${String(r.dst)}) cannot be moved: move it by hand first`)
    out.push({
      type: r.type && r.type !== 'unicast' ? String(r.type) : undefined,
      dst: String(r.dst),
      gateway: r.gateway ? String(r.gateway) : undefined,
      protocol: r.protocol ? String(r.protocol) : undefined,
      scope: r.scope ? String(r.scope) : undefined,
      prefsrc: r.prefsrc ? String(r.prefsrc) : undefined,
      metric: typeof r.metric === 'number' ? r.metric : undefined,
      table: r.table && r.table !== 'main' ? String(r.table) : undefined,
      onlink: Array.isArray(r.flags) && r.flags.includes('onlink'),
    })
  }
  return out
}

function addrWords(a: AddrInfo, dev: string, fromDev: string): Array<string | number> {
  const w: Array<string | number> = [`${a.local}/${a.prefixlen}`]
  if (a.broadcast) w.push('brd', a.broadcast)
  if (a.scope && a.scope !== 'global') w.push('scope', a.scope)
  // A label is the device name, or device name + ':suffix'; keep the suffix on the new device.
  if (a.label && a.label !== fromDev && a.label.startsWith(fromDev + ':')) w.push('label', dev + a.label.slice(fromDev.length))
  if (a.noprefixroute) w.push('noprefixroute')
  w.push('dev', dev)
  return w
}

function routeWords(r: RouteInfo, dev: string): Array<string | number> {
  const w: Array<string | number> = []
  if (r.type) w.push(r.type)
  w.push(r.dst)
  if (r.gateway) w.push('via', r.gateway)
  w.push('dev', dev)
  if (r.protocol) w.push('proto', r.protocol)
  if (r.scope && !(r.scope === 'global' && r.gateway) && !(r.scope === 'link' && !r.gateway)) w.push('scope', r.scope)
  if (r.prefsrc) w.push('src', r.prefsrc)
  if (r.metric !== undefined) w.push('metric', r.metric)
  if (r.table) w.push('table', r.table)
  if (r.onlink) w.push('onlink')
  return w
}

const routeText = (r: RouteInfo) => routeWords(r, '').filter((x) => x !== 'dev' && x !== '').join(' ')

/**
 * ovsUnderlay: with the userspace datapath, tunnel packets leave through an OVS bridge, so the host's
 * underlay address must sit on one. Creates `bridge` (datapath netdev, other_config:hwaddr = iface's MAC,
 * mtu_request = iface's MTU) with `iface` as its port, moves iface's IPv4 addresses and its routes
 * (all but the ones the kernel derives from addresses) onto the bridge, and brings it up.
 *
 * Risky: it moves the address the controller may be talking to. The change runs as one detached script
 * (setsid, stdin /dev/null) so a dropped session cannot stop it halfway; if a step fails, the script
 * puts everything back itself. The undo (also detached) restores addresses and routes on iface and
 * removes the bridge (or only what it added to a bridge that existed).
 */
export const OVS_UNDERLAY_SPEC = argSpec('ovsUnderlay', {
  bridge: { type: 'ifname', required: true, desc: "the OVS bridge that takes the address (datapath netdev): 'br-phy'" },
  iface: { type: 'ifname', required: true, desc: "the interface holding the underlay address today: 'eth0'" },
})

export function ovsUnderlay(args: OvsUnderlayArgs): Task<UnderlayState> {
  const a = args ?? ({} as OvsUnderlayArgs)
  const br = a.bridge
  const dev = a.iface

  const plan = (s: UnderlayState): UnderlayPlan => {
    const b = s.db.bridges.get(br)
    const ifaceRow = s.db.interfaces.get(br)
    const port = s.db.ports.get(dev)
    if (port && port.bridge && port.bridge !== br) throw new TaskFailed(`${dev} is already a port of OVS bridge ${port.bridge}, not ${br}`)
    const p: UnderlayPlan = { createBridge: !b, addPort: !port || port.bridge !== br, up: !s.bridgeUp, addrs: s.ifaceAddrs, routes: s.ifaceRoutes }
    if (b && b.datapathType !== 'netdev') p.datapath = { from: b.datapathType }
    if (!b || b.otherConfig.hwaddr !== s.ifaceMac) p.hwaddr = { from: b?.otherConfig.hwaddr }
    if (!ifaceRow || ifaceRow.mtuRequest !== s.ifaceMtu) p.mtu = { from: ifaceRow?.mtuRequest }
    return p
  }

  const forwardScript = (s: UnderlayState, p: UnderlayPlan): string => {
    const ops: Array<Array<string | number>> = []
    if (p.createBridge) ops.push(['add-br', br], ['set', 'Bridge', br, 'datapath_type=netdev', `external_ids:${OWNER_KEY}=1`])
    else if (p.datapath) ops.push(['set', 'Bridge', br, 'datapath_type=netdev'])
    if (p.hwaddr) ops.push(['set', 'Bridge', br, `other_config:hwaddr=${ovsStr(s.ifaceMac)}`])
    if (p.mtu) ops.push(mtuRequestCmd(br, s.ifaceMtu))
    if (p.addPort) ops.push(['add-port', br, dev], ['set', 'Port', dev, `external_ids:${OWNER_KEY}=1`])
    const lines: string[] = []
    if (ops.length) lines.push(`${vsctl(ops)} || fail 'ovs-vsctl'`)
    if (p.up || p.createBridge) lines.push(sh`ip link set dev ${br} up || fail ${`bringing ${br} up`}`)
    // Address on the bridge first, then the routes (replace: same key, new device), then off the iface.
    for (const x of p.addrs) lines.push(`ip addr replace ${argv(addrWords(x, br, dev))} || fail ${quote(`adding ${x.local} to ${br}`)}`)
    for (const r of p.routes) lines.push(`ip route replace ${argv(routeWords(r, br))} || fail ${quote(`route ${routeText(r)}`)}`)
    for (const x of p.addrs) lines.push(`ip addr del ${argv([`${x.local}/${x.prefixlen}`, 'dev', dev])} || fail ${quote(`removing ${x.local} from ${dev}`)}`)
    // Deleting the last address of iface flushed routes left on it; the moved ones are on the bridge.
    for (const r of p.routes) lines.push(`ip route replace ${argv(routeWords(r, br))} || fail ${quote(`route ${routeText(r)}`)}`)
    return lines.join('\n')
  }

  /** Puts the host back as it was read: addresses and routes on iface, then the OVS side. */
  const inverseScript = (s: UnderlayState, p: UnderlayPlan): string => {
    const lines: string[] = []
    if (s.ifaceUp) lines.push(sh`ip link set dev ${dev} up`)
    for (const x of p.addrs) lines.push(`ip addr replace ${argv(addrWords(x, dev, dev))}`)
    for (const r of p.routes) lines.push(`ip route replace ${argv(routeWords(r, dev))}`)
    const ops: Array<Array<string | number>> = []
    if (p.createBridge) ops.push(['--if-exists', 'del-br', br])
    else {
      if (p.addPort) ops.push(['--if-exists', 'del-port', br, dev])
      if (p.datapath) ops.push(['set', 'Bridge', br, `datapath_type=${ovsStr(p.datapath.from)}`])
      if (p.hwaddr) ops.push(p.hwaddr.from === undefined ? ['remove', 'Bridge', br, 'other_config', 'hwaddr'] : ['set', 'Bridge', br, `other_config:hwaddr=${ovsStr(p.hwaddr.from)}`])
      if (p.mtu) ops.push(mtuRequestCmd(br, p.mtu.from))
    }
    if (ops.length) lines.push(vsctl(ops))
    if (!p.createBridge) {
      for (const x of p.addrs) lines.push(`ip addr del ${argv([`${x.local}/${x.prefixlen}`, 'dev', br])} 2>/dev/null`)
      if (p.up) lines.push(sh`ip link set dev ${br} down`)
    }
    // Routes again: removing addresses from the bridge may have taken routes with them.
    for (const r of p.routes) lines.push(`ip route replace ${argv(routeWords(r, dev))}`)
    return lines.join('\n')
  }

  const resource: Resource<UnderlayState> = {
    module: 'ovs_underlay',
    name: `ovs underlay ${a.iface} -> ${a.bridge}`,
    risky: true,
    validate() {
      parseArgs(OVS_UNDERLAY_SPEC, a)
      if (a.bridge === a.iface) throw new ArgError('ovsUnderlay.bridge', 'a bridge name other than the interface', a.bridge)
    },
    async read(ctx) {
      const { db, sections } = await readOvs(ctx, [
        sh`ip -j -d link show dev ${dev} || exit 42`,
        sh`ip -j -4 addr show dev ${dev}`,
        sh`ip -j -4 -d route show table all dev ${dev}`,
        sh`ip -j link show dev ${br} 2>/dev/null || true`,
      ]).catch((e: unknown) => {
        if (e instanceof TaskFailed && e.result.rc === 42) throw new TaskFailed(`no interface ${dev} on ${ctx.host.name}`, e.result)
        throw e
      })
      const link = JSON.parse(sections[0])[0] as { address: string; mtu: number; flags: string[] }
      const bLink = (sections[3] ?? '').trim()
      return {
        db,
        ifaceMac: link.address,
        ifaceMtu: link.mtu,
        ifaceUp: link.flags.includes('UP'),
        ifaceAddrs: parseAddrs(sections[1]),
        ifaceRoutes: parseRoutes(sections[2], dev),
        bridgeUp: !!bLink && (JSON.parse(bLink)[0]?.flags ?? []).includes('UP'),
      }
    },
    diff(s) {
      const p = plan(s)
      const out: Change[] = []
      if (p.createBridge) out.push({ what: `create OVS bridge ${br} (datapath netdev)`, after: `hwaddr ${s.ifaceMac}, mtu ${s.ifaceMtu}` })
      else {
        if (p.datapath) out.push({ what: `${br} datapath_type`, before: p.datapath.from || '(system)', after: 'netdev' })
        if (p.hwaddr) out.push({ what: `${br} other_config:hwaddr`, before: p.hwaddr.from ?? '(none)', after: s.ifaceMac })
        if (p.mtu) out.push({ what: `${br} mtu_request`, before: String(p.mtu.from ?? '(none)'), after: String(s.ifaceMtu) })
      }
      if (p.addPort) out.push({ what: `add ${dev} to OVS bridge ${br}` })
      if (p.up && !p.createBridge) out.push({ what: `set ${br} up` })
      for (const x of p.addrs) out.push({ what: `move address ${x.local}/${x.prefixlen}`, before: dev, after: br })
      for (const r of p.routes) out.push({ what: `move route ${routeText(r)}`, before: dev, after: br })
      return out
    },
    undo(s): Undo {
      const p = plan(s)
      const moved = p.addrs.map((x) => `${x.local}/${x.prefixlen}`).join(', ')
      return {
        description: `${p.createBridge ? `delete OVS bridge ${br}` : `take ${dev} out of ${br}`}${moved ? `; put ${moved} and ${p.routes.length} route(s) back on ${dev}` : ''}`,
        script: detached(inverseScript(s, p)),
      }
    },
    async apply(ctx, s) {
      const p = plan(s)
      const body = ['set -u', `fail() { echo "orch: $1 failed: putting everything back" >&2; (`, inverseScript(s, p), ') >/dev/null 2>&1; exit 1; }', forwardScript(s, p)].join('\n')
      const r = await ctx.run(detached(body))
      mustSucceed(r, `moving ${dev}'s address onto ${br}`)
      return { stdout: r.stdout, stderr: r.stderr }
    },
  }
  return task(resource)
}
