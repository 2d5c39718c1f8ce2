/**
 * The wireguard strategy: the routes strategy's per-host container subnets (docker0 re-subnetted from
 * cluster_cidr), carried between the hosts by an encrypted WireGuard mesh instead of plain routes.
 *
 * Each host's private key is generated ON the host and never leaves it (wireguardKey); the public keys
 * are gathered across the hosts (KeyGathering: a barrier like the route survey) before any host
 * configures its peers: AllowedIPs = the peer's container subnet, Endpoint = its underlay address and
 * wireguard_port. Routes to the peers' subnets go through the device; NAT as routes (not inside
 * cluster_cidr). MTU: underlay − 60, for the device and docker0 alike (wireguard_mtu overrides).
 * A host that left the inventory loses its peer (the list is whole) and its route (proto static via the
 * device, inside cluster_cidr) on the others. Persisted at commit: orch-wireguard.service and
 * /etc/orch/wireguard/<iface>.conf (model/persist.ts), the routes through orch-routes.service.
 */
import { ArgError, TaskFailed } from '../errors.ts'
import { task, type Resource, type Task, type TaskContext } from '../engine/types.ts'
import { contains, hostAddress, networkOf, parseCidr4 } from '../net/ip.ts'
import { argv } from '../net/shell.ts'
import * as v from '../net/validate.ts'
import { dockerBip, forwardAccept, ipForward, masquerade, route } from '../tasks/index.ts'
import { WG_OVERHEAD, wireguard, wireguardKey } from '../tasks/wireguard.ts'
import { wgDataPath, WIREGUARD } from '../model/persist.ts'
import { AT_COMMIT } from '../model/task.ts'
import { deferred } from './deferred.ts'
import { surveyRoutes } from './routes.ts'
import type { Cluster, Member } from './types.ts'
import { checkFor, sameEverywhere } from './vars.ts'

const BOOL: Record<string, boolean> = { true: true, false: false, yes: true, no: false, '1': true, '0': false, on: true, off: false }

/** wireguard_rotate_keys: a boolean, or its usual spellings from -e (true/false, yes/no, 1/0, on/off). */
export function rotateKeys(vars: Record<string, unknown>): boolean {
  const x = vars.wireguard_rotate_keys
  if (x === undefined || x === null || typeof x === 'boolean') return x === true
  const b = BOOL[String(x).toLowerCase()]
  if (b === undefined) throw new ArgError('wireguard_rotate_keys', 'true or false', x)
  return b
}

/** Every host's wireguard_* variables checked (naming host and variable), after planRoutes. */
export function planWireguard(c: Cluster): void {
  for (const m of c.members)
    checkFor(m.name, () => {
      v.ifname('wireguard_iface', m.vars.wireguard_iface)
      if (m.vars.wireguard_iface === 'docker0' || m.vars.wireguard_iface === 'eth0') throw new ArgError('wireguard_iface', 'a device name of its own (not docker0 or eth0)', m.vars.wireguard_iface)
      v.port('wireguard_port', m.vars.wireguard_port)
      v.int('wireguard_keepalive', m.vars.wireguard_keepalive, 0, 65535)
      v.oneOf('wireguard_impl', m.vars.wireguard_impl, ['auto', 'kernel', 'userspace'])
      const dir = v.absPath('wireguard_key_dir', m.vars.wireguard_key_dir)
      if (dir === '/') throw new ArgError('wireguard_key_dir', 'a directory other than /', dir)
      if (m.vars.wireguard_mtu !== undefined) v.mtu('wireguard_mtu', m.vars.wireguard_mtu)
      rotateKeys(m.vars)
    })
  sameEverywhere(c, 'wireguard_iface', String)
  sameEverywhere(c, 'wireguard_port', Number)
  c.wgIface = String(c.members[0].vars.wireguard_iface)
}

/** The public keys of the cluster's hosts, gathered across the hosts (null: generated when the run applies). */
export class KeyGathering {
  readonly keys = new Map<string, string | null>()
  readonly failed = new Set<string>()

  record(host: string, key: string | null): void {
    this.keys.set(host, key)
  }

  /** Waits until every target of the run reported its key (immediate with the linear strategy). */
  async all(c: Cluster, timeoutMs = 60_000): Promise<Map<string, string | null>> {
    const until = Date.now() + timeoutMs
    for (;;) {
      if (this.failed.size) throw new TaskFailed(`the WireGuard key task failed on ${[...this.failed].join(', ')}: peers cannot be configured`)
      const missing = [...c.targets].filter((t) => !this.keys.has(t))
      if (!missing.length) return this.keys
      if (Date.now() > until) throw new TaskFailed(`no WireGuard public key came from ${missing.join(', ')}`)
      await new Promise((r) => setTimeout(r, 200))
    }
  }
}

const keyPath = (me: Member) => `${String(me.vars.wireguard_key_dir).replace(/\/+$/, '')}/${String(me.vars.wireguard_iface)}.key`

/** wireguardKey, reporting the host's public key to the gathering (as read, or as generated). */
function gatheredKey(c: Cluster, me: Member): Task {
  const inner = wireguardKey({ path: keyPath(me), rotate: rotateKeys(me.vars) }).resource
  const resource: Resource<any> = {
    ...inner,
    readAhead: undefined,
    async read(ctx) {
      try {
        const s = await inner.read(ctx)
        // A key to generate (or rotate) is known once applied; check mode never has it.
        if (!s.steps.length) c.wgKeys.record(me.name, s.facts.key)
        else if (ctx.check) c.wgKeys.record(me.name, null)
        return s
      } catch (e) {
        c.wgKeys.failed.add(me.name)
        throw e
      }
    },
    async apply(ctx, s, changes) {
      const r = await inner.apply(ctx, s, changes)
      const k = r && !r.failed ? (r.data?.publicKey as string | undefined) : undefined
      if (k) c.wgKeys.record(me.name, k)
      else c.wgKeys.failed.add(me.name)
      return r
    },
  }
  return task(resource)
}

