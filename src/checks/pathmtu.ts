/**
 * The path MTU check: a full-size packet crosses between every pair of probe containers without being
 * fragmented anywhere on the way, and one byte more does not leave.
 *
 * Two rounds, one shell per host, all hosts in parallel; the probes run in the container's network
 * namespace from the host (nsenter -t PID -n, with the host's iputils ping: busybox ping has no DF):
 *
 *   1. read   the probe's address and MTU on its interface, and the MTU of the host's underlay interface
 *             (the one holding the address the other hosts reach it at);
 *   2. probe  per peer: `ping -M do -s MTU-HDR` (DF set, an IP packet of exactly the container's MTU) must
 *             be answered, `ping -M do -s MTU-HDR+1` must not leave (EMSGSIZE, or a frag-needed reply);
 *             the host's own fragment counter (Ip FragCreates / Ip6FragCreates of its network namespace,
 *             where a tunnel's outer packets are made) must not move: an overlay whose device MTU is too
 *             big for the underlay fragments the OUTER packets, which a DF probe alone would not show.
 *
 * With `expect` the container MTU must also be the one the strategy computed (underlay MTU − overhead).
 */
import { ArgError } from '../errors.ts'
import { quote } from '../net/shell.ts'
import * as v from '../net/validate.ts'
import type { Check, CheckHost, CheckResult, Probe } from './index.ts'

export type Family = 4 | 6

export interface PathMtuOptions {
  /** The probe container's name on a host. */
  container: (h: CheckHost) => string
  /** Its interface carrying the cluster address (docker's eth0, pipework's eth1). */
  iface: (h: CheckHost) => string
  family?: Family
  /** The container MTU this host should have, from its underlay interface's MTU (null: not checked). */
  expect?: (h: CheckHost, underlayMtu: number) => number | null
}

/** Bytes of IP + ICMP header before ping's payload. */
export const HEADER: Record<Family, number> = { 4: 20 + 8, 6: 40 + 8 }

interface HostRead {
  pid?: number
  address?: string
  mtu?: number
  underlayMtu?: number
  problem?: string
}

/** Round 1: `@@ pid N`, `@@ mtu N`, `@@ addr A`, `@@ umtu N` or `@@ error TEXT`. */
export function readScript(container: string, iface: string, underlay: string, family: Family): string {
  const scope = family === 6 ? ' scope global' : ''
  return [
    `pid=$(docker inspect -f '{{.State.Pid}}' -- ${quote(container)} 2>&1) || { echo "@@ error no container ${container.replace(/[^\w.-]/g, '')}: $pid"; exit 0; }`,
    '[ "$pid" -gt 0 ] 2>/dev/null || { echo "@@ error the probe container is not running"; exit 0; }',
    'echo "@@ pid $pid"',
    `nsenter -t "$pid" -n ip -o link show dev ${quote(iface)} | sed -n 's/.* mtu \\([0-9]*\\) .*/@@ mtu \\1/p'`,
    `nsenter -t "$pid" -n ip -${family} -o addr show dev ${quote(iface)}${scope} | sed -n 's/.* inet6\\{0,1\\} \\([0-9a-fA-F.:]*\\)\\/.*/@@ addr \\1/p' | head -n 1`,
    `d=$(ip -o addr show to ${quote(underlay)} | sed -n '1s/^[0-9]*: \\([^ ]*\\) .*/\\1/p')`,
    '[ -n "$d" ] && ip -o link show dev "$d" | sed -n \'s/.* mtu \\([0-9]*\\) .*/@@ umtu \\1/p\'',
    'true',
  ].join('\n')
}

export function parseRead(out: string): HostRead {
  const r: HostRead = {}
  for (const line of out.split('\n')) {
    const m = /^@@ (\S+) ?(.*)$/.exec(line.trim())
    if (!m) continue
    if (m[1] === 'error') r.problem = m[2]
    if (m[1] === 'pid') r.pid = Number(m[2])
    if (m[1] === 'mtu') r.mtu = Number(m[2])
    if (m[1] === 'umtu') r.underlayMtu = Number(m[2])
    if (m[1] === 'addr') r.address = m[2]
  }
  return r
}

/** The namespace's fragment counter: Ip FragCreates (/proc/net/snmp) or Ip6FragCreates (/proc/net/snmp6). */
const fragCounter = (family: Family): string =>
  family === 6
    ? "awk '$1 == \"Ip6FragCreates\" {print $2}' /proc/net/snmp6"
    : "awk '$1 == \"Ip:\" { if (!n) { for (i = 1; i <= NF; i++) if ($i == \"FragCreates\") c = i; n = 1 } else print $c }' /proc/net/snmp"

/**
 * Round 2 on one host: per target [key, address] the DF probe at the container's MTU and one byte over,
 * then the fragment counters of the host and of the container around both. Output lines:
 * `@@ full KEY ok|fail LAST`, `@@ over KEY left|stopped LAST`, `@@ frag HOST-DELTA CONTAINER-DELTA`.
 */
