/**
 * Connectivity checks a playbook lists under `verify`. They run after every host applied its tasks; if one
 * fails, the run rolls every changed host back (safety/transaction.ts).
 *
 * Each check runs its probes from all hosts in parallel, one round trip per source host where it can
 * (a source probes all its targets at once, in the background, and reports one line per target), with a
 * bounded time per probe, so a full N×N matrix costs about one probe timeout, not N² of them.
 */
import type { Host, Vars } from '../inventory/types.ts'
import { ArgError } from '../errors.ts'
import { argv, quote, sh } from '../net/shell.ts'
import * as v from '../net/validate.ts'
import type { Connection } from '../transport/types.ts'
import { BIND_LIMIT, countScript, FINISH_LIMIT, listenScript, parseAddr, parseRound, probeScript, SEND_LIMIT, stopScript, WAIT } from './matrix.ts'

export interface CheckHost {
  host: Host
  vars: Vars
  /** The underlay address other hosts use (ansible_host or the name). */
  address: string
  conn: Connection
}

export interface Probe {
  from: string
  to: string
  ok: boolean
  detail: string
}

export interface CheckResult {
  name: string
  ok: boolean
  probes: Probe[]
  /** Render as a from×to matrix (pairwise checks) or as a list (per-host checks). */
  matrix: boolean
}

export interface Check {
  name: string
  /** Validate arguments and per-host vars before any host is touched (throws ArgError). */
  validate?(hosts: CheckHost[]): void
  run(hosts: CheckHost[]): Promise<CheckResult>
}

/** Lines "TARGET ok|fail DETAIL" printed by a batch of background probes. */
function parseProbeLines(from: string, out: string, targets: string[], labels: Map<string, string>): Probe[] {
  const seen = new Map<string, Probe>()
  for (const line of out.split('\n')) {
    const m = /^@@ (\S+) (ok|fail) ?(.*)$/.exec(line)
    if (m) seen.set(m[1], { from, to: labels.get(m[1]) ?? m[1], ok: m[2] === 'ok', detail: m[3] })
  }
  return targets.map((t) => seen.get(t) ?? { from, to: labels.get(t) ?? t, ok: false, detail: 'no answer from the probe' })
}

/** A shell fragment probing every target in the background, one "@@ target ok|fail detail" line each. */
function batch(targets: string[], probe: (t: string) => string): string {
  return (
    targets
      .map((t) => `( if out=$(${probe(t)} 2>&1); then echo ${quote('@@ ' + t + ' ok')}; else echo ${quote('@@ ' + t + ' fail')} "$(echo "$out" | tail -n 1)"; fi ) &`)
      .join('\n') + '\nwait'
  )
}

async function pairwise(
  name: string,
  hosts: CheckHost[],
  targetOf: (h: CheckHost) => string,
  script: (src: CheckHost, targets: string[]) => string,
): Promise<CheckResult> {
  const probes: Probe[] = []
  await Promise.all(
    hosts.map(async (src) => {
      const peers = hosts.filter((h) => h !== src)
      if (peers.length === 0) return
      const targets = peers.map(targetOf)
      const labels = new Map(peers.map((p) => [targetOf(p), p.host.name]))
      try {
        const r = await src.conn.run(script(src, targets), { timeoutMs: (WAIT + 10) * 1000 })
        probes.push(...parseProbeLines(src.host.name, r.stdout, targets, labels))
      } catch (e) {
        for (const p of peers) probes.push({ from: src.host.name, to: p.host.name, ok: false, detail: (e as Error).message })
      }
    }),
  )
  return { name, ok: probes.every((p) => p.ok), probes, matrix: true }
}

/** Every host pings every other host's underlay address. */
export function hostPing(): Check {
  return {
    name: 'host to host (ping)',
    run: (hosts) =>
      pairwise('host to host (ping)', hosts, (h) => h.address, (_s, targets) => batch(targets, (t) => argv(['ping', '-n', '-c', '1', '-W', String(WAIT), t]))),
  }
}

/**
 * One TCP connect attempt from the source host, through bash's /dev/tcp. The address and port are
 * arguments of the script ($1, $2), never part of its text.
 */
export function tcpProbe(address: string, port: number): string {
  return sh`timeout ${WAIT} bash -c 'exec 3<>"/dev/tcp/$1/$2"' tcp ${address} ${port}`
}

