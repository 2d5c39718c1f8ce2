/**
 * OpenSSH known_hosts: lookup (plain, wildcard, negated and hashed `|1|salt|hash` host patterns,
 * `[host]:port` names, `@revoked`), verdicts, and appending new keys (accept-new).
 */
import { createHash, createHmac, randomBytes } from 'node:crypto'
import { appendFileSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { dirname } from 'node:path'

export type HostKeyChecking = 'strict' | 'accept-new' | 'off'

export interface KnownHostLine {
  file: string
  line: number
  marker: '' | '@revoked' | '@cert-authority'
  patterns: string
  keyType: string
  key: Buffer
}

/** The name a host's key is filed under: `host` on port 22, `[host]:port` otherwise (OpenSSH). */
export function knownHostsName(host: string, port: number): string {
  const h = host.toLowerCase()
  return port === 22 ? h : `[${h}]:${port}`
}

/** Key type from an SSH public key blob (its first length-prefixed string). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown'
  const len = blob.readUInt32BE(0)
  if (len > blob.length - 4 || len > 64) return 'unknown'
  return blob.toString('latin1', 4, 4 + len)
}

/** `SHA256:...` as OpenSSH prints it. */
export function fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')
}

/** "ED25519", "RSA", "ECDSA" as OpenSSH names key types in its messages. */
export function keyTypeLabel(keyType: string): string {
  if (keyType === 'ssh-ed25519') return 'ED25519'
  if (keyType === 'ssh-rsa') return 'RSA'
  if (keyType === 'ssh-dss') return 'DSA'
  if (keyType.startsWith('ecdsa-')) return 'ECDSA'
  if (keyType.startsWith('sk-ssh-ed25519')) return 'ED25519-SK'
  if (keyType.startsWith('sk-ecdsa')) return 'ECDSA-SK'
  return keyType
}

const cache = new Map<string, { mtimeMs: number; size: number; lines: KnownHostLine[] }>()

/** Parsed lines of one known_hosts file ([] when it does not exist). Cached by mtime/size. */
export function readKnownHosts(file: string): KnownHostLine[] {
  let st
  try {
    st = statSync(file)
  } catch {
    return []
  }
  const hit = cache.get(file)
  if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.lines
  const text = readFileSync(file, 'utf8')
  const lines: KnownHostLine[] = []
  text.split('\n').forEach((raw, i) => {
    const s = raw.trim()
    if (!s || s.startsWith('#')) return
    const f = s.split(/\s+/)
    let marker: KnownHostLine['marker'] = ''
    if (f[0].startsWith('@')) {
      if (f[0] !== '@revoked' && f[0] !== '@cert-authority') return
      marker = f.shift() as KnownHostLine['marker']
    }
    if (f.length < 3) return
    const [patterns, keyType, b64] = f
    const key = Buffer.from(b64, 'base64')
    if (key.length === 0) return
    lines.push({ file, line: i + 1, marker, patterns, keyType, key })
  })
  cache.set(file, { mtimeMs: st.mtimeMs, size: st.size, lines })
  return lines
}

function globToRegExp(glob: string): RegExp {
  let re = ''
  for (const c of glob) {
    if (c === '*') re += '.*'
    else if (c === '?') re += '.'
    else re += c.replace(/[.+^${}()|[\]\\/-]/g, '\\$&')
  }
  return new RegExp(`^${re}$`, 'i')
}

/**
 * Compiled patterns. Every connection checks every line of known_hosts (twice), so without this a pool of
 * N hosts compiles N x lines regexes: at 100 lab hosts that was 0.2 s of the controller's CPU
 * (bench/trace.ts, --cpu-prof), growing with the square of the host count.
 */
const globCache = new Map<string, RegExp>()

function globMatches(pat: string, name: string): boolean {
  // Most patterns are plain names or addresses: compare (case-insensitively, like the regex would).
  if (!pat.includes('*') && !pat.includes('?')) return pat.toLowerCase() === name.toLowerCase()
  let re = globCache.get(pat)
  if (!re) {
    if (globCache.size >= 4096) globCache.clear()
    re = globToRegExp(pat)
    globCache.set(pat, re)
  }
  return re.test(name)
}

