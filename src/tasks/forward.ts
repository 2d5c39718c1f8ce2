/**
 * Forwarding: `ipForward()` turns IPv4 forwarding on (runtime and /etc/sysctl.d), and
 * `forwardAccept()` lets routed traffic through a FORWARD policy of DROP (which docker sets).
 *
 * forwardAccept's ACCEPT rules live in a chain of ours, filter ORCH-FORWARD, jumped to from rule 1 of
 * DOCKER-USER when that chain exists (docker evaluates it before its own rules and its DROP policy, and
 * never flushes it) and from rule 1 of FORWARD otherwise. One round trip reads both; a rule that is
 * already there is never added twice; undo deletes exactly the rule added, and the chain and jump when
 * this task created them and nothing else uses the chain.
 */
import { ArgError } from '../errors.ts'
import { argSpec, parseArgs } from '../argspec.ts'
import type { Task } from '../engine/types.ts'
import { sameArgs, type ChainSpec, type ChainState } from '../facts/iptables.ts'
import { createHash } from 'node:crypto'
import type { Step } from '../model/steps.ts'
import { plannedTask, type Planned } from '../model/task.ts'
import { chainFacts, iptNetwork, persistArg, persistChain, planChain, type ChainFacts } from './nat.ts'
import { natDataPath } from '../model/persist.ts'
import { sysctl } from './sysctl.ts'

export interface ForwardAcceptArgs {
  /** Incoming interface (-i). */
  in?: string
  /** Outgoing interface (-o). */
  out?: string
  /** Source network (-s), CIDR. */
  source?: string
  /** Destination network (-d), CIDR. */
  dest?: string
  /** Also at boot (default true): written at commit to /etc/orch/nat/, put back by orch-nat.service (model/persist.ts). */
  persist?: boolean
}

export const FORWARD_CHAIN: ChainSpec = { table: 'filter', chain: 'ORCH-FORWARD', parents: ['DOCKER-USER', 'FORWARD'] }
export const FORWARD_COMMENT = 'orch forward-accept'

/** The rule's words as iptables -S prints them (after `-A ORCH-FORWARD`). */
export function forwardRule(a: ForwardAcceptArgs): string[] {
  return [
    ...(a.source ? ['-s', a.source] : []),
    ...(a.dest ? ['-d', a.dest] : []),
    ...(a.in ? ['-i', a.in] : []),
    ...(a.out ? ['-o', a.out] : []),
    '-m', 'comment', '--comment', FORWARD_COMMENT,
    '-j', 'ACCEPT',
  ]
}

/** Checked, networks canonical. */
export const FORWARD_ACCEPT_SPEC = argSpec('forwardAccept', {
  in: { type: 'ifname', desc: 'incoming interface (-i)' },
  out: { type: 'ifname', desc: 'outgoing interface (-o)' },
  source: { type: 'str', parse: iptNetwork, desc: 'source network (-s), CIDR' },
  dest: { type: 'str', parse: iptNetwork, desc: 'destination network (-d), CIDR' },
  persist: { type: 'bool', default: true, desc: 'the rule also at boot (written at commit)' },
})

export function parseForwardAcceptArgs(args: ForwardAcceptArgs): ForwardAcceptArgs {
  const a: ForwardAcceptArgs = parseArgs(FORWARD_ACCEPT_SPEC, args)
  if (!a.in && !a.out && !a.source && !a.dest)
    throw new ArgError('forwardAccept', 'at least one of in, out, source, dest (an ACCEPT for all forwarded traffic is not offered)', args)
  return a
}

const describe = (a: ForwardAcceptArgs) => [a.in && `in ${a.in}`, a.out && `out ${a.out}`, a.source && `from ${a.source}`, a.dest && `to ${a.dest}`].filter(Boolean).join(' ')

export function planForwardAccept(st: ChainState | null, a: ForwardAcceptArgs, host: string): Step[] {
  const want = forwardRule(a)
  return planChain(FORWARD_CHAIN, st, (r) => sameArgs(r.args, want), [want], host, (p) => `remove forward ACCEPT ${describe(a)}${p.createChain ? ` and chain ${FORWARD_CHAIN.chain}` : ''}`)
}

/** One file per rule: its words hashed (the rule is the task's identity). */
export const forwardDataPath = (a: ForwardAcceptArgs) =>
  natDataPath(`forward-${[a.in && `in-${a.in}`, a.out && `out-${a.out}`, createHash('sha256').update(JSON.stringify(forwardRule(a))).digest('hex').slice(0, 10)].filter(Boolean).join('-')}`)

export function forwardAccept(args: ForwardAcceptArgs): Task<Planned<ChainFacts>> {
  return plannedTask<ForwardAcceptArgs, ChainFacts>({
    module: 'forwardAccept',
    name: `forwardAccept ${describe(args ?? {})}`,
    parseArgs: () => parseForwardAcceptArgs(args),
    reader: (x) => chainFacts(FORWARD_CHAIN, x.persist ? forwardDataPath(x) : null),
    reading: () => `reading iptables ${FORWARD_CHAIN.table} ${FORWARD_CHAIN.chain}`,
    plan: (f, x, host) => planForwardAccept(f.chain, x, host),
    persist: (f, x, host) => persistChain(f, FORWARD_CHAIN, forwardDataPath(x), `forward-accept ${describe(x)}`, [forwardRule(x)], host),
    applying: (x) => `forwardAccept ${describe(x)}`,
    readAhead: true,
  })
}

export interface IpForwardArgs {
  /** As sysctl's persist: true (default) writes /etc/sysctl.d/99-orch.conf, a string names the file, false: runtime only. */
  persist?: boolean | string
}

/** net.ipv4.ip_forward=1 now and after a reboot (the sysctl task: one round trip, exact undo). */
export function ipForward(opts: IpForwardArgs = {}) {
  return sysctl({ name: 'net.ipv4.ip_forward', value: 1, persist: opts.persist ?? true }).with({ name: 'ipForward net.ipv4.ip_forward=1' })
}
