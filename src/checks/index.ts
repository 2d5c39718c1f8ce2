/**
 * Connectivity checks a playbook lists under `verify`. They run after every host applied its tasks; if one
 * fails, the run rolls every changed host back (safety/transaction.ts).
 *
 * Each check runs its probes from all hosts in parallel, one round trip per source host where it can
 * (a source probes all its targets at once, in the background, and reports one line per target), with a
 * bounded time per probe, so a full N×N matrix costs about one probe timeout, not N² of them.
 */
import type { Host, Vars } from '../inventory/types.ts'
import { ArgError } from '../engine/types.ts'
import { argv, quote, sh } from '../net/shell.ts'
import * as v from '../net/validate.ts'
import type { Connection } from '../transport/types.ts'

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

const WAIT = 2 // seconds per ping / connect

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

/** Every host opens a TCP connection to every other host's underlay address on `port` (default 22). */
export function hostTcp(port = 22): Check {
  v.port('port', port)
  return {
    name: `host to host (tcp/${port})`,
    run: (hosts) =>
      pairwise(`host to host (tcp/${port})`, hosts, (h) => h.address, (_s, targets) =>
        batch(targets, (t) => sh`timeout ${WAIT} bash -c ${`exec 3<>/dev/tcp/${t}/${port}`}`),
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
  /** Also send this many bytes over TCP across every pair and check they all arrive (0 = ping only). */
  tcpBytes?: number
  /** First TCP port used inside the probe containers. */
  tcpPort?: number
}

/**
 * Container to container across every pair of hosts: ping, and optionally a TCP transfer whose byte
 * count is checked on the receiving side (busybox nc in the probe containers).
 */
export function containerMatrix(opts: ContainerMatrixOptions = {}): Check {
  const containerOf = (h: CheckHost): string =>
    typeof opts.container === 'function' ? opts.container(h) : String(h.vars[opts.container ?? 'probe_container'] ?? opts.container ?? '')
  const ipOf = (h: CheckHost): string => (typeof opts.ip === 'function' ? opts.ip(h) : String(h.vars[opts.ip ?? 'probe_ip'] ?? ''))
  const bytes = opts.tcpBytes ?? 0
  const basePort = opts.tcpPort ?? 7700
  const name = bytes ? `container to container (ping + ${bytes} bytes tcp)` : 'container to container (ping)'
  return {
    name,
    validate(hosts) {
      for (const h of hosts) {
        try {
          v.name('probe container', containerOf(h), 'a container name')
          v.ipv4('probe ip', ipOf(h))
        } catch (e) {
          if (e instanceof ArgError) e.forHost(h.host.name)
          throw e
        }
      }
    },
    async run(hosts) {
      const ping = await pairwise(name, hosts, ipOf, (src, targets) =>
        batch(targets, (t) => argv(['docker', 'exec', containerOf(src), 'ping', '-c', '1', '-W', String(WAIT), t])),
      )
      if (!bytes) return ping
      // TCP: each receiver listens on one port per sender; senders push `bytes`; receivers count them.
      const index = new Map(hosts.map((h, i) => [h.host.name, i]))
      await Promise.all(
        hosts.map((dst) =>
          dst.conn.run(
            hosts
              .filter((s) => s !== dst)
              .map((s) => {
                const port = basePort + index.get(s.host.name)!
                // nc's stdin is held open (sleep): busybox nc closes the connection when its stdin ends.
                const inner = `rm -f /tmp/orch-rx-${port}; sleep 20 | nc -l -p ${port} > /tmp/orch-rx-${port}`
                return argv(['docker', 'exec', '-d', containerOf(dst), 'sh', '-c', inner])
              })
              .join('\n'),
          ),
        ),
      )
      await new Promise((r) => setTimeout(r, 200))
      await Promise.all(
        hosts.map((src) => {
          const port = basePort + index.get(src.host.name)!
          const sends = hosts
            .filter((d) => d !== src)
            .map((d) => argv(['docker', 'exec', containerOf(src), 'sh', '-c', `head -c ${bytes} /dev/zero | nc -w 3 ${ipOf(d)} ${port}`]) + ' &')
          return src.conn.run(sends.join('\n') + '\nwait', { timeoutMs: 30_000 })
        }),
      )
      const tcp: Probe[] = []
      await Promise.all(
        hosts.map(async (dst) => {
          const script = hosts
            .filter((s) => s !== dst)
            .map((s) => {
              const port = basePort + index.get(s.host.name)!
              return `echo "@@ ${s.host.name} $(` + argv(['docker', 'exec', containerOf(dst), 'sh', '-c', `n=0; for i in $(seq 1 25); do n=$(wc -c < /tmp/orch-rx-${port} 2>/dev/null || echo 0); [ "$n" -ge ${bytes} ] && break; sleep 0.2; done; echo $n; rm -f /tmp/orch-rx-${port}`]) + ')"'
            })
            .join('\n')
          const r = await dst.conn.run(script, { timeoutMs: 30_000 })
          for (const s of hosts.filter((x) => x !== dst)) {
            const m = new RegExp(`^@@ ${s.host.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} (\\d+)`, 'm').exec(r.stdout)
            const got = m ? Number(m[1]) : 0
            tcp.push({ from: s.host.name, to: dst.host.name, ok: got === bytes, detail: got === bytes ? '' : `tcp: ${got} of ${bytes} bytes arrived` })
          }
        }),
      )
      // One probe per pair: ok only if both ping and TCP passed.
      const probes = ping.probes.map((p) => {
        const t = tcp.find((x) => x.from === p.from && x.to === p.to)
        return t && !t.ok ? { ...p, ok: false, detail: [p.detail, t.detail].filter(Boolean).join('; ') } : p
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
