/**
 * iptables knowledge shared by the facts gatherer and the firewall tasks (nat.ts, forward.ts):
 * parsing `iptables -S`, choosing the backend (nft or legacy), and the chain-management plan
 * (a dedicated ORCH-* chain jumped to from a built-in or docker chain) with its exact undo.
 *
 * Backend: the `iptables` on PATH is used, unless docker's chains live only in the other backend
 * (iptables-nft on PATH but dockerd wrote legacy tables, or the reverse). Both backends hook the same
 * netfilter points, and a DROP or a NAT decision in one is not overridden by an ACCEPT in the other, so
 * our rules must sit in the backend docker uses. Reading never instantiates legacy tables: their
 * presence is read from /proc/net/ip_tables_names (running `iptables-legacy -S` would create them).
 */
import { quote, sh } from '../net/shell.ts'

export type IptVariant = 'nft' | 'legacy'
/** Binaries a host may use; the only values ever pasted into a command as `$IPT`. */
export const IPT_BINARIES = ['iptables', 'iptables-nft', 'iptables-legacy'] as const
export type IptBinary = (typeof IPT_BINARIES)[number]

export interface IptRule {
  /** Chain the rule is in. */
  chain: string
  /** The rule's words after `-A CHAIN`, unquoted: ['-s', '10.1.0.0/24', '-j', 'MASQUERADE']. */
  args: string[]
  /** As printed by iptables -S. */
  line: string
}

export interface IptTable {
  /** Built-in chains' policies: { FORWARD: 'DROP', ... }. */
  policies: Record<string, string>
  /** User-defined chains (-N), in order. */
  chains: string[]
  rules: IptRule[]
}

/** Split one iptables -S line into words (double quotes group, \" and \\ escape inside them). */
export function tokenize(line: string): string[] {
  const out: string[] = []
  let cur = ''
  let inWord = false
  let quoted = false
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (quoted) {
      if (c === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) cur += line[++i]
      else if (c === '"') quoted = false
      else cur += c
    } else if (c === '"') {
      quoted = true
      inWord = true
    } else if (c === ' ' || c === '\t') {
      if (inWord) out.push(cur)
      cur = ''
      inWord = false
    } else {
      cur += c
      inWord = true
    }
  }
  if (inWord) out.push(cur)
  return out
}

/** Parse `iptables [-t T] -S [CHAIN]` output (either backend). Comment and warning lines are ignored. */
export function parseIptablesS(text: string): IptTable {
  const t: IptTable = { policies: {}, chains: [], rules: [] }
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (!line || line.startsWith('#')) continue
    const w = tokenize(line)
    if (w[0] === '-P' && w.length >= 3) t.policies[w[1]] = w[2]
    else if (w[0] === '-N' && w[1]) t.chains.push(w[1])
    else if (w[0] === '-A' && w[1]) t.rules.push({ chain: w[1], args: w.slice(2), line })
  }
  return t
}

export const rulesIn = (t: IptTable, chain: string): IptRule[] => t.rules.filter((r) => r.chain === chain)
export const sameArgs = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i])
/** The target of a rule (-j X), or undefined. */
export function targetOf(args: readonly string[]): string | undefined {
  const i = args.indexOf('-j')
  return i >= 0 ? args[i + 1] : undefined
}
/** The comment of a rule (-m comment --comment X), or undefined. */
export function commentOf(args: readonly string[]): string | undefined {
  const i = args.indexOf('--comment')
  return i >= 0 ? args[i + 1] : undefined
}

/** `iptables v1.8.9 (nf_tables)` → nft; `(legacy)` or an old version without a suffix → legacy. */
export function variantOf(versionLine: string): IptVariant {
  return /nf_tables/.test(versionLine) ? 'nft' : 'legacy'
}

/**
 * Sets IPT (the binary to use), IPT_PATH (nft|legacy: the backend of `iptables` on PATH) and IPT_USED
 * (the backend of $IPT), assuming `iptables` exists. Constant text: nothing interpolated.
 */
export const SELECT_IPTABLES_BODY = [
  `IPT=iptables; IPT_PATH=legacy`,
  `case "$(iptables -V 2>/dev/null)" in *nf_tables*) IPT_PATH=nft;; esac`,
  `IPT_USED=$IPT_PATH`,
  `if ! iptables -w -S DOCKER-USER >/dev/null 2>&1; then`,
  `  if [ "$IPT_PATH" = nft ]; then`,
  `    if grep -qx filter /proc/net/ip_tables_names 2>/dev/null && command -v iptables-legacy >/dev/null 2>&1 && iptables-legacy -w -S DOCKER-USER >/dev/null 2>&1; then IPT=iptables-legacy; IPT_USED=legacy; fi`,
  `  elif command -v iptables-nft >/dev/null 2>&1 && iptables-nft -w -S DOCKER-USER >/dev/null 2>&1; then IPT=iptables-nft; IPT_USED=nft; fi`,
  `fi`,
].join('\n')

