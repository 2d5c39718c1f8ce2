/**
 * Typed plans. A task's plan is a list of steps computed by a pure function from typed facts and typed
 * arguments; each step is plain data (JSON-serialisable but for a file's old content) that carries what
 * it changes and what was there before. Renderers switch on `kind`: runtime.ts turns a step into the
 * commands that apply it, the commands that undo it and the lines --check/--diff show. A persisted-
 * configuration renderer (networkd/NM/netplan/ifupdown) switches on the same kinds.
 */
import type { FileState } from '../engine/taskkit.ts'
import type { ChainPlan, ChainSpec, IptVariant } from '../facts/iptables.ts'
import type { RouteJson } from '../facts/routes.ts'
import type { VxlanInfo } from './link.ts'
import type { RunningContainer, ServiceManager } from './docker.ts'

/** A kernel parameter at runtime (/proc/sys). */
export interface SysctlStep {
  kind: 'sysctl'
  name: string
  value: string
  before: string
}

/** A regular file's whole content (written atomically), with its mode and owner. */
export interface FileStep {
  kind: 'file'
  path: string
  content: string
  mode: string
  /** uid:gid (or names) to give the new file; kept from the old file when `keepOwner`. */
  owner?: string
  keepOwner?: boolean
  /** Directory to create first (mkdir -p). */
  mkdir?: string
  before: FileState
}

/** A regular file removed (a persisted entry no longer wanted); undo writes it back byte-exact. */
export interface FileAbsentStep {
  kind: 'file-absent'
  path: string
  before: FileState
}

/** A route in one table: added, replaced (the first of its identity) or deleted. */
export interface RouteStep {
  kind: 'route'
  family: 4 | 6
  op: 'add' | 'replace' | 'del'
  table: number
  route: RouteJson
  /** replace: the routes of this identity before (the first is put back by undo). */
  previous?: RouteJson[]
  /** How the diff names the route ('10.1.0.0/24 via 198.18.0.2'). */
  label: string
}

/** Our rules in a managed ORCH-* chain (facts/iptables.ts planRules), in one iptables-restore transaction. */
export interface IptablesChainStep {
  kind: 'iptables-chain'
  spec: ChainSpec
  ipt: string
  variant: IptVariant
  pathVariant: IptVariant
  /** Removed rules carry their old positions: undo puts them back there. */
  plan: ChainPlan
  /** The undo's description. */
  undoText: string
}

/** The old device a re-created vxlan replaces: undo builds it again with its peers, master and state. */
export interface OldVxlan {
  mtu: number
  mac: string
  master?: string
  up: boolean
  vxlan: VxlanInfo
  peers: string[]
}

/** A VXLAN device created (or deleted and created again with other parameters). */
export interface VxlanCreateStep {
  kind: 'vxlan-create'
  name: string
  mtu: number
  id: number
  port: number
  local: string
  dev?: string
  learning: boolean
  /** Re-created: what was there. */
  replaces?: OldVxlan
  /** Shown by the diff of a re-created device: peers and master that differ from the old device's. */
  peersAdded?: string[]
  peersRemoved?: string[]
  masterChange?: { before?: string; after: string; exists: boolean }
}

/** Attributes of an existing link (or of one a create step of this plan made: `fresh`). */
export interface LinkSetStep {
  kind: 'link-set'
  name: string
  mtu?: { before: number; after: number }
  master?: { before?: string; after: string; exists: boolean }
  up?: boolean
  /** On a device this plan creates: no undo of its own (the create's undo removes the device). */
  fresh?: boolean
  /** Shown by another step's diff (a re-created device's): no line of its own. */
  quiet?: boolean
}

/** A forwarding database entry (`bridge fdb append|del MAC dev D dst IP`). */
export interface FdbStep {
  kind: 'fdb'
  op: 'append' | 'del'
  dev: string
  mac: string
  dst: string
  fresh?: boolean
  quiet?: boolean
}

