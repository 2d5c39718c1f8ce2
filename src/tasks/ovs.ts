/**
 * Open vSwitch: what the OVS tasks share (reading the database in one round trip, OVSDB value syntax,
 * tunnel overheads, detached scripts), and ovsUnderlay: the host's underlay address moved onto an OVS
 * bridge, which the userspace datapath needs for tunnels.
 *
 *   ovsBridge        src/tasks/ovsBridge.ts
 *   ovsTunnels       src/tasks/ovsTunnel.ts
 *   ovsInternalPort  src/tasks/ovsInternalPort.ts
 *   ovsUnderlay      here
 *
 * Every port orch creates carries `external_ids:orch=1` on its Port row: only those are ever deleted.
 */
import { argv, quote, sh } from '../net/shell.ts'
import { argSpec, parseArgs } from '../argspec.ts'
import { ArgError, TaskFailed, task, type Change, type Resource, type Task, type TaskContext, type Undo } from '../engine/types.ts'
import { mustSucceed, sectionMark, splitSections } from '../engine/taskkit.ts'
import { byCodeUnit } from '../sort.ts'

// ---------------------------------------------------------------- the database, read in one command

export interface OvsInterface {
  uuid: string
  name: string
  /** '' is a system interface (a kernel netdev such as eth0 or a veth). */
  type: string
  options: Record<string, string>
  mtuRequest?: number
  externalIds: Record<string, string>
}

export interface OvsPort {
  uuid: string
  name: string
  /** Bridge holding the port ('' when none does: an orphan row). */
  bridge: string
  externalIds: Record<string, string>
  interfaces: OvsInterface[]
}

export interface OvsBridge {
  uuid: string
  name: string
  /** As stored: '' means the kernel datapath ('system'). */
  datapathType: string
  otherConfig: Record<string, string>
  externalIds: Record<string, string>
  ports: OvsPort[]
}

export interface OvsDb {
  bridges: Map<string, OvsBridge>
  /** Every port by name, whatever its bridge. */
  ports: Map<string, OvsPort>
  interfaces: Map<string, OvsInterface>
}

/** The external_ids key marking what orch created. */
export const OWNER_KEY = 'orch'
export const owned = (p: { externalIds: Record<string, string> }): boolean => p.externalIds[OWNER_KEY] === '1'

/** ovs-vsctl for changes: waits for ovs-vswitchd to apply them, but never forever. */
export const VSCTL = 'ovs-vsctl --timeout=30'

const RC_NO_OVS = 40
const RC_NO_DB = 41

/**
 * The script that prints the three tables (Bridge, Port, Interface) as JSON, one line each: a single
 * ovs-vsctl command, so a read costs one round trip however many bridges and ports there are.
 */
export const OVS_READ_SCRIPT =
  `if ! command -v ovs-vsctl >/dev/null 2>&1; then echo 'ovs-vsctl not found' >&2; exit ${RC_NO_OVS}; fi; ` +
  argv([
    'ovs-vsctl', '--timeout=10', '--format=json',
    '--', '--columns=_uuid,name,datapath_type,ports,other_config,external_ids', 'list', 'Bridge',
    '--', '--columns=_uuid,name,interfaces,external_ids', 'list', 'Port',
    '--', '--columns=_uuid,name,type,options,mtu_request,external_ids', 'list', 'Interface',
  ]) +
  ` || exit ${RC_NO_DB}`

type Atom = string | number | boolean | ['uuid', string] | ['set', Atom[]] | ['map', Array<[Atom, Atom]>]

function atom(v: Atom): string | number | boolean {
  if (Array.isArray(v)) return v[0] === 'uuid' ? v[1] : String(v[1])
  return v
}
function set(v: Atom): Array<string | number | boolean> {
  if (Array.isArray(v) && v[0] === 'set') return (v[1] as Atom[]).map(atom)
  return [atom(v)]
}
function map(v: Atom): Record<string, string> {
  const out: Record<string, string> = {}
  if (Array.isArray(v) && v[0] === 'map') for (const [k, x] of v[1] as Array<[Atom, Atom]>) out[String(atom(k))] = String(atom(x))
  return out
}
function rows(line: string, what: string): Array<Record<string, Atom>> {
  let t: { headings: string[]; data: Atom[][] }
  try {
    t = JSON.parse(line)
  } catch {
    throw new TaskFailed(`unexpected ovs-vsctl output for ${what}: ${line.slice(0, 200)}`)
  }
  return t.data.map((r) => Object.fromEntries(t.headings.map((h, i) => [h, r[i]])))
}

