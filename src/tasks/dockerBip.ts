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
import { sh } from '../net/shell.ts'
import { hostCidr4, int, mtu as mtuArg, network4 } from '../net/validate.ts'
import { networkOf, overlaps, parseCidr4, type Cidr4 } from '../net/ip.ts'
import { ArgError, TaskFailed, task, type Change, type Resource, type Task, type Undo } from '../engine/types.ts'
import { fileUndo, mustSucceed, parseFileState, readFileScript, restoreFileScript, SECTION, sectionMark, splitSections, type FileState } from '../engine/taskkit.ts'

export const DAEMON_JSON = '/etc/docker/daemon.json'

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

export type ServiceManager = 'systemctl' | 'service'

/** A container that was running when the state was read. */
export interface RunningContainer {
  id: string
  name: string
  /** '' or 'no' when it has no restart policy. */
  restart: string
  /** Started with --rm: dockerd removes it when it stops it, so it cannot come back. */
  autoRemove: boolean
}

export interface DockerBipState {
  daemonJson: FileState
  /** daemon.json parsed ({} when absent). */
  config: Record<string, unknown>
  /** Whether dockerd answered. */
  dockerUp: boolean
  /** What the running dockerd uses for the default bridge (from `docker network inspect bridge`). */
  running: { subnet?: string; gateway?: string; mtu?: number }
  /** docker0's IPv4 addresses ('172.17.0.1/16'). */
  docker0: string[]
  /** docker0's MAC: dockerd recreates docker0 (new random MAC) when default-address-pools are set. */
  docker0Mac?: string
  routes: Array<{ dst: string; dev?: string; gateway?: string; protocol?: string }>
  containers: RunningContainer[]
  manager: ServiceManager
  dockerdPid?: number
  dockerdArgs: string[]
}

/** After a restart: what the script printed back. */
interface Verified {
  docker0: string[]
  subnet?: string
  gateway?: string
  mtu?: number
  pid?: number
  running: Map<string, boolean>
  started: string[]
  gone: string[]
}

/** Running containers as "id name restartpolicy autoremove" lines; "docker-down" when dockerd does not answer. */
export const RUNNING_CONTAINERS_SCRIPT =
  `if ids=$(docker ps -q --no-trunc 2>/dev/null); then ` +
  `if [ -n "$ids" ]; then docker inspect --format '{{.Id}} {{.Name}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.AutoRemove}}' $ids || exit 3; fi; ` +
  `else echo docker-down; fi`

/** 'systemctl' or 'service' (the lab has a systemctl stand-in; hosts without systemd have `service`). */
export const SERVICE_MANAGER_SCRIPT =
  `if command -v systemctl >/dev/null 2>&1; then echo systemctl; elif command -v service >/dev/null 2>&1; then echo service; else echo none; fi`

/** dockerd's PID then its argv, one word a line. */
export const DOCKERD_SCRIPT =
  `p=$(cat /run/docker.pid 2>/dev/null || cat /var/run/docker.pid 2>/dev/null || pgrep -xo dockerd 2>/dev/null); ` +
  `if [ -n "$p" ] && [ -r "/proc/$p/cmdline" ]; then echo "$p"; tr '\\0' '\\n' < "/proc/$p/cmdline"; fi; true`

