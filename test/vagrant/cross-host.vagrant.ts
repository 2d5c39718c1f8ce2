/**
 * The cross-host acceptance suite on Vagrant machines (vagrant/Vagrantfile): `vagrant up`, an orch
 * inventory from `vagrant ssh-config`, then for every strategy the provider supports:
 *
 *   --check        reports changes on every host and changes nothing (host snapshots equal)
 *   run            exit 0, host and container matrices PASS, transaction committed; and, checked here
 *                  independently of orch's own checks, every probe container pings every other one
 *   second run     changed=0 on every host
 *   orch rollback  every host equals its snapshot from before the first run again
 *
 * and `vagrant destroy -f` at the end, also when something failed. The strategies share the machines:
 * each one starts from (and must return to) the same fresh hosts.
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
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { snapshot } from '../../src/safety/fingerprint.ts'
import { connect, type Connection } from '../../src/transport/index.ts'
import { repoRoot, run, VAGRANT_DIR, vagrantInventory, type BuiltInventory } from '../../scripts/vagrant-inventory.ts'

const ALL = ['routes', 'vxlan', 'bridge', 'ovs-gre'] as const
/**
 * What each provider supports (docs/vagrant.md says why). VMs: all four. Docker provider machines
 * (privileged containers): all four as well; OVS runs its userspace datapath when the kernel has no
 * openvswitch module, as on this machine.
 */
const SUPPORTED: Record<string, readonly string[]> = { docker: ALL, virtualbox: ALL, libvirt: ALL }

const provider = process.env.ORCH_VAGRANT_PROVIDER ?? 'docker'
const net = process.env.ORCH_VAGRANT_NET ?? '192.168.56'
const strategies = process.env.ORCH_VAGRANT_STRATEGIES
  ? process.env.ORCH_VAGRANT_STRATEGIES.split(',').map((s) => s.trim()).filter(Boolean)
  : [...(SUPPORTED[provider] ?? [])]
const ORCH = join(repoRoot, 'bin/orch.js')
const PLAYBOOK = join(repoRoot, 'playbooks/cross-host.ts')
const work = mkdtempSync(join(tmpdir(), 'orch-vagrant-'))
const env = { ...process.env, VAGRANT_CHECKPOINT_DISABLE: '1', ORCH_VAGRANT_NET: net }

interface Out {
  code: number | null
  stdout: string
  stderr: string
}

/** vagrant in vagrant/, its output appended to a log file (and kept from the test's own output). */
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

function orch(args: string[]): Promise<Out> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [ORCH, ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGINT'), 540_000)
    child.on('close', (code) => (clearTimeout(timer), resolve({ code, stdout, stderr })))
  })
}

const tail = (s: string, n = 60) => s.trim().split('\n').slice(-n).join('\n')
const show = (r: Out) => `exit ${r.code}\n${tail(r.stdout)}\n${tail(r.stderr, 20)}`

