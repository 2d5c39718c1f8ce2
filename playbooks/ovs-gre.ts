/**
 * Building block of the `ovs-gre` strategy: an Open vSwitch bridge per host, joined by GRE tunnels.
 *
 *   orch run playbooks/ovs-gre.ts -i inventory/hosts.ini
 *
 * On every host of docker_hosts:
 *   ovsUnderlay   only with the userspace datapath (no openvswitch kernel module; ovs_datapath auto
 *                 detects it): the underlay address moves from ovs_underlay_iface (default bridge_iface,
 *                 eth0) onto ovs_underlay_bridge (br-phy), because OVS sends tunnel packets itself.
 *                 Risky: commit-confirmed (confirm_timeout).
 *   ovsBridge     ovs_bridge (br-int), datapath ovs_datapath (auto: kernel if available, else netdev)
 *   ovsTunnels    one GRE port per other host (key ovs_gre_key, 42), remote_ip = its address; the ports
 *                 are `protected` (split horizon): a frame from one tunnel never leaves by another (a
 *                 full mesh of L2 tunnels is a loop from three hosts on)
 * No container: playbooks/cross-host.ts (orch_strategy=ovs-gre) plugs a probe into br-int with an
 * overlay_cidr address and checks the matrix. Variables and their defaults: docs/playbooks.md#ovs-gre.
 */
import { crossHostTasks, CROSSHOST_DEFAULTS, hostPing, playbook } from 'orch'

export default playbook({
  name: 'OVS bridges in a GRE mesh',
  hosts: 'docker_hosts',
  defaults: CROSSHOST_DEFAULTS,
  max_fail_percentage: 0,
  tasks: (ctx) => crossHostTasks(ctx, 'ovs-gre', { probe: false }),
  verify: [hostPing()],
})
