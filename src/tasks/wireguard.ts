/**
 * wireguardKey and wireguard: a WireGuard device whose private key is generated on the host and never
 * leaves it, with its peers (public key, allowed IPs, endpoint, keepalive) and listen port.
 *
 *   wireguardKey({ path })          wg genkey > PATH (umask 077) when PATH is missing; reports the public key
 *   wireguardKey({ path, rotate })  a new key; the old one kept as PATH.previous (the undo puts it back)
 *   wireguard({ name, keyFile, listenPort, peers, local, mtu?, implementation? })
 *                                   ip link add NAME type wireguard  (kernel) | wireguard-go NAME (userspace)
 *                                   wg set NAME private-key KEYFILE listen-port P peer K allowed-ips ... endpoint ...
 *                                   ip link set NAME up
 *
 * `implementation` 'auto' takes the kernel's WireGuard when the module exists (loaded, built in or
 * loadable), else wireguard-go over /dev/net/tun. wireguard-go is a process on the host, and it IS the
 * datapath: it lives as long as the device. MTU: underlay MTU − 60 (IPv4 outer header 20 + UDP 8 +
 * WireGuard 32) unless `mtu` is given. Peers are the whole list: a peer the device has and the list
 * does not is removed. Idempotent; the undo deletes a device it created, or puts back the previous
 * peers, listen port and private key.
 */
import * as v from '../net/validate.ts'
import { argSpec, parseArgs } from '../argspec.ts'
import { isIpv6, networkOf } from '../net/ip.ts'
import { sh } from '../net/shell.ts'
import { ArgError, TaskFailed } from '../errors.ts'
import type { Task } from '../engine/types.ts'
import { addressHoldersReader, linkReader } from '../model/facts.ts'
import type { Link } from '../model/link.ts'
import { compose, mapReader, type Reader } from '../model/read.ts'
import { persistedReader, planPersisted, wgData, wgDataPath, WIREGUARD, type PersistedFacts, type WgPersisted } from '../model/persist.ts'
import type { Step, WgImpl, WgPeer } from '../model/steps.ts'
import { plannedTask, type Planned } from '../model/task.ts'
import { isWgKey, previousKeyPath, wgDeviceReader, wgKeyReader, wgSupportReader, type WgDevice, type WgSupport } from '../model/wireguard.ts'

/** Bytes WireGuard adds over IPv4: outer IP 20 + UDP 8 + WireGuard header and tag 32 (80 over IPv6). */
export const WG_OVERHEAD = { 4: 60, 6: 80 } as const

// ---------------------------------------------------------------- wireguardKey

export interface WireguardKeyArgs {
  /** Absolute path of the private key file (0600; its directory is created 0700). */
  path: string
  /** Generate a new key even when one exists. */
  rotate?: boolean
}

export interface WgKeyFacts {
  support: WgSupport
  key: string | null
  /** The directories above the key that do not exist yet (created, then removed by the undo). */
  missing: string[]
}

const parents = (path: string): string[] => {
  const out: string[] = []
  for (let d = path.slice(0, path.lastIndexOf('/')); d && d !== '/'; d = d.slice(0, d.lastIndexOf('/'))) out.push(d)
  return out
}

export const WIREGUARD_KEY_SPEC = argSpec('wireguardKey', {
  path: { type: 'path', required: true, desc: 'absolute path of the private key file (0600; its directory is created 0700)' },
  rotate: { type: 'bool', default: false, desc: 'generate a new key even when one exists' },
})

export function parseWireguardKeyArgs(a: WireguardKeyArgs): Required<WireguardKeyArgs> {
  return parseArgs(WIREGUARD_KEY_SPEC, a)
}

export function wireguardKeyFacts(a: Required<WireguardKeyArgs>): Reader<WgKeyFacts> {
  const r = compose({ support: wgSupportReader(), key: wgKeyReader(a.path) })
  const dirs = parents(a.path)
  const probe = dirs.map((d) => sh`[ -d ${d} ] || printf '%s\\n' ${d}`)
  return {
    sections: [...r.sections, ['dirs', probe.length ? `${probe.join('; ')}; true` : 'true']],
    parse: (get) => ({ ...r.parse(get), missing: get('dirs').out.split('\n').filter(Boolean).reverse() }),
  }
}

