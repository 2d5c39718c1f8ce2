/**
 * bridgeTakeover: a Linux bridge (br0) takes over a host's uplink (eth0) — its MAC, MTU, every address and
 * every route — so containers plugged into br0 sit on the host's LAN. Risky: it moves the addresses the
 * controller's own SSH session uses.
 *
 *   read   one round trip: `ip -d -j link`, `ip -j addr`, `ip -4/-6 -j route show table all`, and the network
 *          configuration files and tools (ifupdown / netplan / NetworkManager) unless persist is 'none'.
 *   apply  one round trip: config files are written, then ONE generated sh script is written to
 *          /var/lib/orch/bridge-takeover/<br>.apply.sh and started detached (setsid nohup, stdin /dev/null),
 *          so a dropped SSH session cannot stop it halfway. It creates the bridge (eth0's MAC and MTU, stp
 *          off, forward_delay 0), removes the routes and addresses from eth0, enslaves eth0, brings the
 *          bridge up, adds every address and route to it, and writes its done-marker (<br>.apply.done:
 *          "ok", or "failed: STEP; reverted" after putting everything back itself). The same command waits
 *          for the marker and prints the new state, which the controller verifies.
 *   undo   the exact inverse from the state read before, also detached (<br>.undo.sh/.log/.done): bridge
 *          deleted (or its old settings restored), addresses and routes back on eth0, config files restored.
 */
import { createHash } from 'node:crypto'
import { argv, quote, raw, sh } from '../net/shell.ts'
import * as v from '../net/validate.ts'
import { ArgError, TaskFailed, task, type Change, type Resource, type Task, type TaskContext, type Undo } from '../engine/types.ts'
import { displayContent, fileUndo, restoreFileScript, sectionMark, splitSections } from '../engine/taskkit.ts'
import { UnreachableError } from '../transport/types.ts'
import {
  addrArgv,
  addrKey,
  gatewaysReachable,
  isKernelRoute,
  isMovableAddr,
  parseAddrs,
  parseLinks,
  parseRoutes,
  routeArgv,
  routeKey,
  routeOrder,
  routeUses,
  unsupportedRoute,
  type IpAddr,
  type IpLink,
  type IpRoute,
} from './persist/iproute.ts'
import {
  PERSIST_MODES,
  parsePersistFacts,
  persistReadScript,
  planPersist,
  type PersistFacts,
  type PersistMode,
  type PersistPlan,
  type TakeoverSpec,
} from './persist/index.ts'

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

/** Where the detached scripts, their logs and done-markers live on the target (for safety/ and operators). */
export const TAKEOVER_DIR = '/var/lib/orch/bridge-takeover'

export interface TakeoverPaths {
  dir: string
  applyScript: string
  applyLog: string
  /** First line "ok" or "failed: ...". Written last (atomically) by the apply script. */
  applyDone: string
  undoScript: string
  undoLog: string
  undoDone: string
}

export function takeoverPaths(bridge: string): TakeoverPaths {
  const b = `${TAKEOVER_DIR}/${bridge}`
  return {
    dir: TAKEOVER_DIR,
    applyScript: `${b}.apply.sh`,
    applyLog: `${b}.apply.log`,
    applyDone: `${b}.apply.done`,
    undoScript: `${b}.undo.sh`,
    undoLog: `${b}.undo.log`,
    undoDone: `${b}.undo.done`,
  }
}

export interface TakeoverState {
  iface: IpLink
  bridge?: IpLink
  /** Movable addresses (all IPv4; IPv6 but link-local and kernel privacy ones). */
  ifaceAddrs: IpAddr[]
  bridgeAddrs: IpAddr[]
  /** Non-kernel routes (every table) through the interface / the bridge. */
  ifaceRoutes: IpRoute[]
  /**
   * Routes through the interface whose gateway is no longer on-link (e.g. an expired SLAAC prefix): the
   * kernel keeps them but would refuse them again, so they are left untouched on the interface (reported).
   */
  deadRoutes: IpRoute[]
  bridgeRoutes: IpRoute[]
  persist?: PersistFacts
}

/** What apply does, derived from the state (pure; diff, undo and apply all use it). */
export interface TakeoverPlan {
  createBridge: boolean
  /** Settings of an existing bridge to change. */
  fix: { mac?: string; mtu?: number; stp?: number; forwardDelay?: number; up?: boolean }
  moveAddrs: IpAddr[]
  moveRoutes: IpRoute[]
  enslave: boolean
  persist: PersistPlan
}

