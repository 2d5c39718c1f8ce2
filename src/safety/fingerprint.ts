/**
 * What a host holds, to check that a rollback returned it to its pre-run state (and for the tests'
 * "undo returns the host to its snapshot" assertions): links, addresses,
 * routes (v4 and v6, every table), iptables rules (filter and nat), ip_forward, OVS state, docker networks,
 * the config files tasks write, and WireGuard devices and key files (never a key itself). Counters and other churn are dropped so two snapshots of an
 * unchanged host compare equal, and any real difference shows in the diff.
 */
import type { Connection } from '../transport/types.ts'

const MARKER = '@@@orch-snapshot@@@'
/** Where SNAPSHOT_SCRIPT's output starts, when it follows another script's. */
export const SNAPSHOT_START = `${MARKER} `

/**
 * One shell script, few processes: every process started on a target costs ~1-1.5 ms of CPU, and this
 * runs on every host a run changes (before its first change) — 9 processes and two daemon CLIs before, 2
 * now on a bare host.
 * `ip -batch` reads links, addresses and routes in one process (`route show table all` with no family
 * lists IPv4 and IPv6 alike); iptables-save reads both tables in one;
 * files and ip_forward are read with shell builtins; the docker and OVS CLIs (13 and 6 ms even when their
 * daemon is absent) run only when their daemon's socket is there.
 */
export const SNAPSHOT_SCRIPT = [
  `echo '${MARKER} ip'`,
  // A here-document, not printf | ip: the shell writes it to the pipe itself, with no process for printf.
  'ip -d -j -batch - 2>/dev/null <<\'ORCH_IP_BATCH\'',
  'link show',
  'addr show',
  'route show table all',
  'ORCH_IP_BATCH',
  `echo '${MARKER} iptables'`,
  'iptables-save 2>/dev/null || true',
  `echo '${MARKER} forward'`,
  // ip_forward is one digit: the builtin read gets it whole (dash reads /proc/sys a byte at a time and gets
  // end-of-file after the first byte, so this does not work for longer values).
  'v=; read -r v < /proc/sys/net/ipv4/ip_forward; echo "$v"',
  `echo '${MARKER} ovs'`,
  "if [ -S /var/run/openvswitch/db.sock ] || [ -S /run/openvswitch/db.sock ]; then ovs-vsctl --timeout=5 show 2>/dev/null | grep -v -E '^[0-9a-f-]{36}$'; fi; true",
  `echo '${MARKER} docker'`,
  "if [ -S /var/run/docker.sock ] || [ -S /run/docker.sock ]; then docker network ls --format '{{.Name}} {{.Driver}}' 2>/dev/null | sort; fi; true",
  `echo '${MARKER} files'`,
  'for f in /etc/docker/daemon.json /etc/sysctl.d/*.conf /etc/network/interfaces /etc/network/interfaces.d/* /etc/netplan/*; do',
  // Builtin read loop (a process per file saved); the last line is printed as it is, with or without its newline.
  '  [ -f "$f" ] || continue; echo "== $f"; while IFS= read -r l; do printf \'%s\\n\' "$l"; done < "$f"; printf %s "$l"',
  'done; true',
  `echo '${MARKER} wireguard'`,
  // Key files by name only and WireGuard devices without their private and preshared keys (blanked on the
  // host: a key never reaches the controller) and without the handshake/transfer counters.
  'for f in /etc/orch/wireguard /etc/orch/wireguard/* /etc/wireguard/*; do [ -e "$f" ] && echo "$f"; done',
  'if [ -d /sys/module/wireguard ] || [ -d /run/wireguard ]; then wg show all dump 2>/dev/null | awk \'BEGIN { FS = OFS = "\\t" } NF == 5 { $2 = "-" } NF == 9 { $3 = "-"; $6 = $7 = $8 = "" } { print }\' | sort; fi; true',
].join('\n')

/** Keys whose values change without anyone changing the host's configuration. */
const CHURN = new Set([
  'ifindex', 'stats', 'stats64', 'operstate', 'linkmode', 'flags', 'group', 'qdisc', 'txqlen', 'link_index',
  'num_tx_queues', 'num_rx_queues', 'gso_max_size', 'gso_max_segs', 'tso_max_size', 'tso_max_segs',
  'gro_max_size', 'gso_ipv4_max_size', 'gro_ipv4_max_size', 'preferred_life_time', 'valid_life_time',
  'expires', 'promiscuity', 'allmulti', 'inet6_addr_gen_mode', 'addr_gen_mode', 'linkinfo_slave_data',
  'info_slave_data', 'bridge_id', 'root_id', 'designated_root', 'designated_bridge', 'hello_timer',
  'tcn_timer', 'topology_change_timer', 'gc_timer', 'forward_delay_timer', 'hold_timer', 'message_age_timer',
  'carrier_changes', 'carrier_up_count', 'carrier_down_count', 'proto_down', 'no_master',
])