export function parseRunning(out: string): { up: boolean; containers: RunningContainer[] } {
  const lines = out.split('\n').map((l) => l.trim()).filter(Boolean)
  if (lines.includes('docker-down')) return { up: false, containers: [] }
  return {
    up: true,
    containers: lines.map((l) => {
      const [id, name, restart, autoRemove] = l.split(' ')
      return { id, name: (name ?? '').replace(/^\//, ''), restart: restart ?? '', autoRemove: autoRemove === 'true' }
    }),
  }
}

const hasPolicy = (c: RunningContainer) => c.restart !== '' && c.restart !== 'no'
/** live-restore on: in daemon.json or on dockerd's command line. */
const liveRestore = (s: DockerBipState): boolean =>
  s.config['live-restore'] === true || s.dockerdArgs.some((w) => w === '--live-restore' || w === '--live-restore=true')

/**
 * Restart docker (or only stop it), wait until it answers, then `docker start` every container of `ids`
 * that is not running (dockerd brings back only those with a restart policy). Prints the ids it started,
 * a section mark, the ids that no longer exist. POSIX sh; runs in undo scripts without the controller.
 *
 * With live-restore, dockerd keeps running containers across the restart and then keeps the old network
 * configuration too ("There are old running containers, the network config will not take affect"): the
 * running containers are stopped first and started again afterwards.
 */
export function restartDockerScript(manager: ServiceManager, ids: string[], o: { stopOnly?: boolean; liveRestore?: boolean } = {}): string {
  const svc = (action: string) => (manager === 'systemctl' ? sh`systemctl ${action} docker` : sh`service docker ${action}`)
  const must = (action: string) => `${svc(action)} >&2 || { echo "orch: docker ${action} failed" >&2; exit 5; }`
  if (o.stopOnly) return must('stop')
  const stopFirst = o.liveRestore
    ? `orch_live=$(docker ps -q --no-trunc 2>/dev/null); if [ -n "$orch_live" ]; then docker stop $orch_live >/dev/null || { echo "orch: stopping the containers before the restart failed" >&2; exit 5; }; fi; `
    : 'orch_live=; '
  return (
    stopFirst +
    `${must('restart')}; ` +
    `i=0; until docker info >/dev/null 2>&1; do i=$((i+1)); if [ $i -ge 600 ]; then echo "orch: docker does not answer 60 s after the restart" >&2; exit 6; fi; sleep 0.1; done; ` +
    `orch_started=; orch_gone=; ` +
    `for c in ${ids.length ? sh`${ids}` : ''} $orch_live; do ` +
    `case " $orch_started $orch_gone " in *" $c "*) continue ;; esac; ` +
    `if s=$(docker inspect --format '{{.State.Running}}' "$c" 2>/dev/null); then ` +
    `if [ "$s" != true ] && docker start "$c" >/dev/null; then orch_started="$orch_started $c"; fi; ` +
    `else orch_gone="$orch_gone $c"; fi; done; ` +
    `echo "$orch_started"; ${sectionMark}; echo "$orch_gone"`
  )
}

/** JSON as daemon.json is usually written: 2-space indent, trailing newline. */
export const formatDaemonJson = (o: Record<string, unknown>): string => JSON.stringify(o, null, 2) + '\n'

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b))
}
function canon(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canon)
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])]))
  return v
}

function addrsOf(ipAddrJson: unknown): string[] {
  if (!Array.isArray(ipAddrJson)) return []
  const out: string[] = []
  for (const l of ipAddrJson as Array<{ addr_info?: Array<{ family: string; local: string; prefixlen: number }> }>)
    for (const a of l.addr_info ?? []) if (a.family === 'inet') out.push(`${a.local}/${a.prefixlen}`)
  return out
}

function parseJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T
  } catch {
    throw new TaskFailed(`unexpected output from ${what}: ${text.trim().slice(0, 200)}`)
  }
}