/** Parse the output of OVS_READ_SCRIPT. */
export function parseOvsDb(out: string): OvsDb {
  const lines = out.split('\n').filter((l) => l.trim() !== '')
  if (lines.length < 3) throw new TaskFailed(`unexpected ovs-vsctl output: ${out.slice(0, 200)}`)
  const ifaces = new Map<string, OvsInterface>()
  const ifaceByName = new Map<string, OvsInterface>()
  for (const r of rows(lines[2], 'Interface')) {
    const mtu = set(r.mtu_request)
    const i: OvsInterface = {
      uuid: String(atom(r._uuid)),
      name: String(r.name),
      type: String(r.type ?? ''),
      options: map(r.options),
      externalIds: map(r.external_ids),
    }
    if (mtu.length && typeof mtu[0] === 'number') i.mtuRequest = mtu[0]
    ifaces.set(i.uuid, i)
    ifaceByName.set(i.name, i)
  }
  const ports = new Map<string, OvsPort>()
  const portByName = new Map<string, OvsPort>()
  for (const r of rows(lines[1], 'Port')) {
    const p: OvsPort = {
      uuid: String(atom(r._uuid)),
      name: String(r.name),
      bridge: '',
      externalIds: map(r.external_ids),
      interfaces: set(r.interfaces).map((u) => ifaces.get(String(u))).filter((x): x is OvsInterface => !!x),
    }
    ports.set(p.uuid, p)
    portByName.set(p.name, p)
  }
  const bridges = new Map<string, OvsBridge>()
  for (const r of rows(lines[0], 'Bridge')) {
    const b: OvsBridge = {
      uuid: String(atom(r._uuid)),
      name: String(r.name),
      datapathType: String(r.datapath_type ?? ''),
      otherConfig: map(r.other_config),
      externalIds: map(r.external_ids),
      ports: set(r.ports).map((u) => ports.get(String(u))).filter((x): x is OvsPort => !!x),
    }
    for (const p of b.ports) p.bridge = b.name
    b.ports.sort((x, y) => byCodeUnit(x.name, y.name))
    bridges.set(b.name, b)
  }
  return { bridges, ports: portByName, interfaces: ifaceByName }
}

/**
 * One round trip: the OVS database first, then `extra` scripts, each in its own section. Returns the
 * database and the sections' outputs. Fails the task clearly when OVS is missing or not running.
 */
export async function readOvs(ctx: TaskContext, extra: string[] = []): Promise<{ db: OvsDb; sections: string[] }> {
  const script = [OVS_READ_SCRIPT, ...extra].join(`\n${sectionMark}\n`)
  const r = await ctx.run(script)
  if (r.code === RC_NO_OVS) throw new TaskFailed(`Open vSwitch is not installed on ${ctx.host.name} (no ovs-vsctl): install openvswitch-switch`, { rc: r.code })
  if (r.code === RC_NO_DB)
    throw new TaskFailed(`ovs-vsctl cannot reach ovsdb-server on ${ctx.host.name} (is openvswitch-switch running?): ${r.stderr.trim().split('\n').pop() ?? ''}`, { rc: r.code, stderr: r.stderr })
  mustSucceed(r, 'reading the Open vSwitch database')
  const [ovs, ...sections] = splitSections(r.stdout)
  return { db: parseOvsDb(ovs), sections }
}

// ---------------------------------------------------------------- OVSDB value syntax for ovs-vsctl

/** An OVSDB string as ovs-vsctl parses it (double-quoted, C escapes): safe for any text. */
export const ovsStr = (s: string): string => JSON.stringify(s)

/** A whole map column value: {"k"="v",...}. Pass it through argv/sh like any other word. */
export function ovsMap(m: Record<string, string>): string {
  return '{' + Object.entries(m).map(([k, v]) => `${ovsStr(k)}=${ovsStr(v)}`).join(',') + '}'
}

/** `column=value` words for `ovs-vsctl set`: one shell word each when passed through argv. */
export const colMap = (column: string, m: Record<string, string>): string => `${column}=${ovsMap(m)}`

/** `ovs-vsctl` with several commands in one transaction: each command is an argv array. */
export function vsctl(commands: Array<Array<string | number>>, opts: { ifExists?: boolean } = {}): string {
  const words: Array<string | number> = []
  for (const c of commands) words.push('--', ...c)
  return `${VSCTL}${opts.ifExists ? ' --if-exists' : ''} ${argv(words)}`
}

