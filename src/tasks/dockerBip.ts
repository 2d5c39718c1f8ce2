/**
 * dockerBip: docker0's subnet (and optionally the MTU and the default address pools) through
 * /etc/docker/daemon.json, with a docker restart only when the running daemon must change.
 *
 * One round trip reads daemon.json, the running default bridge (its IPAM and MTU, as dockerd sees them),
 * docker0's addresses, the host's IPv4 routes, the running containers, the service manager and dockerd's
 * command line. The keys are merged into daemon.json keeping every other key (2-space JSON); the restart
 * brings back every container that was running before (dockerd itself only restarts those with a restart
 * policy), then docker0's address and the containers are verified in the same round trip.
 *
 * Undo: daemon.json byte-exact as it was (or removed when it did not exist), docker restarted, and the
 * containers that were running before are running again.
 */
import { argSpec, parseArgs } from '../argspec.ts'
import { networkOf, overlaps, parseCidr4, type Cidr4 } from '../net/ip.ts'
import { ArgError, TaskFailed } from '../errors.ts'
import type { ApplyOutcome, Task } from '../engine/types.ts'
import type { FileState } from '../engine/taskkit.ts'
import type { RouteJson } from '../facts/routes.ts'
import {
  bridgeAfterReader,
  containersRunningReader,
  DAEMON_JSON,
  defaultBridgeReader,
  dockerdPidReader,
  dockerdReader,
  formatDaemonJson,
  restartedReader,
  runningContainersReader,
  serviceManagerReader,
  type DefaultBridge,
  type RunningContainer,
  type ServiceManager,
} from '../model/docker.ts'
import { fileReader, linkReader, routesReader } from '../model/facts.ts'
import type { Link } from '../model/link.ts'
import { compose, mapReader, type Reader } from '../model/read.ts'
import type { DockerRestartStep, Step } from '../model/steps.ts'
import { plannedTask, verifyWith, type Planned } from '../model/task.ts'

export { DAEMON_JSON, formatDaemonJson, restartDockerScript, type RunningContainer, type ServiceManager } from '../model/docker.ts'

export interface AddressPool {
  /** A network: '10.200.0.0/16'. */
  base: string
  /** Prefix length of the networks carved from it (base's prefix to 32... in practice 24-28). */
  size: number
}

export interface DockerBipArgs {
  /** docker0's address with prefix: a host address ('10.1.1.1/24'), never the network address. */
  bip: string
  /** MTU of the default bridge's interfaces (daemon.json "mtu"). */
  mtu?: number
  /** Pools for user-defined networks (daemon.json "default-address-pools"). */
  defaultAddressPools?: AddressPool[]
}

/** The arguments checked and typed. */
export interface DockerBip {
  bip: string
  cidr: Cidr4
  mtu?: number
  pools?: AddressPool[]
}

export const DOCKER_BIP_SPEC = argSpec('dockerBip', {
  bip: { type: 'hostcidr4', required: true, check: (c: Cidr4) => (c.prefix < 8 || c.prefix > 30 ? 'a host address with a prefix from /8 to /30, e.g. 10.1.1.1/24' : undefined), desc: "docker0's address with prefix" },
  mtu: { type: 'int', min: 68, max: 65535, desc: 'MTU of the default bridge\'s interfaces (daemon.json "mtu")' },
  defaultAddressPools: {
    type: 'list',
    min: 1,
    elements: { type: 'dict', options: { base: { type: 'network4', required: true }, size: { type: 'int', min: 8, max: 30, required: true } } },
    desc: 'pools for user-defined networks (daemon.json "default-address-pools")',
  },
})

