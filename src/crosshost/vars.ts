/**
 * The variables of the cross-host playbooks: their defaults (play `defaults`: the inventory overrides
 * them) and the helpers the planners check them with, naming the host and the variable.
 */
import { ArgError } from '../errors.ts'
import type { Member } from './types.ts'

/** Every variable the playbooks read, with its default (play `defaults`: the inventory overrides them). */
export const DEFAULTS = {
  orch_strategy: 'routes',
  container_image: 'busybox:latest',
  container_pull: 'missing',
  probe_name: 'orch-probe',
  confirm_timeout: 60,
  // routes
  cluster_cidr: '10.244.0.0/16',
  // bridge
  bridge_name: 'br0',
  bridge_iface: 'eth0',
  bridge_persist: 'auto',
  // ovs-gre and vxlan
  overlay_cidr: '10.250.0.0/24',
  ovs_bridge: 'br-int',
  ovs_datapath: 'auto',
  ovs_gre_key: 42,
  ovs_underlay_bridge: 'br-phy',
  vxlan_vni: 42,
  vxlan_port: 4789,
  overlay_network: 'orch-overlay',
  overlay_bridge: 'orch-ovl0',
  overlay_range_prefix: 28,
  // wireguard (also cluster_cidr)
  wireguard_iface: 'orch-wg0',
  wireguard_port: 51820,
  wireguard_keepalive: 0,
  wireguard_impl: 'auto',
  wireguard_key_dir: '/etc/orch/wireguard',
  wireguard_rotate_keys: false,
} as const

// The container task's own image rule: checked here so the error names the inventory variable.
export const IMAGE_RE = /^[A-Za-z0-9][A-Za-z0-9._\-/:@+]{0,254}$/

export const str = (x: unknown): string | undefined => (x === undefined || x === null || x === '' ? undefined : String(x))

/** A variable that must be the same on every host (a tunnel key, a port): refused naming the odd host. */
export function sameEverywhere(c: { members: Member[] }, variable: string, norm: (x: unknown) => unknown = (x) => x): void {
  const first = c.members[0]
  const want = norm(first.vars[variable])
  for (const m of c.members.slice(1))
    if (norm(m.vars[variable]) !== want) throw new ArgError(variable, `the same value on every host (${first.name} has ${JSON.stringify(first.vars[variable])})`, m.vars[variable], m.name)
}

export function checkFor<T>(hostName: string, f: () => T): T {
  try {
    return f()
  } catch (e) {
    if (e instanceof ArgError) throw e.forHost(hostName)
    throw e
  }
}

