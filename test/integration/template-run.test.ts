/**
 * `orch run` with templated connection variables against a real sshd on 127.0.0.1: ansible_host,
 * ansible_port and ansible_user come from templates (a variable, an env lookup), a task sees a value
 * templated from group_vars; a template that cannot be rendered stops the run with exit 5 before any
 * connection (sshd accepted nothing). Runs with --check and check_mode: false tasks that only write
 * into the test's temp dir, so nothing else on this machine is touched.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keygen, tempDir, TestSshd, type KeyPair } from '../helpers/sshd.ts'
import { runOrch } from '../helpers/cli.ts'

const indexTs = fileURLToPath(new URL('../../src/index.ts', import.meta.url))
let sshd: TestSshd
let dir: string
let key: KeyPair

const orch = (...args: string[]) => runOrch(dir, args)

beforeAll(async () => {
  dir = tempDir('orch-tmplrun-')
  key = keygen(dir, 'id_ed25519')
  sshd = new TestSshd()
  await sshd.start()
  sshd.authorize('root', key.publicKey)
  writeFileSync(join(dir, 'known_hosts'), sshd.knownHostsLine() + '\n')
  writeFileSync(
    join(dir, 'book.ts'),
    `import { playbook, shell, sh } from ${JSON.stringify(indexTs)}
export default playbook({
  name: 'templated',
  hosts: 'web',
  tasks: ({ vars }) => [
    shell(sh\`printf '%s %s %s' "$(id -un)" \${String(vars.ntp)} \${String(vars.banner)} > \${${JSON.stringify(join(dir, 'out'))}}\`).with({ check_mode: false }),
  ],
})
`,
  )
  mkdirSync(join(dir, 'group_vars'))
  writeFileSync(join(dir, 'group_vars', 'web.yml'), 'ntp: "{{ region }}.pool.ntp.org"\nbanner: "{{ lookup(\'file\', \'banner.txt\') | upper }}"\n')
  writeFileSync(join(dir, 'banner.txt'), 'welcome\n')
}, 60_000)

afterAll(async () => {
  await sshd?.destroy()
})

const inventory = (hostVars: string) =>
  `[web]\nnode1 real_ip=127.0.0.1 region=eu ${hostVars}\n[web:vars]\nansible_host="{{ real_ip }}"\nansible_user="{{ lookup('env', 'ORCH_T_DEPLOY_USER') }}"\n` +
  `ansible_ssh_private_key_file=${key.privateKeyFile}\nansible_ssh_common_args='-o UserKnownHostsFile=${join(dir, 'known_hosts')} -o StrictHostKeyChecking=yes'\n`

describe('orch run with templated variables', () => {
  it('connects where the templates say and the task sees rendered values', async () => {
    writeFileSync(join(dir, 'hosts.ini'), inventory(`base_port=${sshd.port - 1} ansible_port="{{ base_port | int + 1 }}"`))
    process.env.ORCH_T_DEPLOY_USER = 'root'
    try {
      const r = await orch('run', join(dir, 'book.ts'), '-i', join(dir, 'hosts.ini'), '--check')
      expect(r.err).not.toContain('ERROR')
      expect(r.code).toBe(0)
    } finally {
      delete process.env.ORCH_T_DEPLOY_USER
    }
    expect(readFileSync(join(dir, 'out'), 'utf8')).toBe('root eu.pool.ntp.org WELCOME')
    expect(sshd.acceptedCount()).toBe(1)
  }, 60_000)

  it('an undefined variable in a template is exit 5 naming host, variable and template, before connecting', async () => {
    const before = sshd.acceptedCount()
    writeFileSync(join(dir, 'hosts.ini'), inventory(`ansible_port="{{ ssh_port }}"`))
    const r = await orch('run', join(dir, 'book.ts'), '-i', join(dir, 'hosts.ini'), '--check')
    expect(r.code).toBe(5)
    expect(r.err).toContain("host node1: variable ansible_port: 'ssh_port' is undefined")
    expect(sshd.acceptedCount()).toBe(before)
  }, 60_000)

  it('an unsupported construct is refused, exit 5, naming it', async () => {
    const before = sshd.acceptedCount()
    writeFileSync(join(dir, 'hosts.ini'), inventory(`ansible_port=${sshd.port} motd="{{ lookup('pipe', 'id') }}"`))
    const r = await orch('run', join(dir, 'book.ts'), '-i', join(dir, 'hosts.ini'), '--check')
    expect(r.code).toBe(5)
    expect(r.err).toContain("host node1: variable motd: not supported by orch: lookup('pipe')")
    expect(sshd.acceptedCount()).toBe(before)
  }, 60_000)

  it('orch inventory --list stays raw, as ansible-inventory', async () => {
    writeFileSync(join(dir, 'hosts.ini'), inventory(`ansible_port=${sshd.port}`))
    const r = await orch('inventory', '-i', join(dir, 'hosts.ini'), '--list')
    expect(r.code).toBe(0)
    expect(JSON.parse(r.out)._meta.hostvars.node1.ansible_host).toBe('{{ real_ip }}')
  })
})
