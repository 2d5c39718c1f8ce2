/**
 * `orch wizard`: the command line side (flags → src/wizard). Exit codes: 0 done, 5 bad or missing
 * flags (the message names them), 4 a host unreachable without a terminal to fix it, 99 cancelled
 * (Ctrl-C at a prompt or SIGINT: nothing written), 1 unexpected error; after the offered `orch run`,
 * that run's exit code.
 */
import { Command, Option } from 'commander'
import { EXIT } from '../engine/results.ts'
import { UsageError } from '../errors.ts'
import type { Io } from './io.ts'

const collect = (v: string, prev: string[] = []) => [...prev, v]

export function registerWizard(program: Command, io: Io, done: (code: number) => void): void {
  program
    .command('wizard')
    .description('interactive set-up: hosts over SSH, facts, a suggested strategy; writes the inventory and group_vars, offers a first --check')
    .option('--host <[name=][user@]addr[:port]>', 'a host to set up (repeatable); an ssh config alias works too', collect)
    .option('--user <name>', 'SSH user for --host entries without one (default: from the ssh config, else the local user)')
    .option('--port <n>', 'SSH port for --host entries without one (default 22)')
    .option('--key <file>', 'private key file for --host entries (default: ssh-agent, ~/.ssh/id_*)')
    .option('--ssh-config <file>', 'ssh config to read hosts and settings from (default ~/.ssh/config)')
    .option('--ssh-hosts <names>', "import these Host entries of the ssh config: comma-separated, or 'all'")
    .option('--vagrant [file]', 'import the machines of `vagrant ssh-config` (run here if vagrant is installed, or read FILE)')
    .option('--known-hosts <file>', 'known_hosts file to check host keys against and add accepted ones to (default ~/.ssh/known_hosts)')
    .option('--accept-host-keys', 'trust new host keys without asking (their fingerprints are still printed)')
    .addOption(new Option('--strategy <name>', 'cross-host strategy (default: the suggested one)').choices(['routes', 'bridge', 'ovs-gre', 'vxlan', 'wireguard']))
    .option('--cluster-cidr <cidr>', 'routes: pool of the per-host /24 container subnets (default 10.244.0.0/16)')
    .option('--overlay-cidr <cidr>', 'vxlan (a /28 per host), ovs-gre (an address per host): the overlay network (default 10.250.0.0/24, or a free one)')
    .option('--vxlan-vni <n>', 'vxlan: VXLAN network identifier (default 42)')
    .option('--vxlan-port <n>', 'vxlan: UDP port (default 4789)')
    .option('--encrypt', 'encrypt between the hosts: the wireguard strategy (the question "Encrypt ...?")')
    .option('--lan-pool <cidr>', "bridge: LAN addresses for containers (default: a free /28 at the top of the hosts' LAN)")
    .option('--lan-gateway <ip>', "bridge: the containers' default gateway (default: the hosts' gateway)")
    .option('--bridge-name <name>', 'bridge: the bridge that takes over the uplink (default br0)')
    .option('--ovs-bridge <name>', 'ovs-gre: the OVS integration bridge (default br-int)')
    .option('--container-image <ref>', "image of the probe containers ('' or default: the playbook's)")
    .addOption(new Option('--container-pull <when>', 'pull the image when missing, or never (default missing)').choices(['never', 'missing']))
    .addOption(new Option('--format <fmt>', 'inventory format (default ini)').choices(['ini', 'yaml']))
    .option('--out <dir>', 'directory for hosts.ini|hosts.yml and group_vars/ (default ./inventory)')
    .option('--force', 'replace existing inventory files')
    .addOption(new Option('--run <what>', 'afterwards: check (orch run --check), apply (check, then the real run), none').choices(['check', 'apply', 'none']))
    .option('--playbook <file>', 'playbook the check and run use (default playbooks/cross-host.ts)')
    .option('--connect-timeout <s>', 'seconds for each SSH connection (default 10)')
    .option('-y, --yes', 'ask nothing: take the flags, then the defaults and suggestions, and write the files')
    .action(async (opts) => {
      done(await wizardCommand(opts, io))
    })
}

export async function wizardCommand(opts: Record<string, unknown>, io: Io, stdin: NodeJS.ReadStream = process.stdin): Promise<number> {
  const { runWizard, CancelledError } = await import('../wizard/index.ts')
  const { cleanupTemps } = await import('../wizard/files.ts')
  let child = false
  let cancelled = false
  let written: string[] = []
  const nothing = () => (written.length ? `the files were written (${written.join(', ')}); nothing was run` : 'nothing was written')
  // SIGINT outside a prompt (connecting, gathering facts; at a prompt the terminal is raw and Ctrl-C
  // is a key, which the prompt turns into a cancellation). During a child `orch run`, the child
  // (same process group) gets it and rolls back: the wizard waits for it.
  const cancel = (signal: string) => {
    if (child) return
    if (cancelled) return
    cancelled = true
    cleanupTemps()
    try {
      if (stdin.isTTY) stdin.setRawMode?.(false)
      io.stderr.write(`\norch wizard: cancelled (${signal}); ${nothing()}\n`)
    } catch {
      /* the terminal is gone (SIGHUP) */
    }
    io.exit(EXIT.INTERRUPTED)
  }
  const onSigint = () => cancel('SIGINT')
  // A closed terminal or a kill: the same clean-up (the private temp directory), same exit code.
  const onSigterm = () => cancel('SIGTERM')
  const onSighup = () => cancel('SIGHUP')
  io.onSigint(onSigint)
  process.on('SIGTERM', onSigterm)
  process.on('SIGHUP', onSighup)
  try {
    return await runWizard(opts, {
      stdin,
      stdout: io.stdout,
      stderr: io.stderr,
      cwd: io.cwd,
      onChild: (running) => (child = running),
      onWritten: (paths) => (written = paths),
    })
  } catch (e) {
    if (e instanceof CancelledError) {
      io.stderr.write(`orch wizard: ${e.message}; ${nothing()}\n`)
      return EXIT.INTERRUPTED
    }
    if (e instanceof UsageError) {
      io.stderr.write(`ERROR! ${e.message}\n`)
      return EXIT.BAD_INPUT
    }
    io.stderr.write(`ERROR! orch wizard: ${(e as Error)?.stack ?? e}\n`)
    return EXIT.ERROR
  } finally {
    io.offSigint(onSigint)
    process.off('SIGTERM', onSigterm)
    process.off('SIGHUP', onSighup)
  }
}
