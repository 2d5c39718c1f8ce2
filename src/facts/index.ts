/**
 * Network facts of a host, read in ONE round trip (one script, one section per source), parsed on the
 * controller by pure functions (parse.ts), rendered for a terminal (render.ts).
 */
import { FactsError } from '../errors.ts'
import type { Host } from '../inventory/types.ts'
import type { TaskContext } from '../engine/types.ts'
import type { Connection } from '../transport/types.ts'
import { parseFacts } from './parse.ts'
import { factsScript } from './script.ts'
import type { HostFacts } from './types.ts'

export type { HostFacts } from './types.ts'
export type * from './types.ts'
export { parseFacts } from './parse.ts'
export { renderFacts, type RenderOptions } from './render.ts'
export { factsScript } from './script.ts'

/** Anything that runs a script on the host: ctx.run, conn.run, or a Connection. */
export type RunScript = (script: string) => Promise<{ code: number; stdout: string; stderr: string }>

export { FactsError }

/** The facts of one host, in one round trip. Missing tools (docker, OVS, iptables) are facts, not errors. */
export async function gatherFacts(target: RunScript | Pick<Connection, 'run'>): Promise<HostFacts> {
  const run: RunScript = typeof target === 'function' ? target : (s) => target.run(s)
  const r = await run(factsScript())
  if (r.code !== 0 || !r.stdout.includes('@@orch-fact@@')) throw new FactsError(`gathering facts failed (rc=${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')}`)
  return parseFacts(r.stdout)
}

/** For the engine's RunOptions.gatherFacts: facts land in ctx.facts (ctx.facts.interfaces, ...). */
export async function engineFactsGatherer(_host: Host, _conn: Connection, ctx: TaskContext): Promise<Record<string, unknown>> {
  return { ...(await gatherFacts((s) => ctx.run(s))) }
}
