/**
 * The golden cases: for each, the host state to set up on a lab host (node1; node2 is its peer on the
 * LAN), the task's arguments, and what to remove afterwards. record.ts turns them into
 * test/unit/golden/<task>/<case>.json.
 */
import { dirname } from 'node:path'
import { ROUTES, routeData, routeDataPath, type Concern } from '../../src/model/persist.ts'
import { UNIT_DIR } from '../../src/model/unit.ts'
import { sh } from '../../src/net/shell.ts'

export interface LabView {
  /** node1's and node2's LAN addresses, the LAN's gateway. */
  a: string
  b: string
  gw: string
}

export interface GoldenCase {
  task: string
  case: string
  about: string
  setup: (l: LabView) => string
  args: (l: LabView) => unknown
  /** The lab runs dockerd (cases on docker bridges). */
  docker?: boolean
  /** Containers run: their veths (recreated by a docker restart) are left out of the undo's snapshot check. */
  containers?: boolean
  /** Removes what setup made (after the undo was checked). */
  teardown?: (l: LabView) => string
}

/** Every file a persisted form may have left (the cases' teardown). */
const ORCH_TEARDOWN = '/etc/orch /etc/systemd/system/orch-*.service /etc/systemd/system/*.wants/orch-*.service'

/** A setup that writes a concern's unit, script and symlinks as orch writes them, and data files. */
function persistedSetup(c: Concern, files: Array<[string, string]>): string {
  const write = (path: string, text: string) => sh`mkdir -p ${dirname(path)} && printf '%s' ${text} > ${path}`
  return [
    write(`${UNIT_DIR}/${c.unit}`, c.unitText),
    write(`${c.dir}/apply.sh`, c.scriptText),
    sh`chmod 0755 ${`${c.dir}/apply.sh`}`,
    ...c.wantedBy.map((t) => sh`mkdir -p ${`${UNIT_DIR}/${t}.wants`} && ln -sfn ${`${UNIT_DIR}/${c.unit}`} ${`${UNIT_DIR}/${t}.wants/${c.unit}`}`),
    ...files.map(([p, t]) => write(p, t)),
  ].join(' && ')
}

