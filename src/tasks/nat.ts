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
import { ArgError, TaskFailed, task, type Resource, type Task, type TaskContext } from '../engine/types.ts'
import { mustSucceed } from '../engine/taskkit.ts'
import {
  applyScript,
  chainReadScript,
  commentOf,
  describePlan,
  emptyPlan,
  parseChainRead,
  planRules,
  restoreInput,
  undoScript,
  type ChainSpec,
  type ChainState,
} from '../facts/iptables.ts'

export interface MasqueradeArgs {
  /** Source network (CIDR, host bits zero, prefix 1-32): e.g. this host's container subnet. */
  from: string
  /** Destination networks never masqueraded (e.g. the cluster's container CIDR). */
  except?: string[]
  /** Masquerade only traffic leaving through this interface (default: any). */
  outInterface?: string
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

export async function readChain(ctx: TaskContext, spec: ChainSpec): Promise<ChainState> {
  const r = await ctx.run(chainReadScript(spec))
  if (r.code === 3) throw new TaskFailed(`no iptables on ${ctx.host.name}`, { rc: r.code, stderr: r.stderr })
  mustSucceed(r, `reading iptables ${spec.table} ${spec.chain}`)
  try {
    return parseChainRead(spec, r.stdout)
  } catch (e) {
    throw new TaskFailed(`cannot parse iptables output on ${ctx.host.name}: ${(e as Error).message}`)
  }
}

export function masquerade(args: MasqueradeArgs): Task<ChainState> {
  const a = args ?? ({} as MasqueradeArgs)
  let from = a.from
  let except: string[] = []
  const want = () => masqueradeRules(from, except, a.outInterface)
  const plan = (s: ChainState) => planRules(NAT_CHAIN, s, (r) => commentOf(r.args) === masqueradeComment(from), want())

  const resource: Resource<ChainState> = {
    module: 'masquerade',
    name: `masquerade ${a.from}${Array.isArray(a.except) && a.except.length ? ` except ${a.except.join(',')}` : ''}${a.outInterface ? ` out ${a.outInterface}` : ''}`,
    validate() {
      from = iptNetwork('masquerade.from', a.from)
      if (a.except !== undefined && !Array.isArray(a.except)) throw new ArgError('masquerade.except', "an array of networks like ['10.0.0.0/8']", a.except)
      except = [...new Set((a.except ?? []).map((e, i) => iptNetwork(`masquerade.except[${i}]`, e)))]
      if (a.outInterface !== undefined) v.ifname('masquerade.outInterface', a.outInterface)
    },
    read: (ctx) => readChain(ctx, NAT_CHAIN),
    diff(s) {
      return describePlan(NAT_CHAIN, s, plan(s))
    },
    undo(s) {
      const p = plan(s)
      if (emptyPlan(p)) return null
      return { description: `restore nat ${NAT_CHAIN.chain} as it was for ${from}${p.createChain ? ' (remove the chain and its jump)' : ''}`, script: undoScript(NAT_CHAIN, s, p) }
    },
    async apply(ctx, s) {
      mustSucceed(await ctx.run(applyScript(s), { stdin: restoreInput(NAT_CHAIN, plan(s)) }), `masquerade ${from}`)
    },
  }
  return task(resource)
}