const routeText = (r: DockerBipState['routes'][number]) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.dev ? ` dev ${r.dev}` : ''}`

export function dockerBip(bip: string, opts?: Omit<DockerBipArgs, 'bip'>): Task<DockerBipState>
export function dockerBip(args: DockerBipArgs): Task<DockerBipState>
export function dockerBip(a: string | DockerBipArgs, o?: Omit<DockerBipArgs, 'bip'>): Task<DockerBipState> {
  const args: DockerBipArgs = typeof a === 'string' ? { ...(o ?? {}), bip: a } : (a ?? ({} as DockerBipArgs))
  let bip: Cidr4
  let pools: AddressPool[] | undefined

  /** The keys this task owns, in the order they are appended to daemon.json. */
  const wanted = (): Record<string, unknown> => {
    const w: Record<string, unknown> = { bip: args.bip }
    if (args.mtu !== undefined) w.mtu = Number(args.mtu)
    if (pools) w['default-address-pools'] = pools
    return w
  }
  const merged = (s: DockerBipState): Record<string, unknown> => ({ ...s.config, ...wanted() })
  const gatewayOf = () => bip.address
  const subnetOf = () => networkOf(bip)

  /** What makes the running dockerd differ from the wanted one: a restart is needed. */
  const runningDiffers = (s: DockerBipState): string[] => {
    const why: string[] = []
    if (!s.dockerUp) why.push('docker is not running')
    else {
      if (s.running.subnet !== subnetOf() || s.running.gateway !== gatewayOf()) why.push(`default bridge ${s.running.gateway ?? '?'} in ${s.running.subnet ?? '?'}`)
      if (args.mtu !== undefined && s.running.mtu !== Number(args.mtu)) why.push(`mtu ${s.running.mtu ?? '?'}`)
    }
    if (!s.docker0.includes(args.bip)) why.push(`docker0 has ${s.docker0.join(', ') || 'no IPv4 address'}`)
    // dockerd does not show its address pools: a change in the file is the only sign.
    if (pools && !deepEqual(s.config['default-address-pools'], pools)) why.push('default-address-pools changed')
    return why
  }

  const resource: Resource<DockerBipState> = {
    module: 'dockerBip',
    name: `dockerBip ${typeof a === 'string' ? a : args.bip}`,
    validate() {
      bip = hostCidr4('dockerBip.bip', args.bip)
      if (bip.prefix < 8 || bip.prefix > 30) throw new ArgError('dockerBip.bip', 'a host address with a prefix from /8 to /30, e.g. 10.1.1.1/24', args.bip)
      if (args.mtu !== undefined) mtuArg('dockerBip.mtu', args.mtu)
      if (args.defaultAddressPools !== undefined) {
        if (!Array.isArray(args.defaultAddressPools) || args.defaultAddressPools.length === 0)
          throw new ArgError('dockerBip.defaultAddressPools', "a non-empty array like [{ base: '10.200.0.0/16', size: 24 }]", args.defaultAddressPools)
        pools = args.defaultAddressPools.map((p, i) => {
          const v = `dockerBip.defaultAddressPools[${i}]`
          if (!p || typeof p !== 'object') throw new ArgError(v, "{ base: '10.200.0.0/16', size: 24 }", p)
          const base = network4(`${v}.base`, p.base)
          const size = int(`${v}.size`, p.size, Math.max(base.prefix, 8), 30)
          if (overlaps(base, bip)) throw new ArgError(`${v}.base`, `a pool that does not overlap dockerBip.bip ${args.bip}`, p.base)
          return { base: networkOf(base), size }
        })
      }
    },
    async read(ctx) {
      const script = [
        readFileScript(DAEMON_JSON),
        sectionMark,
        `docker network inspect --format '{{json .IPAM.Config}} {{index .Options "com.docker.network.driver.mtu"}}' bridge 2>/dev/null || echo down`,
        sectionMark,
        `ip -j addr show dev docker0 2>/dev/null || echo '[]'`,
        sectionMark,
        `ip -j -4 route show table main`,
        sectionMark,
        RUNNING_CONTAINERS_SCRIPT,
        sectionMark,
        SERVICE_MANAGER_SCRIPT,
        sectionMark,
        DOCKERD_SCRIPT,
      ].join('\n')
      const r = mustSucceed(await ctx.run(script), 'reading docker state')
      const parts = splitSections(r.stdout)
      if (parts.length !== 7) throw new TaskFailed(`unexpected output reading docker state on ${ctx.host.name}`, { stdout: r.stdout, stderr: r.stderr })
      const [fileOut, bridgeOut, docker0Out, routesOut, psOut, mgrOut, pidOut] = parts
      const daemonJson = parseFileState(fileOut, DAEMON_JSON)
      if (daemonJson.kind !== 'file' && daemonJson.kind !== 'absent') throw new TaskFailed(`${DAEMON_JSON} is not a regular file (${daemonJson.kind})`)
      let config: Record<string, unknown> = {}
      if (daemonJson.kind === 'file' && daemonJson.content.toString('utf8').trim() !== '') {
        let parsed: unknown
        try {
          parsed = JSON.parse(daemonJson.content.toString('utf8'))
        } catch (e) {
          throw new TaskFailed(`${DAEMON_JSON} on ${ctx.host.name} is not valid JSON (${(e as Error).message}): fix it by hand first, dockerd would not start with it either`)
        }
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new TaskFailed(`${DAEMON_JSON} on ${ctx.host.name} is not a JSON object`)
        config = parsed as Record<string, unknown>
      }
      const running: DockerBipState['running'] = {}
      const b = bridgeOut.trim()
      if (b !== 'down' && b !== '') {
        const sp = b.indexOf(' ')
        const cfg = parseJson<Array<{ Subnet?: string; Gateway?: string }> | null>(sp < 0 ? b : b.slice(0, sp), 'docker network inspect bridge') ?? []
        const v4 = cfg.find((c) => parseCidr4(c.Subnet))
        running.subnet = v4?.Subnet
        running.gateway = v4?.Gateway
        const m = sp < 0 ? '' : b.slice(sp + 1).trim()
        if (/^\d+$/.test(m)) running.mtu = Number(m)
      }
      const ps = parseRunning(psOut)
      const mgr = mgrOut.trim()
      if (mgr !== 'systemctl' && mgr !== 'service') throw new TaskFailed(`no service manager on ${ctx.host.name} to restart docker (neither systemctl nor service)`)
      const d0 = parseJson<unknown>(docker0Out.trim() || '[]', 'ip -j addr show docker0')
      const [pid, ...dockerdArgs] = pidOut.split('\n').filter(Boolean)
      return {
        daemonJson,
        config,
        dockerUp: ps.up && b !== 'down',
        running,
        docker0: addrsOf(d0),
        docker0Mac: Array.isArray(d0) ? (d0 as Array<{ ifname?: string; address?: string }>).find((l) => l?.ifname === 'docker0')?.address : undefined,
        routes: parseJson<DockerBipState['routes']>(routesOut.trim() || '[]', 'ip -j route'),
        containers: ps.containers,
        manager: mgr,
        dockerdPid: pid ? Number(pid) : undefined,
        dockerdArgs,
      }
    },
    diff(s, ctx) {
      // Host state that makes the change impossible or dangerous: refuse before touching anything.
      for (const r of s.routes) {
        if (r.dst === 'default' || r.dev === 'docker0') continue
        const c = parseCidr4(r.dst.includes('/') ? r.dst : `${r.dst}/32`)
        if (c && overlaps(c, bip))
          throw new TaskFailed(
            `dockerBip.bip ${args.bip} (${subnetOf()}) overlaps the route "${routeText(r)}" on ${ctx.host.name}: pick a docker0 subnet that no route of the host covers`,
          )
      }
      const flags = s.dockerdArgs.filter((w) => /^--(bip|mtu|default-address-pool|config-file)(=|$)/.test(w))
      for (const f of flags) {
        const [flag, val] = f.split('=')
        if (flag === '--config-file') {
          const path = val ?? s.dockerdArgs[s.dockerdArgs.indexOf(f) + 1]
          if (path !== DAEMON_JSON) throw new TaskFailed(`dockerd on ${ctx.host.name} reads its configuration from ${path} (--config-file), not ${DAEMON_JSON}`)
          continue
        }
        const key = flag === '--default-address-pool' ? 'defaultAddressPools' : flag.slice(2)
        if (key === 'bip' || (key === 'mtu' && args.mtu !== undefined) || (key === 'defaultAddressPools' && pools))
          throw new TaskFailed(
            `dockerd on ${ctx.host.name} is started with ${flag} on its command line: with the same setting in ${DAEMON_JSON} it would refuse to start; remove the flag from its service first`,
          )
      }

      const out: Change[] = []
      const want = wanted()
      for (const [k, v] of Object.entries(want)) {
        if (!deepEqual(s.config[k], v))
          out.push({ what: `${DAEMON_JSON} "${k}"`, before: s.config[k] === undefined ? '(unset)' : JSON.stringify(s.config[k]), after: JSON.stringify(v) })
      }
      const why = runningDiffers(s)
      if (why.length) {
        out.push({ what: 'restart docker', before: why.join('; '), after: `docker0 ${args.bip}${args.mtu !== undefined ? `, mtu ${args.mtu}` : ''}` })
        const again = s.containers.filter((c) => !c.autoRemove)
        const live = liveRestore(s)
        if (again.length)
          out.push({
            what: live ? 'containers stopped for the restart (live-restore would keep the old network) and started again' : 'containers running again after the restart',
            after: again.map((c) => `${c.name}${live || !hasPolicy(c) ? ' (docker start)' : ''}`).join(', '),
          })
        const lost = s.containers.filter((c) => c.autoRemove)
        if (lost.length) out.push({ what: 'containers docker removes on restart (started with --rm)', before: lost.map((c) => c.name).join(', '), after: '' })
      }
      return out
    },
    undo(s, changes): Undo | null {
      const fileChanged = changes.some((c) => c.what.startsWith(DAEMON_JSON))
      if (!fileChanged) return null // the file already asked for this: restarting again would give the same
      const fu = fileUndo(DAEMON_JSON, s.daemonJson)!
      // No restart happened (dockerd already ran with these values): putting the file back is the inverse.
      if (!changes.some((c) => c.what === 'restart docker')) return fu
      const live = liveRestore(s)
      const ids = s.containers.filter((c) => !c.autoRemove).map((c) => c.id)
      // dockerd keeps the default bridge's subnet (and MTU) in its network store and, without a bip in
      // daemon.json, reuses it: the old file alone would leave docker0 on the new subnet. So first restart
      // with the old values pinned in the file (the store takes them), then restore the file byte-exact.
      const pinned: Record<string, unknown> = { ...s.config }
      const oldBip = s.running.gateway && s.running.subnet ? `${s.running.gateway}/${s.running.subnet.split('/')[1]}` : s.docker0[0]
      if (pinned.bip === undefined && oldBip) pinned.bip = oldBip
      if (args.mtu !== undefined && pinned.mtu === undefined && s.running.mtu !== undefined) pinned.mtu = s.running.mtu
      const steps: string[] = []
      const desc: string[] = []
      if (!deepEqual(pinned, s.config)) {
        const mode = s.daemonJson.kind === 'file' ? s.daemonJson.mode : '0644'
        const owner = s.daemonJson.kind === 'file' ? `${s.daemonJson.uid}:${s.daemonJson.gid}` : undefined
        steps.push(restoreFileScript(DAEMON_JSON, Buffer.from(formatDaemonJson(pinned)), mode, owner), `{ ${restartDockerScript(s.manager, [], { liveRestore: live })}; } >/dev/null`)
        desc.push(`restart docker with bip ${String(pinned.bip)}${pinned.mtu !== s.config.mtu ? ` and mtu ${String(pinned.mtu)}` : ''} pinned`)
      }
      steps.push(fu.script, `{ ${restartDockerScript(s.manager, ids, { stopOnly: !s.dockerUp, liveRestore: live })}; }`)
      desc.push(fu.description, s.dockerUp ? 'restart docker and start the containers that were running' : 'stop docker (it was not running)')
      if (s.docker0Mac && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(s.docker0Mac)) {
        steps.push(sh`{ [ ! -e /sys/class/net/docker0 ] || [ "$(cat /sys/class/net/docker0/address)" = ${s.docker0Mac} ] || ip link set dev docker0 address ${s.docker0Mac}; }`)
        desc.push(`docker0 MAC ${s.docker0Mac}`)
      }
      return { description: desc.join('; '), script: steps.join(' && ') }
    },
    async apply(ctx, s, changes) {
      const fileChanged = changes.some((c) => c.what.startsWith(DAEMON_JSON))
      const restart = changes.some((c) => c.what === 'restart docker')
      const ids = s.containers.filter((c) => !c.autoRemove).map((c) => c.id)
      const parts: string[] = []
      if (fileChanged) {
        const mode = s.daemonJson.kind === 'file' ? s.daemonJson.mode : '0644'
        const owner = s.daemonJson.kind === 'file' ? `${s.daemonJson.uid}:${s.daemonJson.gid}` : undefined
        parts.push(sh`mkdir -p /etc/docker`, restoreFileScript(DAEMON_JSON, Buffer.from(formatDaemonJson(merged(s))), mode, owner))
      }
      if (!restart) {
        mustSucceed(await ctx.run(parts.join(' && ')), `writing ${DAEMON_JSON}`)
        return { data: { restarted: false, bip: args.bip } }
      }
      const verify = [
        `docker network inspect --format '{{json .IPAM.Config}} {{index .Options "com.docker.network.driver.mtu"}}' bridge`,
        `ip -j addr show dev docker0`,
        `cat /run/docker.pid 2>/dev/null || cat /var/run/docker.pid 2>/dev/null || pgrep -xo dockerd || echo 0`,
        ids.length ? sh`docker inspect --format '{{.Id}} {{.State.Running}}' ${ids} 2>/dev/null; true` : 'true',
      ]
      const script = [...parts, `{ ${restartDockerScript(s.manager, ids, { liveRestore: liveRestore(s) })}; }`].join(' && ') + ` && ${sectionMark} && ` + verify.join(` && ${sectionMark} && `)
      const r = await ctx.run(script)
      mustSucceed(r, fileChanged ? `writing ${DAEMON_JSON} and restarting docker` : 'restarting docker')
      const v = parseVerify(r.stdout)
      const problems: string[] = []
      if (!v.docker0.includes(args.bip)) problems.push(`docker0 has ${v.docker0.join(', ') || 'no IPv4 address'}, not ${args.bip}`)
      if (v.subnet !== subnetOf() || v.gateway !== gatewayOf()) problems.push(`dockerd's default bridge is ${v.gateway} in ${v.subnet}`)
      if (args.mtu !== undefined && v.mtu !== Number(args.mtu)) problems.push(`dockerd's bridge mtu is ${v.mtu}`)
      const byId = new Map(s.containers.map((c) => [c.id, c.name]))
      const down = ids.filter((id) => v.running.get(id) !== true && !v.gone.includes(id))
      if (down.length) problems.push(`containers not running after the restart: ${down.map((id) => byId.get(id)).join(', ')}`)
      const gone = v.gone.map((id) => byId.get(id) ?? id)
      const lost = s.containers.filter((c) => c.autoRemove).map((c) => c.name)
      const notes: string[] = []
      if (v.started.length) notes.push(`started again: ${v.started.map((id) => byId.get(id) ?? id).join(', ')}`)
      if (gone.length) notes.push(`removed during the restart: ${gone.join(', ')}`)
      if (lost.length) notes.push(`removed by docker (--rm): ${lost.join(', ')}`)
      const data = { restarted: true, bip: args.bip, docker0: v.docker0, dockerdPid: v.pid, startedAgain: v.started.map((id) => byId.get(id) ?? id), removed: [...gone, ...lost] }
      if (problems.length) return { failed: true, msg: `after the docker restart on ${ctx.host.name}: ${problems.join('; ')}`, data }
      return { msg: notes.join('; ') || undefined, data }
    },
  }
  return task(resource)
}

