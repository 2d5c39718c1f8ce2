/**
 * container: a docker container with this configuration, running (state 'started') or gone ('absent').
 * Used to place probe containers (and small services) on hosts.
 *
 * One round trip reads `docker container inspect` and `docker image inspect` of the wanted image (with
 * pull 'always', outside check mode, the image is pulled first). The container is compared on what was
 * asked — image (by ID), network, static IP, command, restart policy, env, labels, init, privileged,
 * added capabilities — and recreated when any differs; a stopped container with the right configuration
 * is started.
 *
 * Undo: removes a container it created; a container it recreated or removed is created again from the
 * configuration inspected before (see docs/tasks/container.md for what is restored) and started if it
 * was running; a container it only started is stopped again.
 */
import { argv, sh } from '../net/shell.ts'
import { argSpec, parseArgs, type Field } from '../argspec.ts'
import { ArgError, TaskFailed, task, type Change, type Resource, type Task, type Undo } from '../engine/types.ts'
import { mustSucceed, sectionMark, splitSections } from '../engine/taskkit.ts'

export type PullPolicy = 'never' | 'missing' | 'always'
export type RestartPolicy = 'no' | 'always' | 'unless-stopped'

export interface ContainerArgs {
  name: string
  image: string
  /** A user-defined network, or 'bridge' (default), 'host', 'none'. */
  network?: string
  /** Static IPv4 address on `network` (a user-defined network). */
  ip?: string
  /** Run an init as PID 1 (docker --init), default true: it reaps zombies and makes `docker stop` (and so docker restarts) fast. */
  init?: boolean
  /** Default 'missing'. The lab has no registry: it uses 'never'. */
  pull?: PullPolicy
  /** Replaces the image's CMD. */
  command?: string[]
  /** Default 'no'. */
  restart?: RestartPolicy
  privileged?: boolean
  /** Capabilities to add: 'NET_ADMIN' (or 'CAP_NET_ADMIN'). */
  capAdd?: string[]
  env?: Record<string, string>
  labels?: Record<string, string>
  /** Default 'started'. */
  state?: 'started' | 'absent'
}

/** The parts of `docker container inspect` this task reads. */
export interface ContainerInspect {
  Id: string
  Name: string
  Image: string
  State: { Running: boolean; Status?: string }
  Config: {
    Image: string
    Cmd?: string[] | null
    Entrypoint?: string[] | null
    Env?: string[] | null
    Labels?: Record<string, string> | null
    Hostname?: string
    User?: string
    WorkingDir?: string
    Tty?: boolean
    OpenStdin?: boolean
  }
  HostConfig: {
    NetworkMode?: string
    RestartPolicy?: { Name?: string; MaximumRetryCount?: number } | null
    Init?: boolean | null
    Privileged?: boolean
    CapAdd?: string[] | null
    CapDrop?: string[] | null
    Binds?: string[] | null
    PortBindings?: Record<string, Array<{ HostIp?: string; HostPort?: string }> | null> | null
    AutoRemove?: boolean
  }
  NetworkSettings?: { Networks?: Record<string, { IPAMConfig?: { IPv4Address?: string } | null } | null> | null }
}

export interface ImageInspect {
  Id: string
  Config?: { Cmd?: string[] | null; Env?: string[] | null; Labels?: Record<string, string> | null } | null
}

export interface ContainerState {
  c: ContainerInspect | null
  /** The wanted image, when the host has it. */
  image: ImageInspect | null
}

export const IMAGE_RE = /^[A-Za-z0-9][A-Za-z0-9._\-/:@+]{0,254}$/
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/
const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._\-/]{0,254}$/
const CAP = /^(CAP_)?[A-Z][A-Z0-9_]*$/

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
const normCap = (c: string) => c.toUpperCase().replace(/^CAP_/, '')
const normNet = (n: string | undefined) => (!n || n === 'default' ? 'bridge' : n)
const envMap = (e: string[] | null | undefined): Record<string, string> =>
  Object.fromEntries((e ?? []).map((kv) => (kv.includes('=') ? [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] : [kv, ''])))
