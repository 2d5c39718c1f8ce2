/** `orch run <playbook.ts> -i INV ...`: load everything, check everything, then run. */
import { writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type { Host, Inventory } from '../inventory/types.ts'
import type { Connection } from '../transport/types.ts'
import { loadPlaybook } from '../engine/loader.ts'
import { hostname, userInfo } from 'node:os'
import { DEFAULT_FORKS, planRun, run, type RunOptions } from '../engine/runner.ts'
import { RemoteJournal, newRunId } from '../engine/journal.ts'
import { Transaction } from '../safety/transaction.ts'
import { askBecomePassword, askSshPassword, hostPool } from './targets.ts'
import { splitTags, type TaskSelection } from '../engine/selection.ts'
import { renderListing } from './listing.ts'
import { EXIT, type RunSummary } from '../engine/results.ts'
import { createReporter, errorDocument } from '../report/index.ts'
import { exitCodeForError, UsageError } from '../errors.ts'
import { parseExtraVars } from './extraVars.ts'
import type { Io } from './io.ts'
import { setupVault, type VaultCliOptions } from './vault.ts'
import { stopHandler } from './stop.ts'
import { runFooter } from '../report/plain.ts'
import { transactionLines } from '../report/recap.ts'

export interface RunCliOptions extends VaultCliOptions {
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
  /** Continue this unfinished run (its journal stays, the transaction goes on). */
  resume?: string
  /** -K: ask for the sudo password once. */
  askBecomePass?: boolean
  /** -u, --private-key, --ssh-common-args, --ssh-extra-args, -T: connection defaults (inventory vars win). */
  user?: string
  privateKey?: string
  /** commander names --private-key / --key-file by the last spelling. */
  keyFile?: string
  sshCommonArgs?: string
  sshExtraArgs?: string
  timeout?: number
  /** -b, --become-user, --become-method: become defaults (inventory vars win). */
  become?: boolean
  becomeUser?: string
  becomeMethod?: string
  /** -k: ask for the SSH password once. */
  askPass?: boolean
  /** --list-hosts, --list-tasks, --list-tags, --syntax-check: print the plan, connect to nothing. */
  listHosts?: boolean
  listTasks?: boolean
  listTags?: boolean
  syntaxCheck?: boolean
  /** -t/--tags, --skip-tags (repeatable, comma lists), --start-at-task. */
  tags?: string[]
  skipTags?: string[]
  startAtTask?: string
  /** --step: refused (what to use instead is in the message). */
  step?: boolean
}

/**
 * Whether this process's run went the whole way (bin/compile.js, WHOLE_RUN_KEY): the V8 code cache written
 * at its exit is kept for every later run, so it should come from one that applied changes, not from a
 * --check run or one that matched no host (later runs would compile the rest of the path every time).
 */
function markWholeRun(whole: boolean): void {
  ;(globalThis as Record<symbol, unknown>)[Symbol.for('orch.codeCache.wholeRun')] = whole
}

export async function runCommand(playbookPath: string, o: RunCliOptions, io: Io): Promise<number> {
  markWholeRun(false)
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
    await setupVault(o, io)
    extraVars = await parseExtraVars(o.extraVars, io.cwd)
    inventoryMod = await import('../inventory/index.ts')
    inv = await inventoryMod.loadInventory(o.inventory, { extraVars, playbookDir: dirname(playbookPath) })
    for (const w of inv.warnings ?? []) io.stderr.write(`[WARNING]: ${w}\n`)
    // Templated variables ({{ }}) rendered for every host now: a bad one is exit 5 before any host is touched.
    const bookDir = resolve(io.cwd, dirname(playbookPath))
    inv = (await import('../inventory/template/index.ts')).renderInventory(inv, { searchDir: bookDir, playbookDir: bookDir })
    if (o.step) throw new UsageError('--step is not supported (orch runs each task on every host in one round trip): use --check --diff to review every change first, and --start-at-task NAME to resume from a task')
    if (o.limit) inventoryMod.selectHosts(inv, 'all', { limit: o.limit, cwd: io.cwd })
    plays = (await loadPlaybook(playbookPath)).plays
  } catch (e) {
    return fail(e)
  }

  const { selectHosts, NoHostsMatchedError } = inventoryMod
  const selection: TaskSelection = { tags: splitTags(o.tags), skipTags: splitTags(o.skipTags), startAt: o.startAtTask }
  const hostsOf = (pattern: string, limit: string | undefined, warn?: (m: string) => void) => {
    try {
      return selectHosts(inv, pattern, { limit, warn, cwd: io.cwd })
    } catch (e) {
      if (e instanceof NoHostsMatchedError) return []
      throw e
    }
  }

  // The listings and --syntax-check: the whole plan is built and checked (variables too), nothing connects.
  if (o.listHosts || o.listTasks || o.listTags || o.syntaxCheck) {
    try {
      const plans = planRun({
        plays,
        playbookPath,
        resolveHosts: (p) => hostsOf(p, o.limit, (m) => io.stderr.write(`[WARNING]: ${m}\n`)),
        resolveAllHosts: (p) => hostsOf(p, undefined),
        extraVars,
        selection,
        events: { warn: (m) => io.stderr.write(`ERROR! ${m}\n`) },
      })
      io.stdout.write(o.listHosts || o.listTasks || o.listTags ? renderListing(playbookPath, plans, o) : `\nplaybook: ${playbookPath}\n`)
      return 0
    } catch (e) {
      return fail(e)
    }
  }
  const reporter = createReporter({ json: o.json, verbose: o.verbose, diff: o.diff, check: o.check, out: io.stdout, err: io.stderr })
  const warn = (m: string) => reporter.warn?.(m)

  // Connection settings per host, checked during planning (bad vars: exit 5 before connecting).
  const forks = o.forks ?? DEFAULT_FORKS
  let becomePassword: string | undefined
  let sshPassword: string | undefined
  try {
    if (o.askPass) sshPassword = await askSshPassword(io)
    if (o.askBecomePass) becomePassword = await askBecomePassword(io)
  } catch (e) {
    return fail(e)
  }
  const { pool, prepare: prepareHost } = await hostPool(forks, o.hostKeyChecking, becomePassword, {
    user: o.user,
    privateKeyFile: o.privateKey ?? o.keyFile,
    sshCommonArgs: o.sshCommonArgs,
    sshExtraArgs: o.sshExtraArgs,
    timeoutSec: o.timeout,
    become: o.become,
    becomeUser: o.becomeUser,
    becomeMethod: o.becomeMethod,
    tasksOnly: !!o.check,
    password: sshPassword,
  })

  // A run that may change hosts is a transaction (safety/): hosts locked before the first task,
  // risky tasks under commit-confirmed, checks, then commit or roll back every host.
  const runId = o.resume ?? o.runId ?? newRunId()
  const journal = new RemoteJournal(runId)
  const ac = new AbortController()
  const tx = o.check
    ? undefined
    : new Transaction({
        runId,
        pool,
        resume: !!o.resume,
        meta: `orch run ${playbookPath} by ${userInfo().username}@${hostname()} pid ${process.pid} at ${new Date().toISOString()}`,
        extraVars,
        warn,
        log: (h, m) => reporter.log?.(h, m),
        seedJournal: (h, n) => journal.startAfter(h, n),
        journal,
        signal: ac.signal,
      })

  // gather_facts: the facts module's gatherer, loaded only when a play asks for it.
  let gatherFacts: RunOptions['gatherFacts']
  if (plays.some((p) => p?.gather_facts)) {
    gatherFacts = (await import('../facts/index.ts')).engineFactsGatherer
  }

  const stops = stopHandler({ io, warn, ac, runId, tx, inventory: o.inventory, stopReporter: () => (reporter as { stop?(): void }).stop?.() })
  const offStop = io.onStop?.(stops.onStop)

  let summary: RunSummary
  try {
    summary = await run({
      plays,
      playbookPath,
      resolveHosts: (pattern) => hostsOf(pattern, o.limit, warn),
      resolveAllHosts: (pattern) => hostsOf(pattern, undefined),
      selection,
      prepareHost,
      connect: (h: Host): Promise<Connection> => pool.get(h.name),
      transportStats: () => pool.transportStats(),
      extraVars,
      check: o.check,
      diff: o.diff,
      forks,
      strategy: o.strategy,
      runId,
      journal,
      events: reporter,
      signal: ac.signal,
      gatherFacts,
      transaction: tx,
    })
  } catch (e) {
    ;(reporter as { stop?(): void }).stop?.()
    return fail(e)
  } finally {
    offStop?.()
    await pool.closeAll({ wait: false }).catch(() => undefined) // the process exits next
  }
  // The bench reads a timed plain run's round trips from here (--json has them too: "transport").
  if (process.env.ORCH_TRANSPORT_STATS && summary.transport) writeFileSync(process.env.ORCH_TRANSPORT_STATS, JSON.stringify(summary.transport) + '\n')
  if (!o.check && Object.values(summary.stats).some((st) => st.changed > 0)) markWholeRun(true)
  // The report went to a closed stdout: how the run ended, and each host's outcome, on stderr.
  if (stops.stdoutClosed()) io.stderr.write(['', ...transactionLines(summary), runFooter(summary), ''].join('\n'))
  return summary.exitCode
}
