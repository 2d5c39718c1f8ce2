/**
 * The host's network manager and the takeover: what it is told, and when.
 *
 *   confirm window  the persisted files' copies go to the manager's volatile directory (/run: gone at a
 *                   reboot, so a reboot inside the window boots the old configuration) and the running
 *                   manager loads them at the end of the detached apply script: networkd and netplan
 *                   (/run/systemd/network, /run/netplan shadow /etc files of the same name; `netplan
 *                   generate`, `networkctl reload`), NetworkManager (in-memory keyfiles in
 *                   /run/NetworkManager/system-connections, loaded and activated). ifupdown has no daemon.
 *   commit          the files are written to /etc, the /run copies removed, the manager reloads (same
 *                   configuration: nothing moves); ifupdown records br0 in /run/network/ifstate.
 *   revert          the /run copies go, the ip steps put eth0 back, the manager reconfigures eth0 from its
 *                   own (restored) files.
 * A manager that does not run (the netns lab, a host configured by hand) is not told anything.
 */
import { sh } from '../../net/shell.ts'
import { restoreFileScript } from '../../engine/taskkit.ts'
import type { PersistFacts, PersistPlan, TakeoverSpec } from '../persist/index.ts'

export interface RuntimeFile {
  path: string
  content: string
  mode: string
}

export interface ManagerWork {
  /** Volatile copies of the persisted files, written before the detached apply script starts. */
  runtime: RuntimeFile[]
  /** End of the detached apply script: the running manager takes over br0 (each may fail: the kernel state is checked). */
  load: string[]
  /** Detached revert script: before the ip steps, and after them. */
  unloadBefore: string[]
  unloadAfter: string[]
  /** At commit, after the files are written to /etc. */
  commit: string[]
  /** Undo of `commit` beyond restoring the files. */
  commitUndo: string[]
  notes: string[]
}

const NM_RUN = '/run/NetworkManager/system-connections'
const WAIT_ONLINE = '/lib/systemd/systemd-networkd-wait-online'

/** /etc/X/f → /run/X/f for the directories whose /run twin shadows them. */
function runtimePath(path: string): string | null {
  for (const [etc, run] of [
    ['/etc/systemd/network/', '/run/systemd/network/'],
    ['/etc/netplan/', '/run/netplan/'],
    ['/etc/NetworkManager/system-connections/', `${NM_RUN}/`],
  ]) {
    if (path.startsWith(etc)) return run + path.slice(etc.length)
  }
  return null
}

const none = (): ManagerWork => ({ runtime: [], load: [], unloadBefore: [], unloadAfter: [], commit: [], commitUndo: [], notes: [] })

function networkdSteps(w: ManagerWork, spec: TakeoverSpec): void {
  w.load.push('networkctl reload', sh`${WAIT_ONLINE} -i ${spec.bridge}:routable --timeout=20`)
  w.unloadAfter.push('networkctl reload', sh`networkctl reconfigure ${spec.iface}`)
  w.commit.push('networkctl reload')
}

export function managerWork(plan: PersistPlan, facts: PersistFacts | undefined, spec: TakeoverSpec): ManagerWork {
  const w = none()
  if (!facts || plan.kind === 'none') return w
  const volatile = (onlyNew: boolean) => {
    for (const f of plan.writes) {
      const rp = runtimePath(f.path)
      if (rp && (!onlyNew || f.before.kind === 'absent')) w.runtime.push({ path: rp, content: f.content, mode: f.mode })
    }
  }
  const rmRuntime = () => (w.runtime.length ? [sh`rm -f -- ${w.runtime.map((f) => f.path)}`] : [])
  switch (plan.kind) {
    case 'networkd':
      if (!facts.networkdRunning) break
      volatile(false)
      networkdSteps(w, spec)
      w.unloadBefore.push(...rmRuntime())
      w.commit.unshift(...rmRuntime())
      w.notes.push('networkd: loaded now from /run/systemd/network (until the commit writes /etc/systemd/network)')
      break
    case 'netplan':
      if (!facts.networkdRunning && !facts.nmRunning) break
      volatile(false)
      w.load.push('netplan generate')
      w.unloadBefore.push(...rmRuntime(), 'netplan generate')
      w.commit.push(...rmRuntime(), 'netplan generate')
      if (facts.networkdRunning) networkdSteps(w, spec)
      else {
        w.load.push('nmcli connection reload')
        w.unloadAfter.push('nmcli connection reload')
        w.commit.push('nmcli connection reload')
      }
      w.notes.push('netplan: applied now from /run/netplan (until the commit writes /etc/netplan)')
      break
    case 'networkmanager': {
      if (!facts.nmRunning) break
      // The new profiles only: the old profile's autoconnect=false is for the next boot, written at commit.
      volatile(true)
      // The bridge profile first: else NetworkManager enslaves the port to the bridge it saw appear (an
      // "external" connection of its own) and the orch profile never owns br0.
      w.load.push(sh`nmcli connection load ${w.runtime.map((f) => f.path)}`)
      for (const f of [...w.runtime].sort((a, b) => Number(/^master=/m.test(a.content)) - Number(/^master=/m.test(b.content)))) {
        const id = /^id=(.*)$/m.exec(f.content)?.[1]
        if (id) w.load.push(sh`nmcli --wait 30 connection up id ${id}`)
      }
      w.unloadBefore.push(...rmRuntime(), 'nmcli connection reload')
      const old = plan.writes.find((f) => f.before.kind === 'file' && /^\s*type\s*=\s*(ethernet|802-3-ethernet)\s*$/m.test(f.content))
      const oldId = old && /^\s*id\s*=(.*)$/m.exec(old.content)?.[1]?.trim()
      if (oldId) w.unloadAfter.push(sh`nmcli --wait 30 connection up id ${oldId}`)
      w.commit.push(...rmRuntime(), 'nmcli connection reload')
      w.notes.push('networkmanager: profiles activated now from /run (in memory until the commit writes them)')
      break
    }
    case 'ifupdown':
      if (!facts.ifstate) break
      w.commit.push(
        sh`grep -q ${'^' + spec.bridge + '='} /run/network/ifstate || echo ${spec.bridge + '=' + spec.bridge} >> /run/network/ifstate; echo ${spec.bridge} > ${'/run/network/ifstate.' + spec.bridge}`,
      )
      w.commitUndo.push(
        sh`sed -i ${'/^' + spec.bridge + '=/d'} /run/network/ifstate 2>/dev/null; rm -f ${'/run/network/ifstate.' + spec.bridge}`,
        sh`grep -q ${'^' + spec.iface + '='} /run/network/ifstate 2>/dev/null || echo ${spec.iface + '=' + spec.iface} >> /run/network/ifstate; echo ${spec.iface} > ${'/run/network/ifstate.' + spec.iface}`,
      )
      w.notes.push(`ifupdown: ${spec.bridge} recorded as up in /run/network/ifstate at commit`)
      break
  }
  return w
}

/** Writes the volatile copies (one command, before the detached script). */
export function runtimeWrites(w: ManagerWork): string[] {
  return w.runtime.map((f) => sh`mkdir -p "$(dirname ${f.path})" && ` + restoreFileScript(f.path, Buffer.from(f.content, 'utf8'), f.mode, '0:0'))
}