describe(`cross-host on Vagrant machines (provider ${provider})`, () => {
  let inv: BuiltInventory
  const conns = new Map<string, Connection>()
  const before = new Map<string, unknown>()
  const upLog = join(work, 'vagrant.log')

  /** What a rollback must restore: orch's host snapshot, plus the containers that exist. */
  async function state(name: string): Promise<unknown> {
    const c = conns.get(name)!
    const containers = await c.run("docker ps -a --format '{{.Names}}' | sort")
    return { ...(await snapshot(c)), containers: containers.stdout }
  }

  beforeAll(async () => {
    if (!SUPPORTED[provider]) throw new Error(`ORCH_VAGRANT_PROVIDER=${provider}: expected one of ${Object.keys(SUPPORTED).join(', ')}`)
    const bad = strategies.filter((s) => !SUPPORTED[provider].includes(s))
    if (bad.length) throw new Error(`ORCH_VAGRANT_STRATEGIES: ${bad.join(', ')} not supported with ${provider} (it supports ${SUPPORTED[provider].join(', ')})`)
    if ((await run('vagrant', ['--version'], { env })).code !== 0) throw new Error('vagrant is not installed (Debian: apt-get install vagrant); docs/vagrant.md')
    console.log(`vagrant up --provider ${provider} (log: ${upLog})`)
    const up = await vagrant(['up', '--provider', provider], upLog, 3_000_000)
    if (up.code !== 0) throw new Error(`vagrant up --provider ${provider} failed (exit ${up.code}); the end of ${upLog}:\n${tail(up.stdout + up.stderr, 30)}`)
    inv = await vagrantInventory({ outDir: work, net, env, provider })
    console.log(`inventory: ${inv.inventoryPath}\n${readFileSync(inv.inventoryPath, 'utf8')}`)
    for (const h of inv.hosts) {
      conns.set(
        h.name,
        await connect({
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
        }),
      )
    }
    for (const h of inv.hosts) before.set(h.name, await state(h.name))
  })

  afterAll(async () => {
    for (const c of conns.values()) await c.close().catch(() => {})
    if (process.env.ORCH_VAGRANT_KEEP === '1') {
      console.log(`ORCH_VAGRANT_KEEP=1: machines left up (inventory ${inv?.inventoryPath}); vagrant destroy -f in ${VAGRANT_DIR} removes them`)
      return
    }
    const d = await vagrant(['destroy', '-f'], upLog, 900_000)
    const st = await vagrant(['status', '--machine-readable'], upLog, 300_000)
    const left = st.stdout
      .split('\n')
      .map((l) => l.split(','))
      .filter((f) => f[2] === 'state' && f[3] !== 'not_created')
      .map((f) => `${f[1]} (${f[3]})`)
    if (d.code !== 0 || left.length) throw new Error(`vagrant destroy -f failed (exit ${d.code}; still there: ${left.join(', ') || 'none'}); see ${upLog}`)
  })

  describe.each(strategies)('strategy %s', (strategy) => {
    const runArgs = () => ['-i', inv.inventoryPath, '-e', `orch_strategy=${strategy}`]
    let applied = false

    afterAll(async () => {
      // A failed test in the middle must not leave this strategy's changes to the next one.
      if (applied) await orch(['rollback', '-i', inv.inventoryPath])
    })

    it('--check reports changes on every host and changes nothing', async () => {
      const r = await orch(['run', PLAYBOOK, ...runArgs(), '--check'])
      expect(r.code, show(r)).toBe(0)
      for (const h of inv.hosts) expect(r.stdout, show(r)).toMatch(new RegExp(`^${h.name} +: ok=\\d+ +changed=[1-9]\\d* +unreachable=0 +failed=0 `, 'm'))
      for (const h of inv.hosts) expect(await state(h.name), h.name).toEqual(before.get(h.name))
    })

    it('run: every host reaches every host, every container every container; committed', async () => {
      const r = await orch(['run', PLAYBOOK, ...runArgs()])
      applied = r.stdout.includes('TRANSACTION COMMITTED')
      expect(r.code, show(r)).toBe(0)
      expect(r.stdout).toMatch(/^PASS host to host/m)
      expect(r.stdout).toMatch(/^PASS container to container \(ping \+ 1048576 bytes tcp\)/m)
      expect(r.stdout).toMatch(/TRANSACTION COMMITTED/)
      for (const h of inv.hosts) expect(r.stdout).toMatch(new RegExp(`^${h.name} +: committed`, 'm'))

      // Independently of orch's checks: each probe's addresses (not lo), then a ping to every other one.
      const addrs = new Map<string, string[]>()
      for (const h of inv.hosts) {
        const a = await conns.get(h.name)!.run("docker exec orch-probe ip -4 -o addr show | awk '$2 != \"lo\" { sub(/\\/.*/, \"\", $4); print $4 }'")
        expect(a.code, `${h.name}: ${a.stderr}`).toBe(0)
        addrs.set(h.name, a.stdout.trim().split('\n').filter(Boolean))
        expect(addrs.get(h.name)!.length, `${h.name}: the probe has an address`).toBeGreaterThan(0)
      }
      const failures: string[] = []
      for (const from of inv.hosts)
        for (const to of inv.hosts) {
          if (from === to) continue
          for (const ip of addrs.get(to.name)!) {
            const p = await conns.get(from.name)!.run(`docker exec orch-probe ping -c 1 -W 3 ${ip}`)
            if (p.code !== 0) failures.push(`${from.name} probe -> ${to.name} probe ${ip}: ${p.stdout.trim().split('\n').at(-1)}`)
          }
        }
      expect(failures).toEqual([])
    })

    it('second run changes nothing', async () => {
      const r = await orch(['run', PLAYBOOK, ...runArgs()])
      expect(r.code, show(r)).toBe(0)
      for (const h of inv.hosts) expect(r.stdout, show(r)).toMatch(new RegExp(`^${h.name} +: ok=\\d+ +changed=0 +unreachable=0 +failed=0 `, 'm'))
    })

    it('orch rollback returns every host to its state before the first run', async () => {
      const r = await orch(['rollback', '-i', inv.inventoryPath])
      expect(r.code, show(r)).toBe(0)
      applied = false
      for (const h of inv.hosts) expect(r.stdout).toMatch(new RegExp(`^${h.name} +: rolled back`, 'm'))
      for (const h of inv.hosts) expect(await state(h.name), h.name).toEqual(before.get(h.name))
    })
  })
})
