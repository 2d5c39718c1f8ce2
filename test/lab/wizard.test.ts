/**
 * `orch wizard` against lab hosts, as a person uses it: the real CLI, the real @inquirer prompts on a
 * pseudo-terminal (util-linux `script`), answers typed, host key fingerprints compared with the lab's
 * keys, the files it writes read back, and the `orch run --check` it starts. Also: flags only (no
 * TTY) through to a real run whose effect is read on the hosts, Ctrl-C at a prompt and SIGINT while
 * connecting (no file left), an unknown host key without --accept-host-keys, ssh config and
 * `vagrant ssh-config` imports.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadInventory } from '../../src/inventory/index.ts'
import { argv } from '../../src/net/shell.ts'
import { fingerprint } from '../../src/transport/index.ts'
import { labSkipReason, withLab } from '../helpers/lab.ts'

const repo = resolve(import.meta.dirname, '..', '..')
const orchBin = join(repo, 'bin', 'orch.js')
const crossHost = join(repo, 'playbooks', 'cross-host.ts')

const noScript = (() => {
  try {
    execFileSync('script', ['-V'], { stdio: 'ignore' })
    return null
  } catch {
    return 'util-linux script (the pseudo-terminal) is not installed'
  }
})()

const strip = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '')

/** The wizard on a pseudo-terminal: `expect` output, `type` keys. */
class Pty {
  private out = ''
  private pos = 0
  readonly child: ChildProcess
  readonly exited: Promise<number>
  constructor(args: string[], cwd: string) {
    const cmd = `stty cols 220 rows 60; exec ${argv([process.execPath, orchBin, 'wizard', ...args])}`
    this.child = spawn('script', ['-qfec', cmd, '/dev/null'], { cwd, env: { ...process.env, TERM: 'xterm-256color' } })
    this.child.stdout!.on('data', (d) => (this.out += d))
    this.child.stderr!.on('data', (d) => (this.out += d))
    this.exited = new Promise((res) => this.child.on('exit', (code) => res(code ?? -1)))
  }
  get text(): string {
    return strip(this.out)
  }
  /** Wait for `re` in what came after the previous match. */
  async expect(re: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
    const t0 = Date.now()
    for (;;) {
      const rest = this.text.slice(this.pos)
      const m = re.exec(rest)
      if (m) {
        this.pos += m.index + m[0].length
        return m
      }
      if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${re}; output since the last match:\n${rest}`)
      await new Promise((r) => setTimeout(r, 40))
    }
  }
  type(keys: string): void {
    this.child.stdin!.write(keys)
  }
  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL')
  }
}
const ENTER = '\r'
const UP = '\x1b[A'
const DOWN = '\x1b[B'
const CTRL_C = '\x03'

function orch(args: string[], cwd: string, timeout = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = execFile(process.execPath, [orchBin, ...args], { cwd, timeout, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      res({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    )
    child.stdin?.end() // no TTY: stdin at EOF, stdout a pipe
  })
}

/** Every file under dir (relative paths), temp files included. */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return []
  const out: string[] = []
  const walk = (d: string, pre: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), `${pre}${e.name}/`)
      else out.push(`${pre}${e.name}`)
    }
  }
  walk(dir, '')
  return out.sort()
}

const stagingDirs = () => readdirSync(tmpdir()).filter((f) => f.startsWith('orch-wizard-') && !f.startsWith('orch-wizard-unit-') && !f.startsWith('orch-wizard-lab-'))

describe.skipIf(labSkipReason || noScript)('orch wizard on lab hosts', () => {
  const getLab = withLab({ hosts: 2, docker: true })
  let dir: string
  let probe: string
  /** The lab's host keys: "address fingerprint". */
  let labKeys: Map<string, string>

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'orch-wizard-lab-'))
    // A small playbook that needs the variables the wizard writes and leaves a trace on the host.
    probe = join(dir, 'probe.ts')
    writeFileSync(
      probe,
      `import { playbook, file } from 'orch'
export default playbook({
  name: 'wizard probe',
  hosts: 'docker_hosts',
  tasks: ({ vars, need }) => [
    file({ path: '/etc/orch-wizard-probe', content: need('orch_strategy') + ' ' + String(vars.container_subnet ?? vars.overlay_ip) + ' ' + String(vars.container_image) + '\\n' }),
  ],
})
`,
    )
    labKeys = new Map(
      readFileSync(getLab().knownHostsPath, 'utf8')
        .trim()
        .split('\n')
        .map((l) => {
          const [addr, , b64] = l.split(' ')
          return [addr, fingerprint(Buffer.from(b64, 'base64'))]
        }),
    )
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  const workdir = (name: string) => {
    const d = join(dir, name)
    mkdirSync(d)
    return d
  }

  it('interactive on a terminal: hosts typed and tested, fingerprints confirmed, routes chosen, files written, --check run', async () => {
    const lab = getLab()
    const [h1, h2] = lab.hosts
    const cwd = workdir('interactive')
    const kh = join(cwd, 'known_hosts')
    const stagingBefore = stagingDirs()
    const t = new Pty(['--known-hosts', kh, '--ssh-config', '/dev/null', '--playbook', probe], cwd)
    try {
      await t.expect(/Host 1: address/)
      t.type(h1.address + ENTER)
      await t.expect(/SSH user \(root\)/)
      t.type(ENTER)
      await t.expect(/SSH port \(22\)/)
      t.type(ENTER)
      await t.expect(/Private key file/)
      t.type(lab.keyPath + ENTER)
      // The key is shown before anything authenticates, and is the host's real key.
      const fp1 = await t.expect(/ED25519 key fingerprint is (SHA256:\S+)\./)
      expect(fp1[1]).toBe(labKeys.get(h1.address))
      await t.expect(/Trust this key and add it to .*known_hosts\?/)
      expect(existsSync(kh)).toBe(false)
      t.type('y' + ENTER)
      await t.expect(new RegExp(`✔ node1: root@${h1.address.replace(/\./g, '\\.')} — Linux .*eth0 ${h1.address.replace(/\./g, '\\.')}/24, docker`))

      await t.expect(/Host 2: address \(empty when done\)/)
      t.type(`root@${h2.address}` + ENTER) // user given inline: not asked again
      await t.expect(/SSH port \(22\)/)
      t.type(ENTER)
      await t.expect(/Private key file.*\n?.*\(.*id_ed25519\)/) // the previous answer is the default
      t.type(ENTER)
      const fp2 = await t.expect(/ED25519 key fingerprint is (SHA256:\S+)\./)
      expect(fp2[1]).toBe(labKeys.get(h2.address))
      await t.expect(/Trust this key/)
      t.type('y' + ENTER)
      await t.expect(/✔ node2: /)
      await t.expect(/Host 3: address \(empty when done\)/)
      t.type(ENTER)

      // One L2 segment: vxlan suggested, with the reason; routes picked instead.
      await t.expect(/Suggested strategy: vxlan/)
      await t.expect(new RegExp(`why: every host has an address in ${lab.lanCidr.replace(/\./g, '\\.')} on its underlay interface \\(eth0\\)`))
      await t.expect(/Encrypt the traffic between the hosts \(WireGuard\)\?/)
      t.type(ENTER)
      await t.expect(/Strategy/)
      t.type(UP + UP + UP)
      await t.expect(/❯ routes/)
      t.type(ENTER)
      await t.expect(/Cluster CIDR .*\(10\.244\.0\.0\/16\)/)
      t.type(ENTER)
      await t.expect(/Container image/)
      t.type(lab.image + ENTER)
      await t.expect(/Pull it when a host does not have it\?/)
      t.type(DOWN)
      await t.expect(/❯ never/)
      t.type(ENTER)
      await t.expect(/Inventory format/)
      t.type(ENTER)
      await t.expect(/Directory to write the inventory to \(inventory\)/)
      t.type('out' + ENTER)

      await t.expect(/Summary/)
      await t.expect(/node1 +root@.*container_subnet=10\.244\.0\.0\/24/)
      await t.expect(/node2 +root@.*container_subnet=10\.244\.1\.0\/24/)
      await t.expect(/known_hosts \(\+2 host keys\)/)
      await t.expect(/Write these files\? \(Y\/n\)/)
      expect(tree(cwd)).toEqual([]) // nothing before the answer
      t.type(ENTER)
      await t.expect(/✔ wrote out\/hosts\.ini, out\/group_vars\/docker_hosts\.yml, known_hosts/)
      await t.expect(/Run a check now\? \(orch run .*probe\.ts -i out\/hosts\.ini --check/)
      t.type(ENTER)
      // The check run, on the same terminal.
      await t.expect(/PLAY \[wizard probe \(check mode\)\]/, 60_000)
      await t.expect(/PLAY RECAP/, 60_000)
      await t.expect(/node1\s*:\s*ok=\d+\s+changed=1/)
      await t.expect(/Apply for real now\?.*\(y\/N\)/)
      t.type(ENTER)
      await t.expect(/Next: orch run .* --check, then orch run/)
      expect(await t.exited).toBe(0)
    } catch (e) {
      t.kill()
      throw e
    }

    expect(tree(cwd)).toEqual(['known_hosts', 'out/group_vars/docker_hosts.yml', 'out/hosts.ini'])
    const ini = readFileSync(join(cwd, 'out/hosts.ini'), 'utf8')
    expect(ini).toMatch(/^# Written by orch wizard on .*: 2 hosts, strategy routes\.$/m)
    expect(ini).toContain(`node1 ansible_host=${h1.address} ansible_user=root ansible_ssh_private_key_file=${lab.keyPath} container_subnet=10.244.0.0/24\n`)
    expect(ini).toContain(`node2 ansible_host=${h2.address} ansible_user=root ansible_ssh_private_key_file=${lab.keyPath} container_subnet=10.244.1.0/24\n`)
    expect(ini).toContain(`[docker_hosts:vars]\nansible_ssh_common_args='-o UserKnownHostsFile=${kh} -o StrictHostKeyChecking=yes'\n`)
    const gv = readFileSync(join(cwd, 'out/group_vars/docker_hosts.yml'), 'utf8')
    expect(gv).toMatch(/^# routes: chosen \(suggested: vxlan\)\norch_strategy: routes$/m)
    expect(gv).toMatch(/^cluster_cidr: 10\.244\.0\.0\/16$/m)
    expect(gv).toMatch(/^container_image: orchlab\/busybox:latest$/m)
    expect(gv).toMatch(/^container_pull: never$/m)
    // What orch run will see.
    const inv = await loadInventory([join(cwd, 'out/hosts.ini')])
    expect(inv.hosts.get('node2')!.vars).toMatchObject({ ansible_host: h2.address, container_subnet: '10.244.1.0/24', orch_strategy: 'routes', container_pull: 'never' })
    // known_hosts: exactly the lab's two keys, written only at the end.
    expect(readFileSync(kh, 'utf8').trim().split('\n').sort()).toEqual(readFileSync(lab.knownHostsPath, 'utf8').trim().split('\n').sort())
    // --check changed nothing on the hosts.
    for (const h of lab.hosts) expect((await lab.exec(h, 'test -e /etc/orch-wizard-probe')).code).toBe(1)
    expect(stagingDirs()).toEqual(stagingBefore)
  })

  it('flags only, no TTY: YAML inventory, --run apply runs the check then the real run, whose effect is on the hosts', async () => {
    const lab = getLab()
    const [h1, h2] = lab.hosts
    const cwd = workdir('flags')
    const khBefore = readFileSync(lab.knownHostsPath, 'utf8')
    const r = await orch(
      [
        'wizard',
        '--host', `root@${h1.address}`,
        '--host', `web2=${h2.address}:22`,
        '--user', 'root',
        '--key', lab.keyPath,
        '--known-hosts', lab.knownHostsPath,
        '--ssh-config', '/dev/null',
        '--strategy', 'routes',
        '--cluster-cidr', '10.99.0.0/16',
        '--container-image', lab.image,
        '--container-pull', 'never',
        '--format', 'yaml',
        '--out', 'inv',
        '--run', 'apply',
        '--playbook', probe,
        '--yes',
      ],
      cwd,
    )
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/host key: ED25519 SHA256:\S+ \(known, /) // known: nothing to confirm
    expect(r.stdout).toMatch(/Suggested strategy: vxlan/)
    expect(r.stdout).toMatch(/Strategy: routes \(--strategy; suggested: vxlan\)/)
    expect(r.stdout.match(/PLAY \[wizard probe\]/g)).toHaveLength(2) // --check, then the real run
    expect(r.stdout.match(/PLAY RECAP/g)).toHaveLength(2)
    expect(tree(cwd)).toEqual(['inv/group_vars/docker_hosts.yml', 'inv/hosts.yml'])
    expect(readFileSync(lab.knownHostsPath, 'utf8')).toBe(khBefore) // nothing to add
    const inv = await loadInventory([join(cwd, 'inv/hosts.yml')])
    expect([...inv.hosts.keys()]).toEqual(['node1', 'web2'])
    expect(inv.hosts.get('web2')!.vars).toMatchObject({
      ansible_host: h2.address,
      ansible_user: 'root',
      ansible_ssh_private_key_file: lab.keyPath,
      container_subnet: '10.99.1.0/24',
      orch_strategy: 'routes',
      cluster_cidr: '10.99.0.0/16',
    })
    // The real run used the written files: each host got its own subnet from the wizard.
    expect((await lab.exec(h1, 'cat /etc/orch-wizard-probe')).stdout).toBe(`routes 10.99.0.0/24 ${lab.image}\n`)
    expect((await lab.exec(h2, 'cat /etc/orch-wizard-probe')).stdout).toBe(`routes 10.99.1.0/24 ${lab.image}\n`)
  })

  it('Ctrl-C at a prompt (after hosts were accepted): exit 99, no inventory, known_hosts untouched, no temp file', async () => {
    const lab = getLab()
    const cwd = workdir('ctrlc')
    const kh = join(cwd, 'known_hosts')
    const stagingBefore = stagingDirs()
    const t = new Pty(['--host', `root@${lab.hosts[0].address}`, '--host', `root@${lab.hosts[1].address}`, '--key', lab.keyPath, '--known-hosts', kh, '--ssh-config', '/dev/null', '--accept-host-keys', '--out', 'out', '--playbook', probe], cwd)
    try {
      await t.expect(/✔ node2: /)
      await t.expect(/Encrypt the traffic between the hosts/)
      t.type(ENTER) // no
      await t.expect(/Strategy/)
      t.type(ENTER) // vxlan, the suggestion
      await t.expect(/VXLAN network identifier \(VNI\) \(42\)/)
      t.type(ENTER)
      await t.expect(/Overlay CIDR/)
      t.type(ENTER)
      await t.expect(/Container image/)
      t.type(CTRL_C)
      await t.expect(/orch wizard: cancelled at a prompt; nothing was written/)
      expect(await t.exited).toBe(99)
    } catch (e) {
      t.kill()
      throw e
    }
    expect(tree(cwd)).toEqual([])
    expect(stagingDirs()).toEqual(stagingBefore)
  })

  it('Ctrl-C at the last question, "Write these files?": nothing written either', async () => {
    const lab = getLab()
    const cwd = workdir('ctrlc2')
    const t = new Pty(['--host', `root@${lab.hosts[0].address}`, '--host', `root@${lab.hosts[1].address}`, '--key', lab.keyPath, '--known-hosts', join(cwd, 'kh'), '--ssh-config', '/dev/null', '--accept-host-keys', '--strategy', 'ovs-gre', '--overlay-cidr', '10.250.7.0/24', '--container-image', '', '--format', 'yaml', '--out', 'out'], cwd)
    try {
      await t.expect(/overlay_ip=10\.250\.7\.2/)
      await t.expect(/Write these files\?/)
      t.type(CTRL_C)
      expect(await t.exited).toBe(99)
    } catch (e) {
      t.kill()
      throw e
    }
    expect(t.text).toMatch(/nothing was written/)
    expect(tree(cwd)).toEqual([])
  })

  it('SIGINT while a host is being tested (no prompt up): exit 99, nothing written', async () => {
    const lab = getLab()
    const cwd = workdir('sigint')
    // An address on the lab LAN where no host answers: the SSH test waits for it.
    const silent = lab.lanCidr.replace(/\.0\/24$/, '.77')
    const stagingBefore = stagingDirs()
    const t = new Pty(['--host', `root@${lab.hosts[0].address}`, '--host', `root@${silent}`, '--key', lab.keyPath, '--known-hosts', join(cwd, 'kh'), '--ssh-config', '/dev/null', '--accept-host-keys', '--connect-timeout', '30'], cwd)
    try {
      await t.expect(/✔ node1: /)
      await t.expect(new RegExp(`root@${silent.replace(/\./g, '\\.')}: testing SSH`))
      await new Promise((r) => setTimeout(r, 300))
      t.type(CTRL_C) // the terminal is not raw between prompts: the kernel sends SIGINT
      await t.expect(/cancelled \(SIGINT\); nothing was written/)
      expect(await t.exited).toBe(99)
    } catch (e) {
      t.kill()
      throw e
    }
    expect(tree(cwd)).toEqual([])
    expect(stagingDirs()).toEqual(stagingBefore) // the private temp dir went too
  })

  it('the terminal closing (SIGHUP) or a kill (SIGTERM) at a prompt: exit 99, no file, no temp dir', async () => {
    const lab = getLab()
    for (const signal of ['SIGHUP', 'SIGTERM'] as const) {
      const cwd = workdir(`sig-${signal}`)
      const stagingBefore = stagingDirs()
      const t = new Pty(['--host', `root@${lab.hosts[0].address}`, '--key', lab.keyPath, '--known-hosts', join(cwd, 'kh'), '--ssh-config', '/dev/null', '--accept-host-keys'], cwd)
      try {
        await t.expect(/Encrypt the traffic between the hosts/)
        // The wizard is the child of `script`: signal it by PID.
        const pid = Number(execFileSync('pgrep', ['-P', String(t.child.pid)], { encoding: 'utf8' }).trim().split('\n')[0])
        expect(pid).toBeGreaterThan(1)
        process.kill(pid, signal)
        expect(await t.exited).toBe(99)
      } catch (e) {
        t.kill()
        throw e
      }
      expect(t.text).toContain(`cancelled (${signal}); nothing was written`)
      expect(tree(cwd)).toEqual([])
      expect(stagingDirs()).toEqual(stagingBefore)
    }
  })

  it('a new host key without a terminal and without --accept-host-keys: exit 5 naming the flag and the fingerprint', async () => {
    const lab = getLab()
    const cwd = workdir('nokey')
    const r = await orch(['wizard', '--host', `root@${lab.hosts[0].address}`, '--key', lab.keyPath, '--known-hosts', join(cwd, 'kh'), '--ssh-config', '/dev/null', '--yes'], cwd)
    expect(r.code).toBe(5)
    expect(r.stderr).toContain(`--accept-host-keys`)
    expect(r.stderr).toContain(labKeys.get(lab.hosts[0].address)!)
    expect(r.stderr).not.toMatch(/\n\s+at /)
    expect(tree(cwd)).toEqual([])
  })

  it('imports from an ssh config (--ssh-hosts), from vagrant ssh-config output (--vagrant FILE) and by running vagrant (--vagrant)', async () => {
    const lab = getLab()
    const [h1, h2] = lab.hosts
    const cwd = workdir('imports')
    writeFileSync(
      join(cwd, 'ssh_config'),
      `Host alpha\n  HostName ${h1.address}\n  User root\n  IdentityFile ${lab.keyPath}\n\nHost beta\n  HostName ${h2.address}\n  User root\n  Port 22\n  IdentityFile ${lab.keyPath}\n\nHost *\n  ConnectTimeout 5\n`,
    )
    const common = ['--known-hosts', lab.knownHostsPath, '--strategy', 'vxlan', '--container-image', '', '--yes']
    const r1 = await orch(['wizard', '--ssh-config', join(cwd, 'ssh_config'), '--ssh-hosts', 'all', '--out', 'a', ...common], cwd)
    expect(r1.stderr).toBe('')
    expect(r1.code).toBe(0)
    const a = await loadInventory([join(cwd, 'a/hosts.ini')])
    expect([...a.hosts.keys()]).toEqual(['alpha', 'beta'])
    expect(a.hosts.get('beta')!.vars).toMatchObject({ ansible_host: h2.address, ansible_user: 'root', ansible_ssh_private_key_file: lab.keyPath, overlay_cidr: '10.250.0.0/24', vxlan_vni: 42 })
    expect(a.hosts.get('beta')!.vars.overlay_ip).toBeUndefined() // vxlan: the playbook allocates a range per host

    // What `vagrant ssh-config` prints (its key settings are ignored: the wizard checks keys itself).
    writeFileSync(
      join(cwd, 'vagrant.txt'),
      [h1, h2]
        .map(
          (h, i) =>
            `Host ${i === 0 ? 'default' : 'worker'}\n  HostName ${h.address}\n  User root\n  Port 22\n  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n  PasswordAuthentication no\n  IdentityFile ${lab.keyPath}\n  IdentitiesOnly yes\n  LogLevel FATAL\n`,
        )
        .join('\n'),
    )
    const r2 = await orch(['wizard', '--vagrant', 'vagrant.txt', '--ssh-config', '/dev/null', '--out', 'v', ...common], cwd)
    expect(r2.stderr).toBe('')
    expect(r2.code).toBe(0)
    const v = await loadInventory([join(cwd, 'v/hosts.ini')])
    // Vagrant's "default" machine is named after its hostname.
    expect([...v.hosts.keys()]).toEqual(['node1', 'worker'])
    expect(v.hosts.get('worker')!.vars).toMatchObject({ ansible_host: h2.address, ansible_user: 'root', ansible_ssh_private_key_file: lab.keyPath })

    // --vagrant without FILE runs `vagrant ssh-config` where the Vagrantfile is. Vagrant is a stand-in
    // here (no VM can boot in the lab): a script first on PATH that prints the same text, and records
    // how it was called.
    mkdirSync(join(cwd, 'bin'))
    writeFileSync(join(cwd, 'bin', 'vagrant'), `#!/bin/sh\necho "$PWD $*" > ${join(cwd, 'vagrant-called')}\n[ "$1" = ssh-config ] && exec cat ${join(cwd, 'vagrant.txt')}\nexit 1\n`, { mode: 0o755 })
    writeFileSync(join(cwd, 'Vagrantfile'), '# the machines of this project\n')
    const r3 = await new Promise<{ code: number; stderr: string }>((res) =>
      execFile(process.execPath, [orchBin, 'wizard', '--vagrant', '--ssh-config', '/dev/null', '--out', 'vv', ...common], { cwd, env: { ...process.env, PATH: `${join(cwd, 'bin')}:${process.env.PATH}` } }, (err, _o, stderr) =>
        res({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr }),
      ),
    )
    expect(r3.stderr).toBe('')
    expect(r3.code).toBe(0)
    expect(readFileSync(join(cwd, 'vagrant-called'), 'utf8')).toBe(`${cwd} ssh-config\n`)
    expect(readFileSync(join(cwd, 'vv/hosts.ini'), 'utf8').replace(/^#.*\n/gm, '')).toBe(readFileSync(join(cwd, 'v/hosts.ini'), 'utf8').replace(/^#.*\n/gm, ''))
    expect(tree(cwd).filter((f) => !f.startsWith('bin/'))).toEqual([
      'Vagrantfile',
      'a/group_vars/docker_hosts.yml',
      'a/hosts.ini',
      'ssh_config',
      'v/group_vars/docker_hosts.yml',
      'v/hosts.ini',
      'vagrant-called',
      'vagrant.txt',
      'vv/group_vars/docker_hosts.yml',
      'vv/hosts.ini',
    ])
  })

  it('interactive import: hosts picked from an ssh config in a checkbox, then none typed', async () => {
    const lab = getLab()
    const [h1, h2] = lab.hosts
    const cwd = workdir('pick')
    writeFileSync(join(cwd, 'ssh_config'), `Host alpha\n  HostName ${h1.address}\n  User root\n  IdentityFile ${lab.keyPath}\nHost beta\n  HostName ${h2.address}\n  User root\n  IdentityFile ${lab.keyPath}\n`)
    const t = new Pty(['--ssh-config', join(cwd, 'ssh_config'), '--known-hosts', lab.knownHostsPath, '--strategy', 'ovs-gre', '--container-image', '', '--format', 'ini', '--out', 'inv', '--run', 'none'], cwd)
    try {
      await t.expect(/Where are the hosts\?/)
      t.type(DOWN)
      await t.expect(/❯ Pick from .*ssh_config \(2 hosts\)/)
      t.type(ENTER)
      await t.expect(/Hosts from .*ssh_config/)
      t.type(' ' + DOWN + ' ') // tick alpha, then beta
      await t.expect(/◉ beta/)
      t.type(ENTER)
      await t.expect(/✔ alpha: root@/)
      await t.expect(/host key: ED25519 SHA256:\S+ \(known, /)
      await t.expect(/✔ beta: root@/)
      await t.expect(/Host 3: address \(empty when done\)/)
      t.type(ENTER)
      await t.expect(/Open vSwitch is (not installed|installed but not running) on alpha, beta/)
      await t.expect(/Overlay CIDR \(one address per host\) \(10\.250\.0\.0\/24\)/)
      t.type(ENTER)
      await t.expect(/Write these files\?/)
      t.type('y' + ENTER)
      expect(await t.exited).toBe(0)
    } catch (e) {
      t.kill()
      throw e
    }
    const inv = await loadInventory([join(cwd, 'inv/hosts.ini')])
    expect([...inv.hosts.keys()]).toEqual(['alpha', 'beta'])
    expect(inv.hosts.get('alpha')!.vars).toMatchObject({ ansible_host: h1.address, overlay_ip: '10.250.0.1', ovs_bridge: 'br-int', ovs_underlay_iface: 'eth0', orch_strategy: 'ovs-gre' })
    expect(inv.hosts.get('beta')!.vars).toMatchObject({ ansible_host: h2.address, overlay_ip: '10.250.0.2' })
  })

  it('flags only, a host that does not answer: exit 4 naming it, nothing written', async () => {
    const lab = getLab()
    const cwd = workdir('unreachable')
    const silent = lab.lanCidr.replace(/\.0\/24$/, '.78')
    const r = await orch(['wizard', '--host', `root@${lab.hosts[0].address}`, '--host', `root@${silent}`, '--key', lab.keyPath, '--known-hosts', lab.knownHostsPath, '--ssh-config', '/dev/null', '--connect-timeout', '2', '--yes'], cwd)
    expect(r.code).toBe(4)
    expect(r.stdout).toMatch(/✔ node1: /)
    expect(r.stdout).toContain(`✘ root@${silent}: cannot reach SSH`)
    expect(tree(cwd)).toEqual([])
  })

  it.skipIf(!existsSync(crossHost))(
    'with playbooks/cross-host.ts: the suggested strategy applied for real (containers reach each other), then a second wizard proposes the same and its check changes nothing',
    async () => {
      const lab = getLab()
      const cwd = workdir('crosshost')
      const args = (run: string) => [
        'wizard',
        '--host', `root@${lab.hosts[0].address}`,
        '--host', `root@${lab.hosts[1].address}`,
        '--key', lab.keyPath,
        '--known-hosts', lab.knownHostsPath,
        '--ssh-config', '/dev/null',
        '--container-image', lab.image,
        '--container-pull', 'never',
        '--run', run,
        '--force',
        '--yes',
      ]
      const r = await orch(args('apply'), cwd, 300_000)
      expect(r.code, r.stdout + r.stderr).toBe(0)
      expect(r.stdout).toMatch(/Suggested strategy: vxlan/)
      expect(r.stdout.match(/PLAY \[cross-host container networking\]/g)).toHaveLength(2)
      expect(r.stdout).toMatch(/PASS container to container/)
      expect(r.stdout).toMatch(/TRANSACTION COMMITTED/)
      const first = readFileSync(join(cwd, 'inventory/hosts.ini'), 'utf8')
      const firstVars = readFileSync(join(cwd, 'inventory/group_vars/docker_hosts.yml'), 'utf8')

      // The hosts now hold the overlay: a second wizard must not count it as taken.
      const again = await orch(args('check'), cwd, 300_000)
      expect(again.code, again.stdout + again.stderr).toBe(0)
      const body = (t: string) => t.replace(/^#.*\n/gm, '')
      expect(body(readFileSync(join(cwd, 'inventory/hosts.ini'), 'utf8'))).toBe(body(first))
      expect(body(readFileSync(join(cwd, 'inventory/group_vars/docker_hosts.yml'), 'utf8'))).toBe(body(firstVars))
      expect(again.stdout).toMatch(/node1\s*:\s*ok=\d+\s+changed=0\s+unreachable=0\s+failed=0/)
      expect(again.stdout).toMatch(/node2\s*:\s*ok=\d+\s+changed=0\s+unreachable=0\s+failed=0/)

      // Leave the lab as found.
      const back = await orch(['rollback', '-i', join(cwd, 'inventory/hosts.ini')], cwd)
      expect(back.code, back.stdout + back.stderr).toBe(0)
    },
    400_000,
  )
})
