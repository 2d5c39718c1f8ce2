/**
 * NetworkManager (keyfiles in /etc/NetworkManager/system-connections): two new profiles,
 *   orch-<bridge>.nmconnection            type=bridge, the interface's MAC and MTU, stp off, and the IPv4/IPv6
 *                                          settings of the interface's profile (or the running addresses)
 *   orch-<bridge>-<iface>.nmconnection    the interface as the bridge's port
 * and the interface's own keyfile profile gets autoconnect=false (kept, so the undo is a file restore).
 *
 * During the confirm window the two new profiles live in /run (in-memory, gone at a reboot) and are
 * activated there; at commit they are written here and NetworkManager reloads them (takeover/managers.ts).
 * Keyfiles are written 0600, as NetworkManager requires.
 */
import { createHash } from 'node:crypto'
import { isKernelRoute } from './iproute.ts'
import { absent, textOf, type ConfigFile, type FileWrite, type PersistFacts, type PersistPlan, type TakeoverSpec } from './types.ts'

const DIR = '/etc/NetworkManager/system-connections'

type Ini = Array<{ section: string; lines: string[] }>

function parseIni(text: string): Ini {
  const out: Ini = [{ section: '', lines: [] }]
  for (const line of text.split('\n')) {
    const m = /^\s*\[([^\]]+)\]\s*$/.exec(line)
    if (m) out.push({ section: m[1], lines: [] })
    else out[out.length - 1].lines.push(line)
  }
  return out
}