/** Every host opens a TCP connection to every other host's underlay address on `port` (default 22). */
export function hostTcp(port = 22): Check {
  v.port('port', port)
  return {
    name: `host to host (tcp/${port})`,
    run: (hosts) =>
      pairwise(`host to host (tcp/${port})`, hosts, (h) => h.address, (_s, targets) =>
        batch(targets, (t) => tcpProbe(t, port)),
      ),
  }
}

/** Each host pings its default gateway (or `address`). */
export function gatewayPing(address?: string): Check {
  if (address !== undefined) v.ipv4('address', address)
  return {
    name: 'host to gateway',
    async run(hosts) {
      const probes = await Promise.all(
        hosts.map(async (h): Promise<Probe> => {
          const gw = address ? quote(address) : `"$(ip -4 route show default | sed -n 's/.* via \\([0-9.]*\\).*/\\1/p' | head -n1)"`
          const r = await h.conn.run(`gw=${gw}; [ -n "$gw" ] || { echo 'no default gateway'; exit 1; }; ping -n -c 1 -W ${WAIT} "$gw" >/dev/null && echo "$gw"`, {
            timeoutMs: (WAIT + 5) * 1000,
          })
          return { from: h.host.name, to: r.stdout.trim() || 'gateway', ok: r.code === 0, detail: r.code === 0 ? '' : (r.stdout + r.stderr).trim().split('\n').pop() ?? '' }
        }),
      )
      return { name: 'host to gateway', ok: probes.every((p) => p.ok), probes, matrix: false }
    },
  }
}

/** A command on every host; passes when it exits 0. */
export function commandCheck(name: string, script: string): Check {
  return {
    name,
    async run(hosts) {
      const probes = await Promise.all(
        hosts.map(async (h): Promise<Probe> => {
          const r = await h.conn.run(script, { timeoutMs: 30_000 })
          return { from: h.host.name, to: '-', ok: r.code === 0, detail: r.code === 0 ? '' : `exit ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').pop()}` }
        }),
      )
      return { name, ok: probes.every((p) => p.ok), probes, matrix: false }
    },
  }
}

export interface ContainerMatrixOptions {
  /** Host var naming the probe container on each host (default `probe_container`, or the literal `name`). */
  container?: string | ((h: CheckHost) => string)
  /** Host var holding the probe container's address as others reach it (default `probe_ip`). */
  ip?: string | ((h: CheckHost) => string)
  /**
   * Read each probe's address from this interface inside its container (in the first round, with the
   * listeners) instead of taking `ip`. A probe without an IPv4 address there fails the check per host.
   */
  iface?: string | ((h: CheckHost) => string)
  /** Also send this many bytes over TCP across every pair and check they all arrive (0 = ping only). */
  tcpBytes?: number
  /** First TCP port used inside the probe containers (the receiver of host i's bytes listens on tcpPort + i). */
  tcpPort?: number
}

interface Round {
  out: string
  /** Why the round's `docker exec` itself failed on this host, if it did. */
  problem?: string
}

const lastLine = (s: string): string => s.trim().split('\n').pop() ?? ''

/** A sender that failed, as a sentence: the round's watchdog stops a stalled one with TERM (143). */
function senderFailure(host: string, rc: number, error: string): string {
  const what = rc === 143 ? `stopped after ${SEND_LIMIT} s` : `exit ${rc}`
  return `${host}'s sender ${what}${error ? `: ${error}` : ''}`
}

/**
 * Container to container across every pair of hosts: ping, and optionally a TCP transfer whose byte
 * count is checked on the receiving side (busybox nc in the probe containers). One `docker exec` per
 * host per round, hosts in parallel (see matrix.ts): listen, then send + ping (the sender reads the
 * receiver's count back), then, only after a failure, count on the receivers.
 */
