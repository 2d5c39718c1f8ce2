/**
 * The cross-host acceptance suite on Vagrant machines (vagrant/Vagrantfile): `vagrant up`, an orch
 * inventory from `vagrant ssh-config`, then for every strategy the provider supports the same suite the
 * lab runs (test/lab/playbook-common.ts `strategySuite`):
 *
 *   --check on the fresh machines → nothing changed, changes listed
 *   run → host and container checks pass, committed; our own ping matrix and 1 MiB TCP transfers agree;
 *         the machines hold what the strategy makes (ASSERT below)
 *   second run → changed=0 on every host          orch rollback → every host equals its snapshot
 *   another strategy on the same machines, rolled back too
 *
 * and `vagrant destroy -f` at the end, also when something failed. The strategies share the machines:
 * each one starts from (and must return to) the same fresh hosts. Here the suite reaches the machines
 * over SSH (orch's own transport, with sudo), where the lab suite enters lab hosts directly.
 *
 * Run by `npm run test:vagrant` (scripts/vagrant-test.ts; docs/vagrant.md). Environment:
 *   ORCH_VAGRANT_PROVIDER    docker (default) | virtualbox | libvirt
 *   ORCH_VAGRANT_STRATEGIES  comma-separated subset of the provider's strategies
 *   ORCH_VAGRANT_NET         the Vagrantfile's private /24 (first three octets, default 192.168.56)
 *   VAGRANT_DOTFILE_PATH     Vagrant's state dir (default vagrant/.vagrant)
 *   ORCH_VAGRANT_KEEP=1      leave the machines up at the end (vagrant destroy -f in vagrant/ later)
 */
import { spawn } from 'node:child_process'
import { createWriteStream, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect } from 'vitest'
import type { Lab, LabHost } from '../../src/lab/index.ts'
import { connect, type Connection } from '../../src/transport/index.ts'
import { run, VAGRANT_DIR, vagrantInventory, type BuiltInventory } from '../../scripts/vagrant-inventory.ts'
import { exec, probeIps, strategySuite, type StrategyName } from '../lab/playbook-common.ts'

const ALL: readonly Exclude<StrategyName, 'wireguard'>[] = ['routes', 'vxlan', 'bridge', 'ovs-gre']
/**
 * What each provider supports (docs/vagrant.md says why). VMs: all four. Docker provider machines
 * (privileged containers): all four too; OVS runs its userspace datapath when the kernel has no
 * openvswitch module, as on this machine.
 */
const SUPPORTED: Record<string, readonly StrategyName[]> = { docker: ALL, virtualbox: ALL, libvirt: ALL }

const provider = process.env.ORCH_VAGRANT_PROVIDER ?? 'docker'
const net = process.env.ORCH_VAGRANT_NET ?? '192.168.56'
type VagrantStrategy = Exclude<StrategyName, 'wireguard'>
const strategies = (
  process.env.ORCH_VAGRANT_STRATEGIES
    ? process.env.ORCH_VAGRANT_STRATEGIES.split(',').map((s) => s.trim()).filter(Boolean)
    : [...(SUPPORTED[provider] ?? [])]
) as VagrantStrategy[]
const work = mkdtempSync(join(tmpdir(), 'orch-vagrant-'))
const env = { ...process.env, VAGRANT_CHECKPOINT_DISABLE: '1', ORCH_VAGRANT_NET: net }

interface Out {
  code: number | null
  stdout: string
  stderr: string
}

/** vagrant in vagrant/, its output appended to a log file (kept out of the test's own output). */
function vagrant(args: string[], log: string, timeoutMs: number): Promise<Out> {
  return new Promise((resolve) => {
    const f = createWriteStream(log, { flags: 'a' })
    f.write(`$ vagrant ${args.join(' ')}\n`)
    const child = spawn('vagrant', args, { cwd: VAGRANT_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => ((stdout += d), f.write(d)))
    child.stderr.on('data', (d) => ((stderr += d), f.write(d)))
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs)
    child.on('error', (e) => ((stderr += String(e)), f.end(), resolve({ code: 127, stdout, stderr })))
    child.on('close', (code) => (clearTimeout(timer), f.end(), resolve({ code, stdout, stderr })))
  })
}

