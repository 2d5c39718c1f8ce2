/**
 * The multi-host test lab: lightweight Linux hosts on one machine.
 *
 *   root namespace (controller)          <prefix>-sw namespace                 <prefix>-nodeN namespaces
 *   <prefix>-ctl 198.18.I.253/24  ─veth─ ctl ─┐
 *                198.19.I.1/32            lan bridge 198.18.I.254/24 ──── vN ─veth─ eth0 198.18.I.N/24
 *                                          (gateway; routes 198.19.I.0/24      default via .254
 *                                           back to the controller)            own sshd, dockerd, OVS
 *
 * I is the lab's slot (0-255), claimed atomically under /run/orch-lab so labs with different prefixes
 * get different subnets. The LAN bridge lives in its own namespace because the root namespace may have
 * FORWARD DROP with br_netfilter. The second controller address (198.19.I.1) is reachable from hosts
 * only through their default route, so a test can tell when a route migration broke the way back.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs'
import { createConnection } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sh } from '../net/shell.ts'
import { processStartTime, shLocal, shOk } from './exec.ts'
import { busyboxTarball, LAB_IMAGE } from './image.ts'

export { LAB_IMAGE }

const here = dirname(fileURLToPath(import.meta.url))
const filesDir = join(here, 'files')
export const repoRoot = resolve(here, '..', '..')
const SLOTS_DIR = '/run/orch-lab/slots'

export interface UpOptions {
  hosts: number
  docker?: boolean
  ovs?: boolean
  /** Lab name: lowercase letter then up to 7 letters/digits. Namespaces are <prefix>-sw, <prefix>-nodeN. */
  prefix?: string
  /** Where lab state lives; default <repo>/.lab (or $ORCH_LAB_DIR). */
  labDir?: string
  /** Hosts started at once. */
  concurrency?: number
}

export interface LabHost {
  /** Inventory name and hostname: node1, node2, ... */
  name: string
  /** Network namespace: <prefix>-nodeN */
  ns: string
  address: string
  /** PID (in the root namespace) of the unshare process holding the host's namespaces. */
  pid: number
  pidStart: number
  stateDir: string
}

export interface LabState {
  prefix: string
  slot: number
  dir: string
  lanCidr: string
  gateway: string
  controllerIp: string
  /** Reached from hosts only through their default route. */
  controllerIp2: string
  switchNs: string
  controllerVeth: string
  docker: boolean
  ovs: boolean
  image: string
  inventoryPath: string
  knownHostsPath: string
  keyPath: string
  hosts: LabHost[]
  /** The test run that made this lab ($ORCH_TEST_RUN), so the run's teardown can sweep it. */
  runTag?: string
}

export interface Lab extends LabState {
  down(): Promise<void>
  /** Run a script inside a host's namespaces directly (not over SSH): for test snapshots and assertions. */
  exec(host: string | LabHost, script: string, input?: string): Promise<{ code: number; stdout: string; stderr: string }>
}

export class LabUnavailableError extends Error {
  name = 'LabUnavailableError'
}

export function defaultLabDir(): string {
  return process.env.ORCH_LAB_DIR ?? join(repoRoot, '.lab')
}

export function validatePrefix(prefix: string): void {
  if (!/^[a-z][a-z0-9]{0,7}$/.test(prefix)) {
    throw new Error(`lab prefix ${JSON.stringify(prefix)}: expected a lowercase letter then up to 7 letters or digits`)
  }
}

/** Why the lab cannot run here, or null. Checked before anything is created. */
export async function labUnavailableReason(): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'the lab needs root (network, mount and pid namespaces)'
  const probe = await shLocal('unshare --net --mount --pid --fork true')
  if (probe.code !== 0) return `this machine does not allow namespaces: ${probe.stderr.trim()}`
  const missing: string[] = []
  for (const bin of ['ip', 'nsenter', 'unshare', 'tini', 'sshd', 'ssh-keygen']) {
    if ((await shLocal(sh`command -v ${bin}`)).code !== 0) missing.push(bin)
  }
  if (missing.length) return `missing commands: ${missing.join(', ')} (run scripts/install-deps.sh)`
  return null
}

