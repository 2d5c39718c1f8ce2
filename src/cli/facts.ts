/**
 * `orch facts -i INV [--limit P] [--json]`: the network facts of every host, one round trip each,
 * `forks` hosts at a time. Text: one readable block per host (renderFacts). --json: one document,
 * { facts: {host: HostFacts}, unreachable: {host: msg}, failed: {host: msg} }, and nothing else on stdout.
 * Exit 0, 4 when a host was unreachable, 2 when facts could not be read, 5 for bad input.
 */
import PQueue from 'p-queue'
import type { Host } from '../inventory/types.ts'
import { DEFAULT_FORKS } from '../engine/runner.ts'
import { EXIT } from '../engine/results.ts'
import { UnreachableError } from '../transport/types.ts'
import type { HostFacts } from '../facts/types.ts'
import { exitCodeForError } from '../errors.ts'
import { hostPool, loadTargets } from './targets.ts'
import type { Io } from './io.ts'

export interface FactsCliOptions {
  inventory: string[]
  limit?: string
  extraVars?: string[]
  json?: boolean
  forks?: number
  hostKeyChecking?: 'strict' | 'accept-new' | 'off'
}

export async function factsCommand(o: FactsCliOptions, io: Io): Promise<number> {
  let hosts: Host[]
  const forks = o.forks ?? DEFAULT_FORKS
  let pool: import('../transport/index.ts').ConnectionPool
  try {
    hosts = (await loadTargets(o, io)).hosts
    const p = await hostPool(forks, o.hostKeyChecking)
    hosts.forEach(p.prepare) // a bad connection var is exit 5, before anything connects
    pool = p.pool
  } catch (e) {
    io.stderr.write(`ERROR! ${(e as Error)?.message ?? e}\n`)
    return exitCodeForError(e)
  }
  const { gatherFacts, renderFacts } = await import('../facts/index.ts')

  const facts: Record<string, HostFacts> = {}
  const unreachable: Record<string, string> = {}
  const failed: Record<string, string> = {}
  const queue = new PQueue({ concurrency: forks })
  try {
    await Promise.all(
      hosts.map((h) =>
        queue.add(async () => {
          try {
            const conn = await pool.get(h.name)
            facts[h.name] = await gatherFacts(conn)
          } catch (e) {
            if (e instanceof UnreachableError) unreachable[h.name] = e.message
            else failed[h.name] = (e as Error)?.message ?? String(e)
          }
        }),
      ),
    )
  } finally {
    await pool.closeAll({ wait: false }).catch(() => undefined) // the process exits next
  }

  if (o.json) {
    const ordered = (m: Record<string, unknown>) => Object.fromEntries(hosts.filter((h) => h.name in m).map((h) => [h.name, m[h.name]]))
    io.stdout.write(JSON.stringify({ facts: ordered(facts), unreachable: ordered(unreachable), failed: ordered(failed) }, null, 2) + '\n')
  } else {
    const color = !!io.stdout.isTTY
    for (const h of hosts) {
      const address = String(h.vars.ansible_host ?? h.vars.ansible_ssh_host ?? h.name)
      const title = `${h.name}${address && address !== h.name ? ` (${address})` : ''}`
      if (facts[h.name]) io.stdout.write(`${color ? `\x1b[1m== ${title} ==\x1b[0m` : `== ${title} ==`}\n${renderFacts(facts[h.name], { color })}\n`)
      else if (unreachable[h.name]) io.stderr.write(`${h.name}: UNREACHABLE! ${unreachable[h.name]}\n`)
      else if (failed[h.name]) io.stderr.write(`${h.name}: FAILED! ${failed[h.name]}\n`)
    }
  }
  if (Object.keys(unreachable).length) return EXIT.UNREACHABLE_HOSTS
  if (Object.keys(failed).length) return EXIT.FAILED_HOSTS
  return EXIT.OK
}
