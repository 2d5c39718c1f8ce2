/**
 * dockerNetwork: a user-defined docker bridge network with this subnet (and optionally gateway, IP range,
 * bridge interface name, MTU).
 *
 * One round trip reads `docker network inspect` and the containers (running or not) attached to it.
 * Missing → created. Present with other settings → recreated, but only when no container is attached
 * (otherwise the task fails and names them: recreating would cut them off). Settings not given are not
 * compared (docker's choice is accepted), except the driver.
 *
 * Undo: removes a network it created; a network it recreated is removed and created again from the
 * definition read before (driver, IPAM configs, options, labels, internal/attachable/ipv6 flags).
 */
import { argv, sh } from '../net/shell.ts'
import { argSpec, parseArgs } from '../argspec.ts'
import { contains, networkOf, overlaps, parseCidr4, type Cidr4 } from '../net/ip.ts'
import { ArgError, TaskFailed, task, type Change, type Resource, type Task, type Undo } from '../engine/types.ts'
import { mustSucceed, sectionMark, splitSections } from '../engine/taskkit.ts'

export interface DockerNetworkArgs {
  name: string
  /** IPv4 network in CIDR form: '10.10.1.0/24'. */
  subnet: string
  /** Default: docker's choice (the first address of the subnet, or of ipRange). */
  gateway?: string
  /** Sub-range containers get their addresses from: '10.10.1.128/25'. */
  ipRange?: string
  /** The Linux bridge's name (com.docker.network.bridge.name); default br-<id>. */
  bridgeName?: string
  /** com.docker.network.driver.mtu */
  mtu?: number
  driver?: 'bridge'
  /** 'present' (default) or 'absent'. */
  state?: 'present' | 'absent'
}

export interface IpamConfig {
  Subnet?: string
  Gateway?: string
  IPRange?: string
  AuxiliaryAddresses?: Record<string, string> | null
}

/** What `docker network inspect` says, the parts that define a network. */
export interface NetworkInspect {
  Id: string
  Name: string
  Driver: string
  Scope?: string
  EnableIPv6?: boolean
  Internal?: boolean
  Attachable?: boolean
  IPAM: { Driver?: string; Options?: Record<string, string> | null; Config?: IpamConfig[] | null }
  Options?: Record<string, string> | null
  Labels?: Record<string, string> | null
}

export interface DockerNetworkState {
  net: NetworkInspect | null
  /** Names of the containers (running or stopped) connected to it. */
  attached: string[]
}

export const BRIDGE_NAME_OPT = 'com.docker.network.bridge.name'
export const MTU_OPT = 'com.docker.network.driver.mtu'
const PREDEFINED = ['bridge', 'host', 'none']

/** argv of `docker network create` that rebuilds a network as inspected. */
export function createArgvFromInspect(n: NetworkInspect): string[] {
  const words = ['docker', 'network', 'create', '--driver', n.Driver]
  if (n.IPAM?.Driver && n.IPAM.Driver !== 'default') words.push('--ipam-driver', n.IPAM.Driver)
  for (const [k, v] of Object.entries(n.IPAM?.Options ?? {})) words.push('--ipam-opt', `${k}=${v}`)
  for (const c of n.IPAM?.Config ?? []) {
    if (!c.Subnet) continue
    words.push('--subnet', c.Subnet)
    if (c.Gateway) words.push('--gateway', c.Gateway)
    if (c.IPRange) words.push('--ip-range', c.IPRange)
    for (const [k, v] of Object.entries(c.AuxiliaryAddresses ?? {})) words.push('--aux-address', `${k}=${v}`)
  }
  for (const [k, v] of Object.entries(n.Options ?? {})) words.push('-o', `${k}=${v}`)
  for (const [k, v] of Object.entries(n.Labels ?? {})) words.push('--label', `${k}=${v}`)
  if (n.Internal) words.push('--internal')
  if (n.Attachable) words.push('--attachable')
  if (n.EnableIPv6) words.push('--ipv6')
  words.push(n.Name)
  return words
}

/**
 * A network's state in one script: inspect (or "null" when there is none) and the attached containers.
 * Fails with exit 4 when docker does not answer (a missing network is not an error).
 */
