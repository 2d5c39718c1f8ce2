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
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { sh } from '../net/shell.ts'
import { parseManagers } from './boot-config.ts'
import { bootExecScript, bootImage, bootInitPid, bootUnavailableReason, createBootHost, rebootBootHost, stopBootHost, type RebootOptions } from './boot.ts'
import { LabInputError, LabUnavailableError } from './errors.ts'
import { processStartTime, shLocal, shOk } from './exec.ts'
import { busyboxTarball, LAB_IMAGE } from './image.ts'
import { createHost } from './netnshost.ts'
import {
  claimSlot,
  createSwitch,
  defaultLabDir,
  inBatches,
  readState,
  releaseSlot,
  saveState,
  SLOTS_DIR,
  validatePrefix,
  writeInventoryFiles,
  type LabHost,
  type LabLan,
  type LabState,
} from './lan.ts'

export { LAB_IMAGE, LabInputError, LabUnavailableError, defaultLabDir, readState, validatePrefix }
export { NETWORK_MANAGERS, type NetworkManagerName } from './boot-config.ts'
export { lanOf, repoRoot, type LabHost, type LabLan, type LabState } from './lan.ts'
export { bootUnavailableReason, type RebootOptions } from './boot.ts'
export { overlayDirs } from './netnshost.ts'

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
  /** Hosts boot Debian 12 with systemd as PID 1 (systemd-nspawn) instead of a bare sshd. */
  boot?: boolean
  /** Booted hosts: network manager(s), comma-separated, repeated over the hosts (default networkd). */
  manager?: string
  /** The LAN's MTU (hosts' eth0, the switch ports; default 1500): 1280-9000, netns hosts only. */
  mtu?: number
  /** An IPv6 underlay next to IPv4: 2001:2:0:I::N/64 (RFC 5180 benchmarking prefix), netns hosts only. */
  ipv6?: boolean
  /**
   * Hosts on this many LANs (default 1), in contiguous blocks (4 hosts on 2: node1-2, node3-4). Each LAN
   * is its own /24, 198.18.J.0/24 for a slot J claimed like the lab's own, joined by the switch namespace
   * as their router (gateway .254 on each).
   */
  lans?: number
}

export interface Lab extends LabState {
  down(): Promise<void>
  /** Run a script inside a host's namespaces directly (not over SSH): for test snapshots and assertions. */
  exec(host: string | LabHost, script: string, input?: string): Promise<{ code: number; stdout: string; stderr: string }>
  /** Booted labs: reboot a host (clean, or a power cut with `hard`); resolves when it is back on SSH. */
  reboot(host: string | LabHost, opts?: RebootOptions): Promise<void>
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

export async function up(opts: UpOptions): Promise<Lab> {
  const prefix = opts.prefix ?? 'lab'
  validatePrefix(prefix)
  if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > 250) {
    throw new LabInputError(`--hosts: expected an integer from 1 to 250, got ${opts.hosts}`)
  }
  if (opts.manager !== undefined && !opts.boot) throw new LabInputError('--manager needs --boot (netns hosts have no network manager)')
  if (opts.mtu !== undefined && (!Number.isInteger(opts.mtu) || opts.mtu < 1280 || opts.mtu > 9000)) throw new LabInputError(`--mtu: expected an integer from 1280 to 9000, got ${opts.mtu}`)
  if (opts.boot && (opts.mtu !== undefined || opts.ipv6)) throw new LabInputError('--mtu and --ipv6 are for netns hosts (booted hosts take eth0 from their network manager)')
  const nLans = opts.lans ?? 1
  if (!Number.isInteger(nLans) || nLans < 1 || nLans > 8 || nLans > opts.hosts) throw new LabInputError(`--lans: expected an integer from 1 to 8 and at most --hosts (${opts.hosts}), got ${opts.lans}`)
  if (nLans > 1 && opts.ipv6) throw new LabInputError('--lans and --ipv6: the IPv6 underlay is one LAN only')
  const managers = opts.boot ? parseManagers(opts.manager, opts.hosts) : []
  const why = (await labUnavailableReason()) ?? (opts.boot ? await bootUnavailableReason() : null)
  if (why) throw new LabUnavailableError(why)
  const bootImageDir = opts.boot ? await bootImage() : undefined