const tail = (s: string, n: number) => s.trim().split('\n').slice(-n).join('\n')

/**
 * The machines as the lab suite sees a lab: hosts (name, underlay address), the inventory, the LAN
 * (for the bridge strategy's lan_pool), and exec, here a script run as root over the host's SSH
 * connection. Only what strategySuite and ASSERT use is filled in.
 */
function machinesAsLab(inv: BuiltInventory, conns: Map<string, Connection>): Lab {
  const hosts = inv.hosts.map((h) => ({ name: h.name, address: h.underlay.ip }) as LabHost)
  const machines = {
    hosts,
    inventoryPath: inv.inventoryPath,
    lanCidr: `${net}.0/24`,
    gateway: `${net}.1`,
    async exec(host: string | LabHost, script: string, input?: string) {
      const name = typeof host === 'string' ? host : host.name
      const r = await conns.get(name)!.run(script, input === undefined ? {} : { stdin: input })
      return { code: r.code, stdout: r.stdout, stderr: r.stderr }
    },
    async down() {},
  }
  return machines as unknown as Lab
}

const json = async (lab: Lab, h: LabHost, script: string) => JSON.parse(await exec(lab, h, script))
const peersOf = (lab: Lab, h: LabHost) => lab.hosts.filter((p) => p !== h)