function clean(v: unknown): unknown {
  if (Array.isArray(v)) {
    // IPv6 link-local addresses/routes, and the ff00::/8 local route the kernel adds the first time a
    // bridge gets carrier, appear by themselves: not configuration. Order (by ifindex) is not either.
    return v
      .map(clean)
      .filter((x) => !/"(fe80:|ff00::\/8)/.test(JSON.stringify(x)) && !/"dst":"ff00::"/.test(JSON.stringify(x)))
      .sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1))
  }
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) if (!CHURN.has(k) && !k.endsWith('_timer')) out[k] = clean(x)
    return out
  }
  return v
}

/** The snapshot of a host, in one round trip (as root: iptables needs it). */
export async function snapshot(conn: Connection): Promise<Record<string, unknown>> {
  const r = await conn.run(SNAPSHOT_SCRIPT, { become: true })
  if (r.code !== 0) throw new Error(`snapshot failed on ${conn.hostName}: ${r.stderr}`)
  return parseSnapshot(r.stdout)
}

/** Output of SNAPSHOT_SCRIPT (possibly after other output, which is ignored) -> sections. */
export function parseSnapshot(stdout: string): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const part of stdout.split(`${MARKER} `).slice(1)) {
    const nl = part.indexOf('\n')
    const key = nl < 0 ? part.trim() : part.slice(0, nl)
    const body = nl < 0 ? '' : part.slice(nl + 1)
    switch (key) {
      case 'ip': {
        // ip -batch prints one JSON array per command, in the order given.
        const [links, addrs, routes] = jsonArrays(body)
        Object.assign(out, { links: clean(links ?? []), addrs: clean(addrs ?? []), routes: clean(routes ?? []) })
        break
      }
      case 'iptables':
        Object.assign(out, iptablesRules(body))
        break
      case 'ovs':
        // ovs-vsctl show orders ports by UUID: a port deleted and recreated moves. Compare as sorted lines.
        out.ovs = body.trim().split('\n').sort().join('\n')
        break
      case 'files':
        out.files = body
        break
      default:
        out[key] = body.trim()
    }
  }
  return out
}

/** Top-level JSON arrays written one after another. */
function jsonArrays(text: string): unknown[] {
  const out: unknown[] = []
  let depth = 0
  let start = -1
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (inString) {
      if (c === '\\') i++
      else if (c === '"') inString = false
    } else if (c === '"') inString = true
    else if (c === '[' || c === '{') {
      if (depth++ === 0) start = i
    } else if (c === ']' || c === '}') {
      if (--depth === 0) out.push(JSON.parse(text.slice(start, i + 1)))
    }
  }
  return out
}

/** Built-in chains of the tables compared, which `iptables -S` lists (policy ACCEPT) even before the table exists. */
const BUILTIN_CHAINS: Record<string, string[]> = { filter: ['INPUT', 'FORWARD', 'OUTPUT'], nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'] }

/**
 * iptables-save's filter and nat tables in `iptables -S` form (-P policies, -N chains, -A rules), counters
 * and comments dropped. A table iptables-save does not print (never used) reads as its default policies.
 */
export function iptablesRules(save: string): { filter: string; nat: string } {
  const tables: Record<string, { policies: Map<string, string>; chains: string[]; rules: string[] }> = {}
  let cur: (typeof tables)[string] | undefined
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) tables[line.slice(1).trim()] = cur = { policies: new Map(), chains: [], rules: [] }
    else if (!cur || line.startsWith('#') || line === 'COMMIT' || !line.trim()) continue
    else if (line.startsWith(':')) {
      const [chain, policy] = line.slice(1).split(' ')
      if (policy === '-') cur.chains.push(chain)
      else cur.policies.set(chain, policy)
    } else cur.rules.push(line.trimEnd())
  }
  const render = (name: string) => {
    const t = tables[name]
    const policies = t?.policies ?? new Map(BUILTIN_CHAINS[name].map((c) => [c, 'ACCEPT']))
    return [...[...policies].map(([c, p]) => `-P ${c} ${p}`), ...(t?.chains ?? []).map((c) => `-N ${c}`), ...(t?.rules ?? [])].join('\n')
  }
  return { filter: render('filter'), nat: render('nat') }
}

/**
 * A snapshot as a reboot leaves it comparable: dockerd makes docker0 afresh at every start, with a new
 * random MAC, so the MAC of docker0 (and of docker's br-* bridges) is not the host's configuration across
 * boots. For a host rolled back by a reboot.
 */
export function acrossBoots(s: Record<string, unknown>): Record<string, unknown> {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip)
    if (!v || typeof v !== 'object') return v
    const o = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, strip(x)]))
    if (typeof o.ifname === 'string' && (o.ifname === 'docker0' || o.ifname.startsWith('br-'))) delete o.address
    return o
  }
  return strip(s) as Record<string, unknown>
}

/** Sections that differ between two snapshots (for the "not back in its pre-run state" message). */
export function snapshotDiff(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)])
  return [...keys].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
}
