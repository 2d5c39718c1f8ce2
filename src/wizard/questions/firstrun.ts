/** After the files are written: offer `orch run PLAYBOOK --check`, then the real run. */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { EXIT } from '../../errors.ts'
import { absFrom, relFrom, type WizardCtx, type WizardEnv } from '../options.ts'

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

/** Returns the wizard's exit code: the run's when one ran. */
export async function firstRun(ctx: WizardCtx, paths: { inventory: string; groupVars: string }): Promise<number> {
  const { o, env, ask, interactive, say, color } = ctx
  const rel = relFrom(env.cwd)
  const playbook = absFrom(env.cwd, o.playbook ?? join(repoRoot, 'playbooks', 'cross-host.ts'))
  const shown = (check: boolean) => `orch run ${rel(playbook)} -i ${rel(paths.inventory)}${check ? ' --check' : ''}`
  let mode = o.run as 'check' | 'apply' | 'none' | undefined
  if (!mode && !interactive) mode = 'none'
  const runOrch = env.runOrch ?? ((args: string[]) => spawnOrch(args, env))
  if (!existsSync(playbook)) {
    if (mode === 'check' || mode === 'apply') {
      env.stderr.write(`ERROR! --run ${mode}: ${playbook} does not exist (pass --playbook FILE); the files are written\n`)
      return EXIT.ERROR
    }
    say(color.yellow(`! ${rel(playbook)} does not exist (yet): no check to run now. Later: ${shown(true)}`))
    return EXIT.OK
  }
  const go = async (check: boolean): Promise<number> => {
    say()
    say(color.bold(`$ ${shown(check)}`))
    env.onChild?.(true)
    try {
      return await runOrch(['run', playbook, '-i', paths.inventory, ...(check ? ['--check'] : [])])
    } finally {
      env.onChild?.(false)
    }
  }
  let code: number = EXIT.OK
  const wantCheck = mode ? mode !== 'none' : await ask.confirm({ message: `Run a check now? (${shown(true)}: changes nothing)`, flag: '--run', default: true })
  if (wantCheck) {
    code = await go(true)
    if (code !== EXIT.OK) {
      say(color.red(`✘ the check failed (exit ${code}): fix it, then: ${shown(true)}`))
      return code
    }
    const wantApply = mode
      ? mode === 'apply'
      : await ask.confirm({ message: `Apply for real now? (${shown(false)}: changes the hosts' networking; a failed check rolls every host back)`, flag: '--run', default: false })
    if (wantApply) {
      code = await go(false)
      if (code !== EXIT.OK) say(color.red(`✘ the run failed (exit ${code}); orch status -i ${rel(paths.inventory)} shows where each host stands`))
      return code
    }
  }
  say()
  say(`Next: ${shown(true)}, then ${shown(false)}`)
  return code
}

/** `orch run ...` as a child process on the same terminal. */
function spawnOrch(args: string[], env: WizardEnv): Promise<number> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'orch.js'), ...args], { stdio: 'inherit', cwd: env.cwd })
    child.on('error', (e) => {
      env.stderr.write(`ERROR! cannot start orch run: ${e.message}\n`)
      resolvePromise(EXIT.ERROR)
    })
    child.on('exit', (code, signal) => resolvePromise(code ?? (signal === 'SIGINT' ? EXIT.INTERRUPTED : EXIT.ERROR)))
  })
}
