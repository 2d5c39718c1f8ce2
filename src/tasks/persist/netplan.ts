/**
 * netplan (/etc/netplan/*.yaml): the interface's layer-3 settings (addresses, routes, dhcp, nameservers
 * ...) move to a new `bridges.<bridge>` entry in the same file, with the interface as its only port,
 * eth0's MAC and MTU, stp off and forward-delay 0. Comments and everything else in the file are kept.
 * When no netplan file defines the interface, /etc/netplan/90-orch-<bridge>.yaml is written from the
 * running addresses and routes. Files are written 0600 (netplan warns about readable ones).
 */
import { createRequire } from 'node:module'
import type { Document, YAMLMap } from 'yaml'
import { isKernelRoute, type IpRoute } from './iproute.ts'
import { absent, textOf, type ConfigFile, type PersistFacts, type PersistPlan, type TakeoverSpec } from './types.ts'

// yaml is loaded the first time a netplan file is looked at, not when orch starts (~16 ms of every run);
// synchronously, through require, so the planning functions stay synchronous. Its documents never leave
// this file, so that this is yaml's CommonJS copy (the inventory loads the ES module) does not matter.
let yamlLib: typeof import('yaml') | undefined
const Y = (): typeof import('yaml') => (yamlLib ??= createRequire(import.meta.url)('yaml') as typeof import('yaml'))

const isNetplanFile = (p: string) => p.startsWith('/etc/netplan/') && /\.ya?ml$/.test(p)

/** Keys that belong to the IP layer: they move from the port to the bridge. */
const L3_KEYS = new Set([
  'addresses', 'gateway4', 'gateway6', 'nameservers', 'routes', 'routing-policy', 'dhcp4', 'dhcp6', 'dhcp-identifier',
  'dhcp4-overrides', 'dhcp6-overrides', 'accept-ra', 'ipv6-address-generation', 'ipv6-address-token', 'ipv6-privacy',
  'ipv6-mtu', 'link-local', 'critical', 'macaddress',
])

interface Parsed {
  f: ConfigFile
  doc: Document
}

function docs(facts: PersistFacts): Parsed[] {
  const out: Parsed[] = []
  for (const f of facts.files) {
    if (!isNetplanFile(f.path) || f.state.kind !== 'file') continue
    const doc = Y().parseDocument(textOf(f) ?? '')
    if (doc.errors.length) continue
    out.push({ f, doc })
  }
  return out
}

/** The ethernets id that configures `iface` (its key, or the entry whose set-name is iface). */
function ethId(doc: Document, iface: string): string | null {
  const eths = doc.getIn(['network', 'ethernets'])
  if (!Y().isMap(eths)) return null
  for (const p of eths.items) {
    const id = Y().isScalar(p.key) ? String(p.key.value) : String(p.key)
    const v = p.value
    if (id === iface) return id
    if (Y().isMap(v) && v.get('set-name') === iface) return id
  }
  return null
}

function bridgeHasPort(doc: Document, bridge: string, port: string): boolean {
  const ports = doc.getIn(['network', 'bridges', bridge, 'interfaces'])
  return Y().isSeq(ports) && ports.items.some((i) => (Y().isScalar(i) ? String(i.value) : String(i)) === port)
}

export function netplanDefines(facts: PersistFacts, iface: string, bridge: string): boolean {
  return docs(facts).some(({ doc }) => ethId(doc, iface) !== null || doc.getIn(['network', 'bridges', bridge]) !== undefined)
}

const quoted = (s: string) => {
  const n = new (Y().Scalar)(s)
  n.type = Y().Scalar.QUOTE_DOUBLE
  return n
}

function bridgeNode(doc: Document, spec: TakeoverSpec, port: string): YAMLMap {
  const br = doc.createNode({}) as YAMLMap
  br.set('interfaces', doc.createNode([port]))
  br.set('macaddress', quoted(spec.mac))
  br.set('mtu', spec.mtu)
  br.set('parameters', doc.createNode({ stp: spec.stp, 'forward-delay': spec.forwardDelay }))
  return br
}

