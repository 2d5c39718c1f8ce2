/**
 * The wizard's pure parts: host specs, ssh config / vagrant ssh-config import, underlay and strategy
 * suggestion, subnet proposals, the rendered inventory read back by loadInventory, the all-or-nothing
 * file commit, the staged known_hosts, and the no-terminal errors of the real CLI.
 */
import { execFile } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { HostFacts } from '../../src/facts/types.ts'
import { loadInventory } from '../../src/inventory/index.ts'
import { parseCidr4 } from '../../src/net/ip.ts'
import { flagsAsker, MissingFlagsError } from '../../src/wizard/ask.ts'
import { commitFiles } from '../../src/wizard/files.ts'
import { StagedKnownHosts } from '../../src/wizard/hostkey.ts'
import { iniWord, renderGroupVars, renderIni, renderYamlInventory, type InventoryHost } from '../../src/wizard/render.ts'
import { configHostsFromText, onPath, parseHostSpec, selectConfigHosts } from '../../src/wizard/sources.ts'
import {
  proposeContainerSubnets,
  proposeLanPool,
  proposeOverlay,
  suggestStrategy,
  takenSubnets,
  underlayOf,
  type PlannedHost,
} from '../../src/wizard/suggest.ts'

const tmp = mkdtempSync(join(tmpdir(), 'orch-wizard-unit-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

interface IfSpec {
  name: string
  cidrs?: string[]
  kind?: string
  master?: string
}
function facts(o: { hostname?: string; ifaces: IfSpec[]; routes?: Array<Partial<HostFacts['routes'][number]> & { dst: string }>; ovs?: boolean; docker?: boolean; dockerNets?: HostFacts['docker']['networks'] }): HostFacts {
  return {
    hostname: o.hostname ?? 'h',
    kernel: '6.1.0',
    interfaces: [{ name: 'lo', cidrs: ['127.0.0.1/8'], kind: 'loopback' }, ...o.ifaces].map((i, n) => ({
      name: i.name,
      ifindex: n + 1,
      kind: i.kind ?? 'device',
      state: 'UP',
      up: true,
      mtu: 1500,
      master: i.master,
      addresses: (i.cidrs ?? []).map((c) => {
        const [address, p] = c.split('/')
        return { family: 'inet' as const, address, prefixlen: Number(p), cidr: c, scope: i.kind === 'loopback' ? 'host' : 'global' }
      }),
    })),
    routes: (o.routes ?? []).map((r) => ({ family: 4, type: 'unicast', metric: 0, text: '', ...r }) as HostFacts['routes'][number]),
    bridges: [],
    docker: { installed: o.docker ?? true, running: o.docker ?? true, daemonJson: { present: false }, warnings: [], networks: o.dockerNets ?? [] },
    ovs: { installed: !!o.ovs, running: !!o.ovs, datapathTypes: [], ifaceTypes: [], bridges: [] },
    forwarding: { ipv4: false, ipv6: false },
    iptables: { present: true, legacyTables: [], forward: [], dockerUser: false, natPostrouting: [], orchForward: null, orchPostrouting: null },
    system: { systemd: true, systemctl: true, network: { managers: [], primary: 'none', netplanFiles: [], ifupdownInterfaces: [] } },
    errors: [],
  }
}

const lanHost = (n: number, extra: Partial<Parameters<typeof facts>[0]> = {}) =>
  facts({
    hostname: `node${n}`,
    ifaces: [{ name: 'eth0', cidrs: [`192.168.1.${n}/24`] }, { name: 'docker0', kind: 'bridge', cidrs: ['172.17.0.1/16'] }],
    routes: [
      { dst: 'default', gateway: '192.168.1.254', dev: 'eth0' },
      { dst: '192.168.1.0/24', dev: 'eth0', scope: 'link' },
      { dst: '172.17.0.0/16', dev: 'docker0', scope: 'link' },
    ],
    ...extra,
  })

describe('host specs', () => {
  it('parses [name=][user@]address[:port], IPv6 in brackets', () => {
    expect(parseHostSpec('10.0.0.5')).toEqual({ address: '10.0.0.5', source: 'flag' })
    expect(parseHostSpec('web1=admin@10.0.0.5:2222')).toEqual({ name: 'web1', user: 'admin', address: '10.0.0.5', port: 2222, source: 'flag' })
    expect(parseHostSpec('root@[fd00::1]:22')).toEqual({ user: 'root', address: 'fd00::1', port: 22, source: 'flag' })
    expect(parseHostSpec('db.example.com')).toEqual({ address: 'db.example.com', source: 'flag' })
  })
  it('refuses what is not a host, naming the flag', () => {
    for (const bad of ['', 'a;b', 'x@', '10.0.0.1:0', '10.0.0.1:70000', 'fd00::1', 'bad name=1.2.3.4', "o'neil@h", '$(reboot)']) {
      expect(() => parseHostSpec(bad), bad).toThrow(/--host/)
    }
  })
})

describe('ssh config and vagrant ssh-config import', () => {
  const vagrant = `Host node1
  HostName 127.0.0.1
  User vagrant
  Port 2222
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile /home/me/project/.vagrant/machines/node1/virtualbox/private_key
  IdentitiesOnly yes
  LogLevel FATAL

Host node2
  HostName 127.0.0.1
  User vagrant
  Port 2200
  IdentityFile "/home/me/my project/.vagrant/machines/node2/virtualbox/private_key"
`
  it('lists the Host entries that name one host, with HostName/User/Port', () => {
    expect(configHostsFromText(vagrant)).toEqual([
      { alias: 'node1', hostName: '127.0.0.1', user: 'vagrant', port: '2222' },
      { alias: 'node2', hostName: '127.0.0.1', user: 'vagrant', port: '2200' },
    ])
    const cfg = configHostsFromText('Host *\n  User x\nHost web1 web2 !bad db?\n  HostName 10.0.0.1\nHost web1\n  Port 1\n')
    expect(cfg.map((h) => h.alias)).toEqual(['web1', 'web2'])
  })
  it('selects by name or all; unknown names are named', () => {
    const all = configHostsFromText(vagrant)
    expect(selectConfigHosts(all, 'all', '--ssh-hosts', 'f').map((h) => h.alias)).toEqual(['node1', 'node2'])
    expect(selectConfigHosts(all, 'node2', '--ssh-hosts', 'f').map((h) => h.alias)).toEqual(['node2'])
    expect(() => selectConfigHosts(all, 'node2,node9', '--ssh-hosts', 'f')).toThrow(/node9 not found in f \(it names: node1, node2\)/)
  })
})

describe('commands on PATH', () => {
  it('finds executables, not other files', () => {
    expect(onPath('sh')).toMatch(/\/sh$/)
    expect(onPath('no-such-command-orch')).toBeNull()
    expect(onPath('passwd', '/etc')).toBeNull() // /etc/passwd is not executable
  })
})

describe('underlay and strategy suggestion', () => {
  it('finds the interface holding the SSH address, else the default route', () => {
    const f = lanHost(1)
    expect(underlayOf(f, '192.168.1.1')).toMatchObject({ iface: 'eth0', address: '192.168.1.1', network: '192.168.1.0/24', gateway: '192.168.1.254', how: 'ssh-address' })
    // Vagrant: reached through a port forward on 127.0.0.1.
    expect(underlayOf(f, '127.0.0.1')).toMatchObject({ iface: 'eth0', address: '192.168.1.1', how: 'default-route' })
    expect(underlayOf(facts({ ifaces: [{ name: 'eth0' }] }), 'x')).toBeNull()
  })

  const plan = (fs: HostFacts[], addrs: string[]): PlannedHost[] =>
    fs.map((f, i) => ({ name: f.hostname, address: addrs[i], facts: f, underlay: underlayOf(f, addrs[i]) }))

  it('one L2 segment → vxlan, the reason naming the subnet and bridge as the alternative', () => {
    const s = suggestStrategy(plan([lanHost(1), lanHost(2)], ['192.168.1.1', '192.168.1.2']))
    expect(s.strategy).toBe('vxlan')
    expect(s.sameL2).toBe(true)
    expect(s.reason).toMatch(/192\.168\.1\.0\/24/)
    expect(s.reason).toMatch(/bridge/)
    expect(s.warnings).toEqual([])
  })

  const routed = (ovs: boolean) => [
    facts({ hostname: 'a', ifaces: [{ name: 'ens3', cidrs: ['10.1.0.5/24'] }], routes: [{ dst: 'default', gateway: '10.1.0.1', dev: 'ens3' }], ovs }),
    facts({ hostname: 'b', ifaces: [{ name: 'ens3', cidrs: ['10.2.0.7/24'] }], routes: [{ dst: 'default', gateway: '10.2.0.1', dev: 'ens3' }], ovs }),
  ]
  it('routed with Open vSwitch everywhere → ovs-gre', () => {
    const s = suggestStrategy(plan(routed(true), ['10.1.0.5', '10.2.0.7']))
    expect(s.strategy).toBe('ovs-gre')
    expect(s.reason).toMatch(/different subnets.*10\.1\.0\.5\/24.*10\.2\.0\.7\/24/)
  })
  it('routed without Open vSwitch → routes, saying what ovs-gre would need', () => {
    const s = suggestStrategy(plan(routed(false), ['10.1.0.5', '10.2.0.7']))
    expect(s.strategy).toBe('routes')
    expect(s.reason).toMatch(/Open vSwitch is not running on a and b/)
  })
  it('warns about hosts without docker and SSH addresses that are not theirs', () => {
    const s = suggestStrategy(plan([lanHost(1, { docker: false }), lanHost(2)], ['192.168.1.1', '127.0.0.1']))
    expect(s.warnings.join('\n')).toMatch(/node1: docker is not installed/)
    expect(s.warnings.join('\n')).toMatch(/node2: 127\.0\.0\.1 .* not one of its addresses/)
  })
})

describe('subnet proposals', () => {
  it('container /24s avoid subnets in use on any host, not docker0 nor routes via peers', () => {
    const a = lanHost(1, {
      routes: [
        { dst: 'default', gateway: '192.168.1.254', dev: 'eth0' },
        { dst: '192.168.1.0/24', dev: 'eth0' },
        { dst: '10.244.0.0/24', gateway: '192.168.1.254', dev: 'eth0' }, // a real network behind the router
        { dst: '10.244.2.0/24', gateway: '192.168.1.2', dev: 'eth0' }, // orch's route to the peer: ignored
        { dst: '10.244.5.0/24', dev: 'docker0' }, // docker0: readdressed by routes: ignored
      ],
    })
    const b = lanHost(2, { ifaces: [{ name: 'eth0', cidrs: ['192.168.1.2/24'] }, { name: 'wg0', cidrs: ['10.244.1.1/24'] }] })
    const taken = takenSubnets([a, b], { peerAddresses: ['192.168.1.1', '192.168.1.2'], ignoreDevs: ['docker0'] })
    expect(taken.map((c) => `${c.address}/${c.prefix}`).sort()).toEqual(['10.244.0.0/24', '10.244.1.0/24', '192.168.1.0/24'])
    // Strategies that leave docker0 alone count its subnet as taken.
    const overlayTaken = takenSubnets([a, b], { peerAddresses: ['192.168.1.1', '192.168.1.2'] })
    expect(overlayTaken.map((c) => `${c.address}/${c.prefix}`).sort()).toEqual(['10.244.0.0/24', '10.244.1.0/24', '10.244.5.0/24', '172.17.0.0/16', '192.168.1.0/24'])
    expect(proposeContainerSubnets(parseCidr4('10.244.0.0/16')!, 2, taken)).toEqual(['10.244.2.0/24', '10.244.3.0/24'])
    expect(() => proposeContainerSubnets(parseCidr4('10.244.0.0/23')!, 2, taken)).toThrow(/room for only 0/)
    expect(() => proposeContainerSubnets(parseCidr4('10.244.0.0/25')!, 1, [])).toThrow(/\/24 or larger/)
  })
  it('the overlay moves off a taken default; LAN pool stays clear of hosts, gateway and broadcast', () => {
    expect(proposeOverlay(parseCidr4('10.250.0.0/24')!, [])).toBe('10.250.0.0/24')
    expect(proposeOverlay(parseCidr4('10.250.0.0/24')!, [parseCidr4('10.250.0.0/23')!])).toBe('10.250.2.0/24')
    expect(proposeLanPool(parseCidr4('192.168.1.0/24')!, ['192.168.1.1', '192.168.1.2', '192.168.1.254'])).toBe('192.168.1.224/28')
    expect(proposeLanPool(parseCidr4('192.168.1.0/24')!, ['192.168.1.230'])).toBe('192.168.1.208/28')
  })
})

describe('rendered inventory, read back', () => {
  const hosts: InventoryHost[] = [
    { name: 'node1', vars: { ansible_host: '10.0.0.1', ansible_user: 'root', ansible_ssh_private_key_file: "/keys/it's mine #1/id", container_subnet: '10.244.0.0/24' } },
    { name: 'node2', vars: { ansible_host: '10.0.0.2', ansible_port: 2222, ansible_user: 'True', ansible_become: true, overlay_ip: '10.250.0.2' } },
  ]
  const gv = { ansible_ssh_common_args: "-o 'UserKnownHostsFile=/a b/kh' -o StrictHostKeyChecking=yes" }
  const strategyVars = { orch_strategy: 'routes', cluster_cidr: '10.244.0.0/16', vxlan_vni: 42, container_image: 'orchlab/busybox:latest' }

  for (const format of ['ini', 'yaml'] as const) {
    it(`${format}: loadInventory gets back every value with its type, group_vars included`, async () => {
      const dir = join(tmp, `inv-${format}`)
      mkdirSync(join(dir, 'group_vars'), { recursive: true })
      const file = join(dir, format === 'ini' ? 'hosts.ini' : 'hosts.yml')
      writeFileSync(file, format === 'ini' ? renderIni(hosts, gv, ['header']) : renderYamlInventory(hosts, gv, ['header']))
      writeFileSync(join(dir, 'group_vars', 'docker_hosts.yml'), renderGroupVars(strategyVars, ['h'], { orch_strategy: 'why: because' }))
      const inv = await loadInventory([file])
      for (const h of hosts) {
        const got = inv.hosts.get(h.name)!
        expect(got.groups).toContain('docker_hosts')
        expect(got.vars).toMatchObject({ ...h.vars, ...gv, ...strategyVars })
      }
    })
  }
  it('INI words are quoted only when needed, twice when Python would read a literal', () => {
    expect(iniWord('10.244.0.0/24')).toBe('10.244.0.0/24')
    expect(iniWord('a b')).toBe("'a b'")
    expect(iniWord('True')).toBe(`"'True'"`)
    expect(iniWord('22')).toBe(`"'22'"`)
    expect(iniWord(22)).toBe('22')
  })
})

describe('files: all or nothing', () => {
  it('writes every file through a temp + rename, keeps the mode of a replaced file', () => {
    const d = join(tmp, 'commit1')
    mkdirSync(d)
    writeFileSync(join(d, 'kh'), 'old\n', { mode: 0o600 })
    chmodSync(join(d, 'kh'), 0o600)
    commitFiles([
      { path: join(d, 'inv', 'hosts.ini'), content: 'a\n' },
      { path: join(d, 'inv', 'group_vars', 'docker_hosts.yml'), content: 'b: 1\n' },
      { path: join(d, 'kh'), content: 'old\nnew\n', mode: 0o644 },
    ])
    expect(readFileSync(join(d, 'inv', 'hosts.ini'), 'utf8')).toBe('a\n')
    expect(readFileSync(join(d, 'inv', 'group_vars', 'docker_hosts.yml'), 'utf8')).toBe('b: 1\n')
    expect(readFileSync(join(d, 'kh'), 'utf8')).toBe('old\nnew\n')
    expect(statSync(join(d, 'kh')).mode & 0o777).toBe(0o600)
    expect(readdirSync(join(d, 'inv')).filter((f) => f.endsWith('.tmp'))).toEqual([])
  })
  it('a write that fails leaves no target and no temp', () => {
    const d = join(tmp, 'commit2')
    mkdirSync(d)
    writeFileSync(join(d, 'blocker'), 'a file where a directory is needed')
    expect(() =>
      commitFiles([
        { path: join(d, 'hosts.ini'), content: 'a\n' },
        { path: join(d, 'blocker', 'group_vars', 'x.yml'), content: 'b\n' },
      ]),
    ).toThrow()
    expect(readdirSync(d)).toEqual(['blocker'])
  })
})

describe('staged known_hosts', () => {
  it('accepted keys go to the staging copy; the real file gets them only from finalContent', () => {
    const target = join(tmp, 'kh-target')
    writeFileSync(target, '10.0.0.9 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOldKeyOldKeyOldKeyOldKeyOldKeyOldKeyOldKey')
    const kh = new StagedKnownHosts(target, join(tmp, 'kh-staging'), [])
    const key = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 7)])
    expect(kh.verdict('10.0.0.1', key).status).toBe('unknown')
    kh.accept('10.0.0.1', key)
    expect(kh.verdict('10.0.0.1', key).status).toBe('ok')
    expect(readFileSync(target, 'utf8')).not.toMatch(/10\.0\.0\.1 /)
    const final = kh.finalContent()!
    expect(final.split('\n')).toEqual([
      '10.0.0.9 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOldKeyOldKeyOldKeyOldKeyOldKeyOldKeyOldKey',
      `10.0.0.1 ssh-ed25519 ${key.toString('base64')}`,
      '',
    ])
    expect(new StagedKnownHosts(join(tmp, 'none'), join(tmp, 'kh-staging2'), []).finalContent()).toBeNull()
  })
})