/** What each strategy leaves on the machines, beyond the suite's pings and transfers. */
const ASSERT: Record<Exclude<StrategyName, 'wireguard'>, (lab: Lab) => Promise<void>> = {
  async routes(lab) {
    for (const h of lab.hosts) {
      const routes = (await json(lab, h, 'ip -j -4 route show proto static')) as Array<{ dst: string; gateway?: string }>
      for (const p of peersOf(lab, h)) expect(routes.some((r) => r.gateway === p.address && r.dst.startsWith('10.244.')), `${h.name}: a route via ${p.address}`).toBe(true)
      const docker0 = (await json(lab, h, 'ip -j -4 addr show dev docker0'))[0].addr_info[0].local as string
      expect(docker0.startsWith('10.244.'), `${h.name}: docker0 ${docker0}`).toBe(true)
    }
  },
  async vxlan(lab) {
    for (const h of lab.hosts) {
      const link = (await json(lab, h, 'ip -d -j link show dev orch-vx42'))[0]
      expect(link.linkinfo.info_kind).toBe('vxlan')
      expect(link.linkinfo.info_data).toMatchObject({ id: 42, local: h.address })
      expect(link.master).toBe('orch-ovl0')
      const fdb = ((await json(lab, h, 'bridge -j fdb show dev orch-vx42')) as Array<{ mac: string; dst?: string }>).filter((e) => e.mac === '00:00:00:00:00:00').map((e) => e.dst)
      expect(fdb.sort()).toEqual(peersOf(lab, h).map((p) => p.address).sort())
    }
  },
  async bridge(lab) {
    const ips = await probeIps(lab, 'eth1')
    for (const h of lab.hosts) {
      const br0 = (await json(lab, h, 'ip -j -4 addr show dev br0'))[0].addr_info.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`)
      expect(br0).toEqual([`${h.address}/24`])
      // The private network's interface (eth1 on every provider) is br0's port now.
      const port = (await json(lab, h, 'ip -j link show master br0')) as Array<{ ifname: string }>
      expect(port.map((l) => l.ifname)).toContain('eth1')
      expect(await exec(lab, h, 'docker exec orch-probe ip route')).toContain(`default via ${net}.1 dev eth1`)
      // On the LAN for real: the host itself reaches every probe directly.
      for (const ip of ips.values()) expect((await lab.exec(h, `ping -c 1 -W 2 ${ip}`)).code, `${h.name} -> ${ip}`).toBe(0)
    }
  },
  async 'ovs-gre'(lab) {
    for (const h of lab.hosts) {
      const kernel = (await exec(lab, h, 'if [ -d /sys/module/openvswitch ]; then echo system; else echo netdev; fi')).trim()
      if (kernel === 'netdev') {
        // No kernel datapath (as inside a docker-provider machine here): the underlay moved onto br-phy.
        expect((await exec(lab, h, 'ovs-vsctl port-to-br eth1')).trim()).toBe('br-phy')
        const a = (await json(lab, h, 'ip -j -4 addr show dev br-phy'))[0].addr_info[0]
        expect(`${a.local}/${a.prefixlen}`).toBe(`${h.address}/24`)
      }
      const dp = (await exec(lab, h, 'ovs-vsctl get Bridge br-int datapath_type')).trim().replace(/"/g, '')
      expect(dp === '' ? 'system' : dp).toBe(kernel)
      const remotes = (await exec(lab, h, "ovs-vsctl --bare --columns=options find Interface type=gre | sed -n 's/.*remote_ip=\"\\{0,1\\}\\([0-9.]*\\).*/\\1/p'"))
        .trim()
        .split('\n')
        .sort()
      expect(remotes).toEqual(peersOf(lab, h).map((p) => p.address).sort())
    }
  },
}

describe(`cross-host on Vagrant machines (provider ${provider})`, () => {
  let inv: BuiltInventory | undefined
  let machines: Lab
  const conns = new Map<string, Connection>()
  const log = join(work, 'vagrant.log')

  beforeAll(async () => {
    if (!SUPPORTED[provider]) throw new Error(`ORCH_VAGRANT_PROVIDER=${provider}: expected one of ${Object.keys(SUPPORTED).join(', ')}`)
    const bad = strategies.filter((s) => !SUPPORTED[provider].includes(s))
    if (bad.length) throw new Error(`ORCH_VAGRANT_STRATEGIES: ${bad.join(', ')}: ${provider} supports ${SUPPORTED[provider].join(', ')}`)
    if ((await run('vagrant', ['--version'], { env })).code !== 0) throw new Error('vagrant is not installed (Debian: apt-get install vagrant); see docs/vagrant.md')
    console.log(`vagrant up --provider ${provider} (log: ${log})`)
    const up = await vagrant(['up', '--provider', provider], log, 3_000_000)
    if (up.code !== 0) throw new Error(`vagrant up --provider ${provider} failed (exit ${up.code}); the end of ${log}:\n${tail(up.stdout + up.stderr, 30)}`)
    inv = await vagrantInventory({ outDir: work, net, env, provider })
    console.log(`inventory: ${inv.inventoryPath}\n${readFileSync(inv.inventoryPath, 'utf8')}`)
    for (const h of inv.hosts) {
      const c = await connect({
        hostName: h.name,
        address: h.hostName,
        port: h.port,
        user: h.user,
        privateKeyFile: h.identityFile,
        become: true,
        knownHostsFiles: [inv.knownHostsPath],
        hostKeyChecking: 'strict',
        sshConfigPath: null,
        agentSocket: null,
      })
      conns.set(h.name, c)
    }
    machines = machinesAsLab(inv, conns)
  })

  afterAll(async () => {
    for (const c of conns.values()) await c.close().catch(() => {})
    if (process.env.ORCH_VAGRANT_KEEP === '1') {
      console.log(`ORCH_VAGRANT_KEEP=1: machines left up (inventory ${inv?.inventoryPath}); vagrant destroy -f in ${VAGRANT_DIR} removes them`)
      return
    }
    const d = await vagrant(['destroy', '-f'], log, 900_000)
    const st = await vagrant(['status', '--machine-readable'], log, 300_000)
    const left = st.stdout
      .split('\n')
      .map((l) => l.split(','))
      .filter((f) => f[2] === 'state' && f[3] !== 'not_created')
      .map((f) => `${f[1]} (${f[3]})`)
    if (d.code !== 0 || st.code !== 0 || left.length) throw new Error(`vagrant destroy -f failed (exit ${d.code}; still there: ${left.join(', ') || '?'}); see ${log}`)
    console.log(`vagrant destroy -f: every machine gone (log: ${log})`)
  })

  for (const s of strategies) {
    describe(`strategy ${s}`, () => {
      // The lab suite's strategy switch goes to the next strategy run here.
      const other = strategies.length > 1 ? strategies[(strategies.indexOf(s) + 1) % strategies.length] : s
      strategySuite(() => machines, s, { assertState: ASSERT[s], other })
    })
  }
})
