/** renderFacts: a host's facts as a readable terminal view (plain text; colour is the caller's choice). */
import type { HostFacts, InterfaceFact } from './types.ts'

export interface RenderOptions {
  /** ANSI bold headings (default: false). */
  color?: boolean
}

function table(rows: string[][], indent = '  '): string[] {
  if (!rows.length) return []
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)))
  return rows.map((r) => indent + r.map((x, c) => (c === r.length - 1 ? x : x.padEnd(widths[c]))).join('  ').trimEnd())
}

const ifaceNote = (i: InterfaceFact): string => {
  const n: string[] = []
  if (i.master) n.push(`master ${i.master}`)
  if (i.ovs) n.push(`ovs ${i.ovs.bridge}${i.ovs.type && i.ovs.type !== 'system' ? ` (${i.ovs.type})` : ''}`)
  if (i.vxlan) n.push(`vni ${i.vxlan.id}${i.vxlan.remote ? ` remote ${i.vxlan.remote}` : ''}${i.vxlan.local ? ` local ${i.vxlan.local}` : ''}${i.vxlan.port ? ` port ${i.vxlan.port}` : ''}${i.vxlan.dev ? ` dev ${i.vxlan.dev}` : ''}`)
  return n.join(', ')
}

export function renderFacts(f: HostFacts, opts: RenderOptions = {}): string {
  const h = (s: string) => (opts.color ? `\x1b[1m${s}\x1b[0m` : s)
  const out: string[] = []
  out.push(h(`${f.hostname || '?'}`) + `  kernel ${f.kernel || '?'}`)

  out.push('', h('Interfaces'))
  out.push(
    ...table([
      ['NAME', 'KIND', 'STATE', 'MTU', 'MAC', 'ADDRESSES', 'NOTES'],
      ...f.interfaces.map((i) => [
        i.name,
        i.kind,
        i.up ? i.state : `${i.state} (admin down)`,
        String(i.mtu),
        i.mac ?? '-',
        i.addresses.filter((a) => a.scope !== 'link').map((a) => a.cidr).join(' ') || '-',
        ifaceNote(i),
      ]),
    ]),
  )

  out.push('', h('Routes (main)'))
  out.push(...(f.routes.length ? f.routes.map((r) => `  ${r.family === 6 ? '[v6] ' : ''}${r.text}`) : ['  (none)']))

  if (f.bridges.length) {
    out.push('', h('Linux bridges'))
    out.push(...table(f.bridges.map((b) => [b.name, `ports: ${b.ports.join(' ') || '-'}`, b.addresses.join(' ') || '-', `${b.stp ? 'stp ' : ''}${b.vlanFiltering ? 'vlan-filtering' : ''}`.trim()])))
  }

  out.push('', h('Docker'))
  const d = f.docker
  if (!d.installed) out.push('  not installed')
  else if (!d.running) out.push('  installed, daemon not answering')
  else {
    out.push(
      `  ${d.version ?? '?'}  storage ${d.storageDriver ?? '?'}  cgroup ${d.cgroupDriver ?? '?'}${d.cgroupVersion ? ` v${d.cgroupVersion}` : ''}` +
        `  containers ${d.containers ? `${d.containers.running}/${d.containers.total} running` : '?'}  images ${d.images ?? '?'}`,
    )
    out.push(
      ...table([
        ['NETWORK', 'DRIVER', 'SUBNET', 'GATEWAY', 'BRIDGE', 'MASQ'],
        ...d.networks.map((n) => [n.name, n.driver, n.subnets.join(' ') || '-', n.gateways.join(' ') || '-', n.bridge ?? '-', n.masquerade === undefined ? '-' : n.masquerade ? 'yes' : 'no']),
      ]),
    )
    for (const w of d.warnings) out.push(`  warning: ${w}`)
  }
  if (d.daemonJson.present) {
    out.push(d.daemonJson.error ? `  /etc/docker/daemon.json: INVALID (${d.daemonJson.error})` : `  /etc/docker/daemon.json: ${JSON.stringify(d.daemonJson.content)}`)
  } else if (d.installed) out.push('  /etc/docker/daemon.json: absent')

  const w = f.wireguard
  if (w) {
    out.push('', h('WireGuard'))
    const dp = w.datapath === 'kernel' ? 'kernel module' : w.datapath === 'userspace' ? 'wireguard-go (userspace: no kernel module)' : 'none (no kernel module, no wireguard-go)'
    out.push(`  datapath: ${dp}; wg tool: ${w.tools ? 'yes' : 'no (install wireguard-tools)'}${w.interfaces.length ? `; devices: ${w.interfaces.join(', ')}` : ''}`)
  }
  out.push('', h('Open vSwitch'))
  const o = f.ovs
  if (!o.installed) out.push('  not installed')
  else if (!o.running) out.push('  installed, ovsdb-server not answering')
  else {
    out.push(`  ${o.version ?? '?'}  datapaths: ${o.datapathTypes.join(', ') || '?'}`)
    if (!o.bridges.length) out.push('  (no bridges)')
    for (const b of o.bridges) {
      out.push(`  bridge ${b.name} (datapath ${b.datapathType})`)
      for (const p of b.ports) {
        const ifs = p.interfaces
          .map((i) => {
            const opt = Object.entries(i.options).map(([k, v]) => `${k}=${v}`).join(' ')
            return `${i.name}${i.type ? ` [${i.type}]` : ''}${opt ? ` ${opt}` : ''}${i.mtu ? ` mtu ${i.mtu}` : ''}${i.error ? ` ERROR: ${i.error}` : ''}`
          })
          .join('; ')
        out.push(`    port ${p.name}${p.tag !== undefined ? ` tag ${p.tag}` : ''}: ${ifs}`)
      }
    }
  }

  out.push('', h('Forwarding and firewall'))
  out.push(`  ip_forward ${f.forwarding.ipv4 ? 1 : 0}${f.forwarding.ipv6 === null ? '' : `  ipv6 forwarding ${f.forwarding.ipv6 ? 1 : 0}`}`)
  const t = f.iptables
  if (!t.present) out.push('  iptables: not installed')
  else {
    out.push(
      `  ${t.binary} (${t.variant}${t.pathVariant !== t.variant ? `; iptables on PATH is ${t.pathVariant}` : ''})  FORWARD policy ${t.forwardPolicy ?? '?'}  DOCKER-USER ${t.dockerUser ? 'present' : 'absent'}` +
        (t.legacyTables.length && t.variant === 'nft' ? `  (legacy tables also present: ${t.legacyTables.join(' ')})` : ''),
    )
    out.push('  nat POSTROUTING:', ...(t.natPostrouting.length ? t.natPostrouting.map((r) => `    ${r}`) : ['    (empty)']))
    if (t.orchPostrouting) out.push('  nat ORCH-POSTROUTING:', ...t.orchPostrouting.map((r) => `    ${r}`))
    if (t.orchForward) out.push('  filter ORCH-FORWARD:', ...t.orchForward.map((r) => `    ${r}`))
  }

  out.push('', h('System'))
  const s = f.system
  out.push(`  init: ${s.systemd ? 'systemd' : 'not systemd'}${s.systemctl ? ' (systemctl present)' : ''}`)
  out.push(
    `  network configured by: ${s.network.managers.length ? s.network.managers.join(', ') : 'none detected'}` +
      (s.network.netplanRenderer ? ` (netplan renderer ${s.network.netplanRenderer})` : '') +
      (s.network.ifupdownInterfaces.length ? ` (ifupdown: ${s.network.ifupdownInterfaces.join(' ')})` : ''),
  )
  if (f.errors.length) out.push('', h('Could not read'), ...f.errors.map((e) => `  ${e}`))
  return out.join('\n') + '\n'
}
