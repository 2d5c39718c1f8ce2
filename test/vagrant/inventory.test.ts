/**
 * The pieces of the Vagrant suite that need no Vagrant (part of `npm test`): reading `vagrant ssh-config`,
 * what a machine says about itself, the inventory read back by orch's own reader, the shell scripts'
 * syntax, and runc-bounded on a real bundle file with a stand-in runc.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { connectionVars, loadInventory } from '../../src/inventory/index.ts'
import { knownHostsText, parseProbe, parseSshConfig, PROBE_SCRIPT, renderInventory, repoRoot, type VagrantHost } from '../../scripts/vagrant-inventory.ts'

const tmp = mkdtempSync(join(tmpdir(), 'orch-vagrant-unit-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

// As `vagrant ssh-config` printed it for the docker provider (machines' ssh port forwarded on loopback).
const DOCKER = `Host orch1
  HostName 127.0.0.1
  User vagrant
  Port 2201
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile /tmp/vd/machines/orch1/docker/private_key
  IdentitiesOnly yes
  LogLevel FATAL

Host orch2
  HostName 127.0.0.1
  User vagrant
  Port 2222
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile /tmp/vd/machines/orch2/docker/private_key
  IdentitiesOnly yes
  LogLevel FATAL
`

// VirtualBox style: a project path with a space (quoted), the insecure key listed after the machine's.
const VBOX = `Host orch1
  HostName 127.0.0.1
  User vagrant
  Port 2222
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile "/home/me/my project/vagrant/.vagrant/machines/orch1/virtualbox/private_key"
  IdentityFile /home/me/.vagrant.d/insecure_private_key
  IdentitiesOnly yes
  LogLevel FATAL
  PubkeyAcceptedKeyTypes +ssh-rsa
  HostKeyAlgorithms +ssh-rsa
`

const ADDRS = JSON.stringify([
  { ifname: 'lo', addr_info: [{ local: '127.0.0.1', prefixlen: 8 }] },
  { ifname: 'eth0', addr_info: [{ local: '172.17.0.4', prefixlen: 16 }] },
  { ifname: 'eth1', addr_info: [{ local: '192.168.56.11', prefixlen: 24 }] },
  { ifname: 'docker0', addr_info: [{ local: '172.18.0.1', prefixlen: 16 }] },
])
const KEYS = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ1 root@orch1\necdsa-sha2-nistp256 AAAAE2VjZHNh root@orch1\n'

describe('vagrant ssh-config', () => {
  it('reads address, port, user and key of every machine, in order', () => {
    expect(parseSshConfig(DOCKER)).toEqual([
      { name: 'orch1', hostName: '127.0.0.1', port: 2201, user: 'vagrant', identityFile: '/tmp/vd/machines/orch1/docker/private_key' },
      { name: 'orch2', hostName: '127.0.0.1', port: 2222, user: 'vagrant', identityFile: '/tmp/vd/machines/orch2/docker/private_key' },
    ])
  })

  it('takes a quoted path whole, and the first IdentityFile (the one Vagrant uses)', () => {
    expect(parseSshConfig(VBOX)[0].identityFile).toBe('/home/me/my project/vagrant/.vagrant/machines/orch1/virtualbox/private_key')
  })

  it('names the machine when something it needs is missing or wrong', () => {
    expect(() => parseSshConfig('Host orch1\n  HostName 10.0.0.1\n  User vagrant\n  IdentityFile /k\n')).toThrow('Host orch1 has no Port')
    expect(() => parseSshConfig('Host orch1\n  HostName 10.0.0.1\n  Port 70000\n  User vagrant\n  IdentityFile /k\n')).toThrow('Port 70000 is not a port')
    expect(() => parseSshConfig('  HostName 10.0.0.1\nHost orch1\n')).toThrow('before any Host line')
    expect(parseSshConfig('')).toEqual([])
  })
})

describe('machine probe', () => {
  it('finds the host keys and the interface holding the private-network address', () => {
    const f = parseProbe('orch1', `${KEYS}@@orch-vagrant@@\n${ADDRS}\n`, '192.168.56.0/24')
    expect(f.hostKeys).toEqual(['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ1', 'ecdsa-sha2-nistp256 AAAAE2VjZHNh'])
    expect(f.underlay).toEqual({ ip: '192.168.56.11', prefix: 24, iface: 'eth1' })
    expect(PROBE_SCRIPT).toContain('@@orch-vagrant@@')
  })

  it('says which addresses the machine has when none is in the private network', () => {
    expect(() => parseProbe('orch1', `${KEYS}@@orch-vagrant@@\n${ADDRS}`, '10.9.0.0/24')).toThrow(/orch1: no address inside the private network 10.9.0.0\/24 \(it has: lo 127.0.0.1\/8, eth0 172.17.0.4\/16/)
    expect(() => parseProbe('orch1', `@@orch-vagrant@@\n${ADDRS}`, '192.168.56.0/24')).toThrow('orch1: no SSH host key')
  })
})

describe('inventory', () => {
  const hosts: VagrantHost[] = parseSshConfig(VBOX + DOCKER.replace(/orch1/g, 'orchx')).slice(0, 2).map((h, i) => ({
    ...h,
    hostKeys: ['ssh-ed25519 AAAAkey' + i],
    underlay: { ip: `192.168.56.${11 + i}`, prefix: 24, iface: i ? 'enp0s8' : 'eth1' },
  }))

  it('is read back by orch as written: connection, underlay and strategy variables', async () => {
    const known = join(tmp, 'known hosts')
    const path = join(tmp, 'hosts.ini')
    writeFileSync(path, renderInventory(hosts, { knownHostsPath: known, net: '192.168.56', provider: 'virtualbox' }))
    const inv = await loadInventory([path])
    expect([...inv.groups.get('docker_hosts')!.hosts]).toEqual(['orch1', 'orchx'])
    const h1 = inv.hosts.get('orch1')!
    expect(connectionVars(h1)).toMatchObject({
      address: '127.0.0.1',
      port: 2222,
      user: 'vagrant',
      privateKeyFile: '/home/me/my project/vagrant/.vagrant/machines/orch1/virtualbox/private_key',
      become: true,
      sshCommonArgs: `-o UserKnownHostsFile=${known} -o StrictHostKeyChecking=yes`,
    })
    expect(h1.vars).toMatchObject({
      underlay_ip: '192.168.56.11',
      bridge_iface: 'eth1',
      container_image: 'orchlab/busybox:latest',
      container_pull: 'never',
      lan_gateway: '192.168.56.1',
      lan_pool: '192.168.56.192/27',
    })
    expect(inv.hosts.get('orchx')!.vars).toMatchObject({ underlay_ip: '192.168.56.12', bridge_iface: 'enp0s8', ansible_port: 2201 })
  })

  it('known_hosts names a non-22 port as [host]:port', () => {
    expect(knownHostsText([{ ...hosts[0], port: 22, hostName: '10.0.0.5' }, hosts[1]])).toBe('10.0.0.5 ssh-ed25519 AAAAkey0\n[127.0.0.1]:2201 ssh-ed25519 AAAAkey1\n')
  })
})

describe('scripts', () => {
  const scripts = ['vagrant/provision.sh', 'vagrant/docker/orch-vm-init', 'vagrant/docker/systemctl', 'vagrant/lab/runc-bounded', 'scripts/vagrant-image.sh']

  it.each(scripts)('%s is valid POSIX sh', (f) => {
    const r = spawnSync('sh', ['-n', join(repoRoot, f)], { encoding: 'utf8' })
    expect(r.status, r.stderr).toBe(0)
  })

  it('runc-bounded drops from a bundle exactly the capabilities the bounding set lacks, then runs runc with the same arguments', () => {
    const bin = join(tmp, 'bin')
    const bundle = join(tmp, 'bundle')
    mkdirSync(bin, { recursive: true })
    mkdirSync(bundle, { recursive: true })
    // A stand-in runc that records its arguments.
    writeFileSync(join(bin, 'runc'), `#!/bin/sh\necho "$@" > ${join(tmp, 'runc-args')}\n`)
    chmodSync(join(bin, 'runc'), 0o755)
    const all = ['CAP_CHOWN', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_BPF']
    const spec = { ociVersion: '1.0.2', process: { args: ['sh'], capabilities: { bounding: all, effective: all, permitted: all, inheritable: all } } }
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec))
    execFileSync(join(repoRoot, 'vagrant/lab/runc-bounded'), ['--root', '/run/x', '--log', '/dev/null', 'create', '--bundle', bundle, '--pid-file', '/run/x.pid', 'cid'], {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    })
    expect(readFileSync(join(tmp, 'runc-args'), 'utf8').trim()).toBe(`--root /run/x --log /dev/null create --bundle ${bundle} --pid-file /run/x.pid cid`)
    // Expected from this machine's own bounding set (here CAP_SYS_RESOURCE, bit 24, is missing).
    const bnd = BigInt('0x' + /CapBnd:\s*([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1])
    const bit: Record<string, number> = { CAP_CHOWN: 0, CAP_NET_ADMIN: 12, CAP_SYS_ADMIN: 21, CAP_SYS_RESOURCE: 24, CAP_SYS_TIME: 25, CAP_BPF: 39 }
    const kept = all.filter((c) => (bnd >> BigInt(bit[c])) & 1n)
    const after = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'))
    for (const k of ['bounding', 'effective', 'permitted', 'inheritable']) expect(after.process.capabilities[k]).toEqual(kept)
    expect(after.process.args).toEqual(['sh'])
  })
})
