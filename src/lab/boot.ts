/**
 * Booted lab hosts: Debian 12 with systemd as PID 1 under systemd-nspawn, one per network namespace on
 * the lab LAN (the switch, addressing and inventory are the netns lab's, src/lab/lan.ts).
 *
 *   supervisor (files/boot-host.sh, own cgroup) ── loop: fresh netns + veth ─ overlay mount ─ systemd-nspawn
 *                                                   └─ the host's systemd (PID 1) ── journald, sshd, ...
 *
 * Root filesystem: the shared image (scripts/boot-image.sh) as the overlay's read-only lower layer and a
 * persistent upper directory per host, so /etc and /var survive reboots and nothing else does.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { sh } from '../net/shell.ts'
import { bootConfig, labMac, type BootFile } from './boot-config.ts'
import { LabUnavailableError } from './errors.ts'
import { processStartTime, shLocal, shOk } from './exec.ts'
import { etcHosts, filesDir, lanOf, repoRoot, waitPort, type LabHost, type LabState } from './lan.ts'
import { LAB_IMAGE } from './image.ts'

const CGROUP_ROOTS = ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified']

/** Why booted hosts cannot run here, or null. */
export async function bootUnavailableReason(): Promise<string | null> {
  if ((await shLocal('command -v systemd-nspawn')).code !== 0) return 'systemd-nspawn is missing (apt-get install systemd-container)'
  for (const c of CGROUP_ROOTS) if (!existsSync(join(c, 'cgroup.procs'))) return `${c} is not mounted (booted hosts need the named systemd and unified cgroup hierarchies)`
  return null
}

/** The shared image directory, built by scripts/boot-image.sh on first use (minutes), then cached. */
export async function bootImage(): Promise<string> {
  const out = await new Promise<{ code: number; stdout: string }>((resolve, reject) => {
    const p = spawn(join(repoRoot, 'scripts', 'boot-image.sh'), [], { stdio: ['ignore', 'pipe', 'inherit'] })
    let stdout = ''
    p.stdout.on('data', (d) => (stdout += d))
    p.on('error', reject)
    p.on('close', (code) => resolve({ code: code ?? 1, stdout }))
  })
  const dir = out.stdout.trim().split('\n').pop() ?? ''
  if (out.code !== 0 || !existsSync(join(dir, '.orch-image'))) throw new LabUnavailableError(`scripts/boot-image.sh failed (exit ${out.code})`)
  return dir
}

const hostCgroup = (h: LabHost) => `orch-lab/${h.ns}`

/** Write the host's own files into its upper directory before its first boot, enable its units. */
export async function prepareBootHost(s: LabState, h: LabHost, pubKey: string, etcHosts: string): Promise<void> {
  const st = h.stateDir
  const lan = lanOf(s, h)
  for (const d of ['upper', 'work', 'root', 'docker']) mkdirSync(join(st, d), { recursive: true })
  const cfg = bootConfig({ name: h.name, cidr: `${h.address}/24`, gateway: lan.gateway, manager: h.manager!, docker: s.docker, ovs: s.ovs })
  const files: BootFile[] = [
    ...cfg.files,
    { path: '/etc/hosts', mode: 0o644, content: etcHosts },
    // DNS goes to the lab gateway, where nothing answers: lookups fail fast and never leave the lab.
    { path: '/etc/resolv.conf', mode: 0o644, content: `nameserver ${lan.gateway}\noptions timeout:1 attempts:1\n` },
    { path: '/root/.ssh/authorized_keys', mode: 0o600, content: pubKey },
  ]
  const m = join(st, 'root')
  const writes = files.map((f) => {
    const p = m + f.path
    return sh`mkdir -p "$(dirname ${p})"; rm -f ${p}; echo ${Buffer.from(f.content).toString('base64')} | base64 -d > ${p}; chmod ${f.mode.toString(8)} ${p}`
  })
  await shOk(
    sh`unshare --mount --propagation private /bin/sh -ec ${`set -e
      ${sh`mount -t overlay overlay -o ${`lowerdir=${s.bootImage},upperdir=${st}/upper,workdir=${st}/work`} ${m}`}
      ${writes.join('\n')}
      chmod 700 ${sh`${m}/root/.ssh`}
      ${sh`systemctl --root=${m} --quiet enable ${cfg.enable}`}
      ${sh`ssh-keygen -q -t ed25519 -N '' -C ${h.name} -f ${m + '/etc/ssh/ssh_host_ed25519_key'}`}
      ${sh`umount ${m}`}`}`,
    `preparing booted host ${h.name}`,
  )
}