export function readNetworkScript(name: string): string {
  return (
    sh`if out=$(docker network inspect --format '{{json .}}' ${name} 2>&1); then printf '%s\n' "$out"; ` +
    `else case $out in *"No such network"*|*"not found"*) echo null ;; *) printf '%s\n' "$out" >&2; exit 4 ;; esac; fi; ` +
    `${sectionMark}; ` +
    sh`docker ps -a --filter network=${name} --format '{{.Names}}'`
  )
}

export function parseNetworkState(stdout: string, name: string): DockerNetworkState {
  const [inspect, ps] = splitSections(stdout)
  let net: NetworkInspect | null
  try {
    net = JSON.parse(inspect.trim()) as NetworkInspect | null
  } catch {
    throw new TaskFailed(`unexpected output from docker network inspect ${name}: ${inspect.trim().slice(0, 200)}`)
  }
  // inspect also matches an ID prefix: only a network with this very name counts.
  if (net && net.Name !== name) net = null
  return { net, attached: net ? (ps ?? '').split('\n').map((l) => l.trim()).filter(Boolean) : [] }
}

const v4Config = (n: NetworkInspect): IpamConfig | undefined => (n.IPAM?.Config ?? []).find((c) => parseCidr4(c.Subnet))

export const DOCKER_NETWORK_SPEC = argSpec(
  'dockerNetwork',
  {
    name: {
      type: 'name',
      required: true,
      expected: 'a docker network name',
      check: (n: string) => (PREDEFINED.includes(n) ? `a user-defined network name (not ${PREDEFINED.join(', ')})` : undefined),
    },
    subnet: { type: 'network4', check: (c: Cidr4) => (c.prefix > 30 ? 'a network of at least 4 addresses (prefix /30 or shorter)' : undefined), desc: "IPv4 network: '10.10.1.0/24'" },
    gateway: { type: 'ipv4', desc: "default: docker's choice" },
    ipRange: { type: 'network4', desc: "sub-range containers get their addresses from: '10.10.1.128/25'" },
    bridgeName: { type: 'ifname', desc: "the Linux bridge's name (com.docker.network.bridge.name); default br-<id>" },
    mtu: { type: 'int', min: 68, max: 65535, desc: 'com.docker.network.driver.mtu' },
    driver: { type: 'str', choices: ['bridge'], default: 'bridge' },
    state: { type: 'str', choices: ['present', 'absent'], default: 'present' },
  },
  { required_if: [['state', 'present', ['subnet']]] },
)