export function planWireguardKey(f: WgKeyFacts, a: Required<WireguardKeyArgs>, host: string): Step[] {
  if (!f.support.wg) throw new TaskFailed(`${host} has no wg tool: install wireguard-tools`)
  if (f.key && !a.rotate) return []
  return [{ kind: 'wg-key', op: f.key ? 'rotate' : 'create', path: a.path, ...(f.key ? { before: f.key } : {}), ...(f.missing.length ? { mkdir: [...f.missing].reverse() } : {}) }]
}

export function wireguardKey(args: WireguardKeyArgs): Task<Planned<WgKeyFacts>> {
  const a = args ?? ({} as WireguardKeyArgs)
  return plannedTask<Required<WireguardKeyArgs>, WgKeyFacts>({
    module: 'wireguardKey',
    name: `WireGuard key ${a.path}${a.rotate ? ' (rotate)' : ''}`,
    parseArgs: () => parseWireguardKeyArgs(a),
    reader: wireguardKeyFacts,
    reading: (x) => `reading WireGuard key ${x.path}`,
    plan: planWireguardKey,
    applying: (x) => `generating WireGuard key ${x.path}`,
    data: (_x, f) => ({ publicKey: f.key }),
    // The public key of the new key, read in the same round trip as its generation.
    verify: (x) => ({
      reader: wgKeyReader(x.path),
      check: (k: string | null) => (k ? { data: { publicKey: k } } : { failed: true, msg: `no key in ${x.path} after generating it` }),
    }),
    readAhead: true,
  })
}

// ---------------------------------------------------------------- wireguard

export interface WireguardPeerArgs {
  publicKey: string
  /** address:port ('198.18.0.2:51820'). */
  endpoint?: string
  /** Networks routed to this peer (and accepted from it). */
  allowedIps: string[]
  /** Persistent keepalive in seconds (0 or absent: off). */
  keepalive?: number
  /** Shown in the diff (the peer's host name). */
  label?: string
}

export interface WireguardArgs {
  /** Device name (1-15 characters). */
  name: string
  /** The private key file (made by wireguardKey). */
  keyFile: string
  listenPort: number
  peers: WireguardPeerArgs[]
  /** This host's underlay address: the default MTU is its interface's minus 60 (80 over IPv6). */
  local: string
  mtu?: number
  implementation?: 'auto' | WgImpl
  /** Also at boot (default true): written at commit to /etc/orch/wireguard/NAME.conf, made by orch-wireguard.service (model/persist.ts). */
  persist?: boolean
}

export interface Wireguard {
  name: string
  keyFile: string
  listenPort: number
  peers: WgPeer[]
  labels: Record<string, string>
  local: string
  mtu?: number
  implementation: 'auto' | WgImpl
  persist: boolean
}

export const WIREGUARD_SPEC = argSpec('wireguard', {
  name: { type: 'ifname', required: true, desc: 'device name' },
  keyFile: { type: 'path', required: true, desc: 'the private key file (made by wireguardKey)' },
  listenPort: { type: 'int', min: 1, max: 65535, required: true },
  peers: {
    type: 'list',
    required: true,
    elements: {
      type: 'dict',
      options: { publicKey: { type: 'raw', required: true }, endpoint: { type: 'raw' }, allowedIps: { type: 'raw', required: true }, keepalive: { type: 'raw' }, label: { type: 'raw' } },
    },
    desc: 'a list of { publicKey, endpoint?, allowedIps, keepalive?, label? }',
  },
  local: { type: 'ip', required: true, desc: "this host's underlay address" },
  mtu: { type: 'int', min: 68, max: 65535 },
  implementation: { type: 'str', choices: ['auto', 'kernel', 'userspace'], default: 'auto' },
  persist: { type: 'bool', default: true, desc: 'also at boot: the device and its peers come back (orch-wireguard.service)' },
})

