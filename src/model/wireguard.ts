/**
 * WireGuard facts and steps. The private key never leaves the host: it is generated there
 * (`wg genkey` into a 0600 file), the device is given the key by its path (`wg set DEV private-key FILE`),
 * and every read prints public keys only — the device dump is read with its private-key and
 * preshared-key columns blanked ON the host, before the output is sent.
 *
 * Two datapaths: the kernel's (`ip link add DEV type wireguard`) where the module exists, else
 * wireguard-go, a userspace process that creates DEV as a tun device and is the datapath (it runs on the
 * host until DEV is deleted; `ip link del DEV` ends it).
 */
import { argv, quote, sh } from '../net/shell.ts'
import type { Change, Undo } from '../engine/types.ts'
import { reader, type Reader } from './read.ts'
import type { WgCreateStep, WgKeyStep, WgPeer, WgSetStep } from './steps.ts'

export type { WgImpl, WgPeer } from './steps.ts'


/** What the host offers: the kernel module (loaded, built in or loadable), wireguard-go with /dev/net/tun, the wg tool. */
export interface WgSupport {
  kernel: boolean
  userspace: boolean
  wg: boolean
}

export function wgSupportReader(): Reader<WgSupport> {
  const script = [
    // modprobe -n only resolves the module (it loads nothing).
    `{ [ -d /sys/module/wireguard ] || modprobe -n wireguard >/dev/null 2>&1; } && echo kernel`,
    `command -v wireguard-go >/dev/null 2>&1 && [ -c /dev/net/tun ] && echo userspace`,
    `command -v wg >/dev/null 2>&1 && echo wg`,
    'true',
  ].join('; ')
  return reader('wg-support', script, (s) => {
    const w = new Set(s.out.split(/\s+/))
    return { kernel: w.has('kernel'), userspace: w.has('userspace'), wg: w.has('wg') }
  })
}

/** The public key of the private key in `path` (computed on the host); null: no such file. */
export function wgKeyReader(path: string, name = 'wg-key'): Reader<string | null> {
  const p = quote(path)
  return reader(name, `if [ -f ${p} ]; then wg pubkey < ${p}; else orch_rc 4; fi`, (s) => {
    if (s.rc === 4) return null
    const k = s.out.trim()
    if (s.rc !== 0 || !isWgKey(k)) throw new Error(`wg pubkey < ${path} failed (rc=${s.rc}): is it a WireGuard private key?`)
    return k
  })
}

export const isWgKey = (k: unknown): k is string => typeof k === 'string' && /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(k)


/** A device's configuration as `wg show DEV dump` gives it, without its private key. */
export interface WgDevice {
  publicKey: string | null
  listenPort: number
  fwmark: string
  peers: WgPeer[]
}

/**
 * `wg show DEV dump`, with the private key (line 1, field 1) and preshared keys (field 2 of peer lines)
 * replaced by '-' before anything leaves the host; null when DEV is not a WireGuard device.
 */
export function wgDeviceReader(dev: string): Reader<WgDevice | null> {
  const script = sh`wg show ${dev} dump 2>/dev/null | awk 'BEGIN { FS = OFS = "\t" } { $(NR == 1 ? 1 : 2) = "-"; print }'`
  return reader('wg-device', script, (s) => parseWgDump(s.out))
}

export function parseWgDump(out: string): WgDevice | null {
  const lines = out.split('\n').filter((l) => l.trim())
  if (!lines.length) return null
  const head = lines[0].split('\t')
  if (head.length < 4) throw new Error(`wg show dump: unexpected first line (${head.length} fields)`)
  const peers = lines.slice(1).map((l) => {
    const f = l.split('\t')
    if (f.length < 8) throw new Error(`wg show dump: unexpected peer line (${f.length} fields)`)
    return {
      publicKey: f[0],
      ...(f[2] !== '(none)' ? { endpoint: f[2] } : {}),
      allowedIps: f[3] === '(none)' ? [] : f[3].split(',').sort(),
      keepalive: f[7] === 'off' ? 0 : Number(f[7]),
    }
  })
  return { publicKey: head[1] === '(none)' ? null : head[1], listenPort: Number(head[2]), fwmark: head[3], peers }
}

const peerWords = (p: WgPeer): Array<string | number> => [
  'peer',
  p.publicKey,
  'allowed-ips',
  p.allowedIps.join(','),
  ...(p.endpoint ? ['endpoint', p.endpoint] : []),
  'persistent-keepalive',
  p.keepalive || 'off',
]
const peerText = (p: WgPeer, label?: string) =>
  `${label ? `${label} ` : ''}${p.publicKey.slice(0, 8)}… allowed-ips ${p.allowedIps.join(',')}${p.endpoint ? ` endpoint ${p.endpoint}` : ''}${p.keepalive ? ` keepalive ${p.keepalive}` : ''}`

export const previousKeyPath = (path: string) => `${path}.previous`

// ---------------------------------------------------------------- renderers (runtime.ts switches here)

