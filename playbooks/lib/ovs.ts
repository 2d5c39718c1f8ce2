/**
 * Two things a GRE/VXLAN mesh of OVS bridges needs beyond the tunnels themselves, as small resources
 * (idempotent, check mode, exact undo):
 *
 *  - splitHorizon: with three or more hosts, a full mesh of L2 tunnels is a loop: a broadcast (ARP) from
 *    host 1 reaches host 2, which floods it into its tunnel to host 3, which sends it back to host 1 ...
 *    a broadcast storm (measured in the lab: tens of thousands of ARP frames a second, no ping gets
 *    through). Every host reaches every other directly, so a frame that came in through a tunnel never
 *    needs to leave through another: OVS's `protected` ports (traffic between two protected ports is
 *    dropped) give exactly that split horizon, with the NORMAL learning switch left as it is.
 *  - txChecksumOff: a container plugged into a *userspace* (netdev) OVS bridge with a veth needs TX
 *    checksum offload off in the container: otherwise its TCP segments leave with partial checksums that
 *    nothing completes (ping works, TCP never connects). pipework turns TSO/GSO off, not the checksum.
 */
import { TaskFailed, task, type Change, type Resource, type Task, type Undo } from '../../src/engine/types.ts'
import { argv, sh } from '../../src/net/shell.ts'
import { tunnelPortName } from '../../src/tasks/index.ts'
import { DETECT_DATAPATH_SCRIPT } from '../../src/tasks/ovsBridge.ts'

const VSCTL = 'ovs-vsctl --timeout=30'

interface HorizonState {
  bridgeExists: boolean
  /** Port name -> protected, for the ports of the bridge. */
  ports: Map<string, boolean>
}

/** protected=true on the tunnel ports ovsTunnels makes on `bridge` for `peers` (own address skipped by the caller). */
export function splitHorizon(o: { bridge: string; type: 'gre' | 'vxlan'; peers: string[] }): Task<HorizonState> {
  const names = o.peers.map((p) => tunnelPortName(o.type, p))
  const todo = (s: HorizonState) => names.filter((n) => s.ports.get(n) !== true)
  const resource: Resource<HorizonState> = {
    module: 'ovs_split_horizon',
    name: `split horizon on ${o.bridge}'s ${o.type} tunnels (protected ports)`,
    async read(ctx) {
      const r = await ctx.run(
        sh`if ovs-vsctl --timeout=10 br-exists ${o.bridge}; then echo yes; ovs-vsctl --timeout=10 list-ports ${o.bridge} | tr '\n' ' '; echo; ` +
          `ovs-vsctl --timeout=10 --format=json -- --columns=name,protected list Port; else echo no; fi`,
      )
      if (r.code !== 0) throw new TaskFailed(`reading OVS ports failed (rc=${r.code}): ${r.stderr.trim()}`, r)
      const [exists, portList, json] = r.stdout.split('\n')
      const s: HorizonState = { bridgeExists: exists.trim() === 'yes', ports: new Map() }
      if (!s.bridgeExists) return s
      const mine = new Set(portList.trim().split(/\s+/))
      const table = JSON.parse(json) as { headings: string[]; data: Array<[string, boolean]> }
      for (const [name, prot] of table.data) if (mine.has(name)) s.ports.set(name, prot === true)
      return s
    },
    diff(s, ctx) {
      const out: Change[] = []
      for (const n of todo(s)) {
        if (!s.ports.has(n) && !ctx.check) throw new TaskFailed(`no tunnel port ${n} on ${o.bridge}: the ovsTunnels task before this one should have made it`)
        out.push({ what: `${n} protected`, before: s.ports.has(n) ? 'false' : '(port made by the task before)', after: 'true' })
      }
      return out
    },
    undo(s): Undo | null {
      const ports = todo(s)
      if (!ports.length) return null
      // Each port only if it still exists (the tunnels' own undo may already have removed it).
      return {
        description: `protected=false on ${ports.join(', ')}`,
        script: ports.map((n) => sh`if ovs-vsctl --timeout=10 list Port ${n} >/dev/null 2>&1; then ovs-vsctl --timeout=30 set Port ${n} protected=false; fi`).join('\n'),
      }
    },
    async apply(ctx, s) {
      const words: string[] = []
      for (const n of todo(s)) words.push('--', 'set', 'Port', n, 'protected=true')
      const r = await ctx.run(`${VSCTL} ${argv(words)}`)
      if (r.code !== 0) throw new TaskFailed(`setting protected ports on ${o.bridge} failed: ${r.stderr.trim()}`, r)
    },
  }
  return task(resource)
}