function get(ini: Ini, section: string, key: string): string | undefined {
  for (const s of ini) {
    if (s.section !== section) continue
    for (const l of s.lines) {
      const m = /^\s*([^=#;]+?)\s*=(.*)$/.exec(l)
      if (m && m[1] === key) return m[2].trim()
    }
  }
  return undefined
}

function set(ini: Ini, section: string, key: string, value: string): void {
  let s = ini.find((x) => x.section === section)
  if (!s) {
    s = { section, lines: [] }
    ini.push(s)
  }
  const i = s.lines.findIndex((l) => new RegExp(`^\\s*${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*=`).test(l))
  if (i >= 0) s.lines[i] = `${key}=${value}`
  else {
    let end = s.lines.length
    while (end > 0 && s.lines[end - 1].trim() === '') end--
    s.lines.splice(end, 0, `${key}=${value}`)
  }
}

const render = (ini: Ini): string => ini.map((s) => (s.section ? [`[${s.section}]`, ...s.lines] : s.lines).join('\n')).filter((t) => t !== '').join('\n')

const keyfiles = (facts: PersistFacts): ConfigFile[] => facts.files.filter((f) => f.path.startsWith(DIR + '/') && f.state.kind === 'file')

/** The keyfile of a profile for `dev` (by interface-name, or by MAC for ethernet profiles). */
export function nmProfileFor(facts: PersistFacts, dev: string, type?: string, mac?: string): ConfigFile | undefined {
  return keyfiles(facts).find((f) => {
    const ini = parseIni(textOf(f) ?? '')
    if (type && get(ini, 'connection', 'type') !== type) return false
    if (get(ini, 'connection', 'interface-name') === dev) return true
    const m = get(ini, 'ethernet', 'mac-address')
    return !!mac && !!m && m.toLowerCase() === mac.toLowerCase() && !get(ini, 'connection', 'master')
  })
}

/** A UUID derived from the names, so a re-run writes the same profile. */
function uuidFor(name: string): string {
  const h = createHash('sha1').update(`orch:${name}`).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`
}

function ipSections(spec: TakeoverSpec, from?: Ini): string[] {
  const out: string[] = []
  for (const fam of ['ipv4', 'ipv6'] as const) {
    out.push('', `[${fam}]`)
    const copied = from?.find((s) => s.section === fam)
    if (copied) {
      out.push(...copied.lines.filter((l) => l.trim() !== ''))
      // NetworkManager's default metric is per device type (ethernet 100, bridge 425): keep the running one.
      const dflt = spec.routes.find((r) => r.family === (fam === 'ipv4' ? 4 : 6) && (r.json.dst ?? 'default') === 'default' && r.json.metric !== undefined && !r.json.table)
      if (dflt && !copied.lines.some((l) => /^\s*route-metric\s*=/.test(l))) out.push(`route-metric=${String(dflt.json.metric)}`)
      continue
    }
    const family = fam === 'ipv4' ? 'inet' : 'inet6'
    const addrs = spec.addrs.filter((a) => a.family === family)
    const dynamic = addrs.some((a) => a.dynamic)
    const statics = addrs.filter((a) => !a.dynamic)
    const routes = spec.routes.filter((r) => r.family === (fam === 'ipv4' ? 4 : 6) && !isKernelRoute(r) && r.json.protocol !== 'ra' && r.json.protocol !== 'dhcp')
    const method = dynamic ? 'auto' : statics.length ? 'manual' : fam === 'ipv4' ? 'disabled' : 'link-local'
    out.push(`method=${method}`)
    statics.forEach((a, i) => out.push(`address${i + 1}=${a.local}/${a.prefixlen}`))
    let n = 0
    for (const r of routes) {
      const j = r.json
      const dst = j.dst === undefined || j.dst === 'default' ? (fam === 'ipv4' ? '0.0.0.0/0' : '::/0') : String(j.dst)
      const gw = typeof j.gateway === 'string' ? j.gateway : ''
      if ((j.dst ?? 'default') === 'default' && gw && !j.table && statics.length && !out.some((l) => l.startsWith('gateway='))) {
        out.push(`gateway=${gw}`)
        if (j.metric !== undefined) out.push(`route-metric=${String(j.metric)}`)
        continue
      }
      n++
      out.push(`route${n}=${dst}${gw || j.metric !== undefined ? `,${gw}` : ''}${j.metric !== undefined ? `,${String(j.metric)}` : ''}`)
      if (j.table !== undefined && /^\d+$/.test(String(j.table))) out.push(`route${n}_options=table=${String(j.table)}`)
    }
  }
  return out
}

export function planNetworkManager(facts: PersistFacts, spec: TakeoverSpec): PersistPlan {
  const existing = nmProfileFor(facts, spec.bridge, 'bridge')
  if (existing) return { kind: 'networkmanager', writes: [], notes: [`networkmanager: ${existing.path} already defines ${spec.bridge}`] }
  const notes: string[] = []
  const writes: FileWrite[] = []
  const old = nmProfileFor(facts, spec.iface, 'ethernet', spec.mac) ?? nmProfileFor(facts, spec.iface)
  const oldIni = old ? parseIni(textOf(old) ?? '') : undefined
  const brName = `orch-${spec.bridge}`
  const portName = `orch-${spec.bridge}-${spec.iface}`
  const bridge = [
    `# orch bridgeTakeover: ${spec.bridge} takes over ${spec.iface}`,
    '[connection]',
    `id=${brName}`,
    `uuid=${uuidFor(brName)}`,
    'type=bridge',
    `interface-name=${spec.bridge}`,
    'autoconnect=true',
    '',
    '[ethernet]',
    `mtu=${spec.mtu}`,
    '',
    '[bridge]',
    `mac-address=${spec.mac.toUpperCase()}`,
    `stp=${spec.stp}`,
    // NetworkManager accepts 2-30 s; with stp=false the delay does not apply.
    `forward-delay=${Math.max(2, spec.forwardDelay)}`,
    ...ipSections(spec, oldIni),
  ]
  const port = [
    `# orch bridgeTakeover: ${spec.iface} is a port of ${spec.bridge}`,
    '[connection]',
    `id=${portName}`,
    `uuid=${uuidFor(portName)}`,
    'type=ethernet',
    `interface-name=${spec.iface}`,
    `master=${spec.bridge}`,
    'slave-type=bridge',
    'autoconnect=true',
    '',
    '[ethernet]',
    `mtu=${spec.mtu}`,
  ]
  for (const [name, lines] of [[brName, bridge], [portName, port]] as const) {
    const path = `${DIR}/${name}.nmconnection`
    writes.push({ path, before: facts.files.find((f) => f.path === path)?.state ?? absent, content: lines.join('\n') + '\n', mode: '0600' })
  }
  if (old && oldIni) {
    set(oldIni, 'connection', 'autoconnect', 'false')
    writes.push({ path: old.path, before: old.state, content: render(oldIni) + '\n', mode: old.state.kind === 'file' ? old.state.mode : '0600' })
    notes.push(`networkmanager: ${old.path} (the old profile of ${spec.iface}) gets autoconnect=false`)
  } else notes.push(`networkmanager: no keyfile profile for ${spec.iface} in ${DIR}: the bridge profile is written from the running addresses`)
  return { kind: 'networkmanager', writes, notes }
}
