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
import * as v from '../net/validate.ts'
import { ArgError, task, type Resource, type Task } from '../engine/types.ts'
import { mustSucceed } from '../engine/taskkit.ts'
import { applyScript, describePlan, emptyPlan, planRules, restoreInput, sameArgs, undoScript, type ChainSpec, type ChainState } from '../facts/iptables.ts'
import { iptNetwork, readChain } from './nat.ts'
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

export function forwardAccept(args: ForwardAcceptArgs): Task<ChainState> {
  const a: ForwardAcceptArgs = { ...(args ?? {}) }
  const desc = [a.in && `in ${a.in}`, a.out && `out ${a.out}`, a.source && `from ${a.source}`, a.dest && `to ${a.dest}`].filter(Boolean).join(' ')
  const want = () => forwardRule(a)
  const plan = (s: ChainState) => planRules(FORWARD_CHAIN, s, (r) => sameArgs(r.args, want()), [want()])

  const resource: Resource<ChainState> = {
    module: 'forwardAccept',
    name: `forwardAccept ${desc}`,
    validate() {
      if (args?.in !== undefined) v.ifname('forwardAccept.in', args.in)
      if (args?.out !== undefined) v.ifname('forwardAccept.out', args.out)
      if (args?.source !== undefined) a.source = iptNetwork('forwardAccept.source', args.source)
      if (args?.dest !== undefined) a.dest = iptNetwork('forwardAccept.dest', args.dest)
      if (!a.in && !a.out && !a.source && !a.dest)
        throw new ArgError('forwardAccept', 'at least one of in, out, source, dest (an ACCEPT for all forwarded traffic is not offered)', args)
    },
    read: (ctx) => readChain(ctx, FORWARD_CHAIN),
    diff(s) {
      return describePlan(FORWARD_CHAIN, s, plan(s))
    },
    undo(s) {
      const p = plan(s)
      if (emptyPlan(p)) return null
      return { description: `remove forward ACCEPT ${desc}${p.createChain ? ` and chain ${FORWARD_CHAIN.chain}` : ''}`, script: undoScript(FORWARD_CHAIN, s, p) }
    },
    async apply(ctx, s) {
      mustSucceed(await ctx.run(applyScript(s), { stdin: restoreInput(FORWARD_CHAIN, plan(s)) }), `forwardAccept ${desc}`)
    },
  }
  return task(resource)
}

export interface IpForwardArgs {
  /** As sysctl's persist: true (default) writes /etc/sysctl.d/99-orch.conf, a string names the file, false: runtime only. */
  persist?: boolean | string
}

/** net.ipv4.ip_forward=1 now and after a reboot (the sysctl task: one round trip, exact undo). */
export function ipForward(opts: IpForwardArgs = {}) {
  return sysctl({ name: 'net.ipv4.ip_forward', value: 1, persist: opts.persist ?? true }).with({ name: 'ipForward net.ipv4.ip_forward=1' })
}