/** iptables-restore of the same backend: /usr/sbin/iptables-nft → /usr/sbin/iptables-nft-restore. */
export function restoreBinary(ipt: string): string {
  return `${ipt}-restore`
}

// ---------------------------------------------------------------- a managed chain

export interface ChainSpec {
  table: 'nat' | 'filter'
  /** Our chain: ORCH-POSTROUTING, ORCH-FORWARD. */
  chain: string
  /** Where the jump goes: the first of these that exists (the last one must be a built-in chain). */
  parents: string[]
}

export interface ChainState {
  /** Absolute path of the iptables binary chosen (one of IPT_BINARIES by name): used by apply and undo. */
  ipt: string
  /** Backend of the `iptables` on PATH. */
  pathVariant: IptVariant
  /** Backend actually used ($IPT). */
  variant: IptVariant
  /** Rules of each candidate parent; null when that chain does not exist. */
  parents: Record<string, IptRule[] | null>
  /** Our chain's rules; null when the chain does not exist. */
  rules: IptRule[] | null
}

/** The parent chain the jump must be in: the first candidate that exists. */
export function parentOf(spec: ChainSpec, st: ChainState): string {
  return spec.parents.find((p) => st.parents[p] != null) ?? spec.parents[spec.parents.length - 1]
}

export function hasJump(rules: IptRule[] | null | undefined, chain: string): boolean {
  return !!rules?.some((r) => sameArgs(r.args, ['-j', chain]))
}

/** What to do to our chain: rules to delete (with their 1-based positions) and rules to append. */
export interface ChainPlan {
  createChain: boolean
  /** Parent to insert the jump into (at position 1), when missing. */
  addJumpTo?: string
  /** The jump is there but after a rule that can end the traversal: move it to position 1. */
  moveJump?: { parent: string; from: number; after: string }
  remove: Array<{ args: string[]; position: number }>
  add: string[][]
}

export const emptyPlan = (p: ChainPlan): boolean => !p.createChain && !p.addJumpTo && !p.moveJump && p.remove.length === 0 && p.add.length === 0

/** Targets that end (or decide) a packet's traversal: a jump of ours placed after one may never be reached. */
const TERMINAL = new Set(['ACCEPT', 'DROP', 'REJECT', 'RETURN', 'MASQUERADE', 'SNAT', 'DNAT', 'REDIRECT'])

/**
 * Plan for "the rules of ours that `owns` selects are exactly `want`, in this order, and the parent
 * jumps to our chain before any rule that could end the traversal (docker inserts its MASQUERADE at the
 * top of POSTROUTING when it restarts)". Nothing to do when all that holds; otherwise the old rules go
 * and `want` is appended, the jump is inserted or moved to rule 1.
 */
export function planRules(spec: ChainSpec, st: ChainState, owns: (r: IptRule) => boolean, want: string[][]): ChainPlan {
  const parent = parentOf(spec, st)
  const plan: ChainPlan = { createChain: st.rules === null, remove: [], add: [] }
  const parentRules = st.parents[parent] ?? []
  const at = parentRules.findIndex((r) => sameArgs(r.args, ['-j', spec.chain]))
  if (at < 0) plan.addJumpTo = parent
  else {
    const blocker = parentRules.slice(0, at).find((r) => TERMINAL.has(targetOf(r.args) ?? ''))
    if (blocker) plan.moveJump = { parent, from: at + 1, after: blocker.line }
  }
  const mine = (st.rules ?? []).map((r, i) => ({ r, position: i + 1 })).filter((x) => owns(x.r))
  const same = mine.length === want.length && mine.every((x, i) => sameArgs(x.r.args, want[i]))
  if (!same) {
    plan.remove = mine.map((x) => ({ args: x.r.args, position: x.position }))
    plan.add = want
  }
  return plan
}

/** A word of an iptables-restore line: words with spaces are double-quoted (ours never hold quotes). */
function restoreWord(w: string): string {
  if (!/^[A-Za-z0-9_.:@/!+, -]+$/.test(w)) throw new Error(`refusing unsafe iptables word ${JSON.stringify(w)}`)
  return /\s/.test(w) ? `"${w}"` : w
}
const restoreLine = (words: string[]) => words.map(restoreWord).join(' ')

