/**
 * `npm run lab:up -- --hosts N [--lans N] [--docker] [--ovs] [--mtu N] [--ipv6] [--boot [--manager M[,M...]]] [--prefix P]`,
 * `lab:reboot -- [--hard] [--repeat N] [--prefix P] HOST...|all`, `lab:down [-- --prefix P]`, `lab:status`.
 */
import { loadavg } from 'node:os'
import { Command, InvalidArgumentError } from 'commander'
import { down, LabUnavailableError, NETWORK_MANAGERS, open, status, up } from './index.ts'

const int = (v: string): number => {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer')
  return n
}

const program = new Command('lab').description('the orch multi-host network-namespace lab')
program
  .command('up')
  .description('create a LAN and N hosts, each with its own sshd (and dockerd / Open vSwitch)')
  .requiredOption('--hosts <n>', 'number of hosts', int)
  .option('--docker', 'run dockerd in every host, with the offline busybox image', false)
  .option('--ovs', 'run ovsdb-server and ovs-vswitchd in every host', false)
  .option('--prefix <p>', 'lab name (namespaces <p>-sw, <p>-nodeN)', 'lab')
  .option('--boot', 'hosts boot Debian 12 with systemd as PID 1 (systemd-nspawn; docs/booted-lab.md)', false)
  .option('--mtu <n>', "the LAN's MTU (hosts' eth0 and the switch; 1280-9000, default 1500)", int)
  .option('--lans <n>', 'hosts on N LANs (each its own /24, joined by a router namespace; 1-8, default 1)', int)
  .option('--ipv6', 'an IPv6 underlay too: 2001:2:0:I::N/64 (RFC 5180 benchmarking prefix, inside the lab only)', false)
  .option('--manager <m>', `booted hosts' network manager: ${NETWORK_MANAGERS.join('|')}, or a comma list repeated over the hosts (default networkd)`)
  .action(async (o) => {
    const t0 = Date.now()
    const lab = await up({ hosts: o.hosts, docker: o.docker, ovs: o.ovs, prefix: o.prefix, boot: o.boot, manager: o.manager, mtu: o.mtu, ipv6: o.ipv6, lans: o.lans })
    console.log(`lab ${lab.prefix}: ${lab.hosts.length} ${lab.boot ? 'booted ' : ''}hosts up in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    for (const h of lab.hosts) console.log(`  ${h.name}  ${h.address}${h.lan ? `  lan${h.lan}` : ''}${h.address6 ? `  ${h.address6}` : ''}${h.manager ? `  ${h.manager}` : ''}`)
    console.log(`inventory: ${lab.inventoryPath}`)
    console.log(`ssh:       ssh -i ${lab.keyPath} -o UserKnownHostsFile=${lab.knownHostsPath} root@${lab.hosts[0].address}`)
  })
program
  .command('down')
  .description('remove a lab: processes, namespaces, veths, files')
  .option('--prefix <p>', 'lab name', 'lab')
  .action(async (o) => {
    await down(o.prefix)
    console.log(`lab ${o.prefix}: removed`)
  })
program
  .command('reboot')
  .description('reboot booted hosts (clean poweroff, or a power cut with --hard); returns when they answer on SSH')
  .argument('<hosts...>', 'host names (node1 ...), or all')
  .option('--hard', 'power cut: SIGKILL the host\'s PID 1', false)
  .option('--repeat <n>', 'reboot them N times over, one cycle after the other; print each cycle and the median', int, 1)
  .option('--prefix <p>', 'lab name', 'lab')
  .action(async (names: string[], o) => {
    const lab = open(o.prefix)
    const hosts = names.length === 1 && names[0] === 'all' ? lab.hosts.map((h) => h.name) : names
    const times: number[] = []
    for (let i = 0; i < o.repeat; i++) {
      const t0 = Date.now()
      await Promise.all(hosts.map((h) => lab.reboot(h, { hard: o.hard })))
      times.push((Date.now() - t0) / 1000)
      console.log(`lab ${lab.prefix}: ${hosts.join(' ')} rebooted${o.hard ? ' (power cut)' : ''} in ${times[i].toFixed(1)} s`)
    }
    if (times.length > 1) {
      const m = [...times].sort((a, b) => a - b)
      const median = m.length % 2 ? m[(m.length - 1) / 2] : (m[m.length / 2 - 1] + m[m.length / 2]) / 2
      console.log(`median of ${times.length} cycles: ${median.toFixed(1)} s (min ${m[0].toFixed(1)}, max ${m[m.length - 1].toFixed(1)}); load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`)
    }
  })
program
  .command('status')
  .description('list labs, their hosts and what runs in them')
  .action(async () => console.log(await status()))

try {
  await program.parseAsync(process.argv)
} catch (e) {
  const err = e as Error
  console.error(`lab: ${err instanceof LabUnavailableError ? 'cannot start here: ' : ''}${err.message}`)
  process.exit(1)
}
