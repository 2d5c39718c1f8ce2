/**
 * bridgeTakeover: a Linux bridge (br0) takes over a host's uplink (eth0) — its MAC, MTU, every address and
 * every route — so containers plugged into br0 sit on the host's LAN. Risky: it moves the addresses the
 * controller's own SSH session uses.
 *
 *   read   one round trip: `ip -d -j link`, `ip -j addr`, `ip -4/-6 -j route show table all`, and the network
 *          configuration files and tools (ifupdown / netplan / NetworkManager) unless persist is 'none'.
 *   apply  one round trip: ONE generated sh script is written to
 *          /var/lib/orch/bridge-takeover/<br>.apply.sh and started detached (setsid nohup, stdin /dev/null),
 *          so a dropped SSH session cannot stop it halfway. It creates the bridge (eth0's MAC and MTU, stp
 *          off, forward_delay 0), removes the routes and addresses from eth0, enslaves eth0, brings the
 *          bridge up, adds every address and route to it, and writes its done-marker (<br>.apply.done:
 *          "ok", or "failed: STEP; reverted" after putting everything back itself). The same command waits
 *          for the marker and prints the new state, which the controller verifies. The running network
 *          manager loads a volatile copy of the new configuration (takeover/managers.ts); the files in /etc
 *          are written at commit (ctx.atCommit), so a reboot inside the confirm window boots eth0 as before.
 *   undo   the exact inverse from the state read before, also detached (<br>.undo.sh/.log/.done): bridge
 *          deleted (or its old settings restored), addresses and routes back on eth0, config files restored.
 */
import { randomUUID } from 'node:crypto'
import { argv, sh } from '../net/shell.ts'
import { argSpec, parseArgs } from '../argspec.ts'
import { ArgError, TaskFailed, task, type Change, type Resource, type Task, type TaskContext, type Undo } from '../engine/types.ts'
import { displayContent, fileUndo, restoreFileScript, sectionMark, splitSections } from '../engine/taskkit.ts'
import { UnreachableError } from '../transport/types.ts'
import { addrKey, routeArgv, unsupportedRoute } from './persist/iproute.ts'
import { PERSIST_MODES, persistReadScript, type PersistMode } from './persist/index.ts'
import { parseState, planTakeover, runtimeWork, stateScript, verifyTakeover, wantFd, type TakeoverPlan, type TakeoverState } from './takeover/state.ts'
import { applyScript, detachedScript, revertScript, startDetached, takeoverPaths, waitAndShow } from './takeover/scripts.ts'
import { managerWork, runtimeWrites } from './takeover/managers.ts'

export { TAKEOVER_DIR, takeoverPaths, startDetached, detachedScript, revertScript, applyScript } from './takeover/scripts.ts'
export type { TakeoverPaths } from './takeover/state.ts'
export { stateScript, parseState, type TakeoverState, type TakeoverPlan } from './takeover/state.ts'
export { shortHash } from '../net/hash.ts'

export interface BridgeTakeoverArgs {
  /** The bridge to create (default 'br0'). */
  bridge?: string
  /** The interface it takes over (default 'eth0'). */
  iface?: string
  /** Spanning tree (default false). With true, forward_delay is 2 s (the minimum with STP): ~4 s without traffic. */
  stp?: boolean
  /** Write the network configuration too (default 'auto': whichever of them holds the interface). */
  persist?: PersistMode
  /** Seconds to wait for the detached script's done-marker (default 60). */
  timeout?: number
}

export const BRIDGE_TAKEOVER_SPEC = argSpec('bridgeTakeover', {
  bridge: { type: 'ifname', default: 'br0', desc: 'the bridge to create' },
  iface: { type: 'ifname', default: 'eth0', desc: 'the interface it takes over' },
  stp: { type: 'bool', default: false, desc: 'spanning tree (with true, forward_delay is 2 s)' },
  persist: { type: 'str', choices: PERSIST_MODES, default: 'auto', desc: 'write the network configuration too (auto: whichever of them holds the interface)' },
  timeout: { type: 'int', min: 5, max: 3600, default: 60, desc: "seconds to wait for the detached script's done-marker" },
})