export function containerMatrix(opts: ContainerMatrixOptions = {}): Check {
  const containerOf = (h: CheckHost): string =>
    typeof opts.container === 'function' ? opts.container(h) : String(h.vars[opts.container ?? 'probe_container'] ?? opts.container ?? '')
  const ipOf = (h: CheckHost): string => (typeof opts.ip === 'function' ? opts.ip(h) : String(h.vars[opts.ip ?? 'probe_ip'] ?? ''))
  const ifaceOf = (h: CheckHost): string | undefined => (opts.iface === undefined ? undefined : typeof opts.iface === 'function' ? opts.iface(h) : opts.iface)
  const bytes = opts.tcpBytes ?? 0
  const basePort = opts.tcpPort ?? 7700
  v.int('tcpBytes', bytes, 0, 2 ** 40)
  v.port('tcpPort', basePort)
  const name = bytes ? `container to container (ping + ${bytes} bytes tcp)` : 'container to container (ping)'

  async function inProbe(h: CheckHost, script: string, timeoutMs: number): Promise<Round> {
    const c = containerOf(h)
    try {
      const r = await h.conn.run(argv(['docker', 'exec', c, 'sh', '-c', script]), { timeoutMs })
      return { out: r.stdout, problem: r.code === 0 ? undefined : `docker exec ${c} on ${h.host.name} failed (exit ${r.code}): ${lastLine(r.stderr || r.stdout)}` }
    } catch (e) {
      return { out: '', problem: `docker exec ${c} on ${h.host.name}: ${(e as Error).message}` }
    }
  }

  return {
    name,
    validate(hosts) {
      if (bytes && basePort + hosts.length - 1 > 65535) throw new ArgError('tcpPort', `a port with room for ${hosts.length} listeners below 65536`, basePort)
      for (const h of hosts) {
        try {
          v.name('probe container', containerOf(h), 'a container name')
          const iface = ifaceOf(h)
          if (iface !== undefined) v.ifname('probe interface', iface)
          else v.ipv4('probe ip', ipOf(h))
        } catch (e) {
          if (e instanceof ArgError) e.forHost(h.host.name)
          throw e
        }
      }
    },
    async run(hosts) {
      if (hosts.length < 2) return { name, ok: true, probes: [], matrix: true }
      const portOf = (i: number) => basePort + i
      const others = (i: number) => hosts.map((_, j) => j).filter((j) => j !== i)
      const ips = new Map<number, string>(hosts.map((h, i) => [i, ifaceOf(h) === undefined ? ipOf(h) : '']))
      const tcp = bytes > 0

      // Round 1: the listeners (TCP) and the probe's own address (iface).
      let listen: Round[] = hosts.map(() => ({ out: '' }))
      if (tcp || opts.iface !== undefined) {
        listen = await Promise.all(hosts.map((h, i) => inProbe(h, listenScript(basePort, tcp ? others(i).map(portOf) : [], bytes, ifaceOf(h)), (BIND_LIMIT + 15) * 1000)))
        if (opts.iface !== undefined) {
          const problems: string[] = []
          hosts.forEach((h, i) => {
            const addr = parseAddr(listen[i].out)
            if (addr) ips.set(i, addr)
            else {
              const said = listen[i].problem ?? (listen[i].out.split('\n').filter((l) => l.startsWith('@@ addr ')).map((l) => l.slice(8)).join('\n').trim() || 'no address')
              problems.push(`${h.host.name}: probe ${containerOf(h)} has no address on ${ifaceOf(h)}: ${said}`)
            }
          })
          if (problems.length) {
            if (tcp) await Promise.all(hosts.map((h) => inProbe(h, stopScript(basePort), 15_000)))
            return { name, ok: false, matrix: false, probes: problems.map((p) => ({ from: p.split(':')[0], to: '-', ok: false, detail: p })) }
          }
        }
      }
      const listenOf = listen.map((r) => parseRound(r.out))

      // Round 2: every host sends to (then pings) all its peers at once; a sender reads back the receiver's count.
      const probe = await Promise.all(
        hosts.map((h, i) => inProbe(h, probeScript(basePort, others(i).map((j) => [j, ips.get(j)!]), tcp ? bytes : 0, portOf(i)), (SEND_LIMIT + WAIT + 20) * 1000)),
      )
      const probeOf = probe.map((r) => parseRound(r.out))
      const sent = (i: number, j: number) => {
        const m = /^(\d+) (\S+) ?(.*)$/.exec(probeOf[i].get(`send ${j}`) ?? '')
        return m ? { rc: Number(m[1]), count: m[2] === '-' ? null : Number(m[2]), error: m[3].trim() } : null
      }

      // Round 3, only where a sender did not read back the full count: what arrived, from the receiver.
      const recount = new Set<number>()
      if (tcp) hosts.forEach((_, i) => others(i).forEach((j) => sent(i, j)?.count !== bytes && recount.add(j)))
      const count = await Promise.all(
        hosts.map((h, j): Promise<Round> | Round => (recount.has(j) ? inProbe(h, countScript(basePort, others(j).map((i) => [i, portOf(i)])), (FINISH_LIMIT + 15) * 1000) : { out: '' })),
      )
      const countOf = count.map((r) => parseRound(r.out))

      const probes: Probe[] = []
      hosts.forEach((src, i) => {
        for (const j of others(i)) {
          const dst = hosts[j]
          const p = probeOf[i].get(`ping ${j}`)
          const pingOk = p === 'ok'
          const pingDetail = pingOk ? '' : p !== undefined ? p.replace(/^fail ?/, '') : (probe[i].problem ?? 'no answer from the probe')
          let tcpDetail = ''
          const s = tcp ? sent(i, j) : null
          if (tcp && s?.count !== bytes) {
            // The receiver's own count: from round 3, or (it removed its directory) every one of its listeners got all.
            const gone = countOf[j].has('dir gone') && listenOf[j].get(`listen ${portOf(i)}`) === 'ok'
            const rx = countOf[j].get(`rx ${i}`)
            const m = rx ? /^(\d+) (\S+) ?(.*)$/.exec(rx) : null
            const got = gone ? bytes : m ? Number(m[1]) : (s?.count ?? 0)
            if (got !== bytes) {
              const why: string[] = []
              const l = listenOf[j].get(`listen ${portOf(i)}`)
              if (l !== undefined && l !== 'ok') why.push(`${dst.host.name}'s listener on port ${portOf(i)}: ${l.replace(/^fail ?/, '')}`)
              else if (listen[j].problem) why.push(listen[j].problem!)
              else if (!m) why.push(count[j].problem ?? `no count from ${dst.host.name}`)
              else if (m[2] === 'listening') why.push(`no connection reached ${dst.host.name}:${portOf(i)}`)
              else if (m[2] === 'connected') why.push('the connection stalled')
              else if (m[2] === 'closed') why.push('the connection ended early')
              if (!s) why.push(probe[i].problem ?? `no answer from ${src.host.name}'s sender`)
              else if (s.rc !== 0) why.push(senderFailure(src.host.name, s.rc, s.error))
              tcpDetail = `tcp: ${got} of ${bytes} bytes arrived${why.length ? ` (${why.join('; ')})` : ''}`
            }
          }
          probes.push({ from: src.host.name, to: dst.host.name, ok: pingOk && !tcpDetail, detail: [pingDetail, tcpDetail].filter(Boolean).join('; ') })
        }
      })
      return { name, ok: probes.every((p) => p.ok), probes, matrix: true }
    },
  }
}

