/**
 * Host names as inventory files write them: `web1`, `web1:2222` (port), `[2001:db8::1]:22`,
 * and ranges `node[01:20]` (leading zeros kept), `node[a:f]`, `node[1:10:2]` (stride), several
 * ranges in one name (`r[1:2]-n[a:b]`). Same rules as Ansible's parse_address/expand_hostname_range.
 */

export class HostRangeError extends Error {}

const NUMERIC_RANGE = String.raw`\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]`
const HEX_RANGE = String.raw`\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]`
const ALNUM_RANGE = String.raw`\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]`
const IPV4_PART = String.raw`(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]|${NUMERIC_RANGE})`
const IPV6_PART = String.raw`(?:[0-9a-f]{1,4}|${HEX_RANGE})`
const LABEL = String.raw`(?:[\p{L}\p{N}_]|${ALNUM_RANGE})(?:[\p{L}\p{N}_-]|${ALNUM_RANGE})*(?<![_-])`
// The same for ASCII-only names: the same answers for them, and ~2 ms less than compiling the Unicode one.
const ASCII_LABEL = String.raw`(?:[A-Za-z0-9_]|${ALNUM_RANGE})(?:[A-Za-z0-9_-]|${ALNUM_RANGE})*(?<![_-])`

const RE = {
  bracketedHostPort: /^\[(.+)\]:([0-9]+)$/,
  hostPort: /^((?:[^:[\]]|\[[^\]]*\])*):([0-9]+)$/,
  ipv4: new RegExp(`^(?:${IPV4_PART}\\.){3}${IPV4_PART}$`, 'i'),
  ipv6: new RegExp(
    '^(?:' +
      [
        `(?:P:){7}P`,
        `(?:P:){1,6}:`,
        `(?:P:)(?::P){1,6}`,
        `(?:P:){2}(?::P){1,5}`,
        `(?:P:){3}(?::P){1,4}`,
        `(?:P:){4}(?::P){1,3}`,
        `(?:P:){5}(?::P){1,2}`,
        `(?:P:){6}(?::P)`,
        `:(?::P){1,6}`,
        `P?::`,
        `(?:0:){6}(?:P\\.){3}P`,
        `::(?:ffff:)?(?:P\\.){3}P`,
        `(?:0:){5}ffff:(?:P\\.){3}P`,
      ]
        .join('|')
        .replace(/P/g, IPV6_PART) +
      ')$',
    'i',
  ),
  asciiHostname: new RegExp(`^${ASCII_LABEL}(?:\\.${ASCII_LABEL})*$`, 'i'),
  // Compiled on first use only (a non-ASCII name).
  get hostname(): RegExp {
    const re = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`, 'iu')
    Object.defineProperty(this, 'hostname', { value: re })
    return re
  },
}
const isHostname = (s: string) => (/^[\x00-\x7f]*$/.test(s) ? RE.asciiHostname.test(s) : RE.hostname.test(s))

/**
 * Splits `host:port` / `[v6]:port`; `null` when `address` is not a host name or address at all
 * (Ansible then keeps the whole text as the name, without a port).
 */
export function parseAddress(address: string): { host: string; port?: number } | null {
  let host = address
  let port: number | undefined
  for (const re of [RE.bracketedHostPort, RE.hostPort]) {
    const m = re.exec(host)
    if (m) {
      host = m[1]
      port = Number(m[2])
    }
  }
  // Names first: the IPv6 expression costs ~3 ms to compile, and only a text with a colon can match it.
  if (isHostname(host) || RE.ipv4.test(host) || (host.includes(':') && RE.ipv6.test(host))) return { host, port }
  return null
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'

/** Expands every `[begin:end(:step)]` in `name`; throws HostRangeError with a reason. */
export function expandHostRange(name: string): string[] {
  const open = name.indexOf('[')
  if (open < 0) return [name]
  const close = name.indexOf(']', open)
  if (close < 0) throw new HostRangeError(`unbalanced '[' in host range "${name}"`)
  const head = name.slice(0, open)
  const spec = name.slice(open + 1, close)
  const tail = name.slice(close + 1)
  const bounds = spec.split(':')
  if (bounds.length !== 2 && bounds.length !== 3) {
    throw new HostRangeError(`host range "[${spec}]" must be begin:end or begin:end:step`)
  }
  const beg = bounds[0] || '0'
  const end = bounds[1]
  if (!end) throw new HostRangeError(`host range "[${spec}]" has no end value`)
  let step = 1
  if (bounds.length === 3) {
    if (!/^[0-9]+$/.test(bounds[2]) || Number(bounds[2]) < 1) {
      throw new HostRangeError(`host range "[${spec}]": step must be a positive integer`)
    }
    step = Number(bounds[2])
  }
  let seq: string[]
  if (/^[0-9]+$/.test(beg) && /^[0-9]+$/.test(end)) {
    const width = beg.length > 1 && beg[0] === '0' ? beg.length : 0
    if (width && width !== end.length) {
      throw new HostRangeError(`host range "[${spec}]": begin and end must have the same width with leading zeros`)
    }
    seq = []
    for (let i = Number(beg); i <= Number(end); i += step) seq.push(width ? String(i).padStart(width, '0') : String(i))
  } else if (beg.length === 1 && end.length === 1 && LETTERS.includes(beg) && LETTERS.includes(end)) {
    const b = LETTERS.indexOf(beg)
    const e = LETTERS.indexOf(end)
    if (b > e) throw new HostRangeError(`host range "[${spec}]": begin must not come after end`)
    seq = []
    for (let i = b; i <= e; i += step) seq.push(LETTERS[i])
  } else {
    throw new HostRangeError(`host range "[${spec}]" must be numbers (01:20) or single letters (a:f)`)
  }
  if (seq.length === 0) throw new HostRangeError(`host range "[${spec}]" is empty`)
  return seq.flatMap((s) => expandHostRange(head + s + tail))
}

/** A host entry (`web[1:3]:2222`) → its names and the port that applies to all of them. */
export function expandHostPattern(pattern: string): { names: string[]; port?: number } {
  const parsed = parseAddress(pattern)
  const base = parsed ? parsed.host : pattern
  const names = base.includes('[') ? expandHostRange(base) : [base]
  return { names, port: parsed?.port }
}