export function bridgeTakeover(args: BridgeTakeoverArgs = {}): Task<TakeoverState> {
  const a = args ?? {}
  const bridge = a.bridge ?? 'br0'
  const iface = a.iface ?? 'eth0'
  const stp = a.stp ?? false
  const persist = a.persist ?? 'auto'
  const timeout = a.timeout ?? 60
  const paths = takeoverPaths(bridge)
  const plan = (s: TakeoverState) => planTakeover(s, { bridge, iface, stp, persist })

  const resource: Resource<TakeoverState> = {
    module: 'bridge_takeover',
    name: `bridge ${bridge} takes over ${iface}`,
    risky: true,
    validate() {
      parseArgs(BRIDGE_TAKEOVER_SPEC, a)
      if (bridge === iface) throw new ArgError('bridgeTakeover.bridge', `a name other than the interface (${iface})`, bridge)
    },
    async read(ctx) {
      let script = stateScript()
      if (persist !== 'none') script += `; ${sectionMark}; ${persistReadScript()}`
      const r = await ctx.run(script)
      if (r.code !== 0) throw new TaskFailed(`reading the network state failed (rc=${r.code}): ${r.stderr.trim().slice(0, 300)}`, r)
      const [net, conf] = persist !== 'none' ? splitSections(r.stdout) : [r.stdout]
      const s = parseState(net, bridge, iface, conf)
      if (s.bridge && s.bridge.kind !== 'bridge') throw new TaskFailed(`${bridge} exists and is not a Linux bridge (${s.bridge.kind ?? 'plain device'})`)
      if (s.iface.master && s.iface.master !== bridge) throw new TaskFailed(`${iface} is already a port of ${s.iface.master}`)
      if (s.iface.kind === 'bridge') throw new TaskFailed(`${iface} is itself a bridge`)
      for (const rt of s.ifaceRoutes) {
        const why = unsupportedRoute(rt)
        if (why) throw new TaskFailed(`${why}: not moving ${iface} (nothing was changed)`)
      }
      return s
    },
    diff(s) {
      const p = plan(s)
      const out: Change[] = []
      const fd = wantFd(stp)
      if (p.createBridge) out.push({ what: `create bridge ${bridge}`, after: `mac ${s.iface.mac} mtu ${s.iface.mtu} stp ${stp ? 'on' : 'off'} forward_delay ${fd / 100}s` })
      if (p.fix.mac) out.push({ what: `${bridge} mac`, before: s.bridge?.mac, after: p.fix.mac })
      if (p.fix.mtu !== undefined) out.push({ what: `${bridge} mtu`, before: String(s.bridge?.mtu), after: String(p.fix.mtu) })
      if (p.fix.stp !== undefined) out.push({ what: `${bridge} stp_state`, before: String(s.bridge?.stpState), after: String(p.fix.stp) })
      if (p.fix.forwardDelay !== undefined) out.push({ what: `${bridge} forward_delay`, before: String(s.bridge?.forwardDelay), after: String(p.fix.forwardDelay) })
      if (p.fix.up) out.push({ what: `${bridge} up`, before: 'down', after: 'up' })
      for (const ad of p.moveAddrs) out.push({ what: `move address ${addrKey(ad)} from ${iface} to ${bridge}` })
      if (p.enslave) out.push({ what: `${iface} master`, before: s.iface.master ?? '(none)', after: bridge })
      for (const rt of p.moveRoutes) out.push({ what: `move route ${argv(routeArgv(rt, 'add', iface, bridge).slice(4))}`, before: `dev ${iface}`, after: `dev ${bridge}` })
      for (const w of p.persist.writes) {
        const before = w.before.kind === 'file' ? w.before.content.toString('utf8') : ''
        if (w.before.kind === 'file' && before === w.content) continue
        out.push({ what: `${w.before.kind === 'file' ? 'rewrite' : 'create'} ${w.path} (${p.persist.kind})`, before: displayContent(before), after: displayContent(w.content) })
      }
      return out
    },
    undo(s, changes, ctx) {
      const p = plan(s)
      const parts: string[] = []
      const desc: string[] = []
      // Without a transaction the files are written by apply itself: their restore is part of this undo.
      const c = atCommitOf(ctx) ? null : commitPart(p, s, changes)
      if (c?.undo) {
        parts.push(c.undo.script)
        desc.push(c.undo.description)
      }
      if (runtimeWork(p)) {
        const m = managerWork(p.persist, s.persist, p.spec)
        const body = revertScript(s, p, bridge, iface, { before: m.unloadBefore, after: m.unloadAfter })
        parts.push(detachedScript(body, paths.undoScript, paths.undoLog, paths.undoDone, timeout, 'undo'))
        desc.push(`${iface} gets its addresses and routes back, ${p.createBridge ? `${bridge} deleted` : `${bridge} restored`} (detached: ${paths.undoScript})`)
      }
      if (!parts.length) return null
      // The runtime part exits non-zero when its done-marker is missing or not "ok".
      return { description: desc.join('; '), script: parts.join('\n') }
    },
    async apply(ctx, s, changes) {
      const p = plan(s)
      const m = managerWork(p.persist, s.persist, p.spec)
      const commit = commitPart(p, s, changes)
      const atCommit = atCommitOf(ctx)
      const notes = [...p.persist.notes, ...m.notes]
      for (const rt of s.deadRoutes) notes.push(`left on ${iface}: route ${argv(routeArgv(rt, 'add', iface, iface).slice(4))} (its gateway is not on-link any more: the kernel would not accept it again)`)
      if (s.ifaceAddrs.some((x) => x.dynamic && x.family === 'inet'))
        notes.push(`${iface} has a DHCP (dynamic) IPv4 address: its DHCP client must now run on ${bridge} (the persisted configuration does that at the next boot)`)
      if (commit) notes.push(atCommit ? `${p.persist.kind}: files written at commit: ${commit.paths.join(', ')}` : `${p.persist.kind}: files written now (no transaction): ${commit.paths.join(', ')}`)
      const data: Record<string, unknown> = { bridge, iface, persist: p.persist.kind, runtimeOnly: p.persist.kind === 'none', notes, paths }
      const persistNow = async () => {
        if (!commit) return
        if (atCommit) {
          atCommit({ key: `bridge_takeover:${bridge}`, module: 'bridge_takeover', task: `bridge ${bridge} takes over ${iface}`, undo: commit.undo, commands: [{ script: commit.script }] })
          return
        }
        const r = await ctx.run(commit.script)
        if (r.code !== 0) throw new TaskFailed(`writing the network configuration failed (rc=${r.code}): ${r.stderr.trim().slice(0, 300)}`, r)
      }
      if (!runtimeWork(p)) {
        await persistNow()
        return { msg: notes.join('; '), data }
      }
      // Names this launch in the script, so a wait after a dropped session never reads an earlier run's marker.
      const launchLine = `# launch ${randomUUID()}`
      const script = applyScript(s, p, bridge, iface, stp, paths, m.load, launchLine)
      const launch = [
        ...runtimeWrites(m),
        sh`umask 077; mkdir -p ${paths.dir} && chmod 700 /var/lib/orch ${paths.dir} && rm -f ${paths.applyDone} && cat > ${paths.applyScript + '.tmp'} && mv -f ${paths.applyScript + '.tmp'} ${paths.applyScript}`,
        startDetached(paths.applyScript, paths.applyLog),
      ].join(' && ')
      const wait = waitAndShow(paths.applyDone, paths.applyLog, timeout, { script: paths.applyScript, line: launchLine })
      let r
      try {
        r = await ctx.run(`${launch} || exit 90\n${wait}`, { stdin: script, timeoutMs: (timeout + 30) * 1000 })
      } catch (e) {
        if (!(e instanceof UnreachableError)) throw e
        // The session dropped while the script ran: it goes on by itself. Ask again if the connection came back.
        r = await retryWait(ctx, wait, timeout, e)
      }
      if (r.code === 90) throw new TaskFailed(`could not start the takeover script (nothing was changed): ${r.stderr.trim().slice(0, 300)}`, r)
      verifyTakeover(r.stdout, s, p, bridge, iface, paths)
      await persistNow()
      return { msg: notes.join('; '), data }
    },
  }

  /** The persisted files (those the diff lists) and the manager's commit steps, with their undo. */
  const commitPart = (p: TakeoverPlan, s: TakeoverState, changes: Change[]) => {
    const writes = p.persist.writes.filter((w) => changes.some((c) => c.what.includes(` ${w.path} (`)))
    const m = managerWork(p.persist, s.persist, p.spec)
    if (!writes.length && !m.commit.length) return null
    const cmds = writes.map((w) => sh`mkdir -p "$(dirname ${w.path})" && ` + restoreFileScript(w.path, Buffer.from(w.content, 'utf8'), w.mode, '0:0'))
    // The manager's own steps may fail (e.g. networkctl on a host whose networkd stopped): the files are what persists.
    const tolerant = (c: string) => `{ ${c}; } || echo ${'bridgeTakeover: failed: ' + c.slice(0, 60)} >&2`
    const undos = writes.map((w) => fileUndo(w.path, w.before)).filter((u): u is Undo => !!u)
    const undoScript = [...undos.map((u) => u.script), ...m.commitUndo.map(tolerant)].join('\n')
    return {
      paths: writes.map((w) => w.path),
      script: [cmds.join(' && ') || ':', ...m.commit.map(tolerant)].join('\n'),
      undo: undoScript ? { description: undos.map((u) => u.description).join('; ') || `${p.persist.kind} state restored`, script: undoScript } : null,
    }
  }
  return task(resource)
}

/** persist-at-commit (engine): work the transaction runs after the checks pass, journalled with its undo. */
interface CommitWork {
  key: string
  module: string
  task: string
  undo: Undo | null
  commands: Array<{ script: string; stdin?: string }>
}
const atCommitOf = (ctx: TaskContext) => (ctx as TaskContext & { atCommit?: (w: CommitWork) => void }).atCommit

async function retryWait(ctx: TaskContext, wait: string, timeout: number, first: Error) {
  for (let i = 0; i < 3; i++) {
    await new Promise((res) => setTimeout(res, 1000))
    if (!ctx.conn.alive) break
    try {
      return await ctx.run(wait, { timeoutMs: (timeout + 30) * 1000 })
    } catch {
      /* try again */
    }
  }
  throw new TaskFailed(`lost the connection while the bridge takeover ran (${first.message}); the detached script finishes on the host by itself`)
}

