/**
 * systemd-networkd (/etc/systemd/network): the .network file that matches the interface keeps its
 * [Match] and [Link] and gets `Bridge=<bridge>`; its layer-3 settings ([Network] addressing keys,
 * [Address], [Route], [DHCPv4] ... sections) move to a new <bridge> .network, and a .netdev creates the
 * bridge with the interface's MAC and MTU, STP off and forward delay 0:
 *
 *     10-orch-br0.netdev     [NetDev] Name=br0 Kind=bridge MACAddress=... MTUBytes=...  [Bridge] STP=no ForwardDelaySec=0
 *     10-orch-br0.network    [Match] Name=br0, then eth0's addressing (or the running addresses and routes)
 *     <eth0's file>          [Match] Name=eth0 ... [Network] Bridge=br0
 *
 * No file matching the interface: 10-orch-br0-eth0.network holds the port. Files are 0644 as networkd's.
 */
import { isKernelRoute, type IpRoute } from './iproute.ts'
import { absent, textOf, type ConfigFile, type FileWrite, type PersistFacts, type PersistPlan, type TakeoverSpec } from './types.ts'

export const NETWORKD_DIR = '/etc/systemd/network'

type Section = { name: string; lines: string[] }

/** A unit-style file: sections in order, the lines before the first one in a section named ''. */
export function parseUnit(text: string): Section[] {
  const out: Section[] = [{ name: '', lines: [] }]
  for (const line of text.split('\n')) {
    const m = /^\s*\[([^\]]+)\]\s*$/.exec(line)
    if (m) out.push({ name: m[1], lines: [] })
    else out[out.length - 1].lines.push(line)
  }
  return out
}

const keyOf = (line: string): string | null => /^\s*([A-Za-z0-9]+)\s*=/.exec(line)?.[1] ?? null
const valueOf = (line: string): string => line.slice(line.indexOf('=') + 1).trim()
const renderUnit = (s: Section[]): string =>
  s.map((x) => (x.name ? [`[${x.name}]`, ...x.lines] : x.lines).join('\n')).filter((t) => t.trim() !== '').join('\n').replace(/\n{3,}/g, '\n\n').replace(/\s*$/, '\n')

