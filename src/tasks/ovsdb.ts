/**
 * Open vSwitch: what the OVS tasks share (reading the database in one round trip, OVSDB value syntax,
 * tunnel overheads, detached scripts).
 *
 * Every port orch creates carries `external_ids:orch=1` on its Port row: only those are ever deleted.
 */
import { argv } from '../net/shell.ts'
import { TaskFailed, type TaskContext } from '../engine/types.ts'
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
