/**
 * Building block of the `bridge` strategy: a container on the LAN, pipework-style.
 *
 *   orch run playbooks/pipework.ts -i inventory/hosts.ini -e lan_pool=198.18.0.96/28
 *
 * On every host of docker_hosts, with the bridge already there (playbooks/br0-bridge.ts):
 *   container  probe_name (orch-probe) from container_image, no docker network (`--network none`)
 *   pipework   a veth from the container (eth1) into pipework_bridge (default: bridge_name, br0) with
 *              the host's container_ip (e.g. 198.18.0.101/24), or the next address of lan_pool by
 *              inventory order (prefix: the host's LAN); default route via lan_gateway, else the host's
 *              current default gateway. Works on an Open vSwitch bridge too.
 * Then every container pings every other and sends it 1 MiB over TCP (checks).
 * Variables and their defaults: docs/playbooks.md#bridge.
 */
import { cluster, CROSSHOST_DEFAULTS, lanProbeTasks, playbook, probeMatrix } from 'orch'
import * as v from '../src/net/validate.ts'

export default playbook({
  name: 'containers on the LAN (pipework)',
  hosts: 'docker_hosts',
  defaults: CROSSHOST_DEFAULTS,
  max_fail_percentage: 0,
  tasks: (ctx) => {
    const c = cluster(ctx, 'bridge')
    const bridge = v.ifname('pipework_bridge', ctx.vars.pipework_bridge ?? ctx.vars.bridge_name)
    return lanProbeTasks(c, c.member(ctx.host.name), bridge)
  },
  verify: [probeMatrix({ tcpBytes: 1 << 20, strategy: 'bridge' })],
})
