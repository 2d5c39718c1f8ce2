/**
 * What a host holds, to check that a rollback returned it to its pre-run state (and for the tests'
 * "undo returns the host to its snapshot" assertions): links, addresses,
 * routes (v4 and v6), iptables rules (filter and nat), ip_forward, OVS state, docker networks, and
 * the config files tasks write. Counters and other churn are dropped so two snapshots of an
 * unchanged host compare equal, and any real difference shows in the diff.
 */
import type { Connection } from '../transport/types.ts'

const SECTIONS: Record<string, string> = {
  links: 'ip -d -j link show',
  addrs: 'ip -j addr show',
  routes4: 'ip -j route show table all',
  routes6: 'ip -6 -j route show table main',
  filter: 'iptables -S 2>/dev/null || true',
  nat: 'iptables -t nat -S 2>/dev/null || true',
  forward: 'cat /proc/sys/net/ipv4/ip_forward',
  ovs: "ovs-vsctl --timeout=5 show 2>/dev/null | grep -v -E '^[0-9a-f-]{36}$' || true",
  docker: "docker network ls --format '{{.Name}} {{.Driver}}' 2>/dev/null | sort || true",
  files:
    'for f in /etc/docker/daemon.json /etc/sysctl.d/*.conf /etc/network/interfaces /etc/network/interfaces.d/* /etc/netplan/*; do [ -f "$f" ] && { echo "== $f"; cat "$f"; }; done; true',
}

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

export async function snapshot(conn: Connection): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  const marker = '@@@orch-snapshot@@@'
  const script = Object.entries(SECTIONS).map(([k, cmd]) => `echo '${marker} ${k}'; ${cmd}`).join('\n')
  const r = await conn.run(script)
  if (r.code !== 0) throw new Error(`snapshot failed on ${conn.hostName}: ${r.stderr}`)
  for (const part of r.stdout.split(`${marker} `).slice(1)) {
    const nl = part.indexOf('\n')
    const key = part.slice(0, nl)
    const body = part.slice(nl + 1).trim()
    // ovs-vsctl show orders ports by UUID: a port deleted and recreated moves. Compare as sorted lines.
    out[key] = body.startsWith('[') ? clean(JSON.parse(body)) : key === 'ovs' ? body.split('\n').sort().join('\n') : body
  }
  return out
}

/** Sections that differ between two snapshots (for the "not back in its pre-run state" message). */
export function snapshotDiff(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)])
  return [...keys].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
}