const sameMap = (x: Record<string, string>, y: Record<string, string>) => {
  const kx = Object.keys(x).sort()
  const ky = Object.keys(y).sort()
  return kx.length === ky.length && kx.every((k, i) => k === ky[i] && x[k] === y[k])
}
const showMap = (m: Record<string, string>) =>
  Object.keys(m)
    .sort()
    .map((k) => `${k}=${m[k]}`)
    .join(' ') || '(none)'
const showArr = (a: string[] | null | undefined) => (a && a.length ? JSON.stringify(a) : '(none)')
const short = (id: string | undefined) => (id ?? '').replace(/^sha256:/, '').slice(0, 12)

/** Inspect of a container (or "null") in one script line; exit 4 when docker does not answer. */
function inspectOrNull(kind: 'container' | 'image', ref: string): string {
  return (
    sh`if out=$(docker ${kind} inspect --format '{{json .}}' ${ref} 2>&1); then printf '%s\n' "$out"; ` +
    `else case $out in *"No such"*|*"not found"*) echo null ;; *) printf '%s\n' "$out" >&2; exit 4 ;; esac; fi`
  )
}

/** argv words (after `docker create`) that recreate a container as inspected (without image and command). */
export function createFlagsFromInspect(c: ContainerInspect): { flags: string[]; cmd: string[] } {
  const f: string[] = ['--name', c.Name.replace(/^\//, '')]
  const h = c.HostConfig ?? {}
  const cfg = c.Config ?? ({} as ContainerInspect['Config'])
  const net = h.NetworkMode
  if (net && net !== 'default') f.push('--network', net)
  const ip = net ? c.NetworkSettings?.Networks?.[net]?.IPAMConfig?.IPv4Address : undefined
  if (ip) f.push('--ip', ip)
  if (h.Init === true) f.push('--init')
  else if (h.Init === false) f.push('--init=false')
  const rp = h.RestartPolicy?.Name
  if (rp && rp !== 'no') f.push('--restart', rp === 'on-failure' && h.RestartPolicy?.MaximumRetryCount ? `on-failure:${h.RestartPolicy.MaximumRetryCount}` : rp)
  if (h.AutoRemove) f.push('--rm')
  if (h.Privileged) f.push('--privileged')
  for (const x of h.CapAdd ?? []) f.push('--cap-add', x)
  for (const x of h.CapDrop ?? []) f.push('--cap-drop', x)
  for (const x of cfg.Env ?? []) f.push('-e', x)
  for (const [k, v] of Object.entries(cfg.Labels ?? {})) f.push('--label', `${k}=${v}`)
  if (cfg.Hostname && cfg.Hostname !== c.Id.slice(0, 12)) f.push('--hostname', cfg.Hostname)
  if (cfg.User) f.push('--user', cfg.User)
  if (cfg.WorkingDir) f.push('--workdir', cfg.WorkingDir)
  if (cfg.Tty) f.push('--tty')
  if (cfg.OpenStdin) f.push('--interactive')
  for (const b of h.Binds ?? []) f.push('--volume', b)
  for (const [port, binds] of Object.entries(h.PortBindings ?? {}))
    for (const b of binds ?? []) f.push('--publish', `${b.HostIp ? `${b.HostIp}:` : ''}${b.HostPort ?? ''}:${port}`)
  const ep = cfg.Entrypoint ?? []
  if (ep.length) f.push('--entrypoint', ep[0])
  return { flags: f, cmd: [...ep.slice(1), ...(cfg.Cmd ?? [])] }
}

/** sh that recreates the container as inspected (image by name when it still is that image, else by ID). */
export function recreateScript(c: ContainerInspect): string {
  const { flags, cmd } = createFlagsFromInspect(c)
  const name = c.Name.replace(/^\//, '')
  return (
    sh`{ ! docker container inspect ${name} >/dev/null 2>&1 || docker rm -f ${name} >/dev/null; } && ` +
    sh`orch_img=${c.Config.Image}; [ "$(docker image inspect --format '{{.Id}}' "$orch_img" 2>/dev/null)" = ${c.Image} ] || orch_img=${c.Image}; ` +
    `docker create --pull never ${argv(flags)} "$orch_img"${cmd.length ? ' ' + argv(cmd) : ''} >/dev/null` +
    (c.State.Running ? sh` && docker start ${name} >/dev/null` : '')
  )
}

/** The image reference rule (the cross-host variable container_image uses this field too). */
export const IMAGE_FIELD = {
  type: 'str',
  pattern: IMAGE_RE,
  expected: "an image reference like 'busybox:1.36' or 'registry:5000/team/app@sha256:...'",
} as const satisfies Field

const argvWords = (variable: string, c: unknown): string[] => {
  if (!Array.isArray(c) || c.length === 0 || c.some((w) => typeof w !== 'string' || w.includes('\0'))) throw new ArgError(variable, "a non-empty argv array like ['sleep', 'infinity']", c)
  return c
}

export const CONTAINER_SPEC = argSpec(
  'container',
  {
    name: { type: 'name', required: true, expected: 'a container name' },
    image: { ...IMAGE_FIELD, desc: "required with state 'started'" },
    network: { type: 'name', expected: "a docker network name ('bridge', 'host', 'none' or a user-defined one)", desc: "a user-defined network, or 'bridge' (default), 'host', 'none'" },
    ip: { type: 'ipv4', desc: 'static IPv4 address on a user-defined network' },
    init: { type: 'bool', default: true, desc: 'run an init as PID 1 (docker --init)' },
    pull: { type: 'str', choices: ['never', 'missing', 'always'], default: 'missing' },
    command: { type: 'raw', parse: argvWords, desc: "replaces the image's CMD" },
    restart: { type: 'str', choices: ['no', 'always', 'unless-stopped'], default: 'no' },
    privileged: { type: 'bool', default: false },
    capAdd: {
      type: 'list',
      elements: { type: 'str', check: (c: string) => (CAP.test(c.toUpperCase()) ? undefined : "a capability name like 'NET_ADMIN'") },
      desc: "capabilities to add: 'NET_ADMIN' (or 'CAP_NET_ADMIN')",
    },
    env: { type: 'raw', parse: (x, m) => checkMap(x, m, ENV_KEY, 'an object of environment variables { NAME: "value" }') },
    labels: { type: 'raw', parse: (x, m) => checkMap(x, m, LABEL_KEY, 'an object of labels { "org.example.role": "probe" }') },
    state: { type: 'str', choices: ['started', 'absent'], default: 'started' },
  },
  { required_if: [['state', 'started', ['image']]] },
)

export function container(args: ContainerArgs): Task<ContainerState> {
  const a: ContainerArgs = { ...(args ?? ({} as ContainerArgs)) }
  const state = a.state ?? 'started'
  const init = a.init ?? true
  const pull = a.pull ?? 'missing'
  const restart = a.restart ?? 'no'
  const network = a.network ?? 'bridge'

  const wantCmd = (s: ContainerState) => a.command ?? s.image?.Config?.Cmd ?? null
  const wantEnv = (s: ContainerState) => ({ ...envMap(s.image?.Config?.Env), ...(a.env ?? {}) })
  const wantLabels = (s: ContainerState) => ({ ...(s.image?.Config?.Labels ?? {}), ...(a.labels ?? {}) })
  const wantCaps = () => [...new Set((a.capAdd ?? []).map(normCap))].sort()

  const runArgv = (): string[] => {
    const w = ['docker', 'run', '--detach', '--pull', pull === 'never' ? 'never' : 'missing', '--name', a.name]
    if (a.network) w.push('--network', a.network)
    if (a.ip) w.push('--ip', a.ip)
    w.push(init ? '--init' : '--init=false', '--restart', restart)
    if (a.privileged) w.push('--privileged')
    for (const c of wantCaps()) w.push('--cap-add', c)
    for (const [k, v] of Object.entries(a.env ?? {})) w.push('--env', `${k}=${v}`)
    for (const [k, v] of Object.entries(a.labels ?? {})) w.push('--label', `${k}=${v}`)
    w.push(a.image, ...(a.command ?? []))
    return w
  }

  /** Configuration differences between the container and the wanted one. */
  const differences = (s: ContainerState): Change[] => {
    const c = s.c!
    const out: Change[] = []
    const h = c.HostConfig ?? {}
    if (!s.image || c.Image !== s.image.Id) out.push({ what: 'image', before: `${c.Config.Image} (${short(c.Image)})`, after: s.image ? `${a.image} (${short(s.image.Id)})` : `${a.image} (to pull)` })
    if (normNet(h.NetworkMode) !== network) out.push({ what: 'network', before: normNet(h.NetworkMode), after: network })
    const ip = c.NetworkSettings?.Networks?.[h.NetworkMode ?? '']?.IPAMConfig?.IPv4Address || undefined
    if (ip !== a.ip) out.push({ what: 'ip', before: ip ?? '(dynamic)', after: a.ip ?? '(dynamic)' })
    if (s.image && JSON.stringify(c.Config.Cmd ?? null) !== JSON.stringify(wantCmd(s))) out.push({ what: 'command', before: showArr(c.Config.Cmd), after: showArr(wantCmd(s)) })
    const rp = h.RestartPolicy?.Name || 'no'
    if (rp !== restart) out.push({ what: 'restart', before: rp, after: restart })
    if (s.image) {
      const have = envMap(c.Config.Env)
      const want = wantEnv(s)
      // Newer dockerd add the default PATH to images without one: not a difference.
      if (want.PATH === undefined && have.PATH === DEFAULT_PATH) delete have.PATH
      if (!sameMap(have, want)) out.push({ what: 'env', before: showMap(have), after: showMap(want) })
    }
    if (s.image && !sameMap(c.Config.Labels ?? {}, wantLabels(s))) out.push({ what: 'labels', before: showMap(c.Config.Labels ?? {}), after: showMap(wantLabels(s)) })
    if (!!h.Init !== init) out.push({ what: 'init', before: String(!!h.Init), after: String(init) })
    if (!!h.Privileged !== !!a.privileged) out.push({ what: 'privileged', before: String(!!h.Privileged), after: String(!!a.privileged) })
    const caps = [...new Set((h.CapAdd ?? []).map(normCap))].sort()
    if (caps.join(',') !== wantCaps().join(',')) out.push({ what: 'capAdd', before: caps.join(',') || '(none)', after: wantCaps().join(',') || '(none)' })
    return out
  }

  const resource: Resource<ContainerState> = {
    module: 'container',
    name: `container ${a.name}${state === 'absent' ? ' absent' : ''}`,
    validate() {
      const p = parseArgs(CONTAINER_SPEC, a)
      if (p.state === 'absent') return
      if (p.ip !== undefined) {
        if (['bridge', 'host', 'none'].includes(network)) throw new ArgError('container.ip', `container.network set to a user-defined network (docker refuses a static IP on '${network}')`, a.ip)
      }
    },
    async read(ctx) {
      const parts = [inspectOrNull('container', a.name)]
      if (state !== 'absent') {
        const p = pull === 'always' && !ctx.check ? sh`docker pull --quiet ${a.image} >/dev/null || exit 5; ` : ''
        parts.push(sectionMark, p + inspectOrNull('image', a.image))
      }
      const r = await ctx.run(parts.join('\n'))
      if (r.code === 4) throw new TaskFailed(`docker does not answer on ${ctx.host.name}: ${r.stderr.trim().split('\n').pop()}`, { rc: r.code, stderr: r.stderr })
      if (r.code === 5) throw new TaskFailed(`pulling ${a.image} failed on ${ctx.host.name} (pull: 'always'): ${r.stderr.trim().split('\n').pop()}`, { rc: r.code, stderr: r.stderr })
      mustSucceed(r, `reading container ${a.name}`)
      const [ci, ii] = splitSections(r.stdout)
      let c = parse<ContainerInspect>(ci, `docker container inspect ${a.name}`)
      if (c && c.Name !== `/${a.name}`) c = null // inspect also matches an ID prefix
      return { c, image: ii === undefined ? null : parse<ImageInspect>(ii, `docker image inspect ${a.image}`) }
    },
    diff(s, ctx) {
      if (state === 'absent') return s.c ? [{ what: `remove container ${a.name}`, before: `${s.c.Config.Image}, ${s.c.State.Running ? 'running' : 'stopped'}`, after: '' }] : []
      if (!s.image && pull === 'never')
        throw new TaskFailed(`image ${a.image} is not on ${ctx.host.name} and container.pull is 'never': load it first (docker load / docker import) or allow pulling`)
      if (!s.c) return [{ what: `create container ${a.name}`, before: '', after: argv(runArgv().slice(2)) }]
      const d = differences(s)
      if (d.length) return [...d, { what: `recreate container ${a.name}`, before: s.c.State.Running ? 'running' : 'stopped', after: 'running' }]
      if (!s.c.State.Running) return [{ what: `start container ${a.name}`, before: s.c.State.Status ?? 'stopped', after: 'running' }]
      return []
    },
    undo(s, changes): Undo | null {
      if (!s.c) return { description: `remove container ${a.name} (it did not exist)`, script: sh`! docker container inspect ${a.name} >/dev/null 2>&1 || docker rm -f ${a.name} >/dev/null` }
      if (changes.length === 1 && changes[0].what.startsWith('start container')) return { description: `stop container ${a.name} (it was stopped)`, script: sh`docker stop ${a.name} >/dev/null` }
      return {
        description: `recreate container ${a.name} as it was (${s.c.Config.Image}, ${s.c.State.Running ? 'running' : 'stopped'})`,
        script: recreateScript(s.c),
      }
    },
    async apply(ctx, s, changes) {
      if (state === 'absent') {
        mustSucceed(await ctx.run(sh`docker rm -f ${a.name} >/dev/null`), `removing container ${a.name}`)
        return
      }
      const onlyStart = changes.length === 1 && changes[0].what.startsWith('start container')
      const act = onlyStart ? sh`docker start ${a.name} >/dev/null` : (s.c ? sh`docker rm -f ${a.name} >/dev/null && ` : '') + argv(runArgv()) + ' >/dev/null'
      const check = sh`docker inspect --format '{{.Id}} {{.State.Running}} {{.State.Status}} {{.State.ExitCode}}' ${a.name}`
      const r = mustSucceed(await ctx.run(`${act} && ${check}`), `${onlyStart ? 'starting' : s.c ? 'recreating' : 'creating'} container ${a.name}`)
      const [id, running, status, exit] = r.stdout.trim().split(' ')
      if (running !== 'true') {
        const logs = await ctx.run(sh`docker logs --tail 5 ${a.name} 2>&1`)
        return { failed: true, msg: `container ${a.name} is ${status} (exit code ${exit}) right after it started: ${logs.stdout.trim().split('\n').join(' / ')}`, data: { id } }
      }
      return { data: { id } }
    },
  }
  return task(resource)
}

function checkMap(variable: string, m: unknown, key: RegExp, expected: string): Record<string, string> {
  if (!m || typeof m !== 'object' || Array.isArray(m)) throw new ArgError(variable, expected, m)
  for (const [k, v] of Object.entries(m)) {
    if (!key.test(k)) throw new ArgError(`${variable}.${k}`, `a key matching ${key}`, k)
    if (typeof v !== 'string' || v.includes('\0')) throw new ArgError(`${variable}.${k}`, 'a string without NUL bytes', v)
  }
  return m as Record<string, string>
}

function parse<T>(text: string | undefined, what: string): T | null {
  try {
    return JSON.parse((text ?? '').trim() || 'null') as T | null
  } catch {
    throw new TaskFailed(`unexpected output from ${what}: ${(text ?? '').trim().slice(0, 200)}`)
  }
}
