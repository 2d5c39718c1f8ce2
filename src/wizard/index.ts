/**
 * `orch wizard`: interactive set-up. Hosts (typed, from an ssh config, or from `vagrant ssh-config`),
 * each tested over SSH as it comes (host key fingerprint confirmed before it is trusted), facts
 * gathered, a strategy suggested with its reason, non-overlapping subnets proposed, a summary; then the
 * inventory and group_vars/docker_hosts.yml are written (all files or none), and a first
 * `orch run playbooks/cross-host.ts --check` (then the real run) is offered.
 *
 * Every question has a flag; `--yes` (or no terminal) never prompts. Exit codes: 0 done; 5 bad or
 * missing flags (nothing written); 4 a host could not be reached without a prompt to fix it; 99
 * cancelled (Ctrl-C at a prompt, SIGINT): nothing written; after a run: the run's exit code.
 */
import { existsSync, mkdtempSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { UsageError } from '../errors.ts'
import { flagsAsker, interactiveAsker, MissingFlagsError, type Asker } from './ask.ts'
import { removeTempDir, trackTempDir } from './files.ts'
import { StagedKnownHosts } from './hostkey.ts'
import { absFrom, c, checkFlags, outputPaths, type Color, type WizardCtx, type WizardEnv, type WizardOptions } from './options.ts'
import { firstRun } from './questions/firstrun.ts'
import { askHosts } from './questions/hosts.ts'
import { askNetwork } from './questions/network.ts'
import { askFiles } from './questions/write.ts'

export { CancelledError, MissingFlagsError } from './ask.ts'
export type { Strategy } from './suggest.ts'
export type { WizardEnv, WizardOptions } from './options.ts'

/** Run the wizard; returns the exit code. Errors the CLI maps: UsageError (5), CancelledError (99). */
export async function runWizard(o: WizardOptions, env: WizardEnv): Promise<number> {
  checkFlags(o)
  const interactive = !o.yes && !!env.stdin.isTTY && !!env.stdout.isTTY
  const color = c(interactive)
  const say = (s = '') => void env.stdout.write(s + '\n')
  const asker: Asker = interactive ? interactiveAsker({ input: env.stdin, output: env.stdout }) : flagsAsker(!!o.yes)

  // Without a terminal, everything that has no default must be a flag: say all that is missing at once.
  if (!interactive) {
    const missing: Array<{ flag: string; why: string }> = []
    if (!o.host?.length && !o.sshHosts && !o.vagrant) missing.push({ flag: '--host', why: 'hosts to set up: [name=][user@]address[:port], repeatable (or --ssh-hosts NAMES|all, or --vagrant [FILE])' })
    if (!o.yes) missing.push({ flag: '--yes', why: 'take the defaults and the suggestions, and write the files, without asking' })
    if (missing.length) throw new MissingFlagsError(missing)
    const p = outputPaths(env.cwd, o.out ?? 'inventory', o.format ?? 'ini')
    const exists = [p.inventory, p.groupVars].filter((f) => existsSync(f))
    if (exists.length && !o.force) throw new UsageError(`${exists.join(' and ')} already exist${exists.length === 1 ? 's' : ''}: pass --force to replace, or --out DIR`)
  }

  const staging = mkdtempSync(join(tmpdir(), 'orch-wizard-'))
  trackTempDir(staging) // removed by cleanupTemps when a SIGINT ends the process
  try {
    return await wizard(o, env, asker, interactive, staging, say, color)
  } finally {
    removeTempDir(staging)
  }
}

/** The question groups in order: hosts, network, files, first run. */
async function wizard(o: WizardOptions, env: WizardEnv, ask: Asker, interactive: boolean, staging: string, say: (s?: string) => void, color: Color): Promise<number> {
  const knownHostsTarget = absFrom(env.cwd, o.knownHosts ?? '~/.ssh/known_hosts')
  const defaultKnownHosts = resolve(homedir(), '.ssh', 'known_hosts')
  const kh = new StagedKnownHosts(knownHostsTarget, join(staging, 'known_hosts'))
  const sshConfigPath = o.sshConfig !== undefined ? absFrom(env.cwd, o.sshConfig) : undefined
  const connectTimeoutMs = (o.connectTimeout ? Number(o.connectTimeout) : 10) * 1000

  if (interactive) {
    say(color.bold('orch wizard') + ' — set up cross-host container networking')
    say(color.dim('Each host is tested over SSH as you add it; nothing is written before the summary. Ctrl-C leaves no file.'))
    say()
  }
  const ctx: WizardCtx = { o, env, ask, interactive, staging, say, color, kh, knownHostsTarget, defaultKnownHosts, sshConfigPath, connectTimeoutMs }
  const probed = await askHosts(ctx)
  if (typeof probed === 'number') return probed
  const net = await askNetwork(ctx, probed)
  const paths = await askFiles(ctx, probed, net)
  return firstRun(ctx, paths)
}