export function dockerNetwork(args: DockerNetworkArgs): Task<DockerNetworkState> {
  const a: DockerNetworkArgs = { ...(args ?? ({} as DockerNetworkArgs)) }
  const state = a.state ?? 'present'
  const driver = a.driver ?? 'bridge'

  const wantArgv = (): string[] => {
    const w = ['docker', 'network', 'create', '--driver', driver, '--subnet', a.subnet]
    if (a.gateway) w.push('--gateway', a.gateway)
    if (a.ipRange) w.push('--ip-range', a.ipRange)
    if (a.bridgeName) w.push('-o', `${BRIDGE_NAME_OPT}=${a.bridgeName}`)
    if (a.mtu !== undefined) w.push('-o', `${MTU_OPT}=${Number(a.mtu)}`)
    w.push(a.name)
    return w
  }

  /** Settings that differ: [what, current, wanted]. */
  const differences = (n: NetworkInspect): Array<[string, string, string]> => {
    const out: Array<[string, string, string]> = []
    const c = v4Config(n)
    if (n.Driver !== driver) out.push(['driver', n.Driver, driver])
    if (c?.Subnet !== a.subnet) out.push(['subnet', c?.Subnet ?? '(none)', a.subnet])
    if (a.gateway && c?.Gateway !== a.gateway) out.push(['gateway', c?.Gateway ?? '(docker default)', a.gateway])
    if (a.ipRange && c?.IPRange !== a.ipRange) out.push(['ipRange', c?.IPRange ?? '(whole subnet)', a.ipRange])
    const opts = n.Options ?? {}
    if (a.bridgeName && opts[BRIDGE_NAME_OPT] !== a.bridgeName) out.push(['bridgeName', opts[BRIDGE_NAME_OPT] ?? '(br-<id>)', a.bridgeName])
    if (a.mtu !== undefined && opts[MTU_OPT] !== String(a.mtu)) out.push(['mtu', opts[MTU_OPT] ?? '(default)', String(a.mtu)])
    return out
  }

  const resource: Resource<DockerNetworkState> = {
    module: 'dockerNetwork',
    name: `dockerNetwork ${a.name}${state === 'absent' ? ' absent' : ` ${a.subnet}`}`,
    validate() {
      const p = parseArgs(DOCKER_NETWORK_SPEC, a)
      if (p.state === 'absent') return
      const subnet = p.subnet!
      a.subnet = networkOf(subnet)
      if (a.gateway !== undefined) {
        if (!contains(subnet, a.gateway)) throw new ArgError('dockerNetwork.gateway', `an address inside dockerNetwork.subnet ${a.subnet}`, a.gateway)
      }
      if (p.ipRange !== undefined) {
        const r = p.ipRange
        if (r.prefix < subnet.prefix || !overlaps(r, subnet)) throw new ArgError('dockerNetwork.ipRange', `a network inside dockerNetwork.subnet ${a.subnet}`, a.ipRange)
      }
    },
    async read(ctx) {
      const r = await ctx.run(readNetworkScript(a.name))
      if (r.code === 4) throw new TaskFailed(`docker does not answer on ${ctx.host.name}: ${r.stderr.trim().split('\n').pop()}`, { rc: r.code, stderr: r.stderr })
      mustSucceed(r, `reading docker network ${a.name}`)
      return parseNetworkState(r.stdout, a.name)
    },
    diff(s, ctx) {
      if (state === 'absent') {
        if (!s.net) return []
        if (s.attached.length)
          throw new TaskFailed(`docker network ${a.name} on ${ctx.host.name} still has containers attached (${s.attached.join(', ')}): remove or disconnect them first`)
        return [{ what: `remove network ${a.name}`, before: `${v4Config(s.net)?.Subnet ?? s.net.Driver}`, after: '' }]
      }
      if (!s.net) return [{ what: `create network ${a.name}`, before: '', after: argv(wantArgv().slice(3)) }]
      const d = differences(s.net)
      if (!d.length) return []
      if (s.attached.length)
        throw new TaskFailed(
          `docker network ${a.name} on ${ctx.host.name} exists with other settings (${d.map(([w, b, x]) => `${w} ${b}, want ${x}`).join('; ')}) ` +
            `and containers are attached (${s.attached.join(', ')}): recreating it would cut them off; remove them first or keep the network's settings`,
        )
      const out: Change[] = d.map(([what, before, after]) => ({ what: `network ${a.name} ${what}`, before, after }))
      out.push({ what: `recreate network ${a.name}`, before: argv(createArgvFromInspect(s.net).slice(3)), after: argv(wantArgv().slice(3)) })
      return out
    },
    undo(s): Undo | null {
      if (!s.net) return { description: `remove docker network ${a.name} (it did not exist)`, script: sh`docker network rm ${a.name} >/dev/null` }
      return {
        description: `recreate docker network ${a.name} as it was (${v4Config(s.net)?.Subnet ?? s.net.Driver})`,
        script: sh`{ ! docker network inspect ${a.name} >/dev/null 2>&1 || docker network rm ${a.name} >/dev/null; } && ` + argv(createArgvFromInspect(s.net)) + ' >/dev/null',
      }
    },
    async apply(ctx, s) {
      const parts: string[] = []
      if (s.net) parts.push(sh`docker network rm ${a.name} >/dev/null`)
      if (state === 'present') parts.push(argv(wantArgv()))
      const r = mustSucceed(await ctx.run(parts.join(' && ')), state === 'absent' ? `removing docker network ${a.name}` : `${s.net ? 'recreating' : 'creating'} docker network ${a.name}`)
      return state === 'present' ? { data: { id: r.stdout.trim() } } : {}
    },
  }
  return task(resource)
}
