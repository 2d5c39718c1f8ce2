/**
 * What every lab shares, netns hosts and booted hosts alike: the state file, the slot (the lab's
 * subnet), the LAN switch namespace, the inventory with its key and known_hosts.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sh } from '../net/shell.ts'
import { shOk } from './exec.ts'
import type { NetworkManagerName } from './boot-config.ts'

const here = dirname(fileURLToPath(import.meta.url))
export const filesDir = join(here, 'files')
export const repoRoot = resolve(here, '..', '..')
export const SLOTS_DIR = '/run/orch-lab/slots'

export interface LabHost {
  /** Inventory name and hostname: node1, node2, ... */
  name: string
  /** Network namespace: <prefix>-nodeN */
  ns: string
  address: string
  /** With an IPv6 underlay (lab ipv6): 2001:2:0:I::N. */
  address6?: string
  /** PID (in the root namespace) of the unshare process holding the host's namespaces. */
  pid: number
  pidStart: number
  stateDir: string
  /** Booted hosts only: the network manager that configures eth0 from its own files. */
  manager?: NetworkManagerName
  /** Multi-LAN labs (lab lans): the host's LAN, 1-based (LAN 1 when absent). */
  lan?: number
}

/** One LAN of a multi-LAN lab: its own /24 (its own slot), a bridge in the switch namespace, its gateway. */
export interface LabLan {
  /** 1-based. */
  index: number
  slot: number
  cidr: string
  gateway: string
  /** The bridge in the switch namespace: lan (LAN 1), lan2, lan3, ... */
  bridge: string
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
  /** Hosts boot systemd under systemd-nspawn (src/lab/boot.ts) instead of the netns lab's tini + sshd. */
  boot?: boolean
  /** Booted labs: the shared root filesystem image (the overlay's lower layer). */
  bootImage?: string
  /** The LAN's MTU when not 1500 (lab mtu). */
  mtu?: number
  /** IPv6 underlay (lab ipv6): the LAN 2001:2:0:I::/64 and the switch's address on it (no router: no RA). */
  lanCidr6?: string
  gateway6?: string
  /**
   * Multi-LAN labs (lab lans > 1): every LAN, LAN 1 first (= lanCidr, gateway). The switch namespace
   * routes between them (it is every LAN's gateway); the controller reaches the others through it.
   */
  lans?: LabLan[]
  /** The test run that made this lab ($ORCH_TEST_RUN), so the run's teardown can sweep it. */
  runTag?: string
}

export function defaultLabDir(): string {
  return process.env.ORCH_LAB_DIR ?? join(repoRoot, '.lab')
}

export function validatePrefix(prefix: string): void {
  if (!/^[a-z][a-z0-9]{0,7}$/.test(prefix)) {
    throw new Error(`lab prefix ${JSON.stringify(prefix)}: expected a lowercase letter then up to 7 letters or digits`)
  }
}

export async function claimSlot(owner: string): Promise<number> {
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
      // One lab claims one slot per LAN before its state file exists: never reclaim our own.
      if (prev === owner) continue
      const prevPrefix = prev.split('/').pop() ?? ''
      if (!existsSync(join(prev, 'state.json')) && !existsSync(`/run/netns/${prevPrefix}-sw`)) {
        rmSync(dir, { recursive: true, force: true })
        i--
      }
    }
  }
  throw new Error('no free lab slot (256 labs exist?): run npm run lab:status')
}

export function releaseSlot(slot: number, owner: string): void {
  const dir = join(SLOTS_DIR, String(slot))
  try {
    if (readFileSync(join(dir, 'owner'), 'utf8') === owner) rmSync(dir, { recursive: true, force: true })
  } catch {
    /* already gone */
  }
}

export function saveState(s: LabState): void {
  writeFileSync(join(s.dir, 'state.json'), JSON.stringify(s, null, 2))
}

export function readState(prefix: string, labDir = defaultLabDir()): LabState | null {
  try {
    return JSON.parse(readFileSync(join(labDir, prefix, 'state.json'), 'utf8')) as LabState
  } catch {
    return null
  }
}

