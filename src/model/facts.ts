/**
 * Fact readers: for each fact, the sh fragment that prints it and the one pure parser of that output.
 * Tasks compose them (read.ts compose) into one round trip; the parsers are unit-tested on output
 * recorded from lab hosts (test/unit/golden).
 */
import { argv, quote, sh } from '../net/shell.ts'
import { parseFileState, readFileScript, type FileState } from '../engine/taskkit.ts'
import { IPT_BINARIES, parseIptablesS, rulesIn, SELECT_IPTABLES_BODY, type ChainSpec, type ChainState, type IptBinary } from '../facts/iptables.ts'
import { parseRoutesJson, type RouteJson } from '../facts/routes.ts'
import { parseLinks, type Link } from './link.ts'
import { compose, reader, type Reader, type Section } from './read.ts'

const json = (s: Section): unknown => (s.out.trim() ? JSON.parse(s.out) : undefined)

/** /proc/sys path of a sysctl name: dots separate unless the name uses slashes (then dots are literal). */
export function procPath(name: string): string {
  return '/proc/sys/' + (name.includes('/') ? name : name.replace(/\./g, '/'))
}

/** A sysctl's runtime value, words separated by one space; null: no such sysctl on the host. */
export function sysctlReader(name: string): Reader<string | null> {
  const p = quote(procPath(name))
  // cat, not the shell's read: dash reads a byte at a time, and /proc/sys files answer a read at an
  // offset past 0 with end-of-file (ip_local_port_range would read as "3").
  return reader('sysctl', `if [ -r ${p} ]; then cat ${p}; else orch_rc 4; fi`, (s) => {
    if (s.rc === 4) return null
    if (s.rc !== 0) throw new Error(`cat ${procPath(name)} exited ${s.rc}`)
    return normalizeWords(s.out)
  })
}
export const normalizeWords = (v: string): string => v.trim().split(/\s+/).join(' ')

/** A path's state (and a regular file's content): taskkit's readFileScript. */
export function fileReader(path: string): Reader<FileState> {
  return reader('file', readFileScript(path), (s) => parseFileState(s.out, path))
}

/** `ip -d -j -4|-6 route show table T`: a numbered table that holds no route does not exist (ip exits 2, prints "["): empty. */
export function routesReader(family: 4 | 6, table: number | 'all'): Reader<RouteJson[]> {
  return reader('routes', `${argv(['ip', '-d', '-j', `-${family}`, 'route', 'show', 'table', table])} 2>/dev/null`, (s) => {
    if (s.rc !== 0 && s.out.trim() === '[') return []
    if (s.rc !== 0) throw new Error(`ip route show table ${table} exited ${s.rc}`)
    return parseRoutesJson(s.out)
  })
}

/** One link (`ip -d -j link show dev N`; with addresses: `ip -d -j addr show dev N`), or null when there is none of that name. */
export function linkReader(name: string, o: { addresses?: boolean } = {}): Reader<Link | null> {
  return reader('link', `${argv(['ip', '-d', '-j', o.addresses ? 'addr' : 'link', 'show', 'dev', name])} 2>/dev/null || true`, (s) => parseLinks(s.out)[0] ?? null)
}

/** The ports of a bridge (`ip -d -j link show master B`); [] when it has none or does not exist. */
export function bridgePortsReader(bridge: string): Reader<Link[]> {
  return reader('ports', `${argv(['ip', '-d', '-j', 'link', 'show', 'master', bridge])} 2>/dev/null || true`, (s) => parseLinks(s.out))
}

/** The links holding an address (`ip -j addr show to A/32`): who owns the address, with their MTU. */
export function addressHoldersReader(address: string): Reader<Link[]> {
  const v6 = address.includes(':')
  return reader('holders', argv(['ip', '-d', '-j', v6 ? '-6' : '-4', 'addr', 'show', 'to', `${address}/${v6 ? 128 : 32}`]), (s) => {
    if (s.rc !== 0) throw new Error(`ip addr show exited ${s.rc}`)
    return parseLinks(s.out)
  })
}

export interface FdbEntry {
  mac: string
  dst?: string
  flags: string[]
}

/** `bridge -j fdb show dev N` ([] when the device does not exist). */
export function fdbReader(dev: string): Reader<FdbEntry[]> {
  return reader('fdb', `${argv(['bridge', '-j', 'fdb', 'show', 'dev', dev])} 2>/dev/null || true`, (s) => {
    const v = json(s)
    if (v === undefined) return []
    if (!Array.isArray(v)) throw new Error('bridge -j fdb: expected a JSON array')
    return v.map((e: Record<string, unknown>) => ({
      mac: String(e.mac ?? ''),
      ...(typeof e.dst === 'string' ? { dst: e.dst } : {}),
      flags: Array.isArray(e.flags) ? e.flags.map(String) : [],
    }))
  })
}

// ---------------------------------------------------------------- iptables

/** Which iptables the firewall tasks use (facts/iptables.ts SELECT_IPTABLES_BODY); null: no iptables at all. */
export function iptablesReader(): Reader<Pick<ChainState, 'ipt' | 'pathVariant' | 'variant'> | null> {
  const script = `if command -v iptables >/dev/null 2>&1; then\n${SELECT_IPTABLES_BODY}\n` + sh`printf '%s %s %s\n' "$(command -v "$IPT")" "$IPT_PATH" "$IPT_USED"` + `\nelse orch_rc 3; fi`
  return reader('select', script, (s) => {
    if (s.rc === 3) return null
    const head = s.out.trim().split(/\s+/)
    const ipt = head[0] ?? ''
    const base = ipt.slice(ipt.lastIndexOf('/') + 1) as IptBinary
    if (!ipt.startsWith('/') || !IPT_BINARIES.includes(base)) throw new Error(`unexpected iptables selection: ${JSON.stringify(head)}`)
    return { ipt, pathVariant: head[1] === 'nft' ? 'nft' : 'legacy', variant: head[2] === 'nft' ? 'nft' : 'legacy' }
  })
}

/** `$IPT -S CHAIN` of the table (after iptablesReader in the same read): its rules, null when the chain does not exist. */
function chainRulesReader(table: string, chain: string) {
  return reader(`chain`, sh`"$IPT" -w -t ${table} -S ${chain} 2>/dev/null`, (s) => (s.rc === 0 ? rulesIn(parseIptablesS(s.out), chain) : null))
}

/** The managed chain of `spec`, its jump candidates and the backend, in one read; null: no iptables. */
export function chainReader(spec: ChainSpec): Reader<ChainState | null> {
  const chains = Object.fromEntries([...spec.parents, spec.chain].map((c) => [c, chainRulesReader(spec.table, c)]))
  const r = compose({ ipt: iptablesReader(), ...chains })
  return {
    sections: r.sections,
    parse(get) {
      const v = r.parse(get) as Record<string, unknown> & { ipt: ReturnType<ReturnType<typeof iptablesReader>['parse']> }
      if (!v.ipt) return null
      const parents = Object.fromEntries(spec.parents.map((p) => [p, v[p] as ChainState['rules']]))
      return { ...v.ipt, parents, rules: v[spec.chain] as ChainState['rules'] }
    },
  }
}