  const labDir = resolve(opts.labDir ?? defaultLabDir())
  const dir = join(labDir, prefix)
  if (existsSync(`/run/netns/${prefix}-sw`) || existsSync(join(dir, 'state.json'))) {
    throw new Error(`a lab named ${prefix} already exists: npm run lab:down -- --prefix ${prefix}`)
  }
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const slot = await claimSlot(dir)
  const net = `198.18.${slot}`
  // Further LANs take further slots (same owner), so their /24s never meet another lab's.
  const lans: LabLan[] = [{ index: 1, slot, cidr: `${net}.0/24`, gateway: `${net}.254`, bridge: 'lan' }]
  try {
    for (let k = 2; k <= nLans; k++) {
      const j = await claimSlot(dir)
      lans.push({ index: k, slot: j, cidr: `198.18.${j}.0/24`, gateway: `198.18.${j}.254`, bridge: `lan${k}` })
    }
  } catch (e) {
    for (const l of lans) releaseSlot(l.slot, dir)
    throw e
  }
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
    boot: opts.boot || undefined,
    bootImage: bootImageDir,
    runTag: process.env.ORCH_TEST_RUN,
    ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}),
    ...(nLans > 1 ? { lans } : {}),
    ...(opts.ipv6 ? { lanCidr6: `${lan6(slot)}/64`, gateway6: `${lan6(slot)}fe` } : {}),
  }
  saveState(state)
  const lab = attach(state)
  try {
    await createSwitch(state)
    await shOk(sh`ssh-keygen -q -t ed25519 -N '' -C ${'orch-lab-' + prefix} -f ${state.keyPath}`, 'lab key')
    const image = state.docker ? await busyboxTarball(join(labDir, 'cache')) : ''
    // Host k on LAN floor(k * lans / hosts): contiguous blocks; its last octet stays k + 1 on every LAN.
    const lanOfHost = (k: number) => lans[Math.floor((k * nLans) / opts.hosts)]
    const hosts: LabHost[] = Array.from({ length: opts.hosts }, (_, k) => ({
      name: `node${k + 1}`,
      ns: `${prefix}-node${k + 1}`,
      address: lanOfHost(k).cidr.replace(/\.0\/24$/, `.${k + 1}`),
      ...(nLans > 1 ? { lan: lanOfHost(k).index } : {}),
      ...(opts.ipv6 ? { address6: `${lan6(slot)}${(k + 1).toString(16)}` } : {}),
      pid: 0,
      pidStart: 0,
      stateDir: join(dir, 'hosts', `node${k + 1}`),
      manager: managers[k],
    }))
    state.hosts = hosts
    const pubKey = readFileSync(`${state.keyPath}.pub`, 'utf8')
    const defaultConcurrency = state.boot ? 4 : state.docker ? 4 : 8
    await inBatches(hosts, opts.concurrency ?? defaultConcurrency, async (h) => {
      if (state.boot) await createBootHost(state, h, pubKey, image, () => saveState(state))
      else await createHost(state, h, pubKey, image)
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

/** The lab's IPv6 LAN prefix (its /64 inside 2001:2::/48, RFC 5180's benchmarking prefix), ending in '::'. */
export const lan6 = (slot: number): string => `2001:2:0:${slot.toString(16)}::`

/** The PID of the host's init (tini, PID 1 in its pid namespace), as seen from the root namespace. */
function hostInitPid(h: LabHost): number | null {
  if (h.manager) return bootInitPid(h)
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
      if (state.boot) return shLocal(bootExecScript(init, script), input)
      return shLocal(sh`exec nsenter -t ${init} --net --mount --uts --pid -- /bin/sh -c ${script}`, input)
    },
    reboot: async (host, opts) => {
      const h = typeof host === 'string' ? state.hosts.find((x) => x.name === host) : host
      if (!h) throw new LabInputError(`no lab host ${String(host)} in lab ${state.prefix}`)
      if (!state.boot) throw new LabInputError(`lab ${state.prefix} has no booted hosts (lab:up --boot): ${h.name} cannot reboot`)
      return rebootBootHost(state, h, opts)
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
    if (s?.boot) {
      await stopBootHost(h)
      continue
    }
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
  if (s) for (const j of s.lans?.map((l) => l.slot) ?? [s.slot]) releaseSlot(j, dir)
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
    const lansText = s.lans ? `LANs ${s.lans.map((l) => l.cidr).join(' ')} (routed), gateway ${s.gateway}` : `LAN ${s.lanCidr}, gateway ${s.gateway}`
    out.push(`lab ${s.prefix}: ${s.hosts.length} hosts, ${lansText}, inventory ${s.inventoryPath}`)
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
        running = ['systemd', 'sshd', 'dockerd', 'containerd', 'ovsdb-server', 'ovs-vswitchd', 'systemd-network', 'NetworkManager']
          .filter((n) => names.has(n))
      }
      const how = h.manager ? `${h.manager} ` : ''
      out.push(`  ${h.name.padEnd(8)} ${h.address.padEnd(15)} ${init ? 'up  ' : 'DOWN'} ${how}${running.join(' ')}`)
    }
  }
  return out.length ? out.join('\n') : 'no labs'
}