/** A glob of [Match] Name= (shell wildcards * ? [..]). */
function globMatch(glob: string, name: string): boolean {
  const re = glob.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${re}$`).test(name)
}

const networkdFiles = (facts: PersistFacts, ext: string): ConfigFile[] =>
  facts.files.filter((f) => f.path.startsWith(NETWORKD_DIR + '/') && f.path.endsWith(ext) && f.state.kind === 'file').sort((a, b) => base(a.path).localeCompare(base(b.path)))
const base = (p: string) => p.slice(p.lastIndexOf('/') + 1)

function matchNames(s: Section[]): string[] {
  return s.filter((x) => x.name === 'Match').flatMap((x) => x.lines.filter((l) => keyOf(l) === 'Name').flatMap((l) => valueOf(l).split(/\s+/)))
}

/** The first .network file (networkd's order: by file name) whose [Match] Name= matches `dev`. */
export function networkdFileFor(facts: PersistFacts, dev: string): ConfigFile | undefined {
  return networkdFiles(facts, '.network').find((f) => matchNames(parseUnit(textOf(f) ?? '')).some((g) => globMatch(g, dev)))
}

export function networkdDefines(facts: PersistFacts, iface: string, bridge: string): boolean {
  return !!networkdFileFor(facts, iface) || !!networkdFileFor(facts, bridge)
}

/** [Network] keys that belong to the port itself (stay); every other one is addressing and moves. */
const PORT_KEYS = new Set(['Bridge', 'Bond', 'VLAN', 'MACVLAN', 'VXLAN', 'Tunnel', 'Description'])
/** Sections that move to the bridge whole. */
const L3_SECTIONS = new Set(['Address', 'Route', 'RoutingPolicyRule', 'NextHop', 'DHCP', 'DHCPv4', 'DHCPv6', 'IPv6AcceptRA', 'IPv6SendRA', 'DHCPServer', 'IPv6Prefix', 'Neighbor'])

function routeSection(r: IpRoute): string[] {
  const j = r.json
  const out = ['[Route]']
  if (j.dst !== undefined && j.dst !== 'default') out.push(`Destination=${String(j.dst)}`)
  else if (r.family === 6) out.push('Destination=::/0')
  if (typeof j.gateway === 'string') out.push(`Gateway=${j.gateway}`)
  if (j.metric !== undefined) out.push(`Metric=${String(j.metric)}`)
  if (j.table !== undefined && /^\d+$/.test(String(j.table))) out.push(`Table=${String(j.table)}`)
  if (j.scope !== undefined && j.scope !== 'global' && j.scope !== 'universe') out.push(`Scope=${String(j.scope)}`)
  if (j.prefsrc !== undefined) out.push(`PreferredSource=${String(j.prefsrc)}`)
  if (Array.isArray(j.flags) && (j.flags as string[]).includes('onlink')) out.push('GatewayOnLink=yes')
  if (j.type !== undefined && ['unreachable', 'blackhole', 'prohibit'].includes(String(j.type))) out.push(`Type=${String(j.type)}`)
  return out
}

/** The running addresses and routes in networkd's words (when no file describes the interface). */
function runtimeNetwork(spec: TakeoverSpec): string[] {
  const out = ['[Network]']
  const dyn4 = spec.addrs.some((a) => a.family === 'inet' && a.dynamic)
  const dyn6 = spec.addrs.some((a) => a.family === 'inet6' && a.dynamic)
  if (dyn4) out.push('DHCP=ipv4')
  out.push(`IPv6AcceptRA=${dyn6 ? 'yes' : 'no'}`)
  if (!dyn6) out.push('LinkLocalAddressing=no')
  for (const a of spec.addrs.filter((x) => !x.dynamic)) out.push(`Address=${a.local}/${a.prefixlen}`)
  for (const r of spec.routes.filter((x) => !isKernelRoute(x) && x.json.protocol !== 'ra' && x.json.protocol !== 'dhcp')) out.push('', ...routeSection(r))
  return out
}

export function planNetworkd(facts: PersistFacts, spec: TakeoverSpec): PersistPlan {
  const stem = `${NETWORKD_DIR}/10-orch-${spec.bridge}`
  const netdev = networkdFiles(facts, '.netdev').find((f) => parseUnit(textOf(f) ?? '').some((s) => s.name === 'NetDev' && s.lines.some((l) => keyOf(l) === 'Name' && valueOf(l) === spec.bridge)))
  const holder = networkdFileFor(facts, spec.iface)
  const holderUnit = holder ? parseUnit(textOf(holder) ?? '') : undefined
  const isPort = holderUnit?.some((s) => s.name === 'Network' && s.lines.some((l) => keyOf(l) === 'Bridge' && valueOf(l) === spec.bridge))
  if (netdev && isPort) return { kind: 'networkd', writes: [], notes: [`networkd: ${netdev.path} and ${holder!.path} already make ${spec.bridge} with port ${spec.iface}`] }

  const header = `# orch bridgeTakeover: ${spec.bridge} takes over ${spec.iface}`
  const dev = [header, '[NetDev]', `Name=${spec.bridge}`, 'Kind=bridge', `MACAddress=${spec.mac}`, `MTUBytes=${spec.mtu}`, '', '[Bridge]', `STP=${spec.stp ? 'yes' : 'no'}`, `ForwardDelaySec=${spec.forwardDelay}`]
  const br: string[] = [header, '[Match]', `Name=${spec.bridge}`, '']
  const writes: FileWrite[] = []
  const notes: string[] = []
  const fileAt = (path: string) => facts.files.find((f) => f.path === path)?.state ?? absent
  let port: Section[]
  let portPath: string
  const moved: Section[] = []
  if (holder && holderUnit) {
    port = []
    for (const s of holderUnit) {
      if (L3_SECTIONS.has(s.name)) moved.push(s)
      else if (s.name === 'Network') {
        const keep = s.lines.filter((l) => keyOf(l) === null || PORT_KEYS.has(keyOf(l)!))
        const l3 = s.lines.filter((l) => keyOf(l) !== null && !PORT_KEYS.has(keyOf(l)!))
        if (l3.length) moved.unshift({ name: 'Network', lines: l3 })
        port.push({ name: 'Network', lines: [...keep.filter((l) => l.trim() !== '' && keyOf(l) !== 'Bridge'), `Bridge=${spec.bridge}`, ''] })
      } else port.push(s)
    }
    if (!port.some((s) => s.name === 'Network')) port.push({ name: 'Network', lines: [`Bridge=${spec.bridge}`] })
    portPath = holder.path
    notes.push(`networkd: ${holder.path}: ${spec.iface} becomes a port of ${spec.bridge}, its addressing moves to ${stem}.network`)
  } else {
    port = parseUnit(`${header}\n[Match]\nName=${spec.iface}\n\n[Network]\nBridge=${spec.bridge}\n`)
    portPath = `${stem}-${spec.iface}.network`
    notes.push(`networkd: no .network file matches ${spec.iface}: ${stem}.network written from the running addresses and routes`)
  }
  const movedL3 = moved.some((s) => s.lines.some((l) => keyOf(l) !== null))
  if (movedL3) {
    for (const s of moved) br.push(`[${s.name}]`, ...s.lines.filter((l) => l.trim() !== ''), '')
    // A bridge may come up before its port has carrier: keep its static addresses configured meanwhile.
    if (!moved.some((s) => s.name === 'Network' && s.lines.some((l) => keyOf(l) === 'ConfigureWithoutCarrier'))) br.push('[Network]', 'ConfigureWithoutCarrier=yes')
  } else br.push(...runtimeNetwork(spec), '', '[Network]', 'ConfigureWithoutCarrier=yes')
  writes.push({ path: `${stem}.netdev`, before: fileAt(`${stem}.netdev`), content: dev.join('\n') + '\n', mode: '0644' })
  writes.push({ path: `${stem}.network`, before: fileAt(`${stem}.network`), content: renderUnit(parseUnit(br.join('\n'))), mode: '0644' })
  writes.push({ path: portPath, before: holder?.state ?? fileAt(portPath), content: renderUnit(port), mode: holder?.state.kind === 'file' ? holder.state.mode : '0644' })
  return { kind: 'networkd', writes, notes }
}
