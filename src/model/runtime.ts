/**
 * The runtime renderer of plans: for every step kind, the lines --check/--diff show, the sh command
 * that applies it now and the one that undoes it (journalled on the target before apply). Every word
 * goes through net/shell.ts.
 */
import { argv, quote, sh } from '../net/shell.ts'
import type { Change, Undo } from '../engine/types.ts'
import { displayContent, fileUndo, INLINE_WRITE_MAX, restoreFileScript, writeFileScript } from '../engine/taskkit.ts'
import { restartDockerScript } from './docker.ts'
import { describePlan, restoreBinary, restoreInput, undoScript, type ChainState } from '../facts/iptables.ts'
import { deleteWords, routeCommand, routeText } from '../facts/routes.ts'
import { procPath } from './facts.ts'
import { applyWg, describeWg, undoWg } from './wireguard.ts'
import type { DockerRestartStep, OldVxlan, Step, VxlanCreateStep } from './steps.ts'
import { describeUnit, unitApply, unitUndo } from './unit.ts'

export interface Command {
  script: string
  stdin?: string
  /** A check that must pass before any step of the plan changes the host (hoisted to the front). */
  pre?: string
}

const chainState = (s: { ipt: string; variant: ChainState['variant']; pathVariant: ChainState['pathVariant'] }): ChainState => ({ ...s, parents: {}, rules: null })
const vxlanText = (id: number | undefined, port: number | undefined, local: string | undefined, dev: string | undefined, learning: boolean | undefined) =>
  `vni ${id} dstport ${port} local ${local}${dev ? ` dev ${dev}` : ''}${learning === false ? ' nolearning' : ''}`

/** What --check and --diff show for a step. */
export function describeStep(s: Step): Change[] {
  switch (s.kind) {
    case 'sysctl':
      return [{ what: `${s.name} (runtime)`, before: s.before, after: s.value }]
    case 'file': {
      const old = s.before.kind === 'file' ? s.before.content.toString('utf8') : ''
      return [{ what: `${s.before.kind === 'absent' ? 'create' : 'content'} ${s.path}`, before: displayContent(old), after: displayContent(s.content) }]
    }
    case 'file-absent':
      return [{ what: `remove ${s.path}`, before: s.before.kind === 'file' ? displayContent(s.before.content.toString('utf8')) : '', after: '' }]
    case 'route':
      if (s.op === 'add') return [{ what: `add route ${s.label}`, before: '', after: routeText(s.route) }]
      if (s.op === 'replace') return [{ what: `replace route ${s.label}`, before: (s.previous ?? []).map(routeText).join('\n'), after: routeText(s.route) }]
      return [{ what: `remove route ${s.label}`, before: routeText(s.route), after: '' }]
    case 'iptables-chain':
      return describePlan(s.spec, chainState(s), s.plan)
    case 'vxlan-create': {
      if (!s.replaces) return [{ what: `create vxlan ${s.name}`, after: `${vxlanText(s.id, s.port, s.local, s.dev, s.learning)} mtu ${s.mtu}` }]
      const o = s.replaces.vxlan
      const out: Change[] = [
        {
          what: `recreate vxlan ${s.name}`,
          before: vxlanText(o.id, o.port, o.local, o.link, o.learning) + (o.remote ? ` remote ${o.remote}` : ''),
          after: vxlanText(s.id, s.port, s.local, s.dev, s.learning),
        },
      ]
      for (const x of s.peersAdded ?? []) out.push({ what: `fdb ${s.name}: add peer ${x}` })
      for (const x of s.peersRemoved ?? []) out.push({ what: `fdb ${s.name}: remove peer ${x}` })
      if (s.masterChange) out.push({ what: `${s.name} master`, before: s.masterChange.before ?? '(none)', after: s.masterChange.after + (s.masterChange.exists ? '' : ' (does not exist yet)') })
      return out
    }
    case 'link-set': {
      if (s.quiet) return []
      const out: Change[] = []
      if (s.mtu) out.push({ what: `${s.name} mtu`, before: String(s.mtu.before), after: String(s.mtu.after) })
      if (s.master) out.push({ what: `${s.name} master`, before: s.master.before ?? '(none)', after: s.master.after + (s.master.exists ? '' : ' (does not exist yet)') })
      if (s.up) out.push({ what: `set ${s.name} up` })
      return out
    }
    case 'docker-daemon':
      return s.settings.map((x) => ({ what: `${s.path} "${x.key}"`, before: x.before === undefined ? '(unset)' : JSON.stringify(x.before), after: JSON.stringify(x.after) }))
    case 'docker-restart': {
      const out: Change[] = [{ what: 'restart docker', before: s.why.join('; '), after: s.target }]
      const again = s.containers.filter((c) => !c.autoRemove)
      const hasPolicy = (c: { restart: string }) => c.restart !== '' && c.restart !== 'no'
      if (again.length)
        out.push({
          what: s.liveRestore ? 'containers stopped for the restart (live-restore would keep the old network) and started again' : 'containers running again after the restart',
          after: again.map((c) => `${c.name}${s.liveRestore || !hasPolicy(c) ? ' (docker start)' : ''}`).join(', '),
        })
      const lost = s.containers.filter((c) => c.autoRemove)
      if (lost.length) out.push({ what: 'containers docker removes on restart (started with --rm)', before: lost.map((c) => c.name).join(', '), after: '' })
      return out
    }
    case 'fdb':
      if (s.quiet) return []
      return [{ what: `fdb ${s.dev}: ${s.op === 'append' ? 'add' : 'remove'} ${s.mac === ZERO_MAC ? 'peer' : `${s.mac} dst`} ${s.dst}` }]
    case 'wg-key':
    case 'wg-create':
    case 'wg-set':
      return describeWg(s)
    case 'unit':
      return describeUnit(s)
  }
}