/** iptables-restore --noflush input doing the plan in one transaction. */
export function restoreInput(spec: ChainSpec, plan: ChainPlan): string {
  const lines = [`*${spec.table}`]
  if (plan.createChain) lines.push(`:${spec.chain} - [0:0]`)
  if (plan.addJumpTo) lines.push(restoreLine(['-I', plan.addJumpTo, '1', '-j', spec.chain]))
  if (plan.moveJump) lines.push(restoreLine(['-D', plan.moveJump.parent, '-j', spec.chain]), restoreLine(['-I', plan.moveJump.parent, '1', '-j', spec.chain]))
  for (const r of plan.remove) lines.push(restoreLine(['-D', spec.chain, ...r.args]))
  for (const a of plan.add) lines.push(restoreLine(['-A', spec.chain, ...a]))
  lines.push('COMMIT', '')
  return lines.join('\n')
}

/** The apply command (stdin: restoreInput). */
export function applyScript(st: ChainState): string {
  return sh`${restoreBinary(st.ipt)} -w -n`
}

/**
 * The exact inverse of the plan, as a standalone sh script: delete the rules added, put the removed ones
 * back at their old positions, remove the jump we inserted, and remove our chain when we created it and
 * it is empty again. Every step checks first, so running it twice is harmless.
 */
export function undoScript(spec: ChainSpec, st: ChainState, plan: ChainPlan): string {
  const I = (words: Array<string | number>) => sh`"$IPT" -w -t ${spec.table} ` + words.map(quote).join(' ')
  const lines = [sh`IPT=${st.ipt}`]
  for (const a of plan.add) lines.push(`if ${I(['-C', spec.chain, ...a])} 2>/dev/null; then ${I(['-D', spec.chain, ...a])} || exit 1; fi`)
  for (const r of [...plan.remove].sort((x, y) => x.position - y.position))
    lines.push(`${I(['-I', spec.chain, r.position, ...r.args])} 2>/dev/null || ${I(['-A', spec.chain, ...r.args])} || exit 1`)
  if (plan.createChain) {
    lines.push(
      `if ${I(['-S', spec.chain])} >/dev/null 2>&1 && [ "$(${I(['-S', spec.chain])} 2>/dev/null | grep -c -- '^-A')" -eq 0 ]; then`,
      ...spec.parents.map((p) => `  while ${I(['-D', p, '-j', spec.chain])} 2>/dev/null; do :; done`),
      `  ${I(['-X', spec.chain])} || exit 1`,
      `fi`,
    )
  } else if (plan.addJumpTo) {
    lines.push(`${I(['-D', plan.addJumpTo, '-j', spec.chain])} 2>/dev/null || true`)
  }
  if (plan.moveJump && !plan.createChain) {
    const m = plan.moveJump
    lines.push(`if ${I(['-D', m.parent, '-j', spec.chain])} 2>/dev/null; then ${I(['-I', m.parent, m.from, '-j', spec.chain])} 2>/dev/null || ${I(['-A', m.parent, '-j', spec.chain])} || exit 1; fi`)
  }
  return lines.join('\n')
}

/** Human lines for diff/check output. */
export function describePlan(spec: ChainSpec, st: ChainState, plan: ChainPlan): Array<{ what: string; before?: string; after?: string }> {
  const out: Array<{ what: string; before?: string; after?: string }> = []
  const tool = st.ipt.endsWith('/iptables') ? `iptables (${st.variant})` : `${st.ipt} (docker's backend; iptables on PATH is ${st.pathVariant})`
  if (plan.createChain) out.push({ what: `create chain ${spec.table} ${spec.chain} [${tool}]` })
  if (plan.addJumpTo) out.push({ what: `insert ${spec.table} ${plan.addJumpTo} rule 1: -j ${spec.chain}` })
  if (plan.moveJump)
    out.push({ what: `move ${spec.table} ${plan.moveJump.parent} -j ${spec.chain} to rule 1`, before: `rule ${plan.moveJump.from}, after: ${plan.moveJump.after}`, after: 'rule 1' })
  if (plan.remove.length || plan.add.length) {
    out.push({
      what: `rules in ${spec.table} ${spec.chain}`,
      before: plan.remove.map((r) => restoreLine(['-A', spec.chain, ...r.args])).join('\n'),
      after: plan.add.map((a) => restoreLine(['-A', spec.chain, ...a])).join('\n'),
    })
  }
  return out
}
