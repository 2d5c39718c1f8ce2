/**
 * Building block of the `routes` strategy: each host's docker0 on its own subnet, routed.
 *
 *   orch run playbooks/docker0-subnet.ts -i inventory/hosts.ini
 *
 * On every host of docker_hosts:
 *   survey      the host's routes (one round trip), so that allocated subnets avoid them
 *   dockerBip   docker0 = first address of the host's subnet: container_subnet (e.g. 10.244.1.0/24), or
 *               the next free /24 of cluster_cidr (default 10.244.0.0/16) by inventory order
 *   ipForward   net.ipv4.ip_forward=1 (runtime and /etc/sysctl.d/99-orch.conf)
 *   forward     iptables: accept traffic from cluster_cidr into docker0 (through docker's FORWARD DROP)
 *   routes      to every other host's subnet via its address (ansible_host, or underlay_ip)
 *   masquerade  the host's subnet, except towards cluster_cidr (containers keep their address in the cluster)
 * No probe container: playbooks/cross-host.ts (orch_strategy=routes) adds one and checks the matrix.
 * Variables and their defaults: docs/playbooks.md#routes.
 */
import { crossHostTasks, CROSSHOST_DEFAULTS, hostPing, playbook } from 'orch'

export default playbook({
  name: 'docker0 subnet per host, routed',
  hosts: 'docker_hosts',
  defaults: CROSSHOST_DEFAULTS,
  max_fail_percentage: 0,
  tasks: (ctx) => crossHostTasks(ctx, 'routes', { probe: false }),
  verify: [hostPing()],
})