/** Runtime addresses and routes in netplan's words (used when no file describes the interface). */
function runtimeL3(doc: Document, br: YAMLMap, spec: TakeoverSpec): void {
  if (spec.addrs.some((a) => a.family === 'inet' && a.dynamic)) br.set('dhcp4', true)
  if (spec.addrs.some((a) => a.family === 'inet6' && a.dynamic)) br.set('accept-ra', true)
  const addrs = spec.addrs.filter((a) => !a.dynamic).map((a) => `${a.local}/${a.prefixlen}`)
  if (addrs.length) br.set('addresses', doc.createNode(addrs))
  const routes = spec.routes.filter((r) => !isKernelRoute(r) && r.json.protocol !== 'ra' && r.json.protocol !== 'dhcp').map(netplanRoute)
  if (routes.length) br.set('routes', doc.createNode(routes))
}

function netplanRoute(r: IpRoute): Record<string, unknown> {
  const j = r.json
  const out: Record<string, unknown> = { to: j.dst === undefined || j.dst === 'default' ? 'default' : j.dst }
  if (typeof j.gateway === 'string') out.via = j.gateway
  if (j.metric !== undefined) out.metric = Number(j.metric)
  if (j.table !== undefined && /^\d+$/.test(String(j.table))) out.table = Number(j.table)
  if (j.scope !== undefined && j.scope !== 'global') out.scope = j.scope
  if (j.prefsrc !== undefined) out.from = j.prefsrc
  if (Array.isArray(j.flags) && (j.flags as string[]).includes('onlink')) out['on-link'] = true
  if (j.type !== undefined && ['unreachable', 'blackhole', 'prohibit'].includes(String(j.type))) out.type = j.type
  return out
}

export function planNetplan(facts: PersistFacts, spec: TakeoverSpec): PersistPlan {
  const all = docs(facts)
  for (const { f, doc } of all) {
    if (bridgeHasPort(doc, spec.bridge, spec.iface) || (() => { const id = ethId(doc, spec.iface); return id !== null && bridgeHasPort(doc, spec.bridge, id) })())
      return { kind: 'netplan', writes: [], notes: [`netplan: ${f.path} already has ${spec.bridge} with port ${spec.iface}`] }
  }
  const holder = all.find(({ doc }) => ethId(doc, spec.iface) !== null)
  if (holder) {
    const { f, doc } = holder
    const id = ethId(doc, spec.iface)!
    const eth = doc.getIn(['network', 'ethernets', id]) as unknown
    const br = bridgeNode(doc, spec, id)
    let moved = 0
    if (Y().isMap(eth)) {
      for (const p of [...eth.items]) {
        const k = Y().isScalar(p.key) ? String(p.key.value) : String(p.key)
        if (!L3_KEYS.has(k)) continue
        if (k !== 'macaddress') br.set(k, p.value)
        eth.delete(k)
        moved++
      }
      // The port keeps its own MAC setting only through the bridge's macaddress above.
    } else doc.setIn(['network', 'ethernets', id], doc.createNode({}))
    if (!moved) runtimeL3(doc, br, spec)
    doc.setIn(['network', 'bridges', spec.bridge], br)
    return {
      kind: 'netplan',
      writes: [{ path: f.path, before: f.state, content: doc.toString(), mode: '0600' }],
      notes: [`netplan: ${f.path}: ${spec.bridge} takes ${id}'s addressing (applied at the next boot or \`netplan apply\`)`],
    }
  }
  const path = `/etc/netplan/90-orch-${spec.bridge}.yaml`
  const doc = Y().parseDocument(`# orch bridgeTakeover: ${spec.bridge} takes over ${spec.iface}\nnetwork:\n  version: 2\n`)
  doc.setIn(['network', 'ethernets', spec.iface], doc.createNode({}))
  const br = bridgeNode(doc, spec, spec.iface)
  runtimeL3(doc, br, spec)
  doc.setIn(['network', 'bridges', spec.bridge], br)
  const existing = facts.files.find((f) => f.path === path)
  return {
    kind: 'netplan',
    writes: [{ path, before: existing?.state ?? absent, content: doc.toString(), mode: '0600' }],
    notes: [`netplan: no file defines ${spec.iface}: ${path} written from the running addresses and routes`],
  }
}