/** The MTU of the interface holding the host's underlay address (read on the host), minus WireGuard's 60. */
async function tunnelMtu(me: Member, ctx: TaskContext): Promise<number> {
  if (me.vars.wireguard_mtu !== undefined) return Number(me.vars.wireguard_mtu)
  const r = await ctx.run(argv(['ip', '-j', '-4', 'addr', 'show', 'to', `${me.address}/32`]))
  const holder = r.code === 0 ? (JSON.parse(r.stdout.trim() || '[]') as Array<{ mtu: number }>)[0] : undefined
  if (!holder) throw new TaskFailed(`${me.address} (the underlay address) is not an address of ${ctx.host.name}: set underlay_ip`)
  return holder.mtu - WG_OVERHEAD[4]
}

/** The routes this host holds through the device to cluster subnets no peer has any more (from the survey). */
function staleRoutes(c: Cluster, me: Member, want: Set<string>): string[] {
  const cc = c.clusterCidr!
  return (c.survey.facts.get(me.name) ?? [])
    .filter((r) => r.dev === c.wgIface && r.protocol === 'static' && (r.table ?? 'main') === 'main')
    .map((r) => parseCidr4(r.dst.includes('/') ? r.dst : `${r.dst}/32`))
    .filter((n): n is NonNullable<typeof n> => !!n && contains(cc, n.network) && n.prefix >= cc.prefix && !want.has(networkOf(n)))
    .map(networkOf)
}

/** The wireguard strategy's tasks for one host (the probe container comes after, from strategies.ts). */
export function wireguardTasks(c: Cluster, me: Member): Task[] {
  const cc = networkOf(c.clusterCidr!)
  const dev = c.wgIface!
  const port = Number(me.vars.wireguard_port)
  const subnetOf = async (name: string) => c.survey.value().get(name)!
  const peers = c.members.filter((m) => m !== me)
  return [
    surveyRoutes(c, me),
    gatheredKey(c, me),
    deferred({
      module: 'dockerBip',
      name: 'docker0 subnet (bip) and MTU',
      build: async (ctx) => {
        const s = await subnetOf(me.name)
        return dockerBip(`${hostAddress(s, 1)}/${s.prefix}`, { mtu: await tunnelMtu(me, ctx) })
      },
    }),
    ipForward(),
    forwardAccept({ source: cc, out: 'docker0' }),
    deferred({
      module: 'wireguard',
      name: `WireGuard ${dev} (peers: the other hosts' container subnets)`,
      build: async (ctx) => {
        const keys = await c.wgKeys.all(c)
        const unknown = peers.filter((p) => !keys.get(p.name))
        const outside = unknown.filter((p) => !c.targets.has(p.name))
        if (outside.length) throw new TaskFailed(`the WireGuard public key of ${outside.map((p) => p.name).join(', ')} is unknown: ${outside.length > 1 ? 'they are' : 'it is'} outside --limit (run without --limit)`)
        if (unknown.length || !keys.get(me.name)) {
          if (!ctx.check) throw new TaskFailed(`WireGuard public keys missing for ${[...unknown.map((p) => p.name), ...(keys.get(me.name) ? [] : [me.name])].join(', ')}`)
          const pending = await Promise.all(peers.map(async (p) => ({ what: `${dev}: peer ${p.name}`, after: `allowed-ips ${networkOf(await subnetOf(p.name))} endpoint ${p.address}:${port} (its key is generated when the run applies)` })))
          // What the commit writes too (the data file's text needs the keys, so only where it goes).
          const persisted = [
            { what: `${WIREGUARD.unit} (enabled)${AT_COMMIT}`, after: `brings ${dev} back at boot from ${WIREGUARD.dir}/*.conf` },
            { what: `${wgDataPath(dev)}${AT_COMMIT}`, after: `${dev}: datapath, MTU, key file ${keyPath(me)} (not the key), port, peers` },
          ]
          return { pending: [{ what: `WireGuard ${dev}`, after: `listen-port ${port}, key ${keyPath(me)}` }, ...pending, ...persisted] }
        }
        return wireguard({
          name: dev,
          keyFile: keyPath(me),
          listenPort: port,
          local: me.address,
          implementation: me.vars.wireguard_impl as 'auto',
          ...(me.vars.wireguard_mtu !== undefined ? { mtu: Number(me.vars.wireguard_mtu) } : {}),
          peers: await Promise.all(
            peers.map(async (p) => ({
              publicKey: keys.get(p.name)!,
              endpoint: `${p.address}:${Number(p.vars.wireguard_port)}`,
              allowedIps: [networkOf(await subnetOf(p.name))],
              keepalive: Number(me.vars.wireguard_keepalive),
              label: p.name,
            })),
          ),
        })
      },
    }),
    deferred({
      module: 'route',
      name: `routes to the other hosts' container subnets via ${dev}`,
      build: async () => {
        const want = await Promise.all(peers.map(async (p) => networkOf(await subnetOf(p.name))))
        const stale = staleRoutes(c, me, new Set(want))
        return [...want.map((to) => route({ to, dev })), ...stale.map((to) => route({ to, dev, state: 'absent' }))]
      },
    }),
    deferred({
      module: 'masquerade',
      name: `masquerade containers except towards ${cc}`,
      build: async () => masquerade({ from: networkOf(await subnetOf(me.name)), except: [cc] }),
    }),
  ]
}
