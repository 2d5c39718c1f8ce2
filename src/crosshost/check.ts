/** The cross-host playbooks' check: every probe container reaches every other. */
import type { Check, CheckHost, CheckResult } from '../checks/index.ts'
import { containerMatrix } from '../checks/index.ts'
import { pathMtu, type Family } from '../checks/pathmtu.ts'
import * as v from '../net/validate.ts'
import { OVERHEAD, type Strategy } from './types.ts'
import { checkFor, DEFAULTS } from './vars.ts'

/** The probe's interface that carries the cluster address: docker's eth0, or pipework's eth1. */
export const probeIface = (s: Strategy): string => (s === 'bridge' || s === 'ovs-gre' ? 'eth1' : 'eth0')

/**
 * containerMatrix with the probe addresses read from the probes themselves (the routes strategy's are
 * given by docker; the others' are allocated by the plan): ping and `tcpBytes` over TCP, every pair.
 * The addresses are read in the matrix's first round, with its listeners (one `docker exec` per host).
 */
export function probeMatrix(opts: { tcpBytes?: number; strategy?: Strategy } = {}): Check {
  const probe = (h: CheckHost) => String(h.vars.probe_name ?? DEFAULTS.probe_name)
  const strategyOf = (h: CheckHost) => opts.strategy ?? ((h.vars.orch_strategy ?? DEFAULTS.orch_strategy) as Strategy)
  const matrix = containerMatrix({ container: probe, iface: (h) => probeIface(strategyOf(h)), tcpBytes: opts.tcpBytes })
  return {
    name: matrix.name,
    validate(hosts) {
      for (const h of hosts) checkFor(h.host.name, () => v.name('probe_name', probe(h), 'a container name'))
    },
    run: (hosts): Promise<CheckResult> => matrix.run(hosts),
  }
}

/** The container MTU a strategy gives a host with this underlay MTU (its override variable first). */
export function expectedMtu(s: Strategy, vars: Record<string, unknown>, underlayMtu: number): number {
  if (s === 'vxlan' || s === 'ovs-gre') return vars.overlay_mtu !== undefined ? Number(vars.overlay_mtu) : underlayMtu - OVERHEAD[s === 'vxlan' ? 'vxlan' : 'gre']
  if (s === 'wireguard') return vars.wireguard_mtu !== undefined ? Number(vars.wireguard_mtu) : underlayMtu - OVERHEAD.wireguard
  return underlayMtu
}

/**
 * The path MTU check (checks/pathmtu.ts) on the probes: each probe's MTU is the strategy's (underlay
 * MTU − the encapsulation's overhead), a DF packet of that size crosses to every other probe, one byte
 * more does not, and no host fragments on the way.
 */
export function probePathMtu(opts: { strategy?: Strategy; family?: Family } = {}): Check {
  const strategyOf = (h: CheckHost) => opts.strategy ?? ((h.vars.orch_strategy ?? DEFAULTS.orch_strategy) as Strategy)
  return pathMtu({
    container: (h) => String(h.vars.probe_name ?? DEFAULTS.probe_name),
    iface: (h) => probeIface(strategyOf(h)),
    family: opts.family,
    expect: (h, underlay) => expectedMtu(strategyOf(h), h.vars, underlay),
  })
}