export const ZERO_MAC = '00:00:00:00:00:00'

/** The command that applies a step. */
export function applyStep(s: Step): Command {
  switch (s.kind) {
    case 'sysctl':
      return { script: sh`printf '%s\\n' ${s.value} > ${procPath(s.name)}` }
    case 'file': {
      const inline = Buffer.byteLength(s.content) <= INLINE_WRITE_MAX
      const write = writeFileScript(s.path, s.mode, s.owner, inline ? Buffer.from(s.content) : undefined, s.keepOwner)
      return { script: (s.mkdir ? sh`mkdir -p ${s.mkdir} && ` : '') + write, ...(inline ? {} : { stdin: s.content }) }
    }
    case 'file-absent':
      return { script: sh`rm -f -- ${s.path}` }
    case 'route':
      if (s.op === 'del') return { script: argv(['ip', `-${s.family}`, 'route', 'del', ...deleteWords(s.route, s.table)]) }
      return { script: routeCommand(s.op, s.route, s.table, s.family) }
    case 'iptables-chain':
      return { script: sh`${restoreBinary(s.ipt)} -w -n`, stdin: restoreInput(s.spec, s.plan) }
    case 'vxlan-create': {
      const w: Array<string | number> = ['ip', 'link', 'add', s.name, 'mtu', s.mtu, 'type', 'vxlan', 'id', s.id, 'dstport', s.port, 'local', s.local]
      if (s.dev) w.push('dev', s.dev)
      if (!s.learning) w.push('nolearning')
      return { script: (s.replaces ? argv(['ip', 'link', 'del', 'dev', s.name]) + ' && ' : '') + argv(w) }
    }
    case 'link-set': {
      const cmds: string[] = []
      if (s.mtu) cmds.push(argv(['ip', 'link', 'set', 'dev', s.name, 'mtu', s.mtu.after]))
      if (s.master) cmds.push(argv(['ip', 'link', 'set', 'dev', s.name, 'master', s.master.after]))
      if (s.up) cmds.push(argv(['ip', 'link', 'set', 'dev', s.name, 'up']))
      const pre = s.master ? `${argv(['ip', 'link', 'show', 'dev', s.master.after])} >/dev/null 2>&1 || { echo ${quote(`bridge ${s.master.after} does not exist`)} >&2; exit 3; }` : undefined
      return { script: cmds.join(' && '), ...(pre ? { pre } : {}) }
    }
    case 'fdb':
      return { script: argv(['bridge', 'fdb', s.op, s.mac, 'dev', s.dev, 'dst', s.dst]) }
    case 'docker-daemon':
      return { script: sh`mkdir -p /etc/docker && ` + restoreFileScript(s.path, Buffer.from(s.content), s.mode, s.owner) }
    case 'docker-restart':
      return { script: `{ ${restartDockerScript(s.manager, restartIds(s), { liveRestore: s.liveRestore })}; }` }
    case 'wg-key':
    case 'wg-create':
    case 'wg-set':
      return { script: applyWg(s) }
    case 'unit':
      return { script: unitApply(s) }
  }
}

/** The containers a restart brings back: those that ran, but not --rm ones (docker removed them). */
const restartIds = (s: DockerRestartStep) => s.containers.filter((c) => !c.autoRemove).map((c) => c.id)

/** Step kinds whose change is kernel state only (gone after a power cut): their undo is volatile. */
const VOLATILE: ReadonlySet<Step['kind']> = new Set(['sysctl', 'route', 'iptables-chain', 'vxlan-create', 'link-set', 'fdb', 'wg-create', 'wg-set'])