export function probeScript(pid: number, mtu: number, family: Family, targets: Array<[number, string]>): string {
  const size = mtu - HEADER[family]
  const n = `nsenter -t ${pid} -n`
  const ping = (s: number, count: number) => `${n} ping -${family} -n -M do -c ${count} -i 0.2 -W 2 -s ${s}`
  const lines = [`f0=$(${fragCounter(family)}); g0=$(${n} sh -c ${quote(fragCounter(family))})`]
  for (const [k, a] of targets) {
    // Three tries at full size (any answer passes: the first may wait for neighbour resolution).
    lines.push(`o=$(${ping(size, 3)} ${quote(a)} 2>&1) && echo "@@ full ${k} ok" || echo "@@ full ${k} fail $(echo "$o" | tail -n 1)"`)
    lines.push(`o=$(${ping(size + 1, 1)} ${quote(a)} 2>&1) && echo "@@ over ${k} left $(echo "$o" | tail -n 1)" || echo "@@ over ${k} stopped $(echo "$o" | grep -i -m 1 -e 'too long' -e 'too big' -e 'frag' -e 'mtu' || echo "$o" | tail -n 1)"`)
  }
  lines.push(`f1=$(${fragCounter(family)}); g1=$(${n} sh -c ${quote(fragCounter(family))})`, 'echo "@@ frag $((f1 - f0)) $((g1 - g0))"')
  return lines.join('\n')
}

export function pathMtu(opts: PathMtuOptions): Check {
  const family = opts.family ?? 4
  const name = `path MTU (DF probes, IPv${family})`
  return {
    name,
    validate(hosts) {
      for (const h of hosts) {
        try {
          v.name('probe container', opts.container(h), 'a container name')
          v.ifname('probe interface', opts.iface(h))
        } catch (e) {
          if (e instanceof ArgError) e.forHost(h.host.name)
          throw e
        }
      }
    },
    async run(hosts): Promise<CheckResult> {
      if (hosts.length < 2) return { name, ok: true, probes: [], matrix: true }
      const reads = await Promise.all(
        hosts.map(async (h): Promise<HostRead> => {
          try {
            const r = await h.conn.run(readScript(opts.container(h), opts.iface(h), h.address, family), { timeoutMs: 20_000 })
            const x = parseRead(r.stdout)
            if (!x.problem && (!x.mtu || !x.address)) x.problem = `probe ${opts.container(h)} has no IPv${family} address or MTU on ${opts.iface(h)}: ${(r.stderr || r.stdout).trim().split('\n').pop() ?? ''}`
            if (!x.problem && opts.expect) {
              if (!x.underlayMtu) x.problem = `no interface of ${h.host.name} holds its underlay address ${h.address}`
              else {
                const want = opts.expect(h, x.underlayMtu)
                if (want !== null && want !== x.mtu) x.problem = `probe ${opts.container(h)} ${opts.iface(h)} has MTU ${x.mtu}, expected ${want} (underlay MTU ${x.underlayMtu})`
              }
            }
            return x
          } catch (e) {
            return { problem: (e as Error).message }
          }
        }),
      )
      const bad = reads.flatMap((r, i) => (r.problem ? [{ from: hosts[i].host.name, to: '-', ok: false, detail: r.problem }] : []))
      if (bad.length) return { name, ok: false, probes: bad, matrix: false }
      const probes: Probe[] = []
      await Promise.all(
        hosts.map(async (src, i) => {
          const me = reads[i]
          const peers = hosts.map((_, j) => j).filter((j) => j !== i)
          let out = ''
          let problem = ''
          try {
            const r = await src.conn.run(probeScript(me.pid!, me.mtu!, family, peers.map((j) => [j, reads[j].address!])), { timeoutMs: (peers.length * 4 + 15) * 1000 })
            out = r.stdout
            if (r.code !== 0) problem = `exit ${r.code}: ${r.stderr.trim().split('\n').pop() ?? ''}`
          } catch (e) {
            problem = (e as Error).message
          }
          const lines = new Map(out.split('\n').flatMap((l) => {
            const m = /^@@ (\S+) (\S+) ?(.*)$/.exec(l.trim())
            return m ? [[`${m[1]} ${m[2]}`, m[3]] as [string, string]] : []
          }))
          const frag = [...lines.entries()].find(([k]) => k.startsWith('frag '))
          const fragHost = frag ? Number(frag[0].split(' ')[1]) : NaN
          const fragInner = frag ? Number(frag[1]) : NaN
          for (const j of peers) {
            const full = lines.get(`full ${j}`)
            const over = lines.get(`over ${j}`)
            const why: string[] = []
            if (problem) why.push(problem)
            if (full === undefined || !full.startsWith('ok')) why.push(`${me.mtu} bytes with DF did not cross${full ? `: ${full.replace(/^fail ?/, '')}` : ''}`)
            if (over === undefined || !over.startsWith('stopped')) why.push(`${me.mtu! + 1} bytes with DF crossed (the container MTU is not the path's)${over ? `: ${over.replace(/^left ?/, '')}` : ''}`)
            if (!(fragHost === 0)) why.push(`${src.host.name} fragmented ${Number.isNaN(fragHost) ? '?' : fragHost} packets during the probes (a tunnel MTU bigger than the underlay's)`)
            if (!(fragInner === 0)) why.push(`the probe on ${src.host.name} fragmented ${Number.isNaN(fragInner) ? '?' : fragInner} packets`)
            probes.push({ from: src.host.name, to: hosts[j].host.name, ok: why.length === 0, detail: why.length ? why.join('; ') : `mtu ${me.mtu}` })
          }
        }),
      )
      return { name, ok: probes.every((p) => p.ok), probes, matrix: true }
    },
  }
}