const SEC = '@@orch-takeover-section@@'
const secMark = sh`printf '\n%s\n' ${SEC}`

/** One round trip: links, addresses, routes (v4 and v6, every table). */
export function stateScript(): string {
  return [`ip -d -j link show`, secMark, `ip -j addr show`, secMark, `ip -4 -j route show table all`, secMark, `ip -6 -j route show table all`].join('; ')
}

export function parseState(text: string, bridge: string, iface: string, persist?: string): TakeoverState {
  const [links, addrs, r4, r6] = text.split(`\n${SEC}\n`)
  if (r6 === undefined) throw new TaskFailed(`unexpected output reading the network state: ${text.slice(0, 300)}`)
  const all = parseLinks(links)
  const ifl = all.find((l) => l.name === iface)
  if (!ifl) throw new TaskFailed(`no interface ${iface} on this host`)
  const brl = all.find((l) => l.name === bridge)
  const addrMap = parseAddrs(addrs)
  const allRoutes = [...parseRoutes(r4, 4), ...parseRoutes(r6, 6)]
  const routes = allRoutes.filter((r) => !isKernelRoute(r))
  const onIface = routes.filter((r) => routeUses(r, iface))
  const s: TakeoverState = {
    iface: ifl,
    ifaceAddrs: (addrMap.get(iface) ?? []).filter(isMovableAddr),
    bridgeAddrs: (addrMap.get(bridge) ?? []).filter(isMovableAddr),
    ifaceRoutes: onIface.filter((r) => gatewaysReachable(r, iface, allRoutes)),
    deadRoutes: onIface.filter((r) => !gatewaysReachable(r, iface, allRoutes)),
    bridgeRoutes: routes.filter((r) => routeUses(r, bridge)),
  }
  if (brl) s.bridge = brl
  if (persist !== undefined) s.persist = parsePersistFacts(persist)
  return s
}

const wantStp = (stp: boolean) => (stp ? 1 : 0)
/** Centiseconds, as the kernel and `ip link` count them. */
const wantFd = (stp: boolean) => (stp ? 200 : 0)

