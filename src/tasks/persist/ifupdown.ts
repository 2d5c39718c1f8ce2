/**
 * ifupdown (Debian /etc/network/interfaces and interfaces.d/*): the interface's stanzas become
 * `iface eth0 inet manual` and a bridge stanza takes its place:
 *
 *     auto br0
 *     iface br0 inet static            # or dhcp, as eth0 had
 *         bridge_ports eth0
 *         bridge_stp off
 *         bridge_fd 0
 *         hwaddress ether 52:54:00:12:34:56
 *         mtu 1500
 *         address 192.0.2.10/24
 *         gateway 192.0.2.1
 *         up ip -4 addr add 192.0.2.11/24 dev br0     # further addresses and routes
 *
 * Options of eth0's stanza other than addressing ones (dns-*, up/down hooks ...) move to the bridge.
 * bridge_* options need the bridge-utils package (ifupdown2 understands them too).
 */
import { argv } from '../../net/shell.ts'
import { addrArgv, isKernelRoute, routeArgv, type IpAddr, type IpRoute } from './iproute.ts'
import { absent, textOf, type ConfigFile, type FileWrite, type PersistFacts, type PersistPlan, type TakeoverSpec } from './types.ts'

const MAIN = '/etc/network/interfaces'
const isIfupdownFile = (p: string) => p === MAIN || p.startsWith('/etc/network/interfaces.d/')

interface Stanza {
  /** Line indexes [start, end) of the `iface` line and its options. */
  start: number
  end: number
  name: string
  family: string
  method: string
  options: string[]
}

const STANZA_START = /^(iface|mapping|auto|allow-[\w-]+|source|source-directory|rename|no-auto-down|no-scripts)\b/

function parse(lines: string[]): Stanza[] {
  const out: Stanza[] = []
  let cur: Stanza | null = null
  lines.forEach((raw, i) => {
    const line = raw.trim()
    if (STANZA_START.test(line)) {
      if (cur) out.push(cur)
      cur = null
      const w = line.split(/\s+/)
      if (w[0] === 'iface') cur = { start: i, end: i + 1, name: w[1] ?? '', family: w[2] ?? 'inet', method: w[3] ?? 'manual', options: [] }
      return
    }
    if (cur && line !== '' && !line.startsWith('#')) {
      cur.options.push(line)
      cur.end = i + 1
    }
  })
  if (cur) out.push(cur)
  return out
}

const files = (facts: PersistFacts): ConfigFile[] => facts.files.filter((f) => isIfupdownFile(f.path) && f.state.kind === 'file')

export function ifupdownDefines(facts: PersistFacts, iface: string, bridge: string): boolean {
  return files(facts).some((f) => parse((textOf(f) ?? '').split('\n')).some((s) => s.name === iface || s.name === bridge))
}

const ADDRESSING = /^(address|netmask|gateway|broadcast|network|pointopoint|hwaddress|mtu|metric|bridge[_-])/
const v4Default = (r: IpRoute) => r.family === 4 && (r.json.dst ?? 'default') === 'default' && !r.json.table && typeof r.json.gateway === 'string' && !r.json.nexthops
const v6Default = (r: IpRoute) => r.family === 6 && (r.json.dst ?? 'default') === 'default' && !r.json.table && typeof r.json.gateway === 'string' && !r.json.nexthops

/** Config lines for runtime addresses and routes of one family (static method). */
function staticLines(spec: TakeoverSpec, family: 4 | 6, withRoutesOf: Array<4 | 6>): string[] {
  const fam = family === 4 ? 'inet' : 'inet6'
  const addrs = spec.addrs.filter((a) => a.family === fam && !a.dynamic)
  const out: string[] = []
  const [first, ...rest] = addrs
  if (first) {
    out.push(`address ${first.local}/${first.prefixlen}`)
    if (family === 6 && first.flags.includes('nodad')) out.push('dad-attempts 0')
  }
  const routes = spec.routes.filter((r) => withRoutesOf.includes(r.family) && !isKernelRoute(r) && r.json.protocol !== 'ra' && r.json.protocol !== 'dhcp')
  const dflt = routes.find((r) => r.family === family && (family === 4 ? v4Default(r) : v6Default(r)))
  if (dflt && first) {
    out.push(`gateway ${String(dflt.json.gateway)}`)
    if (dflt.json.metric !== undefined && family === 4) out.push(`metric ${String(dflt.json.metric)}`)
  }
  for (const a of rest) out.push(`up ${argv(addrArgv(stripLifetimes(a), 'add', spec.bridge, spec.iface))}`)
  for (const r of routes) if (!(r === dflt && first)) out.push(`up ${argv(routeArgv(r, 'add', spec.iface, spec.bridge))}`)
  return out
}

const stripLifetimes = (a: IpAddr): IpAddr => ({ ...a, validLft: undefined, preferredLft: undefined })