/** `mtu_request` of an interface, or its removal. */
export const mtuRequestCmd = (iface: string, mtu: number | undefined): Array<string | number> =>
  mtu === undefined ? ['clear', 'Interface', iface, 'mtu_request'] : ['set', 'Interface', iface, `mtu_request=${mtu}`]

// ---------------------------------------------------------------- tunnels and MTU

/**
 * Bytes a tunnel adds around the inner IP packet (IPv4 underlay): outer IPv4 20 + the tunnel header +
 * the inner Ethernet header 14. GRE counts its key (4) whether set or not, so adding a key later never
 * needs a smaller MTU. The inner MTU is the underlay MTU minus this.
 */
export const TUNNEL_OVERHEAD = { gre: 20 + 8 + 14, vxlan: 20 + 8 + 8 + 14 } as const
export type TunnelType = keyof typeof TUNNEL_OVERHEAD

/**
 * A script printing "REMOTE_IP DEV MTU" for every IPv4 remote_ip of every OVS tunnel interface: the
 * underlay device the kernel routes to that peer and its MTU. One line per remote.
 */
export const TUNNEL_UNDERLAY_SCRIPT =
  `for r in $(ovs-vsctl --timeout=10 --bare --columns=options list Interface | tr ' ,{}' '\\n\\n\\n\\n' | ` +
  `sed -n 's/^remote_ip="\\{0,1\\}\\([0-9.]*\\)"\\{0,1\\}$/\\1/p' | sort -u); do ` +
  `d=$(ip -4 route get "$r" 2>/dev/null | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p' | head -n 1); ` +
  `m=$(cat "/sys/class/net/$d/mtu" 2>/dev/null); echo "$r \${d:-none} \${m:-0}"; done`

export interface UnderlayRoute {
  dev: string
  mtu: number
}
export function parseTunnelUnderlay(out: string): Map<string, UnderlayRoute> {
  const m = new Map<string, UnderlayRoute>()
  for (const line of out.split('\n')) {
    const [ip, dev, mtu] = line.trim().split(/\s+/)
    if (ip && dev && Number(mtu) > 0) m.set(ip, { dev, mtu: Number(mtu) })
  }
  return m
}

/** The inner MTU for the tunnels of a bridge: min over them of (underlay MTU − overhead); undefined if none. */
export function innerMtu(bridge: OvsBridge | undefined, underlay: Map<string, UnderlayRoute>): number | undefined {
  let best: number | undefined
  for (const p of bridge?.ports ?? []) {
    for (const i of p.interfaces) {
      const t = i.type as TunnelType
      const remote = i.options.remote_ip
      if (!(t in TUNNEL_OVERHEAD) || !remote) continue
      const u = underlay.get(remote)
      if (!u) continue
      const m = u.mtu - TUNNEL_OVERHEAD[t]
      best = best === undefined ? m : Math.min(best, m)
    }
  }
  return best
}

// ---------------------------------------------------------------- detached scripts

/**
 * Wrap `body` so it runs detached from the session (setsid, stdin /dev/null, output to a file): if the
 * SSH session drops halfway (the script moves the address it runs over), the script still finishes.
 * The caller waits for it (up to `waitSeconds`) and gets its output and exit code. A subshell, so it
 * can sit in a longer script (a journal) without ending it.
 */
export function detached(body: string, waitSeconds = 60): string {
  const ticks = waitSeconds * 10
  return (
    `(d=$(mktemp -d "\${TMPDIR:-/tmp}/orch-detached.XXXXXX") || exit 1; ` +
    `cat > "$d/run.sh" <<'ORCH_DETACHED_END'\n${body}\nORCH_DETACHED_END\n` +
    `setsid sh -c 'sh "$1/run.sh" > "$1/out" 2>&1; echo $? > "$1/rc.tmp"; mv "$1/rc.tmp" "$1/rc"' orch-detached "$d" </dev/null >/dev/null 2>&1 & ` +
    `i=0; while [ ! -f "$d/rc" ] && [ $i -lt ${ticks} ]; do sleep 0.1; i=$((i+1)); done; ` +
    `cat "$d/out" 2>/dev/null; ` +
    `if [ -f "$d/rc" ]; then rc=$(cat "$d/rc"); rm -rf "$d"; exit "$rc"; fi; ` +
    `echo "orch: detached script still running after ${waitSeconds}s (see $d)" >&2; exit 124)`
  )
}

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
