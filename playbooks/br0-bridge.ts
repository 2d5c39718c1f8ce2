/**
 * Building block of the `bridge` strategy: a Linux bridge takes over the host's uplink.
 *
 *   orch run playbooks/br0-bridge.ts -i inventory/hosts.ini
 *
 * On every host of docker_hosts:
 *   bridgeTakeover  bridge_name (br0) takes eth0's MAC, MTU, addresses and routes; bridge_iface (eth0)
 *                   becomes its port; persisted per bridge_persist (auto: netplan, NetworkManager or
 *                   ifupdown, whichever manages the interface). Risky: runs under commit-confirmed — the
 *                   host restores itself after confirm_timeout seconds (60) unless orch gets back in.
 *   forwardAccept   traffic bridged br0 -> br0 (docker's FORWARD DROP sees it through br_netfilter)
 * Then containers can be plugged into br0 with LAN addresses: playbooks/pipework.ts.
 * Variables and their defaults: docs/playbooks.md#bridge.
 */
import { crossHostTasks, CROSSHOST_DEFAULTS, gatewayPing, hostPing, playbook } from 'orch'

export default playbook({
  name: 'br0 takes over eth0',
  hosts: 'docker_hosts',
  defaults: CROSSHOST_DEFAULTS,
  max_fail_percentage: 0,
  tasks: (ctx) => crossHostTasks(ctx, 'bridge', { probe: false }),
  verify: [hostPing(), gatewayPing()],
})