interface TxState {
  datapath: string
  pid: number
  /** 'on', 'off', or '' when the interface is not there. */
  tx: string
  ethtool: boolean
}

/** `ethtool -K IFNAME tx off` inside a container plugged into a userspace OVS bridge (no-op on the kernel datapath). */
export function txChecksumOff(o: { container: string; ifname: string; bridge: string; datapath?: 'auto' | 'system' | 'netdev' }): Task<TxState> {
  const enter = (cmd: string) => `nsenter --net=/proc/$pid/ns/net ${cmd}`
  const resource: Resource<TxState> = {
    module: 'tx_checksum',
    name: `tx checksum offload off on ${o.container} ${o.ifname} (userspace OVS)`,
    async read(ctx) {
      const r = await ctx.run(
        sh`if ovs-vsctl --timeout=10 br-exists ${o.bridge} 2>/dev/null; then echo "dp $(ovs-vsctl --timeout=10 get Bridge ${o.bridge} datapath_type | tr -d '"')"; ` +
          // No bridge yet (check mode): the datapath ovsBridge would give it.
          `else echo "dp ${o.datapath && o.datapath !== 'auto' ? o.datapath : `$(${DETECT_DATAPATH_SCRIPT})`}"; fi\n` +
          sh`pid=$(docker inspect -f '{{.State.Pid}}' -- ${o.container} 2>/dev/null) || pid=0; echo "pid $pid"\n` +
          'command -v ethtool >/dev/null 2>&1 && echo ethtool\n' +
          sh`if [ "$pid" -gt 0 ] && command -v ethtool >/dev/null 2>&1; then echo "tx $(nsenter --net=/proc/$pid/ns/net ethtool -k ${o.ifname} 2>/dev/null | awk '$1 == "tx-checksumming:" { print $2 }')"; fi`,
      )
      if (r.code !== 0) throw new TaskFailed(`reading ${o.container}'s offloads failed: ${r.stderr.trim()}`, r)
      const get = (k: string) => (r.stdout.split('\n').find((l) => l.startsWith(`${k} `)) ?? '').slice(k.length + 1).trim()
      return { datapath: get('dp'), pid: Number(get('pid')) || 0, tx: get('tx'), ethtool: r.stdout.split('\n').includes('ethtool') }
    },
    diff(s, ctx) {
      if (s.datapath !== 'netdev') return []
      if (!s.ethtool) throw new TaskFailed(`ethtool is not installed on ${ctx.host.name}: it is needed to turn checksum offload off for a userspace OVS bridge (apt-get install ethtool)`)
      if (s.tx === 'off') return []
      if (s.tx === '' && !ctx.check) throw new TaskFailed(`${o.container} has no interface ${o.ifname}: the pipework task before this one should have made it`)
      return [{ what: `${o.container} ${o.ifname} tx-checksumming`, before: s.tx || '(interface made by the task before)', after: 'off' }]
    },
    undo(s): Undo | null {
      if (s.tx !== 'on') return null
      return {
        description: `tx checksum offload back on for ${o.container} ${o.ifname}`,
        script: sh`pid=$(docker inspect -f '{{.State.Pid}}' -- ${o.container} 2>/dev/null) || pid=0\n` + `if [ "$pid" -gt 0 ]; then ${enter(argv(['ethtool', '-K', o.ifname, 'tx', 'on']))} >/dev/null 2>&1 || true; fi`,
      }
    },
    async apply(ctx, s) {
      const r = await ctx.run(`pid=${s.pid}\n${enter(argv(['ethtool', '-K', o.ifname, 'tx', 'off']))} >/dev/null`)
      if (r.code !== 0) throw new TaskFailed(`ethtool -K ${o.ifname} tx off in ${o.container} failed: ${r.stderr.trim()}`, r)
    },
  }
  return task(resource)
}
