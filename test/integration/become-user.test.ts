/**
 * become other than root, against a real sshd on 127.0.0.1 and the real sudo and su: ansible_become_user
 * through sudo -u, ansible_become_method=su with the target user's password on stdin, su from a root
 * login without one, a wrong su password, and `orch run --check -b --become-user` end to end. Throwaway
 * local users (useradd), removed in afterAll; files only in the test's temp dir.
 */
import { spawnSync } from 'node:child_process'
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BecomeError, connect, type ConnectOptions, type SshConnection } from '../../src/transport/index.ts'
import { keygen, tempDir, TestSshd, TestUser, type KeyPair } from '../helpers/sshd.ts'
import { runOrch } from '../helpers/cli.ts'

const indexTs = fileURLToPath(new URL('../../src/index.ts', import.meta.url))
const LOGIN_PW = `lg ${randomBytes(5).toString('hex')} $x 'q'`
const PG_PW = `pg-${randomBytes(5).toString('hex')}"&;`
const login = new TestUser('orchtbl', LOGIN_PW, 'orchtbl ALL=(ALL:ALL) ALL')
const pg = new TestUser('orchtbpg', PG_PW, null)
let sshd: TestSshd
let dir: string
let key: KeyPair
const opened: SshConnection[] = []

const uidOf = (u: string) => spawnSync('id', ['-u', u], { encoding: 'utf8' }).stdout.trim()

async function open(extra: Partial<ConnectOptions>): Promise<SshConnection> {
  const c = await connect({
    hostName: 'become-host',
    address: '127.0.0.1',
    port: sshd.port,
    user: login.name,
    privateKeyFile: key.privateKeyFile,
    hostKeyChecking: 'off',
    sshConfigPath: null,
    agentSocket: null,
    ...extra,
  })
  opened.push(c)
  return c
}

beforeAll(async () => {
  login.create()
  pg.create()
  dir = tempDir('orch-becomeuser-')
  chmodSync(dir, 0o777)
  key = keygen(dir, 'id_ed25519')
  sshd = new TestSshd()
  await sshd.start()
  sshd.authorize(login.name, key.publicKey)
  sshd.authorize('root', key.publicKey)
}, 60_000)

afterAll(async () => {
  for (const c of opened) await c.close().catch(() => undefined)
  await sshd?.destroy()
  login.remove()
  pg.remove()
})

describe('become user and method', () => {
  it('sudo -u another user, with the sudo password; plain commands stay the login user', async () => {
    const c = await open({ become: true, becomeUser: pg.name, becomePassword: LOGIN_PW })
    expect((await c.run('id -u')).stdout.trim()).toBe(uidOf(pg.name))
    expect((await c.run('id -u', { become: false })).stdout.trim()).toBe(uidOf(login.name))
    // Uploads as the become user go through its shell: the file is that user's.
    await c.upload(join(dir, 'by-pg'), 'x\n', 0o600)
    expect(statSync(join(dir, 'by-pg')).uid).toBe(Number(uidOf(pg.name)))
  })

  it('su to another user with that user\'s password fed on stdin', async () => {
    const c = await open({ become: true, becomeMethod: 'su', becomeUser: pg.name, becomePassword: PG_PW })
    expect((await c.run('id -un')).stdout.trim()).toBe(pg.name)
    const pid = (await c.run('echo $$')).stdout
    expect((await c.run('echo $$')).stdout).toBe(pid)
  })

  it('a wrong su password is a BecomeError, asked once', async () => {
    const c = await open({ become: true, becomeMethod: 'su', becomeUser: pg.name, becomePassword: 'wrong' })
    const e = await c.run('id -un').catch((x) => x)
    expect(e).toBeInstanceOf(BecomeError)
    expect(String(e.message)).toContain('incorrect su password')
    expect(String(e.message)).not.toContain('wrong')
    const again = await c.run('id -un').catch((x) => x)
    expect(again).toBe(e)
  })

  it('su without a password where it asks for one says so', async () => {
    const c = await open({ become: true, becomeMethod: 'su', becomeUser: pg.name })
    await expect(c.run('id -un')).rejects.toThrow(/su asks for a password and no become password was given/)
  })

  it('a root login becomes another user with su or sudo, no password', async () => {
    for (const becomeMethod of ['su', 'sudo'] as const) {
      const c = await open({ user: 'root', become: true, becomeMethod, becomeUser: pg.name })
      expect((await c.run('id -un')).stdout.trim()).toBe(pg.name)
      expect((await c.run('id -u', { become: false })).stdout.trim()).toBe('0')
    }
  })
})

describe('orch run -b --become-user (check mode: tasks only, no transaction)', () => {
  const orch = (...args: string[]) => runOrch(dir, args)
  const setup = () => {
    writeFileSync(
      join(dir, 'book.ts'),
      `import { playbook, shell, sh } from ${JSON.stringify(indexTs)}
export default playbook({ name: 'as pg', hosts: 'all', tasks: () => [shell(sh\`id -un > \${${JSON.stringify(join(dir, 'who'))}}\`).with({ check_mode: false })] })
`,
    )
    writeFileSync(join(dir, 'known_hosts'), sshd.knownHostsLine() + '\n')
    writeFileSync(
      join(dir, 'hosts.ini'),
      `db1 ansible_host=127.0.0.1 ansible_port=${sshd.port} ansible_user=${login.name} ansible_ssh_private_key_file=${key.privateKeyFile} ` +
        `ansible_ssh_common_args='-o UserKnownHostsFile=${join(dir, 'known_hosts')}'\n[all:vars]\nansible_become_password="{{ pg_pw }}"\n`,
    )
    writeFileSync(join(dir, 'vars.json'), JSON.stringify({ pg_pw: PG_PW }))
  }

  it('runs the tasks as the become user through su', async () => {
    setup()
    const r = await orch('run', join(dir, 'book.ts'), '-i', join(dir, 'hosts.ini'), '--check', '-b', '--become-user', pg.name, '--become-method', 'su', '-e', '@vars.json')
    expect(r.err).not.toContain('ERROR')
    expect(r.code).toBe(0)
    expect(readFileSync(join(dir, 'who'), 'utf8').trim()).toBe(pg.name)
  }, 60_000)

  it('refuses a non-root become user for a run that is a transaction, exit 5, before connecting', async () => {
    setup()
    const before = sshd.acceptedCount()
    const r = await orch('run', join(dir, 'book.ts'), '-i', join(dir, 'hosts.ini'), '-b', '--become-user', pg.name, '-e', '@vars.json')
    expect(r.code).toBe(5)
    expect(r.err).toMatch(/db1: --become-user: expected 'root' here: orch's transaction/)
    expect(sshd.acceptedCount()).toBe(before)
  }, 60_000)
})