async function claimSlot(owner: string): Promise<number> {
  mkdirSync(SLOTS_DIR, { recursive: true })
  for (let i = 0; i < 256; i++) {
    const dir = join(SLOTS_DIR, String(i))
    try {
      mkdirSync(dir)
      writeFileSync(join(dir, 'owner'), owner)
      return i
    } catch {
      // Taken: reclaim it only if its lab is gone (state file and switch namespace both missing).
      let prev = ''
      try {
        prev = readFileSync(join(dir, 'owner'), 'utf8')
      } catch {
        continue
      }
      const prevPrefix = prev.split('/').pop() ?? ''
      if (!existsSync(join(prev, 'state.json')) && !existsSync(`/run/netns/${prevPrefix}-sw`)) {
        rmSync(dir, { recursive: true, force: true })
        i--
      }
    }
  }
  throw new Error('no free lab slot (256 labs exist?): run npm run lab:status')
}

function releaseSlot(slot: number, owner: string): void {
  const dir = join(SLOTS_DIR, String(slot))
  try {
    if (readFileSync(join(dir, 'owner'), 'utf8') === owner) rmSync(dir, { recursive: true, force: true })
  } catch {
    /* already gone */
  }
}

function saveState(s: LabState): void {
  writeFileSync(join(s.dir, 'state.json'), JSON.stringify(s, null, 2))
}

export function readState(prefix: string, labDir = defaultLabDir()): LabState | null {
  try {
    return JSON.parse(readFileSync(join(labDir, prefix, 'state.json'), 'utf8')) as LabState
  } catch {
    return null
  }
}

async function waitPort(address: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>((res) => {
      const s = createConnection({ host: address, port, timeout: 1000 })
      s.once('connect', () => (s.destroy(), res(true)))
      s.once('error', () => res(false))
      s.once('timeout', () => (s.destroy(), res(false)))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`sshd on ${address}:${port} did not answer`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function waitReady(stateDir: string, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (existsSync(join(stateDir, 'ready'))) return
    if (existsSync(join(stateDir, 'failed'))) {
      const why = readFileSync(join(stateDir, 'failed'), 'utf8').trim()
      let log = ''
      try {
        log = readFileSync(join(stateDir, 'init.log'), 'utf8').split('\n').slice(-8).join('\n')
      } catch {
        /* no log */
      }
      throw new Error(`lab host ${name}: ${why}\n${log}`)
    }
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`lab host ${name} did not become ready in ${timeoutMs} ms (see ${stateDir}/init.log)`)
}

/** Run fn over items with at most `n` at once. */
async function inBatches<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0
  const errors: unknown[] = []
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next++]
        try {
          await fn(item)
        } catch (e) {
          errors.push(e)
        }
      }
    }),
  )
  if (errors.length) throw errors[0]
}

export async function up(opts: UpOptions): Promise<Lab> {
  const prefix = opts.prefix ?? 'lab'
  validatePrefix(prefix)
  if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > 250) {
    throw new Error(`--hosts: expected an integer from 1 to 250, got ${opts.hosts}`)
  }
  const why = await labUnavailableReason()
  if (why) throw new LabUnavailableError(why)

  const labDir = resolve(opts.labDir ?? defaultLabDir())
  const dir = join(labDir, prefix)
  if (existsSync(`/run/netns/${prefix}-sw`) || existsSync(join(dir, 'state.json'))) {
    throw new Error(`a lab named ${prefix} already exists: npm run lab:down -- --prefix ${prefix}`)
  }
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const slot = await claimSlot(dir)
  const net = `198.18.${slot}`
  const state: LabState = {
    prefix,
    slot,
    dir,
    lanCidr: `${net}.0/24`,
    gateway: `${net}.254`,
    controllerIp: `${net}.253`,
    controllerIp2: `198.19.${slot}.1`,
    switchNs: `${prefix}-sw`,
    controllerVeth: `${prefix}-ctl`,
    docker: !!opts.docker,
    ovs: !!opts.ovs,
    image: LAB_IMAGE,
    inventoryPath: join(dir, 'inventory.ini'),
    knownHostsPath: join(dir, 'known_hosts'),
    keyPath: join(dir, 'id_ed25519'),
    hosts: [],
    runTag: process.env.ORCH_TEST_RUN,
  }
  saveState(state)
  const lab = attach(state)
  try {
    await createSwitch(state)
    await shOk(sh`ssh-keygen -q -t ed25519 -N '' -C ${'orch-lab-' + prefix} -f ${state.keyPath}`, 'lab key')
    const image = state.docker ? await busyboxTarball(join(labDir, 'cache')) : ''
    const hosts: LabHost[] = Array.from({ length: opts.hosts }, (_, k) => ({
      name: `node${k + 1}`,
      ns: `${prefix}-node${k + 1}`,
      address: `${net}.${k + 1}`,
      pid: 0,
      pidStart: 0,
      stateDir: join(dir, 'hosts', `node${k + 1}`),
    }))
    state.hosts = hosts
    const pubKey = readFileSync(`${state.keyPath}.pub`, 'utf8')
    const defaultConcurrency = state.docker ? 4 : 8
    await inBatches(hosts, opts.concurrency ?? defaultConcurrency, async (h) => {
      await createHost(state, h, pubKey, image)
      saveState(state)
    })
    saveState(state)
    writeInventoryFiles(state)
    return lab
  } catch (e) {
    await lab.down().catch(() => {})
    throw e
  }
}