/** Start the host's supervisor (which boots it); returns at once. */
export function startBootHost(s: LabState, h: LabHost): void {
  const env = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LAB_STATE: h.stateDir,
    LAB_IMAGE_DIR: s.bootImage!,
    LAB_NS: h.ns,
    LAB_SWITCH: s.switchNs,
    LAB_PEER: `v${h.name.slice(4)}`,
    LAB_BRIDGE: lanOf(s, h).bridge,
    LAB_MAC: labMac(s.slot, Number(h.name.slice(4))),
    LAB_CGROUP: hostCgroup(h),
    LAB_OVS: s.ovs ? '1' : '0',
    // Docker cannot run containers with nspawn's default hybrid layout (v1 controllers read-only inside).
    SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1',
    // Tasks write /proc/sys/net (ip_forward, bridge settings) as on a real host.
    SYSTEMD_NSPAWN_API_VFS_WRITABLE: 'network',
  }
  const child = spawn('/bin/sh', [join(filesDir, 'boot-host.sh')], { detached: true, stdio: 'ignore', env })
  child.unref()
  h.pid = child.pid!
  h.pidStart = processStartTime(h.pid) ?? 0
}

function children(pid: number): number[] {
  const out: number[] = []
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      const c = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim()
      if (c) out.push(...c.split(/\s+/).map(Number))
    }
  } catch {
    /* gone */
  }
  return out
}

function descendants(pid: number): number[] {
  const all: number[] = []
  const queue = [pid]
  while (queue.length) for (const c of children(queue.shift()!)) all.push(c), queue.push(c)
  return all
}

/** The host's systemd (PID 1 in its pid namespace) as seen from here, or null while it is not booted. */
export function bootInitPid(h: LabHost): number | null {
  if (!(h.pid > 0 && processStartTime(h.pid) === h.pidStart)) return null
  for (const p of descendants(h.pid)) {
    try {
      const ns = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1].trim().split(/\s+/)
      if (ns && ns.length > 1 && ns[ns.length - 1] === '1') return p
    } catch {
      /* exited */
    }
  }
  return null
}

