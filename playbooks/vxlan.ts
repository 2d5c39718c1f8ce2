/**
 * Building block of the `vxlan` strategy: one docker network stretched over every host by kernel VXLAN.
 *
 *   orch run playbooks/vxlan.ts -i inventory/hosts.ini
 *
 * On every host of docker_hosts:
 *   dockerNetwork  overlay_network (orch-overlay): subnet overlay_cidr (10.250.0.0/24) on every host, this
 *                  host's ip-range (overlay_range, or the next /overlay_range_prefix (28) by inventory
 *                  order) and gateway (its first address), bridge overlay_bridge (orch-ovl0), MTU
 *                  overlay_mtu (default: underlay MTU − 50)
 *   vxlan          orch-vx<vxlan_vni> (vni 42, UDP vxlan_port 4789) from the host's address, one FDB
 *                  entry per other host, enslaved to overlay_bridge
 * Containers started on overlay_network (`docker run --network orch-overlay ...`) reach the containers of
 * every other host on the same subnet. playbooks/cross-host.ts (orch_strategy=vxlan) adds a probe with
 * its overlay_ip and checks the matrix. Variables and their defaults: docs/playbooks.md#vxlan.
 */
import { crossHostTasks, CROSSHOST_DEFAULTS, hostPing, playbook } from 'orch'

export default playbook({
  name: 'docker network over VXLAN',
  hosts: 'docker_hosts',
  defaults: CROSSHOST_DEFAULTS,
  max_fail_percentage: 0,
  tasks: (ctx) => crossHostTasks(ctx, 'vxlan', { probe: false }),
  verify: [hostPing()],
})