/** Does a known_hosts host-pattern field match `name`? (hashed, comma lists, wildcards, `!negation`) */
export function matchesHostPatterns(patterns: string, name: string): boolean {
  if (patterns.startsWith('|1|')) {
    const [, , salt64, hash64] = patterns.split('|')
    if (!salt64 || !hash64) return false
    const mac = createHmac('sha1', Buffer.from(salt64, 'base64')).update(name).digest('base64')
    return mac === hash64
  }
  let matched = false
  for (const p of patterns.split(',')) {
    if (!p) continue
    const negated = p.startsWith('!')
    const pat = negated ? p.slice(1) : p
    if (globMatches(pat, name)) {
      if (negated) return false
      matched = true
    }
  }
  return matched
}

export type Verdict =
  | { status: 'ok'; file: string; line: number }
  | { status: 'unknown' }
  | { status: 'changed'; file: string; line: number; knownType: string }
  | { status: 'other-type'; file: string; line: number; knownType: string }
  | { status: 'revoked'; file: string; line: number }

/** Where does `key` stand for `names` (the first is the primary) in these files? */
export function checkHostKey(files: string[], names: string[], key: Buffer): Verdict {
  const keyType = keyTypeOf(key)
  let changed: Verdict | null = null
  let other: Verdict | null = null
  let ok: Verdict | null = null
  for (const file of files) {
    for (const l of readKnownHosts(file)) {
      if (l.marker === '@cert-authority') continue
      if (l.marker === '@revoked') {
        // A revoked key is refused whatever host pattern it was filed under.
        if (l.key.equals(key)) return { status: 'revoked', file: l.file, line: l.line }
        continue
      }
      if (!names.some((n) => matchesHostPatterns(l.patterns, n))) continue
      if (l.keyType === keyType) {
        if (l.key.equals(key)) ok ??= { status: 'ok', file: l.file, line: l.line }
        else changed ??= { status: 'changed', file: l.file, line: l.line, knownType: l.keyType }
      } else {
        other ??= { status: 'other-type', file: l.file, line: l.line, knownType: l.keyType }
      }
    }
  }
  // Like OpenSSH: a matching line wins over a stale one of the same type in another file.
  return ok ?? changed ?? other ?? { status: 'unknown' }
}

/** Key types known for these names, to prefer them when negotiating the host key algorithm. */
export function knownKeyTypes(files: string[], names: string[]): string[] {
  const types = new Set<string>()
  for (const file of files) {
    for (const l of readKnownHosts(file)) {
      if (l.marker) continue
      if (names.some((n) => matchesHostPatterns(l.patterns, n))) types.add(l.keyType)
    }
  }
  return [...types]
}

/** `|1|salt|hash` for a name (HashKnownHosts yes). */
export function hashHostName(name: string, salt: Buffer = randomBytes(20)): string {
  const mac = createHmac('sha1', salt).update(name).digest('base64')
  return `|1|${salt.toString('base64')}|${mac}`
}

/** Append a host key (accept-new). Creates the directory (0700) and file (0600) when missing. */
export function appendKnownHost(file: string, name: string, key: Buffer, hashed: boolean): void {
  const dir = dirname(file)
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 })
  let prefix = ''
  if (existsSync(file)) {
    const text = readFileSync(file)
    if (text.length > 0 && text[text.length - 1] !== 0x0a) prefix = '\n'
  }
  const line = `${prefix}${hashed ? hashHostName(name) : name} ${keyTypeOf(key)} ${key.toString('base64')}\n`
  appendFileSync(file, line, { mode: 0o600 })
  cache.delete(file)
}

/** Host key algorithm names that sign with a given key type. */
export function algorithmsForKeyType(keyType: string): string[] {
  if (keyType === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']
  return [keyType]
}