export function bootExecScript(init: number, script: string): string {
  return sh`exec nsenter -t ${init} --net --mount --uts --ipc --pid --cgroup -- /bin/sh -c ${script}`
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * Wait until the host's systemd (a PID 1 other than `notPid`) has finished booting and sshd answers.
 * Throws naming the host, what it waited for, and the failed units.
 */
export async function waitBooted(s: LabState, h: LabHost, timeoutMs: number, notPid = 0): Promise<string> {
  const deadline = Date.now() + timeoutMs
  let init: number | null = null
  while (!(init = bootInitPid(h)) || init === notPid) {
    if (processStartTime(h.pid) !== h.pidStart) throw new Error(`booted host ${h.name}: its supervisor ended (see ${h.stateDir}/supervisor.log and console.log)`)
    if (Date.now() > deadline) throw new Error(`booted host ${h.name}: systemd did not start in ${timeoutMs} ms (see ${h.stateDir}/console.log)`)
    await sleep(50)
  }
  let state = ''
  let r = { code: 0, stdout: '', stderr: '' }
  // "offline" while systemd's private socket is not there yet: ask again.
  do {
    if (state) await sleep(100)
    const left = Math.max(1, Math.ceil((deadline - Date.now()) / 1000))
    r = await shLocal(bootExecScript(init, sh`timeout ${left} systemctl is-system-running --wait`))
    state = r.stdout.trim().split('\n').pop() ?? ''
  } while ((state === 'offline' || state === '') && Date.now() < deadline && bootInitPid(h) === init)
  if (state !== 'running') {
    const failed = await shLocal(bootExecScript(init, 'systemctl --failed --no-legend --plain | cut -d" " -f1 | tr "\\n" " "'))
    throw new Error(`booted host ${h.name}: systemctl is-system-running says ${JSON.stringify(state || r.stderr.trim())} after boot; failed units: ${failed.stdout.trim() || 'none'} (see ${h.stateDir}/console.log)`)
  }
  await waitPort(h.address, 22, Math.max(1000, deadline - Date.now()))
  return state
}

/** Import the lab's busybox image into the host's dockerd (docker.service is up once the host runs). */
export async function importBusybox(h: LabHost, tarball: string): Promise<void> {
  const init = bootInitPid(h)
  if (!init) throw new Error(`booted host ${h.name} is not running`)
  const script = bootExecScript(init, sh`docker image inspect ${LAB_IMAGE} >/dev/null 2>&1 || docker import --change 'CMD ["sh"]' - ${LAB_IMAGE} >/dev/null`)
  await shOk(`${script} < ${sh`${tarball}`}`, `importing ${LAB_IMAGE} into ${h.name}`)
}

export interface RebootOptions {
  /** Power cut: SIGKILL the host's PID 1 instead of a clean poweroff. */
  hard?: boolean
  /** How long the host may take to be back (default 120 s). */
  timeoutMs?: number
}

/**
 * Reboot a booted host: a clean poweroff (systemd stops every unit) or a power cut (SIGKILL of its PID 1),
 * then a boot on a fresh network namespace. Returns once systemd reports running and sshd answers.
 */
export async function rebootBootHost(s: LabState, h: LabHost, opts: RebootOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 120_000
  const init = bootInitPid(h)
  if (!init) throw new Error(`booted host ${h.name} is not running (see ${h.stateDir}/supervisor.log)`)
  writeFileSync(join(h.stateDir, 'restart'), opts.hard ? 'hard\n' : 'clean\n')
  // SIGRTMIN+4 is systemd's "poweroff" request; SIGKILL of PID 1 ends its whole pid namespace at once.
  const sig = opts.hard ? 'KILL' : 'RTMIN+4'
  await shOk(sh`kill -s ${sig} ${init}`, `signalling ${h.name}'s PID 1`)
  try {
    await waitBooted(s, h, timeoutMs, init)
  } catch (e) {
    throw new Error(`reboot${opts.hard ? ' --hard' : ''} of ${h.name}: ${(e as Error).message}`)
  }
}

/** Stop a booted host for good: its supervisor, its systemd, and then its cgroups. */
export async function stopBootHost(h: LabHost): Promise<void> {
  if (h.pid > 0 && processStartTime(h.pid) === h.pidStart) {
    const procs = descendants(h.pid)
    const init = bootInitPid(h)
    for (const p of [h.pid, ...(init ? [init] : []), ...procs]) {
      try {
        process.kill(p, 'SIGKILL')
      } catch {
        /* gone */
      }
    }
    // The supervisor too: a killed process stays in /proc until its parent reaps it (late on a loaded machine).
    const all = [h.pid, ...procs]
    for (let i = 0; i < 400 && all.some((p) => existsSync(`/proc/${p}`)); i++) await sleep(25)
  }
  for (const root of CGROUP_ROOTS) removeCgroup(join(root, hostCgroup(h)))
}

function removeCgroup(dir: string): void {
  if (!existsSync(dir)) return
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroup(join(dir, e.name))
  try {
    rmdirSync(dir)
  } catch {
    /* still has processes: reported by lab:status */
  }
}

/** Prepare, boot and wait for one booted host; with `busybox`, import the lab image into its dockerd. */
export async function createBootHost(s: LabState, h: LabHost, pubKey: string, busybox: string, saved: () => void): Promise<void> {
  await prepareBootHost(s, h, pubKey, etcHosts(s, h))
  startBootHost(s, h)
  saved()
  await waitBooted(s, h, 180_000)
  if (s.docker) await importBusybox(h, busybox)
}