function parseVerify(stdout: string): Verified {
  // restart script: started, gone; then: bridge, docker0, pid, container states.
  const p = stdout.split(`\n${SECTION}\n`)
  const [started, gone, bridge, docker0, pid, states] = p.length >= 6 ? p : [...p, ...Array(6 - p.length).fill('')]
  const b = (bridge ?? '').trim()
  const sp = b.indexOf(' ')
  let cfg: Array<{ Subnet?: string; Gateway?: string }> = []
  try {
    cfg = JSON.parse(sp < 0 ? b : b.slice(0, sp)) ?? []
  } catch {
    /* reported as a mismatch */
  }
  const v4 = cfg.find((c) => parseCidr4(c.Subnet))
  let addrs: string[] = []
  try {
    addrs = addrsOf(JSON.parse(docker0.trim() || '[]'))
  } catch {
    /* reported as a mismatch */
  }
  const running = new Map<string, boolean>()
  for (const l of (states ?? '').split('\n')) {
    const [id, st] = l.trim().split(' ')
    if (id) running.set(id, st === 'true')
  }
  const m = sp < 0 ? '' : b.slice(sp + 1).trim()
  return {
    started: started.trim().split(/\s+/).filter(Boolean),
    gone: gone.trim().split(/\s+/).filter(Boolean),
    subnet: v4?.Subnet,
    gateway: v4?.Gateway,
    mtu: /^\d+$/.test(m) ? Number(m) : undefined,
    docker0: addrs,
    pid: Number(pid.trim()) || undefined,
    running,
  }
}