async function createSwitch(s: LabState): Promise<void> {
  await shOk(
    sh`set -e
      ip netns add ${s.switchNs}
      ip -n ${s.switchNs} link set lo up
      ip -n ${s.switchNs} link add lan type bridge stp_state 0 forward_delay 0
      ip -n ${s.switchNs} addr add ${s.gateway + '/24'} dev lan
      ip -n ${s.switchNs} link set lan up
      ip link add ${s.controllerVeth} type veth peer name ctl netns ${s.switchNs}
      ip -n ${s.switchNs} link set ctl master lan up
      ip addr add ${s.controllerIp + '/24'} dev ${s.controllerVeth}
      ip addr add ${s.controllerIp2 + '/32'} dev ${s.controllerVeth}
      ip link set ${s.controllerVeth} up
      nsenter --net=/run/netns/${s.switchNs} sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
      ip -n ${s.switchNs} route add ${s.controllerIp2.replace(/\.1$/, '.0/24')} via ${s.controllerIp}`,
    'creating the lab switch',
  )
}

async function createHost(s: LabState, h: LabHost, pubKey: string, image: string): Promise<void> {
  const st = h.stateDir
  for (const d of ['etc.upper/ssh', 'root/.ssh', 'var.upper', 'docker']) mkdirSync(join(st, d), { recursive: true })
  writeFileSync(join(st, 'etc.upper/hostname'), `${h.name}\n`)
  const peers = s.hosts.map((p) => `${p.address}\t${p.name}`).join('\n')
  writeFileSync(join(st, 'etc.upper/hosts'), `127.0.0.1\tlocalhost\n127.0.1.1\t${h.name}\n::1\tlocalhost ip6-localhost\n${peers}\n`)
  // DNS goes to the lab gateway, where nothing answers: lookups fail fast and never leave the lab.
  writeFileSync(join(st, 'etc.upper/resolv.conf'), `nameserver ${s.gateway}\noptions timeout:1 attempts:1\n`)
  writeFileSync(join(st, 'etc.upper/ssh/sshd_config'), sshdConfig())
  writeFileSync(join(st, 'root/.ssh/authorized_keys'), pubKey)
  chmodSync(join(st, 'root/.ssh'), 0o700)
  chmodSync(join(st, 'root'), 0o700)
  await shOk(sh`ssh-keygen -q -t ed25519 -N '' -C ${h.name} -f ${join(st, 'etc.upper/ssh/ssh_host_ed25519_key')}`, 'host key')

  // The host's eth0 is created inside its namespace; its peer goes straight into the switch namespace,
  // so the root namespace never sees these names (no collisions between labs).
  const peer = `v${h.name.slice(4)}`
  await shOk(
    sh`set -e
      ip netns add ${h.ns}
      ip link add eth0 netns ${h.ns} type veth peer name ${peer} netns ${s.switchNs}
      ip -n ${s.switchNs} link set ${peer} master lan up
      ip -n ${h.ns} link set lo up
      ip -n ${h.ns} addr add ${h.address + '/24'} dev eth0
      ip -n ${h.ns} link set eth0 up
      ip -n ${h.ns} route add default via ${s.gateway}
      nsenter --net=/run/netns/${h.ns} sh -c 'echo 0 > /proc/sys/net/ipv4/ip_forward'`,
    `creating lab host ${h.name}`,
  )
  if (s.ovs) {
    // OVS userspace datapath drops GSO/TSO super-frames as "too big": segment them on the switch side.
    await shOk(sh`nsenter --net=/run/netns/${s.switchNs} ethtool -K ${peer} tso off gso off >/dev/null`, 'ethtool')
  }

  const env = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LAB_STATE: st,
    LAB_NAME: h.name,
    LAB_BIN: filesDir + '/bin',
    LAB_DOCKER: s.docker ? '1' : '0',
    LAB_OVS: s.ovs ? '1' : '0',
    LAB_IMAGE: image,
    LAB_OVERLAYS: overlayDirs(s.dir).join(' '),
    HOME: '/root',
  }
  const child = spawn(
    'nsenter',
    [
      `--net=/run/netns/${h.ns}`,
      '--',
      'unshare',
      '--mount',
      '--uts',
      '--pid',
      '--fork',
      '--kill-child',
      '--mount-proc',
      '--propagation',
      'private',
      'tini',
      '-s',
      '--',
      '/bin/sh',
      join(filesDir, 'host-init.sh'),
    ],
    { detached: true, stdio: 'ignore', env },
  )
  child.unref()
  h.pid = child.pid!
  h.pidStart = processStartTime(h.pid) ?? 0
  saveState(s)
  await waitReady(st, h.name, s.docker ? 60_000 : 20_000)
  await waitPort(h.address, 22, 10_000)
}