export function describeWg(s: WgKeyStep | WgCreateStep | WgSetStep): Change[] {
  switch (s.kind) {
    case 'wg-key':
      return [{ what: `${s.op === 'create' ? 'generate' : 'rotate'} WireGuard private key ${s.path} (on the host, mode 0600)`, ...(s.before ? { before: `public key ${s.before}` } : {}), after: 'a new key' }]
    case 'wg-create':
      return [{ what: `create WireGuard device ${s.name}`, after: `${s.impl === 'kernel' ? 'kernel WireGuard' : 'wireguard-go (userspace)'} mtu ${s.mtu}` }]
    case 'wg-set': {
      const out: Change[] = []
      if (s.key) out.push({ what: `${s.name} private key`, before: s.key.before ? `public key ${s.key.before}` : '(none)', after: `from ${s.keyFile}` })
      if (s.listenPort) out.push({ what: `${s.name} listen-port`, before: String(s.listenPort.before ?? '(none)'), after: String(s.listenPort.after) })
      for (const p of s.add) out.push({ what: `${s.name}: add peer ${s.labels[p.publicKey] ?? ''}`.trimEnd(), after: peerText(p) })
      for (const c of s.change) out.push({ what: `${s.name}: change peer ${s.labels[c.after.publicKey] ?? ''}`.trimEnd(), before: peerText(c.before), after: peerText(c.after) })
      for (const p of s.remove) out.push({ what: `${s.name}: remove peer ${p.publicKey}`, before: peerText(p), after: '' })
      return out
    }
  }
}

export function applyWg(s: WgKeyStep | WgCreateStep | WgSetStep): string {
  switch (s.kind) {
    case 'wg-key': {
      const dir = s.path.slice(0, s.path.lastIndexOf('/')) || '/'
      const tmp = `${s.path}.new`
      // umask 077 before the file exists: the key is never readable by anyone but root, not even briefly.
      const gen = sh`( umask 077 && mkdir -p ${dir} && wg genkey > ${tmp} && mv -f ${tmp} ${s.path} )`
      return s.op === 'rotate' ? sh`cp -p ${s.path} ${previousKeyPath(s.path)} && ` + gen : gen
    }
    case 'wg-create':
      if (s.impl === 'kernel') return argv(['ip', 'link', 'add', 'dev', s.name, 'mtu', s.mtu, 'type', 'wireguard'])
      // wireguard-go daemonizes by re-running itself with WG_PROCESS_FOREGROUND=1: an inherited value
      // other than 1 would make every generation fork another. Its banner goes to stderr. The daemon
      // child sets the tun's MTU to 1420 when it starts, after the parent returned: `wg show` is answered
      // only once the child serves its socket, so the MTU set after it stays.
      return [argv(['env', '-u', 'WG_PROCESS_FOREGROUND', 'wireguard-go', s.name]) + ' 2>/dev/null', argv(['wg', 'show', s.name]) + ' >/dev/null', argv(['ip', 'link', 'set', 'dev', s.name, 'mtu', s.mtu])].join(' && ')
    case 'wg-set': {
      const w: Array<string | number> = ['wg', 'set', s.name]
      if (s.key) w.push('private-key', s.keyFile)
      if (s.listenPort) w.push('listen-port', s.listenPort.after)
      for (const p of [...s.add, ...s.change.map((c) => c.after)]) w.push(...peerWords(p))
      for (const p of s.remove) w.push('peer', p.publicKey, 'remove')
      return argv(w)
    }
  }
}

export function undoWg(s: WgKeyStep | WgCreateStep | WgSetStep): Undo | null {
  switch (s.kind) {
    case 'wg-key':
      if (s.op === 'create') return { description: `remove the generated key ${s.path}`, script: argv(['rm', '-f', s.path]) + (s.mkdir ? ` && { rmdir ${s.mkdir.map(quote).join(' ')} 2>/dev/null || true; }` : '') }
      return { description: `put the previous key back in ${s.path}`, script: argv(['mv', '-f', previousKeyPath(s.path), s.path]) }
    case 'wg-create':
      // Deleting the device also ends wireguard-go (it exits when its tun device goes).
      return { description: `delete WireGuard device ${s.name}`, script: `${argv(['ip', 'link', 'del', 'dev', s.name])} 2>/dev/null || true` }
    case 'wg-set': {
      if (s.fresh) return null
      const w: Array<string | number> = ['wg', 'set', s.name]
      const d: string[] = []
      if (s.listenPort && s.listenPort.before !== undefined) w.push('listen-port', s.listenPort.before), d.push(`listen-port ${s.listenPort.before}`)
      for (const p of s.add) w.push('peer', p.publicKey, 'remove'), d.push(`remove peer ${p.publicKey}`)
      // A peer put back whole: `wg set` cannot unset an endpoint.
      for (const c of s.change) w.push('peer', c.before.publicKey, 'remove')
      const re = argv(['wg', 'set', s.name, ...[...s.change.map((c) => c.before), ...s.remove].flatMap(peerWords)])
      const parts = [w.length > 3 ? argv(w) : '', s.change.length + s.remove.length ? re : ''].filter(Boolean)
      for (const p of [...s.change.map((c) => c.before), ...s.remove]) d.push(`peer ${peerText(p)}`)
      // The old private key: a rotation in this run kept it beside the new one (wg-key step).
      if (s.key?.previous) parts.push(argv(['wg', 'set', s.name, 'private-key', previousKeyPath(s.keyFile)])), d.push('the previous private key')
      return parts.length ? { description: `${s.name}: ${d.join(', ')}`, script: parts.join(' && ') } : null
    }
  }
}
