/**
 * Persistence of a bridge takeover (br0 holding eth0) in the host's network configuration, so it
 * survives a reboot: ifupdown (/etc/network/interfaces[.d]), netplan (/etc/netplan/*.yaml) or
 * NetworkManager (keyfiles in /etc/NetworkManager/system-connections) or systemd-networkd
 * (/etc/systemd/network .netdev/.network).
 *
 * One read script (part of the task's single read round trip) reports which tools exist, whether
 * NetworkManager runs and manages the interface, and every candidate config file with its content.
 * Planning is pure: it returns the files to write (with their old state, for the undo).
 *
 * 'auto' picks, in this order: netplan when a netplan file defines the interface (or the bridge);
 * NetworkManager when it runs and manages the interface; networkd when it runs and a .network file
 * matches the interface; ifupdown when an interfaces file has a stanza for it; otherwise nothing
 * (runtime only, reported in the task's result).
 */
import { sh } from '../../net/shell.ts'
import { parseFileState } from '../../engine/taskkit.ts'
import { absent, type PersistFacts, type PersistKind, type PersistMode, type PersistPlan, type TakeoverSpec } from './types.ts'
import { planIfupdown, ifupdownDefines } from './ifupdown.ts'
import { planNetplan, netplanDefines } from './netplan.ts'
import { planNetworkManager, nmProfileFor } from './networkmanager.ts'
import { networkdDefines, planNetworkd } from './networkd.ts'

export * from './types.ts'

export const FILE_MARK = '@@orch-conf-file@@'
export const CONFIG_GLOBS = [
  '/etc/network/interfaces',
  '/etc/network/interfaces.d/*',
  '/etc/netplan/*.yaml',
  '/etc/netplan/*.yml',
  '/etc/NetworkManager/system-connections/*',
  '/etc/systemd/network/*.network',
  '/etc/systemd/network/*.netdev',
]

/** Prints tools, NetworkManager state and every config file (stat line + base64 content). */
export function persistReadScript(): string {
  return (
    `printf 'tools'; for t in nmcli netplan ifup; do command -v "$t" >/dev/null 2>&1 && printf ' %s' "$t"; done; echo\n` +
    `if command -v nmcli >/dev/null 2>&1; then printf 'nm %s\\n' "$(nmcli -t -f RUNNING general 2>/dev/null)"; ` +
    `nmcli -t -f DEVICE,STATE device 2>/dev/null | sed 's/^/nmdev /'; fi\n` +
    `[ -d /run/systemd/system ] && systemctl is-active --quiet systemd-networkd 2>/dev/null && echo networkd running\n` +
    `[ -f /run/network/ifstate ] && echo ifstate yes\n` +
    `for f in ${CONFIG_GLOBS.join(' ')}; do\n` +
    `  [ -f "$f" ] || continue\n  case $f in *'\n'*) continue;; esac\n` +
    sh`  printf '%s %s\\n' ${FILE_MARK} "$f"\n` +
    `  set -- $(stat -c '%a %U %G %s %u %g' -- "$f") || continue\n` +
    `  if [ "$4" -gt 1048576 ]; then echo "toolarge $*"; else echo "file $*"; base64 < "$f"; fi\n` +
    `done; true`
  )
}

export function parsePersistFacts(text: string): PersistFacts {
  const facts: PersistFacts = { tools: { nmcli: false, netplan: false, ifup: false }, nmRunning: false, networkdRunning: false, ifstate: false, nmDevices: {}, files: [] }
  const parts = text.split(`${FILE_MARK} `)
  for (const line of parts[0].split('\n')) {
    const [k, ...rest] = line.trim().split(' ')
    if (k === 'tools') {
      facts.tools = { nmcli: rest.includes('nmcli'), netplan: rest.includes('netplan'), ifup: rest.includes('ifup') }
    } else if (k === 'nm') facts.nmRunning = rest.join(' ').trim() === 'running'
    else if (k === 'networkd') facts.networkdRunning = rest[0] === 'running'
    else if (k === 'ifstate') facts.ifstate = true
    else if (k === 'nmdev') {
      const [dev, state] = rest.join(' ').split(':')
      if (dev) facts.nmDevices[dev] = state ?? ''
    }
  }
  for (const part of parts.slice(1)) {
    const nl = part.indexOf('\n')
    const path = part.slice(0, nl)
    facts.files.push({ path, state: parseFileState(part.slice(nl + 1), path) })
  }
  return facts
}

/** Which network configuration system holds the interface (or the bridge), or null. */
export function detectPersist(facts: PersistFacts, iface: string, bridge: string): PersistKind | null {
  if (netplanDefines(facts, iface, bridge)) return 'netplan'
  if (facts.nmRunning) {
    const st = facts.nmDevices[iface] ?? facts.nmDevices[bridge]
    if ((st && !st.startsWith('unmanaged')) || nmProfileFor(facts, bridge, 'bridge')) return 'networkmanager'
  }
  if (facts.networkdRunning && networkdDefines(facts, iface, bridge)) return 'networkd'
  if (ifupdownDefines(facts, iface, bridge)) return 'ifupdown'
  return null
}

export function planPersist(mode: PersistMode, facts: PersistFacts | undefined, spec: TakeoverSpec): PersistPlan {
  if (mode === 'none' || !facts) return { kind: 'none', writes: [], notes: ['persist=none: runtime only (lost at reboot)'] }
  const kind = mode === 'auto' ? detectPersist(facts, spec.iface, spec.bridge) : mode
  if (!kind) {
    return {
      kind: 'none',
      writes: [],
      notes: [`persist=auto: no ifupdown, netplan or NetworkManager configuration for ${spec.iface} found: runtime only (lost at reboot)`],
    }
  }
  const plan =
    kind === 'ifupdown' ? planIfupdown(facts, spec) : kind === 'netplan' ? planNetplan(facts, spec) : kind === 'networkd' ? planNetworkd(facts, spec) : planNetworkManager(facts, spec)
  if (mode === 'auto') plan.notes.unshift(`persist=auto: detected ${kind}`)
  return plan
}