/** The exact inverse of a step, from what it recorded before; null when it leaves nothing to undo. */
export function undoStep(s: Step): Undo | null {
  const u = undoOf(s)
  return u && VOLATILE.has(s.kind) && !u.backup ? { ...u, volatile: true } : u
}

function undoOf(s: Step): Undo | null {
  switch (s.kind) {
    case 'sysctl':
      return { description: `${s.name}=${s.before}`, script: sh`printf '%s\\n' ${s.before} > ${procPath(s.name)}` }
    case 'file':
      return fileUndo(s.path, s.before)
    case 'file-absent': {
      const u = s.before.kind === 'file' ? fileUndo(s.path, s.before) : null
      return u && { description: u.description, script: sh`mkdir -p ${s.path.replace(/\/[^/]*$/, '') || '/'} && ` + u.script }
    }
    case 'route':
      // Gone already (the host rebooted without it): nothing left to undo.
      if (s.op === 'add') return { description: `remove route ${s.label} (it did not exist)`, script: routeGoneOrDel(s.family, s.route, s.table) }
      if (s.op === 'replace') {
        const old = (s.previous ?? [])[0]
        return old ? { description: `restore route ${routeText(old)}`, script: routeCommand('replace', old, s.table, s.family) } : null
      }
      return { description: `re-add ${routeText(s.route)}`, script: routeCommand('add', s.route, s.table, s.family) }
    case 'iptables-chain':
      return { description: s.undoText, script: undoScript(s.spec, chainState(s), s.plan) }
    case 'vxlan-create': {
      const del = argv(['ip', 'link', 'del', 'dev', s.name])
      if (!s.replaces) return { description: `delete vxlan ${s.name}`, script: `${del} 2>/dev/null || true` }
      return { description: `recreate the previous vxlan ${s.name} (vni ${s.replaces.vxlan.id})`, script: [`{ ${del} 2>/dev/null || true; }`, ...rebuildVxlan(s, s.replaces)].join(' && ') }
    }
    case 'link-set': {
      if (s.fresh) return null
      const cmds: string[] = [sh`{ ip link show dev ${s.name} >/dev/null 2>&1 || exit 0; }`] // gone (a reboot): nothing to undo
      const d: string[] = []
      if (s.up) cmds.push(argv(['ip', 'link', 'set', 'dev', s.name, 'down'])), d.push(`${s.name} down`)
      if (s.master) {
        cmds.push(s.master.before ? argv(['ip', 'link', 'set', 'dev', s.name, 'master', s.master.before]) : argv(['ip', 'link', 'set', 'dev', s.name, 'nomaster']))
        d.push(`${s.name} master ${s.master.before ?? '(none)'}`)
      }
      if (s.mtu) cmds.push(argv(['ip', 'link', 'set', 'dev', s.name, 'mtu', s.mtu.before])), d.push(`${s.name} mtu ${s.mtu.before}`)
      return { description: d.join(', '), script: cmds.length > 1 ? `(${cmds.join(' && ')})` : '' }
    }
    case 'fdb':
      if (s.fresh) return null
      if (s.op === 'append') return { description: `fdb ${s.dev}: remove ${s.dst}`, script: `${argv(['bridge', 'fdb', 'del', s.mac, 'dev', s.dev, 'dst', s.dst])} 2>/dev/null || true` }
      return { description: `fdb ${s.dev}: add ${s.dst} back`, script: argv(['bridge', 'fdb', 'append', s.mac, 'dev', s.dev, 'dst', s.dst]) }
    case 'docker-daemon':
      return s.undoneByRestart ? null : fileUndo(s.path, s.before)
    case 'docker-restart':
      return dockerRestartUndo(s)
    case 'wg-key':
    case 'wg-create':
    case 'wg-set':
      return undoWg(s)
    case 'unit':
      return unitUndo(s)
  }
}

/** `ip route del` of exactly that route; a route already gone is no failure (e.g. after a reboot). */
function routeGoneOrDel(family: 4 | 6, r: Parameters<typeof deleteWords>[0], table: number): string {
  const del = argv(['ip', `-${family}`, 'route', 'del', ...deleteWords(r, table)])
  const show = argv(['ip', `-${family}`, 'route', 'show', 'table', table, 'exact', r.dst])
  return `${del} 2>/dev/null || [ -z "$(${show} 2>/dev/null)" ] || ${del}`
}

/**
 * dockerd keeps the default bridge's subnet (and MTU) in its network store and, without a bip in
 * daemon.json, reuses it: the old file alone would leave docker0 on the new subnet. So first restart with
 * the old values pinned in the file (the store takes them), then restore the file byte-exact and restart
 * (or stop docker, when it was not running); docker0 gets its old MAC back.
 */