export function parseWireguardArgs(raw: WireguardArgs): Wireguard {
  const { implementation, keyFile, listenPort, persist, ...a } = parseArgs(WIREGUARD_SPEC, raw) as Omit<WireguardArgs, 'implementation' | 'persist'> & { implementation: 'auto' | WgImpl; persist: boolean }
  const seen = new Set<string>()
  const labels: Record<string, string> = {}
  const peers = a.peers.map((p, i) => {
    const at = `wireguard.peers[${i}]`
    if (!isWgKey(p?.publicKey)) throw new ArgError(`${at}.publicKey`, 'a WireGuard public key (44 characters of base64)', p?.publicKey)
    if (seen.has(p.publicKey)) throw new ArgError(`${at}.publicKey`, 'each peer once', p.publicKey)
    seen.add(p.publicKey)
    if (p.endpoint !== undefined) {
      const m = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(String(p.endpoint))
      if (!m) throw new ArgError(`${at}.endpoint`, "an IPv4 address and port like '198.18.0.2:51820'", p.endpoint)
      v.ipv4(`${at}.endpoint`, m[1])
      v.port(`${at}.endpoint`, Number(m[2]))
    }
    if (!Array.isArray(p.allowedIps) || !p.allowedIps.length) throw new ArgError(`${at}.allowedIps`, 'a non-empty list of networks', p.allowedIps)
    const allowed = p.allowedIps.map((n, j) => networkOf(v.network4(`${at}.allowedIps[${j}]`, n)))
    const keepalive = p.keepalive === undefined ? 0 : v.int(`${at}.keepalive`, p.keepalive, 0, 65535)
    if (p.label) labels[p.publicKey] = String(p.label)
    return { publicKey: p.publicKey, ...(p.endpoint ? { endpoint: String(p.endpoint) } : {}), allowedIps: allowed.sort(), keepalive }
  })
  return { name: a.name, keyFile, listenPort, peers, labels, local: a.local, ...(a.mtu !== undefined ? { mtu: a.mtu } : {}), implementation, persist }
}

export interface WireguardFacts {
  support: WgSupport
  link: Link | null
  device: WgDevice | null
  key: string | null
  previousKey: string | null
  holders: Link[]
  /** What is persisted of the device (with persist). */
  persisted?: PersistedFacts
}

export function wireguardFacts(a: Wireguard): Reader<WireguardFacts> {
  return mapReader(
    compose({
      support: wgSupportReader(),
      link: linkReader(a.name),
      device: wgDeviceReader(a.name),
      key: wgKeyReader(a.keyFile),
      previousKey: wgKeyReader(previousKeyPath(a.keyFile)),
      holders: addressHoldersReader(a.local),
      ...(a.persist ? { persisted: persistedReader(WIREGUARD, wgDataPath(a.name)) } : {}),
    }),
    (f) => f as WireguardFacts,
  )
}

/** Pure: the device's file for orch-wireguard.service (the whole peer list: a peer that left goes from it too). */
export function persistWireguard(f: WireguardFacts, a: Wireguard, host: string): Step[] {
  if (!a.persist || !f.persisted) return []
  const w: WgPersisted = {
    device: a.name,
    impl: wgImpl(f, a, host),
    mtu: wireguardMtu(f, a, host),
    keyFile: a.keyFile,
    listenPort: a.listenPort,
    peers: a.peers.map((p) => ({ ...p, ...(a.labels[p.publicKey] ? { label: a.labels[p.publicKey] } : {}) })),
  }
  return planPersisted(WIREGUARD, f.persisted, wgDataPath(a.name), wgData(w), host)
}

/** The datapath this host gets: the one asked for, else the kernel's when it has WireGuard, else wireguard-go. */
export function wgImpl(f: Pick<WireguardFacts, 'support' | 'link'>, a: Pick<Wireguard, 'implementation' | 'name'>, host: string): WgImpl {
  if (f.link) return f.link.kind === 'wireguard' ? 'kernel' : 'userspace'
  const s = f.support
  if (a.implementation === 'kernel' && !s.kernel) throw new TaskFailed(`${host} has no WireGuard kernel module: use wireguard_impl auto or userspace (wireguard-go)`)
  if (a.implementation === 'userspace' && !s.userspace) throw new TaskFailed(`${host} has no wireguard-go (or no /dev/net/tun): install the wireguard-go package`)
  if (a.implementation !== 'auto') return a.implementation
  if (s.kernel) return 'kernel'
  if (s.userspace) return 'userspace'
  throw new TaskFailed(`${host} has neither the WireGuard kernel module nor wireguard-go with /dev/net/tun: install wireguard-go`)
}

