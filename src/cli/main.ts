/**
 * The orch command line (commander). Thin: parse flags, call the engine/inventory, map to exit codes:
 * 0 ok, 1 error, 2 a host failed, 4 a host unreachable, 5 bad options/inventory/playbook (nothing touched),
 * 99 interrupted.
 */
import { readFileSync } from 'node:fs'
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { DEFAULT_FORKS } from '../engine/defaults.ts'
import { EXIT, UsageError } from '../errors.ts'
import { inventoryCommand } from './inventory.ts'
import { processIo, type Io } from './io.ts'
import { registerWizard } from './wizard.ts'
import { vaultOptions } from './vault.ts'
import { redactingIo } from './redact.ts'

const collect = (v: string, prev: string[]) => [...prev, v]
const count = (_: string, prev: number) => prev + 1
const positiveInt = (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError('expected an integer >= 1')
  return Number(v)
}

function version(): string {
  try {
    return JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version
  } catch {
    return '0.0.0'
  }
}

export function buildProgram(io: Io, done: (code: number) => void): Command {
  const program = new Command('orch')
    .description('Agentless, Ansible-style orchestrator for cross-host container networking over SSH')
    .version(version())
    .showHelpAfterError('(orch --help for usage)')
    .configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) })
    .exitOverride()

  program
    .command('run')
    .description('run a TypeScript playbook against inventory hosts')
    .argument('<playbook>', 'playbook file (.ts), e.g. playbooks/cross-host.ts')
    .option('-i, --inventory <path>', 'inventory file, directory or host list "h1,h2," (repeatable)', collect, [])
    .option('-l, --limit <pattern>', 'further limit the hosts to this pattern')
    .option('-e, --extra-vars <vars>', 'key=value, @file.yml|json or inline JSON (repeatable; later wins)', collect, [])
    .option('-C, --check', "don't change anything; report what would change")
    .option('-D, --diff', 'show the differences (file contents, before → after)')
    .option('-f, --forks <n>', `hosts worked on at once (default ${DEFAULT_FORKS})`, positiveInt)
    .option('--json', 'print one JSON document with every result on stdout (and nothing else)')
    .option('-v, --verbose', 'print stdout/stderr of tasks (repeatable)', count, 0)
    .addOption(new Option('--host-key-checking <mode>', 'SSH host key policy (default: from ssh args/config, else strict)').choices(['strict', 'accept-new', 'off']))
    .addOption(new Option('--strategy <name>', "override the plays' strategy").choices(['linear', 'free']))
    .addOption(new Option('--run-id <id>', 'id of this run (names the undo journal on the targets)').hideHelp())
    .option('--resume <run>', 'continue the unfinished run <run> on the hosts it holds (its journal is kept)')
    .option('-K, --ask-become-pass', 'ask for the sudo password (become) once, on the terminal')
    .option('-u, --user <user>', 'login user for hosts without ansible_user')
    .option('--private-key, --key-file <file>', 'private key for hosts without ansible_private_key_file')
    .option('--ssh-common-args <args>', 'ssh options for hosts without ansible_ssh_common_args (-o K=V, -J, ...)')
    .option('--ssh-extra-args <args>', 'ssh options added after the common args')
    .option('-T, --timeout <seconds>', 'connection timeout in seconds (default 10)', positiveInt)
    .option('-b, --become', 'become (root, or --become-user) for hosts without ansible_become')
    .option('--become-user <user>', 'user to become for hosts without ansible_become_user (default root)')
    .addOption(new Option('--become-method <method>', 'for hosts without ansible_become_method (default sudo)').choices(['sudo', 'su']))
    .option('-k, --ask-pass', 'ask for the SSH password once, on the terminal')
    .option('-t, --tags <tags>', 'only tasks with these tags (comma list, repeatable)', collect, [])
    .option('--skip-tags <tags>', 'skip tasks with these tags (comma list, repeatable)', collect, [])
    .option('--start-at-task <name>', 'start at the first task with this name (or glob)')
    .option('--list-hosts', 'print the hosts of every play; connect to nothing')
    .option('--list-tasks', 'print the tasks of every play (after --tags/--skip-tags); connect to nothing')
    .option('--list-tags', 'print the tags of every play; connect to nothing')
    .option('--syntax-check', 'load and check the playbook, inventory and variables; connect to nothing')
    .addOption(new Option('--step').hideHelp())
    .action(async (playbook: string, opts) => {
      // run.ts (the runner, the transaction, the reporters) only for `orch run`: other commands start faster.
      const { runCommand } = await import('./run.ts')
      done(await runCommand(playbook, opts, io))
    })

  program
    .command('inventory')
    .description('show the inventory, as ansible-inventory')
    .option('-i, --inventory <path>', 'inventory file, directory or host list (repeatable)', collect, [])
    .option('--list', 'all groups and host variables, as JSON')
    .option('--graph [group]', 'the group tree (from all, or from this group)')
    .option('--host <host>', "one host's variables, as JSON (or --yaml)")
    .option('-y, --yaml', 'YAML instead of JSON for --list and --host')
    .option('--vars', 'with --graph: show the variables of every host and group')
    .addOption(new Option('--toml').hideHelp())
    .addOption(new Option('--export').hideHelp())
    .option('-l, --limit <pattern>', 'only these hosts')
    .option('-e, --extra-vars <vars>', 'extra variables (repeatable)', collect, [])
    .action(async (opts) => {
      done(await inventoryCommand(opts, io))
    })

  program
    .command('facts')
    .description("gather and show the hosts' network facts (one round trip per host)")
    .option('-i, --inventory <path>', 'inventory file, directory or host list (repeatable)', collect, [])
    .option('-l, --limit <pattern>', 'only these hosts')
    .option('-e, --extra-vars <vars>', 'extra variables (repeatable)', collect, [])
    .option('--json', 'one JSON document on stdout')
    .option('-f, --forks <n>', `hosts worked on at once (default ${DEFAULT_FORKS})`, positiveInt)
    .addOption(new Option('--host-key-checking <mode>', 'SSH host key policy').choices(['strict', 'accept-new', 'off']))
    .action(async (opts) => {
      const { factsCommand } = await import('./facts.ts')
      done(await factsCommand(opts, io))
    })

  const hostOptions = (c: Command) =>
    c
      .option('-i, --inventory <path>', 'inventory file, directory or host list (repeatable)', collect, [])
      .option('-l, --limit <pattern>', 'only these hosts')
      .option('-e, --extra-vars <vars>', 'extra variables (repeatable)', collect, [])
      .option('-f, --forks <n>', `hosts worked on at once (default ${DEFAULT_FORKS})`, positiveInt)
      .addOption(new Option('--host-key-checking <mode>', 'SSH host key policy').choices(['strict', 'accept-new', 'off']))

  hostOptions(
    program
      .command('rollback')
      .description("undo a run from the targets' journals: the unfinished run holding a host, else its last committed run")
      .option('--run <id>', 'undo this run instead'),
  ).action(async (opts) => {
    const { rollbackCommand } = await import('./transaction.ts')
    done(await rollbackCommand(opts, io))
  })

  hostOptions(
    program
      .command('status')
      .description('per host: the last run, an unfinished run and its armed rollback timer, failed rollbacks')
      .option('--json', 'one JSON document on stdout'),
  ).action(async (opts) => {
    const { statusCommand } = await import('./transaction.ts')
    done(await statusCommand(opts, io))
  })

  program
    .command('config')
    .description('the ansible.cfg settings orch honours: value and origin (as ansible-config)')
    .argument('<action>', 'dump')
    .option('--only-changed', 'only settings not at their default')
    .action(async (action: string, opts: { onlyChanged?: boolean }) => {
      const { configCommand } = await import('./config.ts')
      done(configCommand(action, opts, io))
    })

  // The commands that read inventories and vars files read vaulted ones too.
  for (const c of program.commands) if (['run', 'inventory', 'facts', 'rollback', 'status'].includes(c.name())) vaultOptions(c)
  // ansible.cfg / ANSIBLE_* fill the flags not given on the command line (src/config/apply.ts).
  program.hook('preAction', async (_, cmd) => {
    if (cmd.name() === 'config' || cmd.name() === 'wizard') return
    const { cliDefaults } = await import('../config/apply.ts')
    const { config } = await import('../config/index.ts')
    const c = config(io.cwd)
    for (const w of c.warnings) io.stderr.write(`[WARNING]: ${w}\n`)
    for (const [key, value] of Object.entries(cliDefaults(c))) {
      const given = cmd.getOptionValueSource(key)
      const has = cmd.options.some((o) => o.attributeName() === key)
      if (has && (given === undefined || given === 'default')) cmd.setOptionValueWithSource(key, value, 'config')
    }
  })

  // orch wizard: options and action in src/cli/wizard.ts (the wizard itself is loaded when it runs).
  registerWizard(program, io, done)

  return program
}

export async function main(argv: string[] = process.argv, rawIo: Io = processIo()): Promise<number> {
  // Everything orch writes goes through redaction of vaulted values (src/inventory/secret.ts).
  const io = redactingIo(rawIo)
  let code: number = EXIT.OK
  const program = buildProgram(io, (c) => (code = c))
  try {
    await program.parseAsync(argv)
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.OK
      if (e.code === 'commander.executeSubCommandAsync') return EXIT.ERROR
      return EXIT.BAD_INPUT
    }
    if (e instanceof UsageError) {
      io.stderr.write(`ERROR! ${e.message}\n`)
      return EXIT.BAD_INPUT
    }
    io.stderr.write(`ERROR! ${(e as Error)?.stack ?? e}\n`)
    return EXIT.ERROR
  }
  return code
}
