/**
 * Cross-host container networking: afterwards a container on every host of `docker_hosts` reaches the
 * containers on every other host.
 *
 *   orch run playbooks/cross-host.ts -i inventory/hosts.ini                       # orch_strategy (default routes)
 *   orch run playbooks/cross-host.ts -i inventory/hosts.ini -e orch_strategy=vxlan
 *   orch run playbooks/cross-host.ts -i inventory/hosts.ini --check                # what it would do
 *   orch rollback -i inventory/hosts.ini                                           # undo the last run
 *
 * Strategies (`orch_strategy`, the same on every host; docs/playbooks.md has diagrams and every variable):
 *   routes   each host's docker0 gets its own subnet (container_subnet, or a /24 of cluster_cidr);
 *            static routes to the other hosts' subnets, forwarding, NAT only out of the cluster
 *   bridge   br0 takes over eth0 (commit-confirmed); the probe sits on the LAN (container_ip or lan_pool)
 *   ovs-gre  an OVS bridge per host, a full mesh of GRE tunnels, containers on overlay_cidr
 *   vxlan    kernel VXLAN bridged into a docker network with one subnet (overlay_cidr) on every host
 *
 * One probe container per host (probe_name); then the checks: every host pings every other, and every
 * probe pings every other probe and sends it 1 MiB over TCP, and a packet of the container MTU (underlay
 * MTU − the strategy's overhead) crosses with DF set while one byte more does not. A failed task or check rolls every host back
 * (the transaction); bad or missing variables stop the run before any host is touched, naming host and
 * variable.
 */
import { crossHostTasks, CROSSHOST_DEFAULTS, hostPing, playbook, probeMatrix, probePathMtu } from 'orch'

export default playbook({
  name: 'cross-host container networking',
  hosts: 'docker_hosts',
  defaults: CROSSHOST_DEFAULTS,
  // All or nothing: a host that fails stops the play, and the transaction rolls every host back.
  max_fail_percentage: 0,
  tasks: (ctx) => crossHostTasks(ctx),
  verify: [hostPing(), probeMatrix({ tcpBytes: 1 << 20 }), probePathMtu()],
})
