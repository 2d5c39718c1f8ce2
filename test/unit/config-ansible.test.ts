/**
 * ansible.cfg as Ansible reads it: `orch config dump --only-changed` against `ansible-config dump
 * --only-changed` (and `-t connection` for the ssh plugin's ssh_args / pipelining) on the same files and
 * environment: which file is found, configparser syntax, precedence env > file > default, typing.
 */
import { execFile } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { becomeDefaults, cliDefaults, connectionDefaults } from '../../src/config/apply.ts'
import { dumpConfig, loadConfig, SETTINGS } from '../../src/config/index.ts'
import { parseConfigIni } from '../../src/config/ini.ts'
import { main } from '../../src/cli/main.ts'
import type { Io } from '../../src/cli/io.ts'
import { HAVE_ANSIBLE, SKIP_REASON } from '../helpers/ansible.ts'

const run = promisify(execFile)
const root = mkdtempSync(join(tmpdir(), 'orch-config-test-'))
const home = join(root, 'home')
mkdirSync(home)
const put = (rel: string, text: string) => {
  const p = join(root, rel)
  mkdirSync(join(p, '..'), { recursive: true })
  writeFileSync(p, text)
  return p
}

/** The environment both tools see: no ANSIBLE_* of this machine, our HOME. */
function envWith(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ANSIBLE_') && v !== undefined) env[k] = v
  return { ...env, HOME: home, ANSIBLE_HOME: join(root, 'ansible-home'), ANSIBLE_LOCAL_TEMP: join(root, 'tmp'), ANSIBLE_NOCOLOR: '1', ...extra }
}

const BASE = new Set(SETTINGS.filter((s) => !s.plugin).map((s) => s.name).concat('CONFIG_FILE'))
const SSH = new Set(SETTINGS.filter((s) => s.plugin === 'ssh').map((s) => s.name))

/** NAME(origin) = value entries of a dump section (a value may go on over several lines). */
function entries(lines: string[], keep: Set<string>): string[] {
  const out: string[] = []
  for (const l of lines) {
    if (/^\w+\(.*?\) = /.test(l)) out.push(l)
    else if (out.length && l !== '') out[out.length - 1] += '\n' + l
  }
  return out.filter((e) => keep.has(e.slice(0, e.indexOf('('))))
}
function sshSection(text: string): string[] {
  const lines = text.split('\n')
  const at = lines.indexOf('ssh:')
  if (at < 0) return []
  const end = lines.findIndex((l, i) => i > at + 1 && l === '')
  return lines.slice(at + 2, end < 0 ? undefined : end)
}

async function ansibleDump(cwd: string, env: Record<string, string>) {
  const base = await run('ansible-config', ['dump', '--only-changed'], { cwd, env })
  const conn = await run('ansible-config', ['dump', '--only-changed', '-t', 'connection'], { cwd, env })
  return { base: entries(base.stdout.split('\n'), BASE), ssh: entries(sshSection(conn.stdout), SSH), warnings: base.stderr }
}
function orchDump(cwd: string, env: Record<string, string>) {
  const c = loadConfig({ cwd, env })
  const text = dumpConfig(c, true)
  return { base: entries(text.split('\n\n')[0].split('\n'), BASE), ssh: entries(sshSection(text), SSH), warnings: c.warnings.join('\n') }
}

const FULL = `# a comment
; another
[defaults]
inventory = hosts, other/inv
forks: 7
remote_user = "deploy" ; an inline comment
private_key_file = ~/keys/id
host_key_checking = no
timeout = 30
vault_password_file = pw.txt
vault_identity_list = dev@p1, 'prod@p2'
vault_id_match = True
unknown_key = ignored
pipelining = yes
nocows = 1

[ssh_connection]
ssh_args = -o ControlMaster=auto
  -o ControlPersist=30s
scp_if_ssh = True

[privilege_escalation]
become = True
become_user = admin
become_method = sudo
become_ask_pass = false

[some_plugin_section]
foo = bar
`

const d = HAVE_ANSIBLE ? describe : describe.skip