/**
 * Top-level directories each host sees copy-on-write. Not '/': /work (or wherever the repo lives) stays
 * shared so hosts reach the lab's own files; a directory holding the lab's state can't be overlaid on
 * itself and is skipped (/tmp, /run, /root are private mounts of their own).
 */
export function overlayDirs(labStateDir: string): string[] {
  return ['etc', 'var', 'usr', 'opt', 'srv', 'home', 'mnt', 'media'].filter(
    (d) => existsSync(`/${d}`) && !(labStateDir + '/').startsWith(`/${d}/`),
  )
}

function sshdConfig(): string {
  return `# orch lab host sshd
Port 22
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile .ssh/authorized_keys
UsePAM no
UseDNS no
PrintMotd no
PidFile /run/sshd.pid
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
`
}

function writeInventoryFiles(s: LabState): void {
  const keys = s.hosts.map((h) => {
    const pub = readFileSync(join(h.stateDir, 'etc.upper/ssh/ssh_host_ed25519_key.pub'), 'utf8').trim().split(' ')
    return `${h.address} ${pub[0]} ${pub[1]}`
  })
  writeFileSync(s.knownHostsPath, keys.join('\n') + '\n')
  chmodSync(s.keyPath, 0o600)
  const lines = [
    `# orch lab "${s.prefix}": ${s.hosts.length} hosts on ${s.lanCidr}, gateway ${s.gateway}.`,
    `# Written by npm run lab:up; removed by npm run lab:down -- --prefix ${s.prefix}.`,
    '[lab]',
    ...s.hosts.map((h) => `${h.name} ansible_host=${h.address}`),
    '',
  ]
  if (s.docker) lines.push('[docker_hosts:children]', 'lab', '')
  if (s.ovs) lines.push('[ovs_hosts:children]', 'lab', '')
  lines.push(
    '[all:vars]',
    'ansible_user=root',
    `ansible_ssh_private_key_file=${s.keyPath}`,
    `ansible_ssh_common_args='-o UserKnownHostsFile=${s.knownHostsPath} -o StrictHostKeyChecking=yes'`,
    'ansible_python_interpreter=/usr/bin/python3',
    `lab_gateway=${s.gateway}`,
    `lab_lan_cidr=${s.lanCidr}`,
    `lab_controller_ip=${s.controllerIp}`,
    `lab_controller_ip2=${s.controllerIp2}`,
    `container_image=${s.image}`,
    '',
  )
  writeFileSync(s.inventoryPath, lines.join('\n'))
}

/** The PID of the host's init (tini, PID 1 in its pid namespace), as seen from the root namespace. */
function hostInitPid(h: LabHost): number | null {
  try {
    const kids = readFileSync(`/proc/${h.pid}/task/${h.pid}/children`, 'utf8').trim().split(/\s+/)
    return kids[0] ? Number(kids[0]) : null
  } catch {
    return null
  }
}

function ours(h: LabHost): boolean {
  return h.pid > 0 && processStartTime(h.pid) === h.pidStart
}

