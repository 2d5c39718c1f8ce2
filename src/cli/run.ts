/** `orch run <playbook.ts> -i INV ...`: load everything, check everything, then run. */
import { dirname } from 'node:path'
import type { Host, Inventory } from '../inventory/types.ts'
import type { Connection } from '../transport/types.ts'
import { UnreachableError } from '../transport/types.ts'
import { loadPlaybook } from '../engine/loader.ts'
import { DEFAULT_FORKS, run, type RunOptions } from '../engine/runner.ts'
import { EXIT, type RunSummary } from '../engine/results.ts'
import { createReporter, errorDocument } from '../report/index.ts'
import { exitCodeForError, UsageError } from './errors.ts'
import { parseExtraVars } from './extraVars.ts'
import type { Io } from './io.ts'

export interface RunCliOptions {
  inventory: string[]
  limit?: string
  extraVars: string[]
  check?: boolean
  diff?: boolean
  forks?: number
  json?: boolean
  verbose?: number
  hostKeyChecking?: 'strict' | 'accept-new' | 'off'
  strategy?: 'linear' | 'free'
  runId?: string
}

export async function runCommand(playbookPath: string, o: RunCliOptions, io: Io): Promise<number> {
  const fail = (e: unknown): number => {
    const code = exitCodeForError(e)
    const msg = (e as Error)?.message ?? String(e)
    io.stderr.write(`ERROR! ${msg}\n`)
    if (code !== EXIT.BAD_INPUT && o.verbose && (e as Error)?.stack) io.stderr.write(`${(e as Error).stack}\n`)
    if (o.json) io.stdout.write(JSON.stringify(errorDocument(msg, code), null, 2) + '\n')
    return code
  }

  // Everything that can be wrong with the input is found here, before any host is touched.
  let inv: Inventory
  let plays
  let extraVars
  let inventoryMod: typeof import('../inventory/index.ts')
  try {
    if (!o.inventory.length) throw new UsageError('no inventory: pass -i <file|dir|host1,host2,>')
    if (o.forks !== undefined && !(Number.isInteger(o.forks) && o.forks >= 1)) throw new UsageError(`--forks: expected an integer >= 1, got ${o.forks}`)
    extraVars = await parseExtraVars(o.extraVars, io.cwd)
    inventoryMod = await import('../inventory/index.ts')
    inv = await inventoryMod.loadInventory(o.inventory, { extraVars, playbookDir: dirname(playbookPath) })
    for (const w of inv.warnings ?? []) io.stderr.write(`[WARNING]: ${w}\n`)
    if (o.limit) inventoryMod.selectHosts(inv, 'all', { limit: o.limit, cwd: io.cwd })
    plays = (await loadPlaybook(playbookPath)).plays
  } catch (e) {
    return fail(e)
  }

  const { selectHosts, NoHostsMatchedError, connectionVars } = inventoryMod
  const reporter = createReporter({ json: o.json, verbose: o.verbose, diff: o.diff, check: o.check, out: io.stdout, err: io.stderr })
  const warn = (m: string) => reporter.warn?.(m)

  // Connection settings per host, checked during planning (bad vars: exit 5 before connecting).
  const transport = await import('../transport/index.ts')
  type ConnectOptions = import('../transport/index.ts').ConnectOptions
  const connectOptions = new Map<string, ConnectOptions>()
  const prepareHost = (h: Host) => {
    if (connectOptions.has(h.name)) return
    const cv = connectionVars(h)
    const co: ConnectOptions = { hostName: h.name, address: cv.address, become: cv.become }
    if (cv.portSet) co.port = cv.port
    if (cv.user !== undefined) co.user = cv.user
    if (cv.privateKeyFile !== undefined) co.privateKeyFile = cv.privateKeyFile
    if (cv.password !== undefined) co.password = cv.password
    if (cv.sshCommonArgs !== undefined) co.sshCommonArgs = cv.sshCommonArgs
    if (cv.becomePassword !== undefined) co.becomePassword = cv.becomePassword
    if (o.hostKeyChecking) co.hostKeyChecking = o.hostKeyChecking
    connectOptions.set(h.name, co)
  }
  const forks = o.forks ?? DEFAULT_FORKS
  const pool = new transport.ConnectionPool({
    forks,
    resolve: (name) => {
      const co = connectOptions.get(name)
      if (!co) throw new UnreachableError(name, `${name}: no connection settings (host not in the plan)`)
      return co
    },
  })

  // gather_facts: the facts module's gatherer, loaded only when a play asks for it.
  let gatherFacts: RunOptions['gatherFacts']
  if (plays.some((p) => p?.gather_facts)) {
    const factsModule = '../facts/index.ts'
    const m = (await import(factsModule).catch(() => null)) as { engineFactsGatherer?: RunOptions['gatherFacts'] } | null
    gatherFacts = m?.engineFactsGatherer
  }

  const ac = new AbortController()
  let sigints = 0
  const onSigint = () => {
    sigints++
    if (sigints === 1) {
      warn('interrupted: no new task will start; waiting for the running ones (Ctrl-C again to quit now)')
      ac.abort()
    } else {
      ;(reporter as { stop?(): void }).stop?.()
      io.stderr.write('ERROR! interrupted twice: exiting without waiting\n')
      io.exit(EXIT.INTERRUPTED)
    }
  }
  io.onSigint(onSigint)

  let summary: RunSummary
  try {
    summary = await run({
      plays,
      playbookPath,
      resolveHosts: (pattern) => {
        try {
          return selectHosts(inv, pattern, { limit: o.limit, warn, cwd: io.cwd })
        } catch (e) {
          if (e instanceof NoHostsMatchedError) return []
          throw e
        }
      },
      resolveAllHosts: (pattern) => {
        try {
          return selectHosts(inv, pattern, { cwd: io.cwd })
        } catch (e) {
          if (e instanceof NoHostsMatchedError) return []
          throw e
        }
      },
      prepareHost,
      connect: (h: Host): Promise<Connection> => pool.get(h.name),
      extraVars,
      check: o.check,
      diff: o.diff,
      forks,
      strategy: o.strategy,
      runId: o.runId,
      events: reporter,
      signal: ac.signal,
      gatherFacts,
    })
  } catch (e) {
    ;(reporter as { stop?(): void }).stop?.()
    return fail(e)
  } finally {
    io.offSigint(onSigint)
    await pool.closeAll().catch(() => undefined)
  }
  return summary.exitCode
}