d(`orch config dump --only-changed = ansible-config dump --only-changed${SKIP_REASON}`, () => {
  const cases: Array<{ name: string; files: Record<string, string>; cwd: string; env?: Record<string, string>; worldWritable?: string }> = [
    { name: 'every honoured key, configparser syntax, unknown keys and sections', files: { 'a/ansible.cfg': FULL }, cwd: 'a' },
    { name: 'ANSIBLE_* beats the file; ANSIBLE_CONFIG a directory', files: { 'b/conf/ansible.cfg': FULL }, cwd: 'b', env: { ANSIBLE_CONFIG: join(root, 'b/conf'), ANSIBLE_FORKS: '9', ANSIBLE_REMOTE_USER: 'envuser', ANSIBLE_SSH_PIPELINING: 'no', ANSIBLE_INVENTORY: 'x.ini,y' } },
    { name: '~/.ansible.cfg when there is none in cwd; [DEFAULT] fallback', files: { 'home/.ansible.cfg': '[DEFAULT]\ntimeout = 44\n[defaults]\nforks = 3\n', 'c/.keep': '' }, cwd: 'c' },
    { name: 'a world-writable cwd is skipped (with a warning)', files: { 'w/ansible.cfg': '[defaults]\nforks = 11\n' }, cwd: 'w', worldWritable: 'w' },
  ]
  for (const c of cases) {
    it(c.name, async () => {
      for (const [rel, text] of Object.entries(c.files)) put(rel, text)
      if (c.worldWritable) chmodSync(join(root, c.worldWritable), 0o777)
      const env = envWith(c.env ?? {})
      const cwd = join(root, c.cwd)
      const theirs = await ansibleDump(cwd, env)
      const mine = orchDump(cwd, env)
      expect(theirs.base.length).toBeGreaterThan(0)
      expect(mine.base).toEqual(theirs.base)
      expect(mine.ssh).toEqual(theirs.ssh)
      if (c.cwd === 'a') expect(mine.ssh.map((e) => e.split('(')[0])).toEqual(['pipelining', 'ssh_args'])
      if (c.worldWritable) {
        expect(theirs.warnings).toMatch(/world writable directory/)
        expect(mine.warnings).toMatch(/world writable directory/)
      }
      // Only one file is ever read: the home file of case 3 is not the answer of the others.
      if (c.name.startsWith('~')) put('home/.ansible.cfg', '')
    })
  }
})

describe('ansible.cfg values as orch defaults', () => {
  it('feeds -i, -f, --host-key-checking, the connection and become defaults', () => {
    const dir = join(root, 'apply')
    put('apply/ansible.cfg', FULL)
    const c = loadConfig({ cwd: dir, env: envWith({}) })
    expect(cliDefaults(c)).toEqual({ inventory: [join(dir, 'hosts'), join(dir, 'other/inv')], forks: 7, hostKeyChecking: 'off' })
    expect(connectionDefaults(c)).toEqual({ user: 'deploy', privateKeyFile: join(home, 'keys/id'), timeoutSec: 30, sshArgs: '-o ControlMaster=auto\n-o ControlPersist=30s' })
    expect(becomeDefaults(c)).toEqual({ ansible_become: true, ansible_become_user: 'admin', ansible_become_method: 'sudo' })
  })

  it('a syntax error names the file and line', () => {
    expect(() => parseConfigIni('forks = 1\n', 'x.cfg')).toThrow(/x\.cfg:1: .*no \[section\] header/)
    expect(() => parseConfigIni('[defaults]\nforks = 1\nForks = 2\n', 'x.cfg')).toThrow(/x\.cfg:3: .*'forks' .* already exists/)
    expect(() => parseConfigIni('[defaults]\njust words\n', 'x.cfg')).toThrow(/x\.cfg:2: .*expected 'key = value'/)
  })

  it('orch inventory with no -i reads [defaults] inventory (ANSIBLE_CONFIG)', async () => {
    put('inv/hosts', '[web]\nw1\n')
    put('inv/ansible.cfg', '[defaults]\ninventory = hosts\n')
    const out: string[] = []
    const io: Io = {
      stdout: { write: (s: string) => (out.push(s), true) } as never,
      stderr: { write: (s: string) => (out.push(s), true) } as never,
      cwd: root,
      onSigint: () => {},
      offSigint: () => {},
      exit: (): never => {
        throw new Error('exit')
      },
    }
    process.env.ANSIBLE_CONFIG = join(root, 'inv/ansible.cfg')
    try {
      expect(await main(['node', 'orch', 'inventory', '--graph'], io)).toBe(0)
    } finally {
      delete process.env.ANSIBLE_CONFIG
    }
    expect(out.join('')).toContain('w1')
  })
})