/** Text rendering: a from×to matrix for pairwise checks, a list for per-host ones. */
export function renderCheck(r: CheckResult): string {
  const lines = [`${r.ok ? 'PASS' : 'FAIL'} ${r.name}`]
  if (r.matrix) {
    const names = [...new Set(r.probes.flatMap((p) => [p.from, p.to]))].sort()
    const w = Math.max(10, ...names.map((n) => n.length)) + 2
    lines.push('  ' + 'from \\ to'.padEnd(w) + names.map((n) => n.padEnd(w)).join(''))
    for (const from of names) {
      const cells = names.map((to) => {
        if (from === to) return '-'.padEnd(w)
        const p = r.probes.find((x) => x.from === from && x.to === to)
        return (p ? (p.ok ? 'ok' : 'FAIL') : ' ').padEnd(w)
      })
      lines.push('  ' + from.padEnd(w) + cells.join(''))
    }
  } else {
    for (const p of r.probes) lines.push(`  ${p.from.padEnd(12)} ${p.ok ? 'ok' : 'FAIL'}${p.to !== '-' ? ` (${p.to})` : ''}`)
  }
  for (const p of r.probes.filter((x) => !x.ok)) lines.push(`  ! ${p.from} -> ${p.to}: ${p.detail}`)
  return lines.join('\n')
}