export function parseDockerBipArgs(args: DockerBipArgs): DockerBip {
  const a = parseArgs(DOCKER_BIP_SPEC, args)
  const pools = a.defaultAddressPools?.map(({ base, size }, i) => {
    const v = `dockerBip.defaultAddressPools[${i}]`
    if (size < base.prefix) throw new ArgError(`${v}.size`, `an integer from ${Math.max(base.prefix, 8)} to 30`, size)
    if (overlaps(base, a.bip)) throw new ArgError(`${v}.base`, `a pool that does not overlap dockerBip.bip ${args.bip}`, networkOf(base))
    return { base: networkOf(base), size }
  })
  return { bip: args.bip, cidr: a.bip, ...(a.mtu !== undefined ? { mtu: a.mtu } : {}), ...(pools ? { pools } : {}) }
}

export interface DockerBipFacts {
  daemonJson: FileState
  bridge: DefaultBridge | null
  docker0: Link | null
  routes: RouteJson[]
  containers: RunningContainer[] | null
  manager: ServiceManager | null
  dockerd: { pid: number; args: string[] } | null
}

/** One round trip: daemon.json, the running default bridge, docker0, the main table, running containers, the service manager, dockerd's argv. */
export function dockerBipFacts(): Reader<DockerBipFacts> {
  const r = compose({
    daemonJson: fileReader(DAEMON_JSON),
    bridge: defaultBridgeReader(),
    docker0: linkReader('docker0', { addresses: true }),
    routes: routesReader(4, 254),
    containers: runningContainersReader(),
    manager: serviceManagerReader(),
    dockerd: dockerdReader(),
  })
  return mapReader(r, (f) => f as DockerBipFacts)
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b))
}
function canon(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canon)
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])]))
  return v
}

const v4Addresses = (l: Link | null | undefined): string[] => (l?.addresses ?? []).filter((x) => x.family === 4).map((x) => `${x.address}/${x.prefixlen}`)