function dockerRestartUndo(s: DockerRestartStep): Undo | null {
  const u = s.undo
  if (!u) return null
  const fu = fileUndo(u.path, u.file)
  if (!fu) return null
  const steps: string[] = []
  const desc: string[] = []
  if (u.pinned) {
    steps.push(restoreFileScript(u.path, Buffer.from(u.pinned.content), u.pinned.mode, u.pinned.owner), `{ ${restartDockerScript(s.manager, [], { liveRestore: s.liveRestore })}; } >/dev/null`)
    desc.push(u.pinned.text)
  }
  steps.push(fu.script, `{ ${restartDockerScript(s.manager, restartIds(s), { stopOnly: !u.dockerWasUp, liveRestore: s.liveRestore })}; }`)
  desc.push(fu.description, u.dockerWasUp ? 'restart docker and start the containers that were running' : 'stop docker (it was not running)')
  if (u.docker0Mac && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(u.docker0Mac)) {
    steps.push(sh`{ [ ! -e /sys/class/net/docker0 ] || [ "$(cat /sys/class/net/docker0/address)" = ${u.docker0Mac} ] || ip link set dev docker0 address ${u.docker0Mac}; }`)
    desc.push(`docker0 MAC ${u.docker0Mac}`)
  }
  return { description: desc.join('; '), script: steps.join(' && ') }
}

/** Commands that rebuild a vxlan device as it was read (its address, parameters, peers, master, state). */
function rebuildVxlan(s: VxlanCreateStep, d: OldVxlan): string[] {
  const x = d.vxlan
  const w: Array<string | number> = ['ip', 'link', 'add', s.name, 'address', d.mac, 'mtu', d.mtu, 'type', 'vxlan', 'id', x.id ?? 0]
  if (x.port !== undefined) w.push('dstport', x.port)
  if (x.local) w.push('local', x.local)
  if (x.remote) w.push('remote', x.remote)
  if (x.group) w.push('group', x.group)
  if (x.link) w.push('dev', x.link)
  if (x.learning === false) w.push('nolearning')
  if (x.ttl) w.push('ttl', x.ttl)
  if (x.tos && x.tos !== '0') w.push('tos', x.tos)
  if (x.ageing !== undefined) w.push('ageing', x.ageing)
  if (x.udpCsum === false) w.push('noudpcsum')
  if (x.srcport && (x.srcport[0] || x.srcport[1])) w.push('srcport', x.srcport[0], x.srcport[1])
  const out = [argv(w)]
  for (const p of d.peers) out.push(argv(['bridge', 'fdb', 'append', ZERO_MAC, 'dev', s.name, 'dst', p]))
  if (d.master) out.push(argv(['ip', 'link', 'set', 'dev', s.name, 'master', d.master]))
  if (d.up) out.push(argv(['ip', 'link', 'set', 'dev', s.name, 'up']))
  return out
}

const group = (script: string) => (script.includes('\n') ? `{ ${script}\n}` : script)

/**
 * The commands that apply a plan: one command while at most one step needs stdin (usually one round
 * trip for the whole plan), every step's pre-check first.
 */
export function applyCommands(steps: readonly Step[]): Command[] {
  const cmds = steps.map(applyStep).filter((c) => c.script !== '')
  const pre = cmds.map((c) => c.pre).filter((p): p is string => !!p)
  const out: Command[] = []
  let cur: { parts: string[]; stdin?: string } | undefined
  for (const c of cmds) {
    if (!cur || (c.stdin !== undefined && cur.stdin !== undefined)) {
      if (cur) out.push({ script: cur.parts.join(' && '), ...(cur.stdin !== undefined ? { stdin: cur.stdin } : {}) })
      cur = { parts: out.length === 0 ? pre.map(group) : [] }
    }
    cur.parts.push(group(c.script))
    if (c.stdin !== undefined) cur.stdin = c.stdin
  }
  if (cur) out.push({ script: cur.parts.join(' && '), ...(cur.stdin !== undefined ? { stdin: cur.stdin } : {}) })
  return out
}

/** The plan's undo: each step's, newest first, as one script; null when no step leaves anything to undo. */
export function undoPlan(steps: readonly Step[]): Undo | null {
  const undos = steps.map(undoStep).filter((u): u is Undo => !!u && u.script !== '').reverse()
  if (!undos.length) return null
  if (undos.length === 1) return undos[0]
  const volatile = undos.every((u) => u.volatile)
  return { description: undos.map((u) => u.description).join('; '), script: undos.map((u) => `{ ${u.script}\n}`).join(' && '), ...(volatile ? { volatile } : {}) }
}

export const describePlanSteps = (steps: readonly Step[]): Change[] => steps.flatMap(describeStep)