/** Settings of docker's daemon.json (the file rewritten with every other key kept). */
export interface DockerDaemonStep {
  kind: 'docker-daemon'
  path: string
  settings: Array<{ key: string; before?: unknown; after: unknown }>
  content: string
  mode: string
  owner?: string
  before: FileState
  /** A docker-restart step of the same plan undoes it (the old file alone would not bring the old daemon back). */
  undoneByRestart?: boolean
}

/** Restart docker so the running daemon takes its configuration; the containers that ran run again. */
export interface DockerRestartStep {
  kind: 'docker-restart'
  manager: ServiceManager
  /** What differs in the running daemon. */
  why: string[]
  /** What it runs with afterwards, for the diff. */
  target: string
  /** Running before the restart. */
  containers: RunningContainer[]
  liveRestore: boolean
  /** Present when the daemon's file changed in the same plan (otherwise restarting again would give the same). */
  undo?: {
    path: string
    file: FileState
    /** The old values written into the file for one restart first (dockerd keeps the default bridge in its store). */
    pinned?: { content: string; mode: string; owner?: string; text: string }
    dockerWasUp: boolean
    docker0Mac?: string
  }
}

export type WgImpl = 'kernel' | 'userspace'

/** A WireGuard peer as configured (allowed IPs sorted). */
export interface WgPeer {
  publicKey: string
  endpoint?: string
  allowedIps: string[]
  /** Seconds; 0: off. */
  keepalive: number
}

/** A WireGuard private key generated on the host (rotate: the old one kept as PATH.previous for the undo). */
export interface WgKeyStep {
  kind: 'wg-key'
  op: 'create' | 'rotate'
  path: string
  /** Public key of the key replaced. */
  before?: string
  /** Directories mkdir -p creates (removed again by the undo when empty). */
  mkdir?: string[]
}

/** A WireGuard device created: kernel (ip link add type wireguard) or wireguard-go (userspace). */
export interface WgCreateStep {
  kind: 'wg-create'
  name: string
  impl: WgImpl
  mtu: number
}

/** `wg set` on a device: private key (by file), listen port, peers added, changed, removed. */
export interface WgSetStep {
  kind: 'wg-set'
  name: string
  keyFile: string
  /** Set the private key from keyFile; `previous`: the device runs with keyFile.previous today (rotated). */
  key?: { before?: string; previous: boolean }
  listenPort?: { before?: number; after: number }
  add: WgPeer[]
  change: Array<{ before: WgPeer; after: WgPeer }>
  remove: WgPeer[]
  /** Peer names for the diff, by public key. */
  labels: Record<string, string>
  /** On a device this plan creates: its undo deletes it. */
  fresh?: boolean
}

/**
 * An orch-owned systemd unit (model/persist.ts) and the script it runs, enabled the way `systemctl enable`
 * does it (a symlink in each WantedBy target's .wants/), written without systemctl: it works on a host
 * whose systemd is not running; systemd reloads only where it runs.
 */
export interface UnitStep {
  kind: 'unit'
  /** 'orch-routes.service' */
  name: string
  /** /etc/systemd/system/NAME */
  path: string
  content: string
  before: FileState
  script: { path: string; content: string; before: FileState }
  /** The unit's own directory of generated files (/etc/orch/routes) and whether it existed. */
  dir: { path: string; existed: boolean }
  /** Targets whose .wants/ holds the symlink, with what was there before. */
  wantedBy: Array<{ target: string; linked: boolean; dirExisted: boolean }>
}


export type Step =
  | SysctlStep
  | FileStep
  | FileAbsentStep
  | RouteStep
  | IptablesChainStep
  | VxlanCreateStep
  | LinkSetStep
  | FdbStep
  | DockerDaemonStep
  | DockerRestartStep
  | WgKeyStep
  | WgCreateStep
  | WgSetStep
  | UnitStep
export type StepKind = Step['kind']