function bridgeBlock(spec: TakeoverSpec, old: Stanza[], autoLine: string): string[] {
  const v4 = old.find((s) => s.family === 'inet')
  const v6 = old.find((s) => s.family === 'inet6')
  const hasV4 = spec.addrs.some((a) => a.family === 'inet')
  const v4dyn = spec.addrs.some((a) => a.family === 'inet' && a.dynamic)
  const v6static = spec.addrs.some((a) => a.family === 'inet6' && !a.dynamic)
  const v4method = v4 && v4.method !== 'manual' && v4.method !== 'static' ? v4.method : v4dyn ? 'dhcp' : hasV4 ? 'static' : 'manual'
  const v6method = v6 && v6.method !== 'static' && v6.method !== 'manual' ? v6.method : v6static ? 'static' : null
  const ind = '    '
  const out = [`# orch bridgeTakeover: ${spec.bridge} takes over ${spec.iface}`, `${autoLine} ${spec.bridge}`, `iface ${spec.bridge} inet ${v4method}`]
  out.push(
    `${ind}bridge_ports ${spec.iface}`,
    `${ind}bridge_stp ${spec.stp ? 'on' : 'off'}`,
    `${ind}bridge_fd ${spec.forwardDelay}`,
    `${ind}hwaddress ether ${spec.mac}`,
    `${ind}mtu ${spec.mtu}`,
  )
  // Routes of the other family go in the inet stanza when there is no static inet6 stanza to hold them.
  if (v4method === 'static') out.push(...staticLines(spec, 4, v6method === 'static' ? [4] : [4, 6]).map((l) => ind + l))
  for (const o of v4?.options ?? []) if (!ADDRESSING.test(o)) out.push(ind + o)
  if (v6method) {
    out.push(`iface ${spec.bridge} inet6 ${v6method}`)
    if (v6method === 'static') out.push(...staticLines(spec, 6, [6]).map((l) => ind + l))
    for (const o of v6?.options ?? []) if (!ADDRESSING.test(o) && !/^dad-attempts/.test(o)) out.push(ind + o)
  }
  return out
}

export function planIfupdown(facts: PersistFacts, spec: TakeoverSpec): PersistPlan {
  const notes: string[] = []
  const all = files(facts)
  // Already persisted: a bridge stanza with the interface as a port.
  for (const f of all) {
    const lines = (textOf(f) ?? '').split('\n')
    for (const s of parse(lines)) {
      if (s.name === spec.bridge && s.options.some((o) => /^bridge[_-]ports\s/.test(o) && o.split(/\s+/).slice(1).includes(spec.iface))) {
        return { kind: 'ifupdown', writes: [], notes: [`ifupdown: ${f.path} already has ${spec.bridge} with port ${spec.iface}`] }
      }
    }
  }
  const writes: FileWrite[] = []
  let placed = false
  let autoLine = 'auto'
  const oldStanzas: Stanza[] = []
  const edited: Array<{ f: ConfigFile; lines: string[]; insertAt: number | null }> = []
  for (const f of all) {
    const lines = (textOf(f) ?? '').split('\n')
    const stanzas = parse(lines).filter((s) => s.name === spec.iface)
    const autoIdx: number[] = []
    lines.forEach((l, i) => {
      const w = l.trim().split(/\s+/)
      if ((w[0] === 'auto' || w[0].startsWith('allow-')) && w.slice(1).includes(spec.iface)) autoIdx.push(i)
    })
    if (!stanzas.length && !autoIdx.length) continue
    for (const i of autoIdx) {
      const w = lines[i].trim().split(/\s+/)
      if (w[0] === 'allow-hotplug' || w[0] === 'auto') autoLine = 'auto'
      const rest = w.slice(1).filter((x) => x !== spec.iface)
      lines[i] = rest.length ? [w[0], ...rest].join(' ') : '\0'
    }
    oldStanzas.push(...stanzas)
    let insertAt: number | null = null
    for (const s of [...stanzas].reverse()) {
      lines.splice(s.start, s.end - s.start, ...(insertAt === null && s === stanzas[0] ? ['\0stanza'] : []))
    }
    insertAt = lines.indexOf('\0stanza')
    edited.push({ f, lines, insertAt: insertAt >= 0 ? insertAt : null })
  }
  const block = [...bridgeBlock(spec, oldStanzas, autoLine), '', `iface ${spec.iface} inet manual`]
  for (const e of edited) {
    let lines = e.lines
    if (!placed && e.insertAt !== null) {
      lines.splice(e.insertAt, 1, ...block)
      placed = true
    }
    lines = lines.filter((l) => l !== '\0' && l !== '\0stanza')
    writes.push({ path: e.f.path, before: e.f.state, content: lines.join('\n'), mode: e.f.state.kind === 'file' ? e.f.state.mode : '0644' })
  }
  if (!placed) {
    const main = all.find((f) => f.path === MAIN)
    const idx = writes.findIndex((w) => w.path === MAIN)
    const base = idx >= 0 ? writes[idx].content : main ? (textOf(main) ?? '') : 'auto lo\niface lo inet loopback\n'
    const content = base.replace(/\n*$/, '\n\n') + block.join('\n') + '\n'
    const w: FileWrite = { path: MAIN, before: main?.state ?? absent, content, mode: main?.state.kind === 'file' ? main.state.mode : '0644' }
    if (idx >= 0) writes[idx] = w
    else writes.push(w)
    if (!oldStanzas.length) notes.push(`ifupdown: no stanza for ${spec.iface} found: the bridge stanza is added to ${MAIN} from the running addresses and routes`)
  }
  notes.push(`ifupdown: ${writes.map((w) => w.path).join(', ')} (bridge_* options need bridge-utils)`)
  return { kind: 'ifupdown', writes, notes }
}