function attach(state: LabState): Lab {
  return {
    ...state,
    get hosts() {
      return state.hosts
    },
    down: () => down(state.prefix, state.dir.slice(0, -state.prefix.length - 1)),
    exec: (host, script, input) => {
      const h = typeof host === 'string' ? state.hosts.find((x) => x.name === host) : host
      if (!h) throw new Error(`no lab host ${String(host)}`)
      const init = ours(h) ? hostInitPid(h) : null
      if (!init) throw new Error(`lab host ${h.name} is not running`)
      return shLocal(sh`exec nsenter -t ${init} --net --mount --uts --pid -- /bin/sh -c ${script}`, input)
    },
  }
}

/** Reattach to a running lab (e.g. one started by `npm run lab:up`). */
export function open(prefix = 'lab', labDir = defaultLabDir()): Lab {
  const s = readState(prefix, labDir)
  if (!s) throw new Error(`no lab named ${prefix} under ${labDir}: npm run lab:up -- --prefix ${prefix}`)
  return attach(s)
}

/**
 * Remove everything a lab created: its processes (by recorded PID and start time, so a reused PID is
 * never hit), namespaces, the controller veth, state files and its slot. Works on a half-built or
 * crashed lab: namespaces named <prefix>-* are found even when the state file is missing.
 */
export async function down(prefix = 'lab', labDir = defaultLabDir()): Promise<void> {
  validatePrefix(prefix)
  const dir = join(resolve(labDir), prefix)
  const s = readState(prefix, labDir)
  for (const h of s?.hosts ?? []) {
    if (!ours(h)) continue
    // SIGKILL the pid namespace's init: the kernel ends every process of the host with it.
    const init = hostInitPid(h)
    if (init) process.kill(init, 'SIGKILL')
    try {
      process.kill(h.pid, 'SIGKILL')
    } catch {
      /* gone */
    }
  }
  const nsList = (await shLocal('ip netns list')).stdout
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n.startsWith(`${prefix}-`) && (n === `${prefix}-sw` || /^node\d+$/.test(n.slice(prefix.length + 1))))
  for (const ns of nsList) {
    // Processes left in a namespace of this lab (a crashed run without a state file) are ours too.
    const pids = (await shLocal(sh`ip netns pids ${ns}`)).stdout.split(/\s+/).filter(Boolean)
    for (const p of pids) {
      try {
        process.kill(Number(p), 'SIGKILL')
      } catch {
        /* gone */
      }
    }
  }
  for (const h of s?.hosts ?? []) {
    for (let i = 0; i < 100 && processStartTime(h.pid) === h.pidStart; i++) await new Promise((r) => setTimeout(r, 20))
  }
  for (const ns of nsList) await shLocal(sh`ip netns del ${ns}`)
  await shLocal(sh`ip link del ${`${prefix}-ctl`} 2>/dev/null`)
  if (s) releaseSlot(s.slot, dir)
  else {
    // Without a state file, find our slot by owner.
    for (const e of existsSync(SLOTS_DIR) ? readdirSync(SLOTS_DIR) : []) {
      try {
        if (readFileSync(join(SLOTS_DIR, e, 'owner'), 'utf8') === dir) rmSync(join(SLOTS_DIR, e), { recursive: true })
      } catch {
        /* not ours */
      }
    }
  }
  rmSync(dir, { recursive: true, force: true })
}

/** Labs under labDir, with what runs in each host. */
export async function status(labDir = defaultLabDir()): Promise<string> {
  if (!existsSync(labDir)) return 'no labs'
  const out: string[] = []
  for (const prefix of readdirSync(labDir)) {
    const s = readState(prefix, labDir)
    if (!s) continue
    out.push(`lab ${s.prefix}: ${s.hosts.length} hosts, LAN ${s.lanCidr}, gateway ${s.gateway}, inventory ${s.inventoryPath}`)
    for (const h of s.hosts) {
      const init = ours(h) ? hostInitPid(h) : null
      let running: string[] = []
      if (init) {
        const pids = (await shLocal(sh`ip netns pids ${h.ns}`)).stdout.split(/\s+/).filter(Boolean)
        const names = new Set<string>()
        for (const p of pids) {
          try {
            names.add(readFileSync(`/proc/${p}/comm`, 'utf8').trim())
          } catch {
            /* exited */
          }
        }
        running = ['sshd', 'dockerd', 'containerd', 'ovsdb-server', 'ovs-vswitchd'].filter((n) => names.has(n))
      }
      out.push(`  ${h.name.padEnd(8)} ${h.address.padEnd(15)} ${init ? 'up  ' : 'DOWN'} ${running.join(' ')}`)
    }
  }
  return out.length ? out.join('\n') : 'no labs'
}