export function bridgeTakeover(args: BridgeTakeoverArgs = {}): Task<TakeoverState> {
  const a = args ?? {}
  const bridge = a.bridge ?? 'br0'
  const iface = a.iface ?? 'eth0'
  const stp = a.stp ?? false
  const persist = a.persist ?? 'auto'
  const timeout = a.timeout ?? 60
  const paths = takeoverPaths(bridge)

  const plan = (s: TakeoverState): TakeoverPlan => {
    const createBridge = !s.bridge
    const enslave = s.iface.master !== bridge
    const fix: TakeoverPlan['fix'] = {}
    if (s.bridge) {
      if (s.bridge.mac.toLowerCase() !== s.iface.mac.toLowerCase()) fix.mac = s.iface.mac
      if (s.bridge.mtu !== s.iface.mtu) fix.mtu = s.iface.mtu
      if (s.bridge.stpState !== wantStp(stp)) fix.stp = wantStp(stp)
      if (s.bridge.forwardDelay !== wantFd(stp)) fix.forwardDelay = wantFd(stp)
      if (!s.bridge.up) fix.up = true
    }
    const moveAddrs = s.ifaceAddrs
    const moveRoutes = [...s.ifaceRoutes].sort(routeOrder)
    // The configuration describes the end state: what moves plus what the bridge already holds.
    const spec: TakeoverSpec = {
      bridge,
      iface,
      mac: s.iface.mac,
      mtu: s.iface.mtu,
      stp,
      forwardDelay: wantFd(stp) / 100,
      addrs: [...s.bridgeAddrs, ...moveAddrs],
      routes: [...s.bridgeRoutes, ...moveRoutes],
    }
    return { createBridge, fix, moveAddrs, moveRoutes, enslave, persist: planPersist(persist, s.persist, spec) }
  }
  const runtimeWork = (p: TakeoverPlan) => p.createBridge || p.enslave || p.moveAddrs.length > 0 || p.moveRoutes.length > 0 || Object.keys(p.fix).length > 0

  const resource: Resource<TakeoverState> = {
    module: 'bridge_takeover',
    name: `bridge ${bridge} takes over ${iface}`,
    risky: true,
    validate() {
      v.ifname('bridgeTakeover.bridge', bridge)
      v.ifname('bridgeTakeover.iface', iface)
      if (bridge === iface) throw new ArgError('bridgeTakeover.bridge', `a name other than the interface (${iface})`, bridge)
      if (typeof stp !== 'boolean') throw new ArgError('bridgeTakeover.stp', 'a boolean', stp)
      v.oneOf('bridgeTakeover.persist', persist, PERSIST_MODES)
      v.int('bridgeTakeover.timeout', timeout, 5, 3600)
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
    undo(s, changes) {
      const p = plan(s)
      const parts: string[] = []
      const desc: string[] = []
      for (const w of p.persist.writes) {
        if (!changes.some((c) => c.what.includes(` ${w.path} (`))) continue
        const u = fileUndo(w.path, w.before)
        if (u) {
          parts.push(u.script)
          desc.push(u.description)
        }
      }
      if (runtimeWork(p)) {
        parts.push(detachedScript(revertScript(s, p, bridge, iface), paths.undoScript, paths.undoLog, paths.undoDone, timeout, 'undo'))
        desc.push(`${iface} gets its addresses and routes back, ${p.createBridge ? `${bridge} deleted` : `${bridge} restored`} (detached: ${paths.undoScript})`)
      }
      if (!parts.length) return null
      // The runtime part exits non-zero when its done-marker is missing or not "ok".
      return { description: desc.join('; '), script: parts.join('\n') }
    },
    async apply(ctx, s, changes) {
      const p = plan(s)
      const cmds: string[] = []
      for (const w of p.persist.writes) {
        if (!changes.some((c) => c.what.includes(` ${w.path} (`))) continue
        cmds.push(sh`mkdir -p "$(dirname ${w.path})"`, restoreFileScript(w.path, Buffer.from(w.content, 'utf8'), w.mode, '0:0'))
      }
      const notes = [...p.persist.notes]
      for (const rt of s.deadRoutes) notes.push(`left on ${iface}: route ${argv(routeArgv(rt, 'add', iface, iface).slice(4))} (its gateway is not on-link any more: the kernel would not accept it again)`)
      if (s.ifaceAddrs.some((x) => x.dynamic && x.family === 'inet'))
        notes.push(`${iface} has a DHCP (dynamic) IPv4 address: its DHCP client must now run on ${bridge} (the persisted configuration does that at the next boot)`)
      const data: Record<string, unknown> = {
        bridge,
        iface,
        persist: p.persist.kind,
        runtimeOnly: p.persist.kind === 'none',
        notes,
        paths,
      }
      if (!runtimeWork(p)) {
        const r = await ctx.run(cmds.join(' && '))
        if (r.code !== 0) throw new TaskFailed(`writing the network configuration failed (rc=${r.code}): ${r.stderr.trim().slice(0, 300)}`, r)
        return { msg: notes.join('; '), data }
      }
      const script = applyScript(s, p, bridge, iface, stp, paths)
      const launch = [
        ...cmds,
        sh`umask 077; mkdir -p ${paths.dir} && chmod 700 /var/lib/orch ${paths.dir} && rm -f ${paths.applyDone} && cat > ${paths.applyScript + '.tmp'} && mv -f ${paths.applyScript + '.tmp'} ${paths.applyScript}`,
        startDetached(paths.applyScript, paths.applyLog),
      ].join(' && ')
      const wait = waitAndShow(paths.applyDone, paths.applyLog, timeout)
      let r
      try {
        r = await ctx.run(`${launch} || exit 90\n${wait}`, { stdin: script, timeoutMs: (timeout + 30) * 1000 })
      } catch (e) {
        if (!(e instanceof UnreachableError)) throw e
        // The session dropped while the script ran: it goes on by itself. Ask again if the connection came back.
        r = await retryWait(ctx, wait, timeout, e)
      }
      if (r.code === 90) throw new TaskFailed(`could not start the takeover script (nothing was changed): ${r.stderr.trim().slice(0, 300)}`, r)
      return verify(r.stdout, s, p, bridge, iface, paths, notes, data)
    },
  }
  return task(resource)
}

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

/** Start a script detached from the session: own session (setsid), stdin /dev/null, output to its log. */
export function startDetached(script: string, log: string): string {
  return (
    sh`if command -v setsid >/dev/null 2>&1; then (setsid nohup sh ${script} </dev/null >${log} 2>&1 &); ` +
    sh`else (nohup sh ${script} </dev/null >${log} 2>&1 &); fi`
  )
}

/** Wait for a done-marker (up to `timeout` s), then print it, the new network state and the log's tail. */
function waitAndShow(done: string, log: string, timeout: number): string {
  return (
    sh`i=0; while [ ! -f ${done} ] && [ $i -lt ${timeout * 10} ]; do sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); done\n` +
    sh`cat ${done} 2>/dev/null || echo 'timeout: no done-marker'; ${raw(secMark)}; ${raw(stateScript())}; ${raw(secMark)}; tail -n 20 ${log} 2>/dev/null; true`
  )
}


/**
 * A journal-ready undo: writes the revert script, starts it detached (so it completes even when the
 * session running the rollback drops), waits for its done-marker and exits 0 only when it says "ok".
 */
export function detachedScript(body: string, script: string, log: string, done: string, timeout: number, tag: string): string {
  const eof = `ORCH_TAKEOVER_${tag.toUpperCase()}_EOF`
  if (body.split('\n').includes(eof)) throw new Error('script body contains its own heredoc delimiter')
  return (
    sh`umask 077; mkdir -p ${TAKEOVER_DIR} && chmod 700 ${TAKEOVER_DIR}; rm -f ${done}\n` +
    sh`cat > ${script} <<'` + eof + `'\n${body}\n${eof}\n` +
    startDetached(script, log) +
    '\n' +
    sh`i=0; while [ ! -f ${done} ] && [ $i -lt ${timeout * 10} ]; do sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); done\n` +
    sh`cat ${done} 2>/dev/null; [ "$(head -n 1 ${done} 2>/dev/null)" = ok ]`
  )
}

const line = (w: string[]) => argv(w)

/**
 * Commands that set a bridge's MAC/MTU and STP/forward delay. The kernel applies forward_delay before
 * stp_state within one request, and refuses a delay under 2 s while STP is on: so STP goes off before the
 * delay drops, and the delay is set before STP goes on.
 */
function bridgeSet(bridge: string, o: { mac?: string; mtu?: number; stp?: number; fd?: number }): string[] {
  const out: string[] = []
  const w = ['ip', 'link', 'set', 'dev', bridge]
  if (o.mac) w.push('address', o.mac)
  if (o.mtu !== undefined) w.push('mtu', String(o.mtu))
  if (w.length > 5) out.push(line(w))
  const stp = o.stp !== undefined ? line(['ip', 'link', 'set', 'dev', bridge, 'type', 'bridge', 'stp_state', String(o.stp)]) : null
  const fd = o.fd !== undefined ? line(['ip', 'link', 'set', 'dev', bridge, 'type', 'bridge', 'forward_delay', String(o.fd)]) : null
  if (o.stp === 0) out.push(...[stp, fd].filter((x): x is string => !!x))
  else out.push(...[fd, stp].filter((x): x is string => !!x))
  return out
}

/** The steps that put the interface back, from the state read before the change. Idempotent. */
function revertSteps(s: TakeoverState, p: TakeoverPlan, bridge: string, iface: string): string[] {
  const out: string[] = []
  if (!p.createBridge) {
    for (const rt of p.moveRoutes) out.push(`${line(routeArgv(rt, 'del', iface, bridge))} 2>/dev/null`)
    for (const ad of p.moveAddrs) out.push(`${line(addrArgv(ad, 'del', bridge))} 2>/dev/null`)
  }
  if (p.enslave) out.push(`${line(['ip', 'link', 'set', 'dev', iface, 'nomaster'])} || rc=1`)
  if (p.createBridge) out.push(sh`if ip link show dev ${bridge} >/dev/null 2>&1; then ip link del dev ${bridge} || rc=1; fi`)
  else if (s.bridge) {
    const b = s.bridge
    const back = bridgeSet(bridge, {
      mac: p.fix.mac ? b.mac : undefined,
      mtu: p.fix.mtu !== undefined ? b.mtu : undefined,
      stp: p.fix.stp !== undefined ? b.stpState : undefined,
      fd: p.fix.forwardDelay !== undefined ? b.forwardDelay : undefined,
    })
    for (const c of back) out.push(`${c} || rc=1`)
    if (p.fix.up) out.push(`${line(['ip', 'link', 'set', 'dev', bridge, 'down'])} || rc=1`)
  }
  if (s.iface.up) out.push(`${line(['ip', 'link', 'set', 'dev', iface, 'up'])} || rc=1`)
  for (const ad of orderAddrs(p.moveAddrs)) out.push(`${line(addrArgv(ad, 'replace', iface, bridge))} || rc=1`)
  for (const rt of p.moveRoutes) out.push(`${line(routeArgv(rt, 'replace', bridge, iface))} || rc=1`)
  return out
}

/**
 * The order that rebuilds the kernel's list exactly: IPv4 primaries before secondaries (a secondary needs
 * its primary; IPv4 addresses are appended), IPv6 in reverse (the kernel lists the newest first).
 */
const orderAddrs = (list: IpAddr[]) => [
  ...list.filter((x) => x.family === 'inet' && !x.secondary),
  ...list.filter((x) => x.family === 'inet' && x.secondary),
  ...list.filter((x) => x.family === 'inet6').reverse(),
]

const PRELUDE = `PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"; export PATH\nset -u\n`

function markerWrite(done: string, text: string): string {
  return sh`printf '%s\n' ${raw(text)} > ${done + '.tmp'} && mv -f ${done + '.tmp'} ${done}`
}

export function revertScript(s: TakeoverState, p: TakeoverPlan, bridge: string, iface: string): string {
  const paths = takeoverPaths(bridge)
  return (
    `#!/bin/sh\n# orch bridgeTakeover undo: ${bridge} gives ${iface} back (detached)\n${PRELUDE}rc=0\n` +
    revertSteps(s, p, bridge, iface).join('\n') +
    `\nif [ $rc = 0 ]; then ${markerWrite(paths.undoDone, 'ok')}; else ${markerWrite(paths.undoDone, "'failed: see log'")}; fi\nexit $rc\n`
  )
}

/**
 * The detached apply script. Every step has its inverse; when a step fails, the script undoes the steps
 * that completed (newest first) and says so in its done-marker.
 */
export function applyScript(s: TakeoverState, p: TakeoverPlan, bridge: string, iface: string, stp: boolean, paths: TakeoverPaths): string {
  const steps: Array<{ run: string; inverse: string; tolerant?: boolean }> = []
  if (p.createBridge) {
    steps.push({
      run: line(['ip', 'link', 'add', 'name', bridge, 'address', s.iface.mac, 'mtu', String(s.iface.mtu), 'type', 'bridge', 'stp_state', String(wantStp(stp)), 'forward_delay', String(wantFd(stp))]),
      inverse: line(['ip', 'link', 'del', 'dev', bridge]),
    })
  } else if (s.bridge) {
    const b = s.bridge
    const fwd = bridgeSet(bridge, { mac: p.fix.mac, mtu: p.fix.mtu, stp: p.fix.stp, fd: p.fix.forwardDelay })
    const back = bridgeSet(bridge, {
      mac: p.fix.mac ? b.mac : undefined,
      mtu: p.fix.mtu !== undefined ? b.mtu : undefined,
      stp: p.fix.stp !== undefined ? b.stpState : undefined,
      fd: p.fix.forwardDelay !== undefined ? b.forwardDelay : undefined,
    })
    // One step (all or nothing for the revert): the forward commands, then their inverse as one.
    if (fwd.length) steps.push({ run: fwd.join(' && '), inverse: back.join(' && ') })
  }
  // Routes first (IPv4 ones would go with the last address anyway; IPv6 ones would not). Tolerant: one
  // may already be gone; its inverse puts it back as it was read.
  for (const rt of p.moveRoutes) steps.push({ run: line(routeArgv(rt, 'del', iface, iface)), inverse: line(routeArgv(rt, 'replace', iface, iface)), tolerant: true })
  // Deleted secondaries first (deleting a primary drops them); the inverses then re-add in the reverse order.
  const dels = [...p.moveAddrs.filter((x) => x.family === 'inet' && x.secondary).reverse(), ...p.moveAddrs.filter((x) => x.family === 'inet' && !x.secondary).reverse(), ...p.moveAddrs.filter((x) => x.family === 'inet6')]
  for (const ad of dels) steps.push({ run: line(addrArgv(ad, 'del', iface)), inverse: line(addrArgv(ad, 'replace', iface, bridge)) })
  if (p.enslave) steps.push({ run: line(['ip', 'link', 'set', 'dev', iface, 'master', bridge]), inverse: line(['ip', 'link', 'set', 'dev', iface, 'nomaster']) })
  steps.push({ run: line(['ip', 'link', 'set', 'dev', bridge, 'up']), inverse: p.createBridge || s.bridge?.up ? ':' : line(['ip', 'link', 'set', 'dev', bridge, 'down']) })
  for (const ad of orderAddrs(p.moveAddrs)) steps.push({ run: line(addrArgv(ad, 'replace', bridge, iface)), inverse: line(addrArgv(ad, 'del', bridge)) })
  for (const rt of p.moveRoutes) steps.push({ run: line(routeArgv(rt, 'replace', iface, bridge)), inverse: line(routeArgv(rt, 'del', iface, bridge)) })

  const inverses = steps.map((st, i) => `inverse_${i + 1}() { ${st.inverse}; }`).join('\n')
  const body = steps.map((st) => `  ${st.tolerant ? 'tstep' : 'step'} ${quote(st.run)} || return 1`).join('\n')
  return (
    `#!/bin/sh\n# orch bridgeTakeover: ${bridge} takes over ${iface} (detached: survives the SSH session dropping)\n${PRELUDE}` +
    `failed=''; n=0\n` +
    `step() { echo "+ $1"; sh -c "$1" || { failed=$1; return 1; }; n=$((n+1)); }\n` +
    `tstep() { echo "+ $1"; sh -c "$1" 2>/dev/null || echo "  (already gone)"; n=$((n+1)); }\n` +
    `${inverses}\n` +
    `revert() { rc=0; while [ $n -gt 0 ]; do echo "- undo step $n"; inverse_$n || rc=1; n=$((n-1)); done; return $rc; }\n` +
    `main() {\n${body}\n}\n` +
    `started=$(date +%s)\n` +
    `if main; then ${markerWrite(paths.applyDone, 'ok')}\n` +
    `else\n  echo "step failed: $failed: reverting"\n  if revert; then r=reverted; else r='revert failed'; fi\n` +
    `  ${markerWrite(paths.applyDone, `"failed: $failed; $r"`)}\nfi\n` +
    `echo "done in $(( $(date +%s) - started ))s"\n`
  )
}

function verify(
  out: string,
  before: TakeoverState,
  p: TakeoverPlan,
  bridge: string,
  iface: string,
  paths: TakeoverPaths,
  notes: string[],
  data: Record<string, unknown>,
) {
  const i = out.indexOf(`\n${SEC}\n`)
  const marker = (i < 0 ? out : out.slice(0, i)).trim()
  const rest = i < 0 ? '' : out.slice(i + SEC.length + 2)
  const j = rest.lastIndexOf(`\n${SEC}\n`)
  const stateText = j < 0 ? rest : rest.slice(0, j)
  const logTail = j < 0 ? '' : rest.slice(j + SEC.length + 2).trim()
  const first = marker.split('\n')[0]
  if (first !== 'ok') {
    throw new TaskFailed(`bridge takeover on ${bridge}: ${first || 'no done-marker'} (log ${paths.applyLog}): ${logTail.split('\n').slice(-5).join(' / ')}`, { stdout: out })
  }
  const now = parseState(stateText, bridge, iface)
  const problems: string[] = []
  if (now.iface.master !== bridge) problems.push(`${iface} is not a port of ${bridge}`)
  if (!now.bridge?.up) problems.push(`${bridge} is not up`)
  const have = new Set(now.bridgeAddrs.map(addrKey))
  for (const ad of p.moveAddrs) if (!have.has(addrKey(ad))) problems.push(`${addrKey(ad)} missing on ${bridge}`)
  const routes = new Set(now.bridgeRoutes.map((r) => routeKey(r, bridge)))
  for (const rt of p.moveRoutes) if (!routes.has(routeKey(rt, iface))) problems.push(`route ${argv(routeArgv(rt, 'add', iface, bridge).slice(4))} missing`)
  if (now.ifaceAddrs.length) problems.push(`${iface} still has ${now.ifaceAddrs.map(addrKey).join(', ')}`)
  if (problems.length) throw new TaskFailed(`bridge takeover on ${bridge} did not reach the wanted state: ${problems.join('; ')}`, { stdout: out })
  void before
  return { msg: notes.join('; '), data }
}

/** A short deterministic hash (hex) for interface names. */
export function shortHash(text: string, len = 8): string {
  return createHash('sha1').update(text).digest('hex').slice(0, len)
}