export async function waitPort(address: string, port: number, timeoutMs: number): Promise<void> {
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

/** Run fn over items with at most `n` at once. */
export async function inBatches<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
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

export async function createSwitch(s: LabState): Promise<void> {
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
  // Every port of the LAN at the lab's MTU (a bridge drops frames bigger than the port they leave by).
  if (s.mtu) await shOk(sh`ip -n ${s.switchNs} link set ctl mtu ${s.mtu} && ip link set ${s.controllerVeth} mtu ${s.mtu} && ip -n ${s.switchNs} link set lan mtu ${s.mtu}`, 'lab switch mtu')
  // Further LANs: a bridge each in the same namespace, which routes between them (a router with one leg
  // per LAN). The controller reaches them through LAN 1's gateway, so its traffic crosses the router too.
  for (const l of (s.lans ?? []).slice(1)) {
    await shOk(
      sh`set -e
        ip -n ${s.switchNs} link add ${l.bridge} type bridge stp_state 0 forward_delay 0
        ip -n ${s.switchNs} addr add ${l.gateway + '/24'} dev ${l.bridge}
        ip -n ${s.switchNs} link set ${l.bridge} up
        ip route add ${l.cidr} via ${s.gateway} dev ${s.controllerVeth}`,
      `creating lab LAN ${l.index}`,
    )
    if (s.mtu) await shOk(sh`ip -n ${s.switchNs} link set ${l.bridge} mtu ${s.mtu}`, 'lab LAN mtu')
  }
  // The switch's IPv6 address (the hosts' default gateway, answering ping; nothing is routed further).
  if (s.gateway6) await shOk(sh`ip -n ${s.switchNs} -6 addr add ${s.gateway6 + '/64'} dev lan nodad`, 'lab switch IPv6')
}

export function writeInventoryFiles(s: LabState): void {
  const keys = s.hosts.map((h) => {
    const pub = readFileSync(join(hostEtc(s, h), 'ssh/ssh_host_ed25519_key.pub'), 'utf8').trim().split(' ')
    return `${h.address} ${pub[0]} ${pub[1]}`
  })
  writeFileSync(s.knownHostsPath, keys.join('\n') + '\n')
  chmodSync(s.keyPath, 0o600)
  const lines = [
    `# orch lab "${s.prefix}": ${s.hosts.length} hosts on ${s.lans ? s.lans.map((l) => l.cidr).join(', ') + ' (one router between them)' : s.lanCidr}, gateway ${s.gateway}.`,
    `# Written by npm run lab:up; removed by npm run lab:down -- --prefix ${s.prefix}.`,
    '[lab]',
    ...s.hosts.map((h) => {
      // Hosts off LAN 1 carry their own LAN's gateway and prefix (host vars win over [all:vars]).
      const l = s.lans ? lanOf(s, h) : undefined
      const lanVars = l ? ` lab_lan=${l.index} lab_gateway=${l.gateway} lab_lan_cidr=${l.cidr}` : ''
      return `${h.name} ansible_host=${h.address}${h.address6 ? ` lab_address6=${h.address6}` : ''}${h.manager ? ` lab_network_manager=${h.manager}` : ''}${lanVars}`
    }),
    '',
  ]
  if (s.lans) {
    for (const l of s.lans) lines.push(`[lan${l.index}]`, ...s.hosts.filter((h) => lanOf(s, h).index === l.index).map((h) => h.name), '')
  }
  if (s.docker) lines.push('[docker_hosts:children]', 'lab', '')
  if (s.ovs) lines.push('[ovs_hosts:children]', 'lab', '')
  if (s.boot) lines.push('[booted:children]', 'lab', '')
  lines.push(
    '[all:vars]',
    'ansible_user=root',
    `ansible_ssh_private_key_file=${s.keyPath}`,
    `ansible_ssh_common_args='-o UserKnownHostsFile=${s.knownHostsPath} -o StrictHostKeyChecking=yes'`,
    'ansible_python_interpreter=/usr/bin/python3',
    `lab_gateway=${s.gateway}`,
    `lab_lan_cidr=${s.lanCidr}`,
    ...(s.lanCidr6 ? [`lab_lan_cidr6=${s.lanCidr6}`] : []),
    ...(s.mtu ? [`lab_mtu=${s.mtu}`] : []),
    `lab_controller_ip=${s.controllerIp}`,
    `lab_controller_ip2=${s.controllerIp2}`,
    `container_image=${s.image}`,
    '',
  )
  writeFileSync(s.inventoryPath, lines.join('\n'))
}

/** The host's LAN (LAN 1 of a single-LAN lab: the lab's own lanCidr and gateway). */
export function lanOf(s: LabState, h: LabHost): LabLan {
  const l = s.lans?.find((x) => x.index === (h.lan ?? 1))
  return l ?? { index: 1, slot: s.slot, cidr: s.lanCidr, gateway: s.gateway, bridge: 'lan' }
}

/** Where a host's own /etc lies on the controller (its overlay upper directory). */
export function hostEtc(s: LabState, h: LabHost): string {
  return s.boot ? join(h.stateDir, 'upper', 'etc') : join(h.stateDir, 'etc.upper')
}

/** A host's /etc/hosts: itself on 127.0.1.1 (a lookup of its own name must not wait for DNS) and its peers. */
export function etcHosts(s: LabState, h: LabHost): string {
  const peers = s.hosts.map((p) => `${p.address}\t${p.name}`).join('\n')
  return `127.0.0.1\tlocalhost\n127.0.1.1\t${h.name}\n::1\tlocalhost ip6-localhost\n${peers}\n`
}