/** daemon.json parsed ({} when absent or empty). */
export function daemonConfig(f: FileState, host: string): Record<string, unknown> {
  if (f.kind !== 'file' && f.kind !== 'absent') throw new TaskFailed(`${DAEMON_JSON} is not a regular file (${f.kind})`)
  if (f.kind !== 'file' || f.content.toString('utf8').trim() === '') return {}
  let parsed: unknown
  try {
    parsed = JSON.parse(f.content.toString('utf8'))
  } catch (e) {
    throw new TaskFailed(`${DAEMON_JSON} on ${host} is not valid JSON (${(e as Error).message}): fix it by hand first, dockerd would not start with it either`)
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new TaskFailed(`${DAEMON_JSON} on ${host} is not a JSON object`)
  return parsed as Record<string, unknown>
}

/** live-restore on: in daemon.json or on dockerd's command line. */
const liveRestore = (config: Record<string, unknown>, f: DockerBipFacts): boolean =>
  config['live-restore'] === true || (f.dockerd?.args ?? []).some((w) => w === '--live-restore' || w === '--live-restore=true')

/** Pure: facts + arguments → a docker-daemon step (keys that differ) and a docker-restart step (when the running daemon differs). */
export function planDockerBip(f: DockerBipFacts, a: DockerBip, host: string): Step[] {
  const config = daemonConfig(f.daemonJson, host)
  if (!f.manager) throw new TaskFailed(`no service manager on ${host} to restart docker (neither systemctl nor service)`)
  const subnet = networkOf(a.cidr)
  const gateway = a.cidr.address
  // Host state that makes the change impossible or dangerous: refuse before touching anything.
  for (const r of f.routes) {
    if (r.dst === 'default' || r.dev === 'docker0') continue
    const c = parseCidr4(r.dst.includes('/') ? r.dst : `${r.dst}/32`)
    if (c && overlaps(c, a.cidr)) {
      const text = `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.dev ? ` dev ${r.dev}` : ''}`
      throw new TaskFailed(`dockerBip.bip ${a.bip} (${subnet}) overlaps the route "${text}" on ${host}: pick a docker0 subnet that no route of the host covers`)
    }
  }
  const argv = f.dockerd?.args ?? []
  for (const w of argv.filter((x) => /^--(bip|mtu|default-address-pool|config-file)(=|$)/.test(x))) {
    const [flag, val] = w.split('=')
    if (flag === '--config-file') {
      const path = val ?? argv[argv.indexOf(w) + 1]
      if (path !== DAEMON_JSON) throw new TaskFailed(`dockerd on ${host} reads its configuration from ${path} (--config-file), not ${DAEMON_JSON}`)
      continue
    }
    const key = flag === '--default-address-pool' ? 'defaultAddressPools' : flag.slice(2)
    if (key === 'bip' || (key === 'mtu' && a.mtu !== undefined) || (key === 'defaultAddressPools' && a.pools))
      throw new TaskFailed(`dockerd on ${host} is started with ${flag} on its command line: with the same setting in ${DAEMON_JSON} it would refuse to start; remove the flag from its service first`)
  }

  /** The keys this task owns, in the order they are appended to daemon.json. */
  const want: Record<string, unknown> = { bip: a.bip, ...(a.mtu !== undefined ? { mtu: a.mtu } : {}), ...(a.pools ? { 'default-address-pools': a.pools } : {}) }
  const settings = Object.entries(want)
    .filter(([k, v]) => !deepEqual(config[k], v))
    .map(([key, after]) => ({ key, ...(config[key] !== undefined ? { before: config[key] } : {}), after }))
  const file = f.daemonJson
  const mode = file.kind === 'file' ? file.mode : '0644'
  const owner = file.kind === 'file' ? `${file.uid}:${file.gid}` : undefined

  const dockerUp = f.containers !== null && f.bridge !== null
  const running = f.bridge ?? {}
  const docker0 = v4Addresses(f.docker0)
  /** What makes the running dockerd differ from the wanted one: a restart is needed. */
  const why: string[] = []
  if (!dockerUp) why.push('docker is not running')
  else {
    if (running.subnet !== subnet || running.gateway !== gateway) why.push(`default bridge ${running.gateway ?? '?'} in ${running.subnet ?? '?'}`)
    if (a.mtu !== undefined && running.mtu !== a.mtu) why.push(`mtu ${running.mtu ?? '?'}`)
  }
  if (!docker0.includes(a.bip)) why.push(`docker0 has ${docker0.join(', ') || 'no IPv4 address'}`)
  // dockerd does not show its address pools: a change in the file is the only sign.
  if (a.pools && !deepEqual(config['default-address-pools'], a.pools)) why.push('default-address-pools changed')

  const steps: Step[] = []
  if (settings.length)
    steps.push({ kind: 'docker-daemon', path: DAEMON_JSON, settings, content: formatDaemonJson({ ...config, ...want }), mode, ...(owner ? { owner } : {}), before: file, ...(why.length ? { undoneByRestart: true } : {}) })
  if (why.length) {
    const live = liveRestore(config, f)
    const restart: DockerRestartStep = {
      kind: 'docker-restart',
      manager: f.manager,
      why,
      target: `docker0 ${a.bip}${a.mtu !== undefined ? `, mtu ${a.mtu}` : ''}`,
      containers: f.containers ?? [],
      liveRestore: live,
    }
    if (settings.length) {
      const pinned: Record<string, unknown> = { ...config }
      const oldBip = running.gateway && running.subnet ? `${running.gateway}/${running.subnet.split('/')[1]}` : docker0[0]
      if (pinned.bip === undefined && oldBip) pinned.bip = oldBip
      if (a.mtu !== undefined && pinned.mtu === undefined && running.mtu !== undefined) pinned.mtu = running.mtu
      restart.undo = {
        path: DAEMON_JSON,
        file,
        ...(deepEqual(pinned, config)
          ? {}
          : { pinned: { content: formatDaemonJson(pinned), mode, ...(owner ? { owner } : {}), text: `restart docker with bip ${String(pinned.bip)}${pinned.mtu !== config.mtu ? ` and mtu ${String(pinned.mtu)}` : ''} pinned` } }),
        dockerWasUp: dockerUp,
        ...(f.docker0?.mac ? { docker0Mac: f.docker0.mac } : {}),
      }
    }
    steps.push(restart)
  }
  return steps
}

/** After a restart, in the same round trip: the restart's containers, the default bridge, docker0, dockerd's PID, the containers' states. */
function verifyRestart(a: DockerBip, steps: Step[], host: string) {
  const restart = steps.find((s): s is DockerRestartStep => s.kind === 'docker-restart')
  if (!restart) return null
  const ids = restart.containers.filter((c) => !c.autoRemove).map((c) => c.id)
  const reader = compose({ restarted: restartedReader(), bridge: bridgeAfterReader(), docker0: linkReader('docker0', { addresses: true }), pid: dockerdPidReader(), states: containersRunningReader(ids) })
  return verifyWith(reader, (v): ApplyOutcome => {
      const docker0 = v4Addresses(v.docker0)
      const problems: string[] = []
      if (!docker0.includes(a.bip)) problems.push(`docker0 has ${docker0.join(', ') || 'no IPv4 address'}, not ${a.bip}`)
      if (v.bridge.subnet !== networkOf(a.cidr) || v.bridge.gateway !== a.cidr.address) problems.push(`dockerd's default bridge is ${v.bridge.gateway} in ${v.bridge.subnet}`)
      if (a.mtu !== undefined && v.bridge.mtu !== a.mtu) problems.push(`dockerd's bridge mtu is ${v.bridge.mtu}`)
      const byId = new Map(restart.containers.map((c) => [c.id, c.name]))
      const down = ids.filter((id) => v.states.get(id) !== true && !v.restarted.gone.includes(id))
      if (down.length) problems.push(`containers not running after the restart: ${down.map((id) => byId.get(id)).join(', ')}`)
      const gone = v.restarted.gone.map((id) => byId.get(id) ?? id)
      const lost = restart.containers.filter((c) => c.autoRemove).map((c) => c.name)
      const started = v.restarted.started.map((id) => byId.get(id) ?? id)
      const notes: string[] = []
      if (started.length) notes.push(`started again: ${started.join(', ')}`)
      if (gone.length) notes.push(`removed during the restart: ${gone.join(', ')}`)
      if (lost.length) notes.push(`removed by docker (--rm): ${lost.join(', ')}`)
      const data = { restarted: true, bip: a.bip, docker0, dockerdPid: v.pid || undefined, startedAgain: started, removed: [...gone, ...lost] }
      if (problems.length) return { failed: true, msg: `after the docker restart on ${host}: ${problems.join('; ')}`, data }
      return { msg: notes.join('; ') || undefined, data }
  })
}

export function dockerBip(bip: string, opts?: Omit<DockerBipArgs, 'bip'>): Task<Planned<DockerBipFacts>>
export function dockerBip(args: DockerBipArgs): Task<Planned<DockerBipFacts>>
export function dockerBip(a: string | DockerBipArgs, o?: Omit<DockerBipArgs, 'bip'>): Task<Planned<DockerBipFacts>> {
  const args: DockerBipArgs = typeof a === 'string' ? { ...(o ?? {}), bip: a } : (a ?? ({} as DockerBipArgs))
  return plannedTask<DockerBip, DockerBipFacts>({
    module: 'dockerBip',
    name: `dockerBip ${args.bip}`,
    parseArgs: () => parseDockerBipArgs(args),
    reader: dockerBipFacts,
    reading: () => 'reading docker state',
    plan: planDockerBip,
    applying: (_x, steps) => (steps.some((s) => s.kind === 'docker-restart') ? (steps.some((s) => s.kind === 'docker-daemon') ? `writing ${DAEMON_JSON} and restarting docker` : 'restarting docker') : `writing ${DAEMON_JSON}`),
    data: (x) => ({ restarted: false, bip: x.bip }),
    verify: (x, _f, steps, host) => verifyRestart(x, steps, host),
    readAhead: true,
  })
}