const cases: GoldenCase[] = [
  // ---------------------------------------------------------------- sysctl
  {
    task: 'sysctl',
    case: 'runtime-and-new-conf',
    about: 'runtime value differs and the conf file does not exist: a sysctl step and a file step; undo restores 0 and removes the file',
    setup: () => 'echo 0 > /proc/sys/net/ipv4/ip_forward; rm -f /etc/sysctl.d/60-golden.conf',
    args: () => ({ name: 'net.ipv4.ip_forward', value: 1, persist: '60-golden' }),
    teardown: () => 'rm -f /etc/sysctl.d/60-golden.conf',
  },
  {
    task: 'sysctl',
    case: 'edit-existing-conf',
    about: 'runtime already right; the conf file holds another value for the key: only the file step (its mode and owner kept), undo restores the old content',
    setup: () => "echo 1 > /proc/sys/net/ipv4/ip_forward; printf '# kept\\nnet.ipv4.ip_forward = 0\\nnet.ipv4.conf.all.rp_filter = 2\\n' > /etc/sysctl.d/61-golden.conf; chmod 0640 /etc/sysctl.d/61-golden.conf",
    args: () => ({ name: 'net.ipv4.ip_forward', value: true, persist: '61-golden' }),
    teardown: () => 'rm -f /etc/sysctl.d/61-golden.conf',
  },
  {
    task: 'sysctl',
    case: 'multi-word-runtime-only',
    about: 'a tab-separated value compared by words, persist false: runtime step only',
    setup: () => 'echo "32768 60999" > /proc/sys/net/ipv4/ip_local_port_range',
    args: () => ({ name: 'net.ipv4.ip_local_port_range', value: '20000 30000', persist: false }),
  },
  {
    task: 'sysctl',
    case: 'already-set',
    about: 'runtime and file already right: an empty plan, no command after the read',
    setup: () => "echo 1 > /proc/sys/net/ipv4/ip_forward; printf 'net.ipv4.ip_forward = 1\\n' > /etc/sysctl.d/62-golden.conf",
    args: () => ({ name: 'net.ipv4.ip_forward', value: 1, persist: '62-golden' }),
    teardown: () => 'rm -f /etc/sysctl.d/62-golden.conf',
  },
  // ---------------------------------------------------------------- route
  {
    task: 'route',
    case: 'add',
    about: 'no route of that identity: add (proto static); undo deletes exactly it',
    setup: () => 'ip route del 10.77.0.0/24 2>/dev/null; true',
    args: (l) => ({ to: '10.77.0.0/24', via: l.b }),
  },
  {
    task: 'route',
    case: 'replace',
    about: 'a route of the same identity points elsewhere: replace; undo puts the old one back with all its attributes',
    setup: (l) => `ip route add 10.77.1.0/24 via ${l.gw} proto boot mtu 1400`,
    args: (l) => ({ to: '10.77.1.0/24', via: l.b }),
    teardown: () => 'ip route del 10.77.1.0/24',
  },
  {
    task: 'route',
    case: 'absent',
    about: 'state absent removes the route; undo re-adds it as the kernel printed it',
    setup: (l) => `ip route add 10.77.2.0/24 via ${l.b} metric 50`,
    args: () => ({ to: '10.77.2.0/24', metric: 50, state: 'absent' }),
    teardown: () => 'ip route del 10.77.2.0/24 metric 50 2>/dev/null; true',
  },
  {
    task: 'route',
    case: 'absent-persisted',
    about: 'state absent of a persisted route (a host that left): the route goes now, its file at commit; undo writes the file back and re-adds the route',
    setup: (l) =>
      `ip route add 10.77.4.0/24 via ${l.b} proto static && ` +
      persistedSetup(ROUTES, [[routeDataPath('10.77.4.0/24', 0, 254), routeData(`10.77.4.0/24 via ${l.b}`, ['10.77.4.0/24', 'via', l.b, 'table', '254', 'proto', 'static', 'metric', '0'])]]),
    args: (l) => ({ to: '10.77.4.0/24', via: l.b, state: 'absent' }),
    teardown: () => `ip route del 10.77.4.0/24 2>/dev/null; rm -rf ${ORCH_TEARDOWN}`,
  },
  {
    task: 'route',
    case: 'new-table',
    about: 'a numbered table that does not exist yet (ip exits 2 and prints "["): read as empty, route added there',
    setup: () => 'ip route flush table 177 2>/dev/null; true',
    args: () => ({ to: 'default', dev: 'eth0', table: 177 }),
  },
  {
    task: 'route',
    case: 'present',
    about: 'the route is there already, runtime only (persist false): nothing to do',
    setup: (l) => `ip route add 10.77.3.0/24 via ${l.b} proto static`,
    args: (l) => ({ to: '10.77.3.0/24', via: l.b, persist: false }),
    teardown: () => 'ip route del 10.77.3.0/24',
  },
  {
    task: 'route',
    case: 'persist-only',
    about: 'the route is there but not persisted: at commit orch-routes.service (unit, script, symlink) and the route file; undo removes them and the directories',
    setup: (l) => `rm -rf ${ORCH_TEARDOWN}; ip route add 10.77.3.0/24 via ${l.b} proto static`,
    args: (l) => ({ to: '10.77.3.0/24', via: l.b }),
    teardown: () => `ip route del 10.77.3.0/24; rm -rf ${ORCH_TEARDOWN}`,
  },
  {
    task: 'route',
    case: 'persisted-present',
    about: 'the route and its persisted form are there (unit enabled, file as orch writes it): nothing to do',
    setup: (l) =>
      `ip route add 10.77.3.0/24 via ${l.b} proto static && ` +
      persistedSetup(ROUTES, [[routeDataPath('10.77.3.0/24', 0, 254), routeData(`10.77.3.0/24 via ${l.b}`, ['10.77.3.0/24', 'via', l.b, 'table', '254', 'proto', 'static', 'metric', '0'])]]),
    args: (l) => ({ to: '10.77.3.0/24', via: l.b }),
    teardown: () => `ip route del 10.77.3.0/24; rm -rf ${ORCH_TEARDOWN}`,
  },
  // ---------------------------------------------------------------- masquerade
  {
    task: 'masquerade',
    case: 'new-chain',
    about: 'no ORCH-POSTROUTING yet: create it, jump from POSTROUTING rule 1, add ACCEPT and MASQUERADE rules; undo removes chain and jump',
    setup: () => 'true',
    args: () => ({ from: '10.77.0.0/24', except: ['10.0.0.0/8'] }),
  },
  {
    task: 'masquerade',
    case: 'rules-differ',
    about: 'our chain holds this source\'s old rules (another except) and another task\'s: only ours are replaced; undo puts them back at their positions',
    setup: () =>
      [
        'iptables -w -t nat -N ORCH-POSTROUTING',
        'iptables -w -t nat -I POSTROUTING 1 -j ORCH-POSTROUTING',
        "iptables -w -t nat -A ORCH-POSTROUTING -s 10.77.0.0/24 -d 10.9.0.0/16 -m comment --comment 'orch masquerade 10.77.0.0/24' -j ACCEPT",
        "iptables -w -t nat -A ORCH-POSTROUTING -s 10.66.0.0/24 -m comment --comment 'orch masquerade 10.66.0.0/24' -j MASQUERADE",
        "iptables -w -t nat -A ORCH-POSTROUTING -s 10.77.0.0/24 -m comment --comment 'orch masquerade 10.77.0.0/24' -j MASQUERADE",
      ].join(' && '),
    args: () => ({ from: '10.77.0.0/24', except: ['10.0.0.0/8'], outInterface: 'eth0' }),
    teardown: () => 'iptables -w -t nat -D POSTROUTING -j ORCH-POSTROUTING; iptables -w -t nat -F ORCH-POSTROUTING; iptables -w -t nat -X ORCH-POSTROUTING',
  },
  {
    task: 'masquerade',
    case: 'jump-moved',
    about: 'rules right but a MASQUERADE was inserted above our jump (docker restarted): move the jump to rule 1',
    setup: () =>
      [
        'iptables -w -t nat -N ORCH-POSTROUTING',
        'iptables -w -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE',
        'iptables -w -t nat -A POSTROUTING -j ORCH-POSTROUTING',
        "iptables -w -t nat -A ORCH-POSTROUTING -s 10.77.0.0/24 -m comment --comment 'orch masquerade 10.77.0.0/24' -j MASQUERADE",
      ].join(' && '),
    args: () => ({ from: '10.77.0.0/24' }),
    teardown: () => 'iptables -w -t nat -F POSTROUTING; iptables -w -t nat -F ORCH-POSTROUTING; iptables -w -t nat -X ORCH-POSTROUTING',
  },
  {
    task: 'masquerade',
    case: 'present',
    about: 'chain, jump at rule 1 and exactly our rules: nothing to do',
    setup: () =>
      [
        'iptables -w -t nat -N ORCH-POSTROUTING',
        'iptables -w -t nat -I POSTROUTING 1 -j ORCH-POSTROUTING',
        "iptables -w -t nat -A ORCH-POSTROUTING -s 10.77.0.0/24 -m comment --comment 'orch masquerade 10.77.0.0/24' -j MASQUERADE",
      ].join(' && '),
    args: () => ({ from: '10.77.0.0/24', persist: false }),
    teardown: () => 'iptables -w -t nat -D POSTROUTING -j ORCH-POSTROUTING; iptables -w -t nat -F ORCH-POSTROUTING; iptables -w -t nat -X ORCH-POSTROUTING',
  },
  // ---------------------------------------------------------------- forwardAccept
  {
    task: 'forwardAccept',
    case: 'new-chain-in-forward',
    about: 'no DOCKER-USER: ORCH-FORWARD created and jumped to from FORWARD rule 1; undo removes rule, jump and chain',
    setup: () => 'true',
    args: () => ({ in: 'eth0', dest: '10.77.0.0/24' }),
  },
  {
    task: 'forwardAccept',
    case: 'docker-user-existing-chain',
    about: 'DOCKER-USER exists and ORCH-FORWARD holds another rule: the jump goes into DOCKER-USER, the rule is appended; undo deletes only it',
    setup: () =>
      [
        'iptables -w -N DOCKER-USER',
        'iptables -w -A DOCKER-USER -j RETURN',
        'iptables -w -N ORCH-FORWARD',
        "iptables -w -A ORCH-FORWARD -i eth0 -o docker0 -m comment --comment 'orch forward-accept' -j ACCEPT",
      ].join(' && '),
    args: () => ({ source: '10.77.0.0/24', out: 'eth0' }),
    teardown: () => 'iptables -w -F DOCKER-USER; iptables -w -X DOCKER-USER; iptables -w -F ORCH-FORWARD; iptables -w -X ORCH-FORWARD',
  },
  {
    task: 'forwardAccept',
    case: 'present',
    about: 'rule and jump there: nothing to do',
    setup: () =>
      ['iptables -w -N ORCH-FORWARD', 'iptables -w -I FORWARD 1 -j ORCH-FORWARD', "iptables -w -A ORCH-FORWARD -i eth0 -m comment --comment 'orch forward-accept' -j ACCEPT"].join(' && '),
    args: () => ({ in: 'eth0', persist: false }),
    teardown: () => 'iptables -w -D FORWARD -j ORCH-FORWARD; iptables -w -F ORCH-FORWARD; iptables -w -X ORCH-FORWARD',
  },
  // ---------------------------------------------------------------- vxlan
  {
    task: 'vxlan',
    case: 'create-in-bridge',
    about: 'no device: create it (MTU underlay - 50), one flood entry per peer, into the bridge, up; undo deletes it',
    // A port already there: the bridge has carrier (and its IPv6 link-local address) before the vxlan joins.
    setup: () => 'ip link add gbr0 address 02:00:00:00:00:b0 type bridge && ip link add gdm0 mtu 1450 type veth peer name gdm1 mtu 1450 && ip link set gdm0 master gbr0 && ip link set gdm1 up && ip link set gdm0 up && ip link set gbr0 up',
    args: (l) => ({ name: 'gvx42', vni: 42, local: l.a, peers: [l.a, l.b, '198.18.255.77'], bridge: 'gbr0' }),
    teardown: () => 'ip link del gvx42 2>/dev/null; ip link del gdm0; ip link del gbr0',
  },
  {
    task: 'vxlan',
    case: 'peers-changed',
    about: 'same device, other peers: only those flood entries are added and removed; undo puts the old ones back',
    setup: (l) =>
      `ip link add gvx42 mtu 1450 type vxlan id 42 dstport 4789 local ${l.a} && bridge fdb append 00:00:00:00:00:00 dev gvx42 dst 198.18.255.77 && ` +
      `bridge fdb append 00:00:00:00:00:00 dev gvx42 dst ${l.b} && ip link set gvx42 up`,
    args: (l) => ({ name: 'gvx42', vni: 42, local: l.a, peers: [l.b, '198.18.255.78'] }),
    teardown: () => 'ip link del gvx42',
  },
  {
    task: 'vxlan',
    case: 'recreate',
    about: 'another vni and learning off: the device is re-created (its diff shows what differs); undo builds the old one again with its MAC, peers, master and state',
    setup: (l) =>
      `ip link add gbr0 type bridge && ip link add gvx42 address 02:00:00:00:42:42 mtu 1400 type vxlan id 43 dstport 4789 local ${l.a} && ` +
      `bridge fdb append 00:00:00:00:00:00 dev gvx42 dst ${l.b} && ip link set gvx42 master gbr0 && ip link set gvx42 up`,
    args: (l) => ({ name: 'gvx42', vni: 42, local: l.a, peers: [l.b], bridge: 'gbr0', learning: false, mtu: 1400 }),
    teardown: () => 'ip link del gvx42 2>/dev/null; ip link del gbr0',
  },
  {
    task: 'vxlan',
    case: 'mtu-and-up',
    about: 'device down with another MTU: set the MTU and bring it up; undo sets both back',
    setup: (l) => `ip link add gvx42 mtu 1300 type vxlan id 42 dstport 4789 local ${l.a} && bridge fdb append 00:00:00:00:00:00 dev gvx42 dst ${l.b}`,
    args: (l) => ({ name: 'gvx42', vni: 42, local: l.a, peers: [l.b] }),
    teardown: () => 'ip link del gvx42',
  },
  {
    task: 'vxlan',
    case: 'present',
    about: 'device, peers, bridge and state as asked: nothing to do',
    setup: (l) =>
      `ip link add gbr0 type bridge && ip link add gvx42 mtu 1450 type vxlan id 42 dstport 4789 local ${l.a} && ` +
      `bridge fdb append 00:00:00:00:00:00 dev gvx42 dst ${l.b} && ip link set gvx42 master gbr0 && ip link set gvx42 up`,
    args: (l) => ({ name: 'gvx42', vni: 42, local: l.a, peers: [l.b], bridge: 'gbr0', persist: false }),
    teardown: () => 'ip link del gvx42; ip link del gbr0',
  },
  {
    task: 'vxlan',
    case: 'persist-only',
    about: 'device, peers, bridge as asked but not persisted: at commit orch-vxlan.service and /etc/orch/vxlan/gvx42.vxlan (mtu, vni, port, local, peers, bridge)',
    setup: (l) =>
      `rm -rf ${ORCH_TEARDOWN}; ip link add gbr0 type bridge && ip link add gvx42 mtu 1450 type vxlan id 42 dstport 4789 local ${l.a} && ` +
      `bridge fdb append 00:00:00:00:00:00 dev gvx42 dst ${l.b} && ip link set gvx42 master gbr0 && ip link set gvx42 up`,
    args: (l) => ({ name: 'gvx42', vni: 42, local: l.a, peers: [l.b], bridge: 'gbr0' }),
    teardown: () => `ip link del gvx42; ip link del gbr0; rm -rf ${ORCH_TEARDOWN}`,
  },
  // ---------------------------------------------------------------- dockerBip
  {
    task: 'dockerBip',
    case: 'fresh-with-containers',
    docker: true,
    containers: true,
    about: 'no daemon.json, docker0 on 172.17.0.1/16, two containers running: the file gets bip, docker restarts, the container without a restart policy is started again; undo pins the old bip for one restart, removes the file, restarts and brings docker0 its MAC back',
    setup: () =>
      "rm -f /etc/docker/daemon.json; docker run -d --init --pull never --name plain orchlab/busybox:latest sleep 3600 >/dev/null && docker run -d --init --pull never --restart always --name always orchlab/busybox:latest sleep 3600 >/dev/null",
    args: () => ({ bip: '10.77.1.1/24' }),
    teardown: () => 'docker rm -f plain always >/dev/null 2>&1; true',
  },
  {
    task: 'dockerBip',
    case: 'keys-merged-mtu-pools',
    docker: true,
    about: 'daemon.json with other keys: bip, mtu and address pools appended keeping them; restart; undo puts the file back byte-exact',
    setup: () => `mkdir -p /etc/docker && printf '{"log-level": "warn"}' > /etc/docker/daemon.json && systemctl restart docker`,
    args: () => ({ bip: '10.77.2.1/24', mtu: 1450, defaultAddressPools: [{ base: '10.210.0.0/16', size: 24 }] }),
    teardown: () => 'rm -f /etc/docker/daemon.json; systemctl restart docker',
  },
  {
    task: 'dockerBip',
    case: 'file-only',
    docker: true,
    about: 'dockerd already runs with that bip (kept in its store) but the file does not say so: only the file changes, no restart; undo removes the file',
    setup: () =>
      `mkdir -p /etc/docker && printf '{"bip": "10.77.3.1/24"}' > /etc/docker/daemon.json && systemctl restart docker && until docker info >/dev/null 2>&1; do sleep 0.1; done && rm /etc/docker/daemon.json`,
    args: () => ({ bip: '10.77.3.1/24' }),
    teardown: () => 'rm -f /etc/docker/daemon.json; systemctl restart docker',
  },
  {
    task: 'dockerBip',
    case: 'present',
    docker: true,
    about: 'file and running daemon agree: nothing to do, no restart',
    setup: () => `mkdir -p /etc/docker && printf '{\n  "bip": "10.77.4.1/24"\n}\n' > /etc/docker/daemon.json && systemctl restart docker && until docker info >/dev/null 2>&1; do sleep 0.1; done`,
    args: () => ({ bip: '10.77.4.1/24' }),
    teardown: () => 'rm -f /etc/docker/daemon.json; systemctl restart docker',
  },
  // ---------------------------------------------------------------- wireguardKey
  {
    task: 'wireguardKey',
    case: 'create-with-dirs',
    about: 'no key, no directory: generated on the host (umask 077) in new directories; only the public key is read back; undo removes the key and the directories',
    setup: () => 'rm -rf /etc/orch/golden-wg',
    args: () => ({ path: '/etc/orch/golden-wg/keys/wg.key' }),
    teardown: () => 'rm -rf /etc/orch/golden-wg',
  },
  {
    task: 'wireguardKey',
    case: 'create',
    about: 'the directory exists: only the key is generated; undo removes it',
    setup: () => 'mkdir -p /etc/orch/golden-wg && rm -f /etc/orch/golden-wg/wg.key',
    args: () => ({ path: '/etc/orch/golden-wg/wg.key' }),
    teardown: () => 'rm -rf /etc/orch/golden-wg',
  },
  {
    task: 'wireguardKey',
    case: 'present',
    about: 'a key exists: nothing to do (its public key is the fact)',
    setup: () => 'mkdir -p /etc/orch/golden-wg && (umask 077 && wg genkey > /etc/orch/golden-wg/wg.key)',
    args: () => ({ path: '/etc/orch/golden-wg/wg.key' }),
    teardown: () => 'rm -rf /etc/orch/golden-wg',
  },
  // ---------------------------------------------------------------- wireguard (wireguard-go on this kernel)
  {
    task: 'wireguard',
    case: 'create',
    about: 'no device: wireguard-go creates it (no kernel module here), MTU underlay - 60, key by its path, peers, up; undo deletes it (wireguard-go exits with it)',
    setup: () => 'ip link del gwg0 2>/dev/null; (umask 077 && wg genkey > /tmp/golden-wg.key)',
    args: (l) => ({ name: 'gwg0', keyFile: '/tmp/golden-wg.key', listenPort: 51999, local: l.a, peers: [{ publicKey: 'yCFKvqnYdT2KFo3g7JHQusp+zJIERa+ZTEDRoPMghQY=', endpoint: `${l.b}:51999`, allowedIps: ['10.78.1.0/24'], label: 'node2' }], persist: false }),
    teardown: () => 'ip link del gwg0 2>/dev/null; rm -f /tmp/golden-wg.key',
  },
  {
    task: 'wireguard',
    case: 'peers-changed',
    about: 'a peer added, one changed (endpoint, allowed IPs, keepalive), one removed, another listen port: one wg set; undo puts back the port and the old peers whole',
    setup: (l) =>
      '(umask 077 && wg genkey > /tmp/golden-wg.key) && env -u WG_PROCESS_FOREGROUND wireguard-go gwg0 2>/dev/null && wg show gwg0 >/dev/null && ' +
      `wg set gwg0 private-key /tmp/golden-wg.key listen-port 51998 peer yCFKvqnYdT2KFo3g7JHQusp+zJIERa+ZTEDRoPMghQY= allowed-ips 10.78.1.0/24 endpoint ${l.b}:51999 peer SvEzQJwPz6RlopUZNFNTnc3DXFWI3c8h1hWbBex0aE8= allowed-ips 10.78.2.0/24 && ip link set gwg0 mtu 1440 up`,
    args: (l) => ({
      name: 'gwg0',
      keyFile: '/tmp/golden-wg.key',
      listenPort: 51999,
      local: l.a,
      peers: [
        { publicKey: 'yCFKvqnYdT2KFo3g7JHQusp+zJIERa+ZTEDRoPMghQY=', endpoint: '198.18.255.77:51999', allowedIps: ['10.78.1.0/24', '10.78.9.0/24'], keepalive: 25, label: 'node2' },
        { publicKey: 'McPYEIp58ejHRQ1V1UQcBqAHxYw2op/vj5ava5bmNSY=', endpoint: '198.18.255.78:51999', allowedIps: ['10.78.3.0/24'], label: 'node3' },
      ],
      persist: false,
    }),
    teardown: () => 'ip link del gwg0 2>/dev/null; rm -f /tmp/golden-wg.key',
  },
  {
    task: 'wireguard',
    case: 'mtu-and-up',
    about: 'device down with the default 1420: set MTU 1440 and bring it up; undo sets both back',
    setup: (l) =>
      '(umask 077 && wg genkey > /tmp/golden-wg.key) && env -u WG_PROCESS_FOREGROUND wireguard-go gwg0 2>/dev/null && wg show gwg0 >/dev/null && ' +
      `wg set gwg0 private-key /tmp/golden-wg.key listen-port 51999 peer yCFKvqnYdT2KFo3g7JHQusp+zJIERa+ZTEDRoPMghQY= allowed-ips 10.78.1.0/24 endpoint ${l.b}:51999`,
    args: (l) => ({ name: 'gwg0', keyFile: '/tmp/golden-wg.key', listenPort: 51999, local: l.a, peers: [{ publicKey: 'yCFKvqnYdT2KFo3g7JHQusp+zJIERa+ZTEDRoPMghQY=', endpoint: `${l.b}:51999`, allowedIps: ['10.78.1.0/24'] }], persist: false }),
    teardown: () => 'ip link del gwg0 2>/dev/null; rm -f /tmp/golden-wg.key',
  },
  {
    task: 'wireguard',
    case: 'present',
    about: 'device, key, port, peers, MTU and state as asked: nothing to do',
    setup: (l) =>
      '(umask 077 && wg genkey > /tmp/golden-wg.key) && env -u WG_PROCESS_FOREGROUND wireguard-go gwg0 2>/dev/null && wg show gwg0 >/dev/null && ' +
      `wg set gwg0 private-key /tmp/golden-wg.key listen-port 51999 peer yCFKvqnYdT2KFo3g7JHQusp+zJIERa+ZTEDRoPMghQY= allowed-ips 10.78.1.0/24 endpoint ${l.b}:51999 && ip link set gwg0 mtu 1440 up`,
    args: (l) => ({ name: 'gwg0', keyFile: '/tmp/golden-wg.key', listenPort: 51999, local: l.a, peers: [{ publicKey: 'yCFKvqnYdT2KFo3g7JHQusp+zJIERa+ZTEDRoPMghQY=', endpoint: `${l.b}:51999`, allowedIps: ['10.78.1.0/24'] }], persist: false }),
    teardown: () => 'ip link del gwg0 2>/dev/null; rm -f /tmp/golden-wg.key',
  },
  {
    task: 'wireguard',
    case: 'persist-only',
    about: 'device, key, port, peers, MTU as asked but not persisted: at commit orch-wireguard.service and /etc/orch/wireguard/gwg0.conf (datapath, MTU, the key file by its path, port, peers; no private key)',
    setup: (l) =>
      `rm -rf ${ORCH_TEARDOWN}; (umask 077 && wg genkey > /tmp/golden-wg.key) && env -u WG_PROCESS_FOREGROUND wireguard-go gwg0 2>/dev/null && wg show gwg0 >/dev/null && ` +
      `wg set gwg0 private-key /tmp/golden-wg.key listen-port 51999 peer yCFKvqnYdT2KFo3g7JHQusp+zJIERa+ZTEDRoPMghQY= allowed-ips 10.78.1.0/24 endpoint ${l.b}:51999 persistent-keepalive 25 && ip link set gwg0 mtu 1440 up`,
    args: (l) => ({ name: 'gwg0', keyFile: '/tmp/golden-wg.key', listenPort: 51999, local: l.a, peers: [{ publicKey: 'yCFKvqnYdT2KFo3g7JHQusp+zJIERa+ZTEDRoPMghQY=', endpoint: `${l.b}:51999`, allowedIps: ['10.78.1.0/24'], keepalive: 25, label: 'node2' }] }),
    teardown: () => `ip link del gwg0 2>/dev/null; rm -f /tmp/golden-wg.key; rm -rf ${ORCH_TEARDOWN}`,
  },
]

export default cases
