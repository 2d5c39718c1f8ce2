/**
 * The data a persistence plan is made of, and the helpers every renderer (ifupdown, netplan,
 * NetworkManager) shares. Apart from index.ts so the renderers need not import the module that
 * dispatches to them.
 */
import type { FileState } from '../../engine/taskkit.ts'
import type { IpAddr, IpRoute } from './iproute.ts'

export type PersistKind = 'ifupdown' | 'netplan' | 'networkmanager' | 'networkd'
export type PersistMode = 'auto' | 'none' | PersistKind
export const PERSIST_MODES: readonly PersistMode[] = ['auto', 'none', 'ifupdown', 'netplan', 'networkmanager', 'networkd']

export interface ConfigFile {
  path: string
  state: FileState
}

export interface PersistFacts {
  tools: { nmcli: boolean; netplan: boolean; ifup: boolean }
  nmRunning: boolean
  /** systemd-networkd is the running unit (systemd is PID 1 and the unit is active). */
  networkdRunning: boolean
  /** ifupdown keeps its state in /run/network (networking.service ran). */
  ifstate: boolean
  /** NetworkManager device states by device name ('connected', 'unmanaged', ...). */
  nmDevices: Record<string, string>
  files: ConfigFile[]
}

/** What the takeover makes, as the config must describe it. */
export interface TakeoverSpec {
  bridge: string
  iface: string
  mac: string
  mtu: number
  stp: boolean
  /** Seconds. */
  forwardDelay: number
  /** Addresses as they are (or will be) on the bridge. */
  addrs: IpAddr[]
  /** Non-kernel routes through the bridge (device already renamed or not: only `dev` is ignored). */
  routes: IpRoute[]
}

export interface FileWrite {
  path: string
  before: FileState
  content: string
  mode: string
}

export interface PersistPlan {
  kind: PersistKind | 'none'
  writes: FileWrite[]
  /** Said in the task's result: what was chosen and why, what the admin should know. */
  notes: string[]
}

export const textOf = (f: ConfigFile): string | null => (f.state.kind === 'file' ? f.state.content.toString('utf8') : null)
export const absent: FileState = { kind: 'absent' }
export const fileState = (facts: PersistFacts, path: string): FileState => facts.files.find((f) => f.path === path)?.state ?? absent