describe('without a terminal', () => {
  it('a question without a flag is a MissingFlagsError naming the flag; --yes takes defaults', async () => {
    const ask = flagsAsker(false)
    await expect(ask.confirm({ message: 'Write?', flag: '--yes', default: true })).rejects.toThrow(MissingFlagsError)
    await expect(ask.input({ message: 'Cluster', flag: '--cluster-cidr', value: '10.0.0.0/99', validate: () => 'bad CIDR' })).rejects.toThrow(/--cluster-cidr "10.0.0.0\/99": bad CIDR/)
    const yes = flagsAsker(true)
    expect(await yes.input({ message: 'Cluster', flag: '--cluster-cidr', default: '10.244.0.0/16' })).toBe('10.244.0.0/16')
    await expect(yes.input({ message: 'Pool', flag: '--lan-pool', required: true })).rejects.toThrow(/--lan-pool/)
    expect(await yes.input({ message: 'Gateway (empty: none)', flag: '--lan-gateway' })).toBe('')
  })

  const cli = (args: string[], cwd: string, env = process.env) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'orch.js'), 'wizard', ...args], { cwd, env, timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
      )
      child.stdin?.end()
    })

  it('orch wizard with no flags and no TTY: exit 5 naming --host and --yes, no stack trace, nothing written', async () => {
    const cwd = join(tmp, 'cli1')
    mkdirSync(cwd)
    const r = await cli([], cwd)
    expect(r.code).toBe(5)
    expect(r.stderr).toMatch(/no terminal to ask on/)
    expect(r.stderr).toMatch(/^\s+--host\s+hosts to set up/m)
    expect(r.stderr).toMatch(/^\s+--yes\s+/m)
    expect(r.stderr).not.toMatch(/\n\s+at /)
    expect(readdirSync(cwd)).toEqual([])
  })
  it('--vagrant without a FILE where vagrant is not installed: exit 5 saying what to do', async () => {
    const cwd = join(tmp, 'cli3')
    mkdirSync(cwd)
    const r = await cli(['--vagrant', '--yes'], cwd, { ...process.env, PATH: join(tmp, 'empty-path') })
    expect(r.code).toBe(5)
    expect(r.stderr).toMatch(/--vagrant: vagrant is not installed here; save `vagrant ssh-config` output .* --vagrant FILE/)
    expect(readdirSync(cwd)).toEqual([])
  })
  it('bad flag values: exit 5 naming the flag; existing files need --force', async () => {
    const cwd = join(tmp, 'cli2')
    mkdirSync(join(cwd, 'inventory'), { recursive: true })
    expect((await cli(['--host', '127.0.0.1:1', '--cluster-cidr', '10.244.0.0/25', '--yes'], cwd)).stderr).toMatch(/--cluster-cidr "10.244.0.0\/25": too small/)
    expect((await cli(['--host', '127.0.0.1:99999', '--yes'], cwd)).code).toBe(5)
    expect((await cli(['--host', '127.0.0.1:1', '--strategy', 'magic', '--yes'], cwd)).stderr).toMatch(/--strategy/)
    writeFileSync(join(cwd, 'inventory', 'hosts.ini'), 'mine\n')
    const r = await cli(['--host', '127.0.0.1:1', '--yes'], cwd)
    expect(r.code).toBe(5)
    expect(r.stderr).toMatch(/hosts\.ini already exists: pass --force/)
    expect(readFileSync(join(cwd, 'inventory', 'hosts.ini'), 'utf8')).toBe('mine\n')
    expect(existsSync(join(cwd, 'inventory', 'group_vars'))).toBe(false)
  })
})
