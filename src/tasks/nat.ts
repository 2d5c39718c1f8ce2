/**
 * masquerade: traffic from a source network is masqueraded (SNAT to the outgoing interface's address),
 * except traffic to the networks in `except`, which leaves un-NATed.
 *
 * The rules live in a chain of ours, nat ORCH-POSTROUTING, jumped to from rule 1 of nat POSTROUTING, so
 * they come before docker's own `-s <bridge subnet> ! -o docker0 -j MASQUERADE`: an `except` rule is an
 * ACCEPT, which ends the nat POSTROUTING traversal, so docker's rule does not NAT that traffic either
 * (that is what lets containers on different hosts see each other's real addresses).
 *
 * Each task owns the rules tagged with the comment "orch masquerade <from>": one round trip reads them,
 * nothing changes when they are already exactly right (never duplicated), otherwise they are replaced in
 * one iptables-restore transaction. Undo puts the chain back as it was (and removes it and the jump when
 * this task created them).
 */
import * as v from '../net/validate.ts'
import { networkOf } from '../net/ip.ts'
import { ArgError, TaskFailed } from '../errors.ts'
import { argSpec, parseArgs } from '../argspec.ts'
import type { Task } from '../engine/types.ts'
import { commentOf, emptyPlan, planRules, type ChainPlan, type ChainSpec, type ChainState, type IptRule } from '../facts/iptables.ts'
import { chainReader } from '../model/facts.ts'
import { natData, natDataPath, NAT, persistedReader, planPersisted, type PersistedFacts } from '../model/persist.ts'
import { compose, mapReader, type Reader } from '../model/read.ts'
import type { Step } from '../model/steps.ts'
import { plannedTask, type Planned } from '../model/task.ts'

export interface MasqueradeArgs {
  /** Source network (CIDR, host bits zero, prefix 1-32): e.g. this host's container subnet. */
  from: string
  /** Destination networks never masqueraded (e.g. the cluster's container CIDR). */
  except?: string[]
  /** Masquerade only traffic leaving through this interface (default: any). */
  outInterface?: string
  /** Also at boot (default true): written at commit to /etc/orch/nat/, put back by orch-nat.service (model/persist.ts). */
  persist?: boolean
}

/** The arguments checked and typed (networks canonical, `except` without duplicates). */
export interface Masquerade {
  from: string
  except: string[]
  outInterface?: string
  persist: boolean
}

/** A chain's state, and what is persisted of the task's rules. */
export interface ChainFacts {
  chain: ChainState | null
  persisted?: PersistedFacts
}

/** The chain reader, with the persisted file at `dataPath` when the task persists. */
export const chainFacts = (spec: ChainSpec, dataPath: string | null): Reader<ChainFacts> =>
  mapReader(compose({ chain: chainReader(spec), ...(dataPath ? { persisted: persistedReader(NAT, dataPath) } : {}) }), (f) => f as ChainFacts)

/** Pure: the rules' file for orch-nat.service, unless it is there already. */
export function persistChain(f: ChainFacts, spec: ChainSpec, dataPath: string, label: string, rules: string[][], host: string): Step[] {
  if (!f.persisted) return []
  return planPersisted(NAT, f.persisted, dataPath, natData(label, spec.table, spec.chain, spec.parents, rules), host)
}

export const persistArg = (variable: string, v: unknown): boolean => {
  if (v !== undefined && typeof v !== 'boolean') throw new ArgError(variable, 'true or false', v)
  return v ?? true
}

export const NAT_CHAIN: ChainSpec = { table: 'nat', chain: 'ORCH-POSTROUTING', parents: ['POSTROUTING'] }

export const masqueradeComment = (from: string) => `orch masquerade ${from}`

/** The rules of one masquerade task, in order, as iptables -S prints them (after `-A ORCH-POSTROUTING`). */
export function masqueradeRules(from: string, except: string[] = [], outInterface?: string): string[][] {
  const c = ['-m', 'comment', '--comment', masqueradeComment(from)]
  return [
    ...except.map((e) => ['-s', from, '-d', e, ...c, '-j', 'ACCEPT']),
    ['-s', from, ...(outInterface ? ['-o', outInterface] : []), ...c, '-j', 'MASQUERADE'],
  ]
}

/** A network argument for iptables: canonical (iptables prints it so) and not /0 (iptables omits that). */
export function iptNetwork(variable: string, value: unknown): string {
  const c = v.network4(variable, value)
  if (c.prefix === 0) throw new ArgError(variable, 'a network with a prefix from 1 to 32 (0.0.0.0/0 means "anything": leave it out)', value)
  return networkOf(c)
}

export const MASQUERADE_SPEC = argSpec('masquerade', {
  from: { type: 'str', required: true, parse: iptNetwork, desc: 'source network (CIDR, host bits zero, prefix 1-32)' },
  except: { type: 'list', elements: { type: 'str', parse: iptNetwork }, default: [], desc: 'destination networks never masqueraded' },
  outInterface: { type: 'ifname', desc: 'masquerade only traffic leaving through this interface (default: any)' },
  persist: { type: 'bool', default: true, desc: 'the rules also at boot (written at commit)' },
})

export function parseMasqueradeArgs(raw: MasqueradeArgs): Masquerade {
  const a = parseArgs(MASQUERADE_SPEC, raw)
  return { ...a, except: [...new Set(a.except)] }
}

/**
 * Pure: the managed chain's state → one iptables-chain step (none when our rules are exactly right).
 * Shared by masquerade and forwardAccept.
 */
export function planChain(spec: ChainSpec, st: ChainState | null, owns: (r: IptRule) => boolean, want: string[][], host: string, undoText: (p: ChainPlan) => string): Step[] {
  if (!st) throw new TaskFailed(`no iptables on ${host}`, { rc: 3 })
  const plan = planRules(spec, st, owns, want)
  if (emptyPlan(plan)) return []
  return [{ kind: 'iptables-chain', spec, ipt: st.ipt, variant: st.variant, pathVariant: st.pathVariant, plan, undoText: undoText(plan) }]
}

export const planMasquerade = (st: ChainState | null, a: Masquerade, host: string): Step[] =>
  planChain(NAT_CHAIN, st, (r) => commentOf(r.args) === masqueradeComment(a.from), masqueradeRules(a.from, a.except, a.outInterface), host, (p) =>
    `restore nat ${NAT_CHAIN.chain} as it was for ${a.from}${p.createChain ? ' (remove the chain and its jump)' : ''}`,
  )

export const masqueradeDataPath = (a: Masquerade) => natDataPath(`masquerade-${a.from}`)

export function masquerade(args: MasqueradeArgs): Task<Planned<ChainFacts>> {
  const a = args ?? ({} as MasqueradeArgs)
  return plannedTask<Masquerade, ChainFacts>({
    module: 'masquerade',
    name: `masquerade ${a.from}${Array.isArray(a.except) && a.except.length ? ` except ${a.except.join(',')}` : ''}${a.outInterface ? ` out ${a.outInterface}` : ''}`,
    parseArgs: () => parseMasqueradeArgs(a),
    reader: (x) => chainFacts(NAT_CHAIN, x.persist ? masqueradeDataPath(x) : null),
    reading: () => `reading iptables ${NAT_CHAIN.table} ${NAT_CHAIN.chain}`,
    plan: (f, x, host) => planMasquerade(f.chain, x, host),
    persist: (f, x, host) => persistChain(f, NAT_CHAIN, masqueradeDataPath(x), masqueradeComment(x.from), masqueradeRules(x.from, x.except, x.outInterface), host),
    applying: (x) => `masquerade ${x.from}`,
    readAhead: true,
  })
}
