/**
 * become (sudo) against a real sshd on 127.0.0.1 with throwaway local users: one that needs a sudo
 * password, one with NOPASSWD. The users and their sudoers.d drop-ins are removed in afterAll.
 */
import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sh } from '../../src/net/shell.ts'
import { BecomeError, connect, type ConnectOptions, type SshConnection } from '../../src/transport/index.ts'
import { keygen, tempDir, TestSshd, TestUser, type KeyPair } from '../helpers/sshd.ts'

const PASSWORD = `pw ${randomBytes(6).toString('hex')} $(id) 'q' "dq" \`x\`;|&ü`
const pwUser = new TestUser('orchtest', PASSWORD, 'orchtest ALL=(ALL:ALL) ALL')
const npUser = new TestUser('orchtestnp', `np-${randomBytes(6).toString('hex')}`, 'orchtestnp ALL=(ALL:ALL) NOPASSWD: ALL')
let sshd: TestSshd
let dir: string
let key: KeyPair
const opened: SshConnection[] = []

function opts(extra: Partial<ConnectOptions>): ConnectOptions {
  return {
    hostName: 'become-host',
    address: '127.0.0.1',
    port: sshd.port,
    user: pwUser.name,
    privateKeyFile: key.privateKeyFile,
    hostKeyChecking: 'off',
    sshConfigPath: null,
    agentSocket: null,
    ...extra,
  }
}

async function open(extra: Partial<ConnectOptions>): Promise<SshConnection> {
  const c = await connect(opts(extra))
  opened.push(c)
  return c
}

function processList(): string {
  return spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout
}

beforeAll(async () => {
  pwUser.create()
  npUser.create()
  dir = tempDir()
  key = keygen(dir, 'id_ed25519')
  sshd = new TestSshd()
  await sshd.start()
  sshd.authorize(pwUser.name, key.publicKey)
  sshd.authorize(npUser.name, key.publicKey)
})

afterAll(async () => {
  for (const c of opened) await c.close().catch(() => undefined)
  await sshd?.destroy()
  pwUser.remove()
  npUser.remove()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('become', () => {
  it('runs as root through one sudo shell fed the password on stdin; plain commands stay the user', async () => {
    const c = await open({ become: true, becomePassword: PASSWORD })
    const uid = spawnSync('id', ['-u', pwUser.name], { encoding: 'utf8' }).stdout
    expect((await c.run('id -u', { become: false })).stdout).toBe(uid)
    expect((await c.run('id -u')).stdout).toBe('0\n')
    const pid = (await c.run('echo $$')).stdout
    for (let i = 0; i < 5; i++) expect((await c.run('echo $$')).stdout).toBe(pid)
    // The password is nowhere in the process list while a root command runs.
    const running = c.run('sleep 3; echo done')
    // Look while the root command runs (on a loaded machine it may take a moment to start).
    let ps = ''
    for (let i = 0; i < 25 && !ps.includes('sleep 3'); i++) {
      await new Promise((r) => setTimeout(r, 100))
      ps = processList()
    }
    expect(ps).toContain('sleep 3')
    expect(ps).not.toContain(PASSWORD)
    expect(ps).not.toContain(PASSWORD.slice(0, 15))
    expect((await running).stdout).toBe('done\n')
  })

  it('keeps output byte-exact as root (no pty: no \\r\\n translation) and supports stdin/timeouts', async () => {
    const c = await open({ become: true, becomePassword: PASSWORD })
    expect((await c.runRaw("printf 'a\\nb\\r\\n\\000'")).stdout).toEqual(Buffer.from('a\nb\r\n\0'))
    expect((await c.run('cat', { stdin: 'in\n' })).stdout).toBe('in\n')
    expect(await c.run('sleep 10', { timeoutMs: 300 })).toMatchObject({ code: 124, timedOut: true })
    expect((await c.run('id -un')).stdout).toBe('root\n')
  })

  it('uploads as root', async () => {
    const c = await open({ become: true, becomePassword: PASSWORD })
    const path = `/root/.orch-become-${process.pid}`
    await c.upload(path, 'secret', 0o600)
    expect((await c.run(sh`stat -c '%U %a' ${path}; cat ${path}; rm -f ${path}`)).stdout).toBe('root 600\nsecret')
    // Big binary content goes through base64 (still as root, atomically).
    const big = randomBytes(300_000)
    await c.upload(path, big, 0o644)
    const r = await c.run(sh`stat -c '%U %a' ${path}; sha256sum ${path} | cut -d' ' -f1; rm -f ${path}`)
    expect(r.stdout).toBe(`root 644\n${createHash('sha256').update(big).digest('hex')}\n`)
    // Without become the same connection writes as the login user (SFTP).
    await c.upload(`/tmp/.orch-user-${process.pid}`, 'mine', 0o640, { become: false })
    expect((await c.run(sh`stat -c '%U %a' /tmp/.orch-user-${process.pid}; rm -f /tmp/.orch-user-${process.pid}`)).stdout).toBe(`${pwUser.name} 640\n`)
  })

  it('refuses a wrong password with a clear error that never contains it, and does not retry sudo', async () => {
    const wrong = `${PASSWORD}-wrong`
    const c = await open({ become: true, becomePassword: wrong })
    const e = await c.run('id -u').catch((err) => err)
    expect(e).toBeInstanceOf(BecomeError)
    expect(e.message).toMatch(/incorrect sudo password/)
    expect(e.message).not.toContain(wrong)
    expect(e.message).not.toContain(PASSWORD)
    const t0 = Date.now()
    await expect(c.run('id -u')).rejects.toBeInstanceOf(BecomeError)
    expect(Date.now() - t0).toBeLessThan(100)
    // Commands without become still work on the same connection.
    expect((await c.run('id -un', { become: false })).stdout).toBe(`${pwUser.name}\n`)
  })

  it('says so when sudo needs a password and none was given', async () => {
    const c = await open({ become: true })
    await expect(c.run('id -u')).rejects.toThrow(/asks for a password and no become password was given/)
  })

  it('works with NOPASSWD, and a password given anyway is never run or echoed', async () => {
    const c = await open({ user: npUser.name, become: true })
    expect((await c.run('id -u')).stdout).toBe('0\n')
    const bait = 'touch /tmp/orch-bait-should-not-exist; echo BAIT'
    const c2 = await open({ user: npUser.name, become: true, becomePassword: bait })
    const r = await c2.run('id -u; echo x >&2')
    expect(r).toMatchObject({ code: 0, stdout: '0\n', stderr: 'x\n' })
    expect((await c2.run('test -e /tmp/orch-bait-should-not-exist && echo yes || echo no')).stdout).toBe('no\n')
  })

  it('is a no-op for root logins', async () => {
    sshd.authorize('root', key.publicKey)
    const c = await open({ user: 'root', become: true })
    expect((await c.run('id -u; echo $$')).stdout).toMatch(/^0\n\d+\n$/)
  })
})

describe('password authentication', () => {
  it('logs in with ansible_password when no key works', async () => {
    const c = await open({ privateKeyFile: undefined, password: PASSWORD, homeDir: dir })
    expect((await c.run('id -un')).stdout).toBe(`${pwUser.name}\n`)
    const e = await connect(opts({ privateKeyFile: undefined, password: 'Wr0ngPassw0rd', homeDir: dir, retries: 0 })).catch((err) => err)
    expect(e.message).toMatch(/Permission denied/)
    expect(e.message).not.toContain('Wr0ngPassw0rd')
  })
})