const samePeer = (a: WgPeer, b: WgPeer) => a.endpoint === b.endpoint && a.keepalive === b.keepalive && a.allowedIps.join(',') === b.allowedIps.join(',')

export function wireguardMtu(f: Pick<WireguardFacts, 'holders'>, a: Pick<Wireguard, 'local' | 'mtu'>, host: string): number {
  if (a.mtu !== undefined) return a.mtu
  if (!f.holders.length) throw new TaskFailed(`wireguard.local ${a.local} is not an address of ${host}`)
  return f.holders[0].mtu - WG_OVERHEAD[isIpv6(a.local) ? 6 : 4]
}

/** Pure: facts + arguments → steps. */
export function planWireguard(f: WireguardFacts, a: Wireguard, host: string): Step[] {
  if (!f.support.wg) throw new TaskFailed(`${host} has no wg tool: install wireguard-tools`)
  if (!f.key) throw new TaskFailed(`${host} has no WireGuard key ${a.keyFile} (wireguardKey makes it)`)
  if (f.link && !f.device) throw new TaskFailed(`${a.name} exists on ${host} and is not a WireGuard device (${f.link.kind || 'plain'}): refusing to replace it`)
  const impl = wgImpl(f, a, host)
  const mtu = wireguardMtu(f, a, host)
  const steps: Step[] = []
  const fresh = !f.link
  if (fresh) steps.push({ kind: 'wg-create', name: a.name, impl, mtu })
  else if (f.link!.mtu !== mtu) steps.push({ kind: 'link-set', name: a.name, mtu: { before: f.link!.mtu, after: mtu } })
  const d: WgDevice = f.device ?? { publicKey: null, listenPort: 0, fwmark: 'off', peers: [] }
  let key: { before?: string; previous: boolean } | undefined
  if (d.publicKey !== f.key) {
    // A device running with another key is ours only when it is the key a rotation set aside: the undo needs it.
    const previous = !!d.publicKey && d.publicKey === f.previousKey
    if (d.publicKey && !previous) throw new TaskFailed(`${a.name} on ${host} runs with a private key other than ${a.keyFile}'s: refusing to replace a key orch cannot put back`)
    key = { ...(d.publicKey ? { before: d.publicKey } : {}), previous }
  }
  const listenPort = d.listenPort !== a.listenPort ? { ...(fresh || !d.listenPort ? {} : { before: d.listenPort }), after: a.listenPort } : undefined
  const have = new Map(d.peers.map((p) => [p.publicKey, p]))
  const want = new Set(a.peers.map((p) => p.publicKey))
  const add = a.peers.filter((p) => !have.has(p.publicKey))
  const change = a.peers.filter((p) => have.has(p.publicKey) && !samePeer(have.get(p.publicKey)!, p)).map((p) => ({ before: have.get(p.publicKey)!, after: p }))
  const remove = d.peers.filter((p) => !want.has(p.publicKey))
  if (key || listenPort || add.length || change.length || remove.length)
    steps.push({ kind: 'wg-set', name: a.name, keyFile: a.keyFile, ...(key ? { key } : {}), ...(listenPort ? { listenPort } : {}), add, change, remove, labels: a.labels, ...(fresh ? { fresh: true } : {}) })
  if (fresh || !f.link!.up) steps.push({ kind: 'link-set', name: a.name, up: true, ...(fresh ? { fresh: true, quiet: true } : {}) })
  return steps
}

export function wireguard(args: WireguardArgs): Task<Planned<WireguardFacts>> {
  const a = args ?? ({} as WireguardArgs)
  return plannedTask<Wireguard, WireguardFacts>({
    module: 'wireguard',
    name: `WireGuard ${a.name} (${Array.isArray(a.peers) ? a.peers.length : 0} peers, port ${a.listenPort})`,
    parseArgs: () => parseWireguardArgs(a),
    reader: wireguardFacts,
    reading: (x) => `reading WireGuard ${x.name}`,
    plan: planWireguard,
    persist: persistWireguard,
    applying: (x) => `configuring WireGuard ${x.name}`,
    data: (x, f) => ({ implementation: wgImpl(f, x, ''), mtu: wireguardMtu(f, x, '') }),
    readAhead: true,
  })
}
