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
import { exitCodeForError, UsageError } from './errors.ts'
import { parseExtraVars } from './extraVars.ts'
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
  /** Connection settings of every host, read before connecting (a bad host var is exit 5). */
  let cvs: Map<string, import('../inventory/index.ts').ConnectionVars>
  try {
    if (!o.inventory.length) throw new UsageError('no inventory: pass -i <file|dir|host1,host2,>')
    if (o.forks !== undefined && !(Number.isInteger(o.forks) && o.forks >= 1)) throw new UsageError(`--forks: expected an integer >= 1, got ${o.forks}`)
    const inv = await import('../inventory/index.ts')
    const extraVars = await parseExtraVars(o.extraVars ?? [], io.cwd)
    const inventory = await inv.loadInventory(o.inventory, { extraVars })
    for (const w of inventory.warnings ?? []) io.stderr.write(`[WARNING]: ${w}\n`)
    hosts = inv.selectHosts(inventory, 'all', { limit: o.limit, cwd: io.cwd })
    cvs = new Map(hosts.map((h) => [h.name, inv.connectionVars(h)]))
  } catch (e) {
    io.stderr.write(`ERROR! ${(e as Error)?.message ?? e}\n`)
    return exitCodeForError(e)
  }

  const transport = await import('../transport/index.ts')
  const { gatherFacts, renderFacts } = await import('../facts/index.ts')
  const forks = o.forks ?? DEFAULT_FORKS
  const pool = new transport.ConnectionPool({
    forks,
    resolve: (name) => {
      const cv = cvs.get(name)
      if (!cv) throw new UnreachableError(name, `${name}: not in the inventory`)
      const co: import('../transport/index.ts').ConnectOptions = { hostName: name, address: cv.address, become: cv.become }
      if (cv.portSet) co.port = cv.port
      if (cv.user !== undefined) co.user = cv.user
      if (cv.privateKeyFile !== undefined) co.privateKeyFile = cv.privateKeyFile
      if (cv.password !== undefined) co.password = cv.password
      if (cv.sshCommonArgs !== undefined) co.sshCommonArgs = cv.sshCommonArgs
      if (cv.becomePassword !== undefined) co.becomePassword = cv.becomePassword
      if (o.hostKeyChecking) co.hostKeyChecking = o.hostKeyChecking
      return co
    },
  })

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
    await pool.closeAll().catch(() => undefined)
  }

  if (o.json) {
    const ordered = (m: Record<string, unknown>) => Object.fromEntries(hosts.filter((h) => h.name in m).map((h) => [h.name, m[h.name]]))
    io.stdout.write(JSON.stringify({ facts: ordered(facts), unreachable: ordered(unreachable), failed: ordered(failed) }, null, 2) + '\n')
  } else {
    const color = !!io.stdout.isTTY
    for (const h of hosts) {
      const address = cvs.get(h.name)?.address
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
