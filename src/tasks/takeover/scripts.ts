/**
 * The scripts bridgeTakeover runs detached on the target (so a dropped SSH session cannot stop them
 * halfway): the apply script (every step with its inverse, self-reverting on failure), the revert script
 * (idempotent, also after a reboot), and the wrappers that start them and wait for their done-markers.
 */
import { argv, quote, raw, sh } from '../../net/shell.ts'
import { addrArgv, routeArgv, type IpAddr } from '../persist/iproute.ts'
import { secMark, stateScript, wantFd, wantStp, type TakeoverPlan, type TakeoverState } from './state.ts'

import type { TakeoverPaths } from './state.ts'

/** Where the detached scripts, their logs and done-markers live on the target (for safety/ and operators). */
export const TAKEOVER_DIR = '/var/lib/orch/bridge-takeover'

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

/** Start a script detached from the session: own session (setsid), stdin /dev/null, output to its log. */
export function startDetached(script: string, log: string): string {
  return (
    sh`if command -v setsid >/dev/null 2>&1; then (setsid nohup sh ${script} </dev/null >${log} 2>&1 &); ` +
    sh`else (nohup sh ${script} </dev/null >${log} 2>&1 &); fi`
  )
}

/**
 * Wait for a done-marker (up to `timeout` s), then print it, the new network state and the log's tail.
 * With `launch` (the script and the line that names this launch in it): a session that dropped before
 * the launch ran left an earlier script and its done-marker, which are not this run's: say so instead.
 */
export function waitAndShow(done: string, log: string, timeout: number, launch?: { script: string; line: string }): string {
  const wait =
    sh`i=0; while [ ! -f ${done} ] && [ $i -lt ${timeout * 10} ]; do sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); done\n` +
    sh`cat ${done} 2>/dev/null || echo 'timeout: no done-marker'`
  const marker = launch ? sh`if grep -qxF ${launch.line} ${launch.script} 2>/dev/null; then ${raw(wait)}; else echo 'not started: the session dropped before the takeover script was launched (nothing was changed)'; fi` : wait
  return marker + sh`; ${raw(secMark)}; ${raw(stateScript())}; ${raw(secMark)}; tail -n 20 ${log} 2>/dev/null; true`
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
  // A port that booted enslaved may have lost its IPv6 link-local address: ifupdown's bridge hook sets a
  // port's addrgenmode to none. Set back, the kernel makes the address only when the link comes up again.
  const mode = s.iface.addrGenMode
  if (mode) out.push(sh`if ! ip -d -j link show dev ${iface} | grep -qF ${`"inet6_addr_gen_mode":"${mode}"`}; then ip link set dev ${iface} addrgenmode ${mode} && ip link set dev ${iface} down || rc=1; fi`)
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

/** The manager's own steps around the ip ones (takeover/managers.ts); each may fail without failing the revert. */
export interface RevertHooks {
  before: string[]
  after: string[]
}

export function revertScript(s: TakeoverState, p: TakeoverPlan, bridge: string, iface: string, hooks: RevertHooks = { before: [], after: [] }): string {
  const paths = takeoverPaths(bridge)
  const tolerant = (c: string) => `{ ${c}; } || echo "  (failed: $?)"`
  return (
    `#!/bin/sh\n# orch bridgeTakeover undo: ${bridge} gives ${iface} back (detached)\n${PRELUDE}rc=0\n` +
    [...hooks.before.map(tolerant), ...revertSteps(s, p, bridge, iface), ...hooks.after.map(tolerant)].join('\n') +
    `\nif [ $rc = 0 ]; then ${markerWrite(paths.undoDone, 'ok')}; else ${markerWrite(paths.undoDone, "'failed: see log'")}; fi\nexit $rc\n`
  )
}

/**
 * The detached apply script. Every step has its inverse; when a step fails, the script undoes the steps
 * that completed (newest first) and says so in its done-marker.
 */
export function applyScript(s: TakeoverState, p: TakeoverPlan, bridge: string, iface: string, stp: boolean, paths: TakeoverPaths, load: string[] = [], launchLine = ''): string {
  const steps: Array<{ run: string; inverse: string; tolerant?: boolean; load?: boolean }> = []
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
  // Gateway routes go before the link routes they need, so the inverses (newest first) re-add those first.
  for (const rt of [...p.moveRoutes].reverse()) steps.push({ run: line(routeArgv(rt, 'del', iface, iface)), inverse: line(routeArgv(rt, 'replace', iface, iface)), tolerant: true })
  // Deleted secondaries first (deleting a primary drops them); the inverses then re-add in the reverse order.
  const dels = [...p.moveAddrs.filter((x) => x.family === 'inet' && x.secondary).reverse(), ...p.moveAddrs.filter((x) => x.family === 'inet' && !x.secondary).reverse(), ...p.moveAddrs.filter((x) => x.family === 'inet6')]
  for (const ad of dels) steps.push({ run: line(addrArgv(ad, 'del', iface)), inverse: line(addrArgv(ad, 'replace', iface, bridge)) })
  if (p.enslave) steps.push({ run: line(['ip', 'link', 'set', 'dev', iface, 'master', bridge]), inverse: line(['ip', 'link', 'set', 'dev', iface, 'nomaster']) })
  steps.push({ run: line(['ip', 'link', 'set', 'dev', bridge, 'up']), inverse: p.createBridge || s.bridge?.up ? ':' : line(['ip', 'link', 'set', 'dev', bridge, 'down']) })
  for (const ad of orderAddrs(p.moveAddrs)) steps.push({ run: line(addrArgv(ad, 'replace', bridge, iface)), inverse: line(addrArgv(ad, 'del', bridge)) })
  for (const rt of p.moveRoutes) steps.push({ run: line(routeArgv(rt, 'replace', iface, bridge)), inverse: line(routeArgv(rt, 'del', iface, bridge)) })

  // The running network manager takes the new configuration over last (tolerant: the kernel state is what is checked).
  for (const c of load) steps.push({ run: c, inverse: ':', load: true })
  const inverses = steps.map((st, i) => `inverse_${i + 1}() { ${st.inverse}; }`).join('\n')
  const body = steps.map((st) => `  ${st.load ? 'lstep' : st.tolerant ? 'tstep' : 'step'} ${quote(st.run)} || return 1`).join('\n')
  return (
    `#!/bin/sh\n# orch bridgeTakeover: ${bridge} takes over ${iface} (detached: survives the SSH session dropping)\n${launchLine ? `${launchLine}\n` : ''}${PRELUDE}` +
    `failed=''; n=0\n` +
    `step() { echo "+ $1"; sh -c "$1" || { failed=$1; return 1; }; n=$((n+1)); }\n` +
    `tstep() { echo "+ $1"; sh -c "$1" 2>/dev/null || echo "  (already gone)"; n=$((n+1)); }\n` +
    `lstep() { echo "+ $1"; sh -c "$1" 2>&1 || echo "  (failed: $?)"; n=$((n+1)); }\n` +
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

