/**
 * The one script that reads a host's network facts. Every section prints a marker line, its output and
 * its exit status, so one missing tool (no docker, no OVS, no iptables) leaves the other sections
 * intact. Constant text: nothing from the controller is pasted into it.
 */
import { SELECT_IPTABLES_BODY } from './iptables.ts'

export const FACT_MARK = '@@orch-fact@@'

/** name → sh commands. Order is the order of the output. */
export const FACT_SECTIONS: Array<[string, string]> = [
  ['meta', 'cat /proc/sys/kernel/hostname; uname -r'],
  ['addr', 'ip -d -j addr show'],
  ['route4', 'ip -d -j -4 route show table main'],
  ['route6', 'ip -d -j -6 route show table main'],
  ['forwarding', 'cat /proc/sys/net/ipv4/ip_forward; cat /proc/sys/net/ipv6/conf/all/forwarding 2>/dev/null || echo -'],
  [
    'iptables',
    [
      'command -v iptables >/dev/null 2>&1 || { echo absent; exit 0; }',
      'echo "$(command -v "$IPT") $IPT_PATH $IPT_USED"',
      '"$IPT" -V 2>/dev/null | head -n 1',
      'echo "legacy-tables $(cat /proc/net/ip_tables_names 2>/dev/null | tr "\\n" " ")"',
    ].join('\n'),
  ],
  ['ipt-forward', '"$IPT" -w -S FORWARD'],
  ['ipt-docker-user', '"$IPT" -w -S DOCKER-USER'],
  ['ipt-orch-forward', '"$IPT" -w -S ORCH-FORWARD'],
  ['ipt-nat-postrouting', '"$IPT" -w -t nat -S POSTROUTING'],
  ['ipt-orch-postrouting', '"$IPT" -w -t nat -S ORCH-POSTROUTING'],
  ['docker-cmd', 'command -v docker || command -v dockerd'],
  ['daemon-json', 'if [ -f /etc/docker/daemon.json ]; then echo present; cat /etc/docker/daemon.json; else echo absent; fi'],
  ['docker-info', `orch_t 10 docker info --format '{{json .}}'`],
  ['docker-networks', 'ids=$(orch_t 10 docker network ls -q) || exit 1; [ -n "$ids" ] || { echo "[]"; exit 0; }; orch_t 10 docker network inspect $ids'],
  ['ovs-cmd', 'command -v ovs-vsctl'],
  [
    'ovs',
    'ovs-vsctl --timeout=5 --format=json' +
      ' --columns=ovs_version,datapath_types,iface_types list Open_vSwitch' +
      ' -- --columns=_uuid,name,ports,datapath_type,other_config list Bridge' +
      ' -- --columns=_uuid,name,interfaces,tag list Port' +
      ' -- --columns=_uuid,name,type,options,mtu,mtu_request,ofport,error,mac_in_use list Interface',
  ],
  // WireGuard: the kernel module (loaded, built in or loadable), wireguard-go with /dev/net/tun, the wg tool, the devices.
  [
    'wireguard',
    '{ [ -d /sys/module/wireguard ] || modprobe -n wireguard >/dev/null 2>&1; } && echo kernel; command -v wireguard-go >/dev/null 2>&1 && [ -c /dev/net/tun ] && echo userspace; ' +
      'command -v wg >/dev/null 2>&1 && { echo tools; echo "interfaces $(wg show interfaces 2>/dev/null)"; }; true',
  ],
  [
    'system',
    [
      'if [ -d /run/systemd/system ]; then echo "systemd 1"; else echo "systemd 0"; fi',
      'echo "systemctl $(command -v systemctl || echo -)"',
      'for f in /etc/netplan/*.yaml /etc/netplan/*.yml; do [ -f "$f" ] && echo "netplan-file $f"; done',
      "cat /etc/netplan/*.yaml /etc/netplan/*.yml 2>/dev/null | sed -n 's/^[[:space:]]*renderer:[[:space:]]*\\([A-Za-z]*\\).*/netplan-renderer \\1/p' | head -n 1",
      "cat /etc/network/interfaces /etc/network/interfaces.d/* 2>/dev/null | sed -n 's/^[[:space:]]*iface[[:space:]]\\{1,\\}\\([^[:space:]]*\\).*/ifupdown-iface \\1/p'",
      'echo "procs $(cat /proc/[0-9]*/comm 2>/dev/null | sort -u | tr "\\n" " ")"',
      'true',
    ].join('\n'),
  ],
]

/** The whole script: each section in a subshell (an `exit` ends only that section), IPT shared. */
export function factsScript(): string {
  const head = [
    // timeout(1) when there is one: a hung dockerd must not hang the facts.
    'orch_t() { if command -v timeout >/dev/null 2>&1; then timeout "$@"; else shift; "$@"; fi; }',
    'IPT=iptables',
    // The iptables section chooses the binary; the later ipt-* sections use it.
    `if command -v iptables >/dev/null 2>&1; then\n${SELECT_IPTABLES_BODY}\nfi`,
  ]
  const body = FACT_SECTIONS.map(([name, cmd]) => {
    const skip =
      name.startsWith('ipt-') ? 'command -v iptables >/dev/null 2>&1 || exit 127; ' : name === 'ovs' ? 'command -v ovs-vsctl >/dev/null 2>&1 || exit 127; ' : name.startsWith('docker-') && name !== 'docker-cmd' ? 'command -v docker >/dev/null 2>&1 || exit 127; ' : ''
    return `printf '\\n%s %s\\n' '${FACT_MARK}' '${name}'\n( ${skip}${cmd}\n) 2>/dev/null\nprintf '\\n%s rc %s\\n' '${FACT_MARK}' "$?"`
  })
  return [...head, ...body, 'exit 0'].join('\n')
}

export interface Section {
  out: string
  rc: number
}

/** Split the script's output into sections by name. */
export function splitFactSections(stdout: string): Map<string, Section> {
  const out = new Map<string, Section>()
  const parts = stdout.split(`\n${FACT_MARK} `)
  for (let i = 1; i + 1 < parts.length; i += 2) {
    const nl = parts[i].indexOf('\n')
    const name = (nl < 0 ? parts[i] : parts[i].slice(0, nl)).trim()
    const text = nl < 0 ? '' : parts[i].slice(nl + 1)
    const rc = Number(/^rc (\d+)/.exec(parts[i + 1])?.[1] ?? '1')
    out.set(name, { out: text, rc })
  }
  return out
}
