/**
 * OpenSSH habits against real sshds on 127.0.0.1: ~/.ssh/config (Host/HostName/User/Port/
 * IdentityFile/IdentitiesOnly/ProxyJump), -J and -o args, multi-hop jumps, passphrase keys,
 * ssh-agent, default identity files.
 */
import { mkdirSync, rmSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect, UnreachableError, type ConnectOptions, type SshConnection } from '../../src/transport/index.ts'
import { keygen, tempDir, TestAgent, TestSshd, type KeyPair } from '../helpers/sshd.ts'

let target: TestSshd
let jump1: TestSshd
let jump2: TestSshd
let dir: string
let emptyHome: string
let key: KeyPair
let knownHosts: string

function base(extra: Partial<ConnectOptions>): ConnectOptions {
  return {
    hostName: 'cfg',
    address: '127.0.0.1',
    sshConfigPath: null,
    agentSocket: null,
    homeDir: emptyHome,
    knownHostsFiles: [knownHosts],
    globalKnownHostsFiles: [],
    hostKeyChecking: 'strict',
    retries: 0,
    ...extra,
  }
}

async function check(o: ConnectOptions): Promise<SshConnection> {
  const c = await connect(o)
  try {
    expect((await c.run('echo ok')).stdout).toBe('ok\n')
  } catch (e) {
    await c.close()
    throw e
  }
  return c
}

async function ok(o: ConnectOptions): Promise<void> {
  await (await check(o)).close()
}

function writeConfig(name: string, text: string): string {
  const f = join(dir, name)
  writeFileSync(f, text)
  return f
}

beforeAll(async () => {
  dir = tempDir()
  emptyHome = join(dir, 'empty-home')
  mkdirSync(emptyHome)
  key = keygen(dir, 'id_main')
  target = new TestSshd()
  // DEBUG1 logs the direct-tcpip forwards, which tell which hop the connection went through.
  jump1 = new TestSshd({ extraConfig: ['LogLevel DEBUG1'] })
  jump2 = new TestSshd({ extraConfig: ['LogLevel DEBUG1'] })
  await Promise.all([target.start(), jump1.start(), jump2.start()])
  for (const s of [target, jump1, jump2]) s.authorize('root', key.publicKey)
  knownHosts = join(dir, 'known_hosts')
  writeFileSync(knownHosts, [target, jump1, jump2].map((s) => s.knownHostsLine()).join('\n') + '\n')
})

afterAll(async () => {
  await Promise.all([target, jump1, jump2].map((s) => s?.destroy()))
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('ssh config', () => {
  it('applies Host patterns, HostName, User, Port and IdentityFile', async () => {
    const cfg = writeConfig(
      'config_basic',
      `# comment\nHost other\n  Port 1\n\nHost web* !web9\n  HostName 127.0.0.1\n  User root\n  Port ${target.port}\n  IdentityFile ${key.privateKeyFile}\n\nHost *\n  User nobody\n  Port 2\n`,
    )
    const c = await check(base({ hostName: 'web1', address: 'web1', sshConfigPath: cfg }))
    expect(c.target).toMatchObject({ host: '127.0.0.1', port: target.port, user: 'root' })
    await c.close()
    // web9 is excluded by the negated pattern and falls to Host * (port 2: nothing there).
    await expect(connect(base({ address: 'web9', sshConfigPath: cfg }))).rejects.toBeInstanceOf(UnreachableError)
  })

  it('lets explicit inventory values win over the config', async () => {
    const cfg = writeConfig('config_wrong', `Host 127.0.0.1\n  Port 1\n  User nobody\n  IdentityFile ${join(dir, 'nope')}\n`)
    await ok(base({ sshConfigPath: cfg, port: target.port, user: 'root', privateKeyFile: key.privateKeyFile }))
  })

  it('reads ~/.ssh/config by default and tolerates a missing one', async () => {
    const home = join(dir, 'home-with-config')
    mkdirSync(join(home, '.ssh'), { recursive: true })
    writeFileSync(join(home, '.ssh', 'config'), `Host tgt\n  HostName 127.0.0.1\n  Port ${target.port}\n  User root\n  IdentityFile ${key.privateKeyFile}\n`)
    const o = base({ address: 'tgt', homeDir: home })
    delete o.sshConfigPath
    await ok(o)
    await ok(base({ sshConfigPath: join(dir, 'does-not-exist'), port: target.port, user: 'root', privateKeyFile: key.privateKeyFile }))
  })

  it('uses the default identity files (~/.ssh/id_ed25519...) when none is given', async () => {
    const home = join(dir, 'home-default-id')
    mkdirSync(join(home, '.ssh'), { recursive: true })
    copyFileSync(key.privateKeyFile, join(home, '.ssh', 'id_ed25519'))
    chmodSync(join(home, '.ssh', 'id_ed25519'), 0o600)
    await ok(base({ homeDir: home, port: target.port, user: 'root' }))
    await expect(connect(base({ port: target.port, user: 'root' }))).rejects.toThrow(/Permission denied.*no usable identity/)
  })
})

describe('ProxyJump', () => {
  const forwarded = (via: TestSshd, to: TestSshd) => new RegExp(`direct-tcpip.*(port ${to.port})|target 127\\.0\\.0\\.1 port ${to.port}`).test(via.log)

  it('goes through a jump host given with -J', async () => {
    const c = await check(
      base({ port: target.port, user: 'root', privateKeyFile: key.privateKeyFile, sshCommonArgs: `-J root@127.0.0.1:${jump1.port}` }),
    )
    expect(forwarded(jump1, target)).toBe(true)
    // One command stream, as usual, through the hop.
    expect((await c.run('echo $$')).stdout).toBe((await c.run('echo $$')).stdout)
    await c.close()
  })

  it('goes through a jump host from the config (the jump host resolved with its own Host block)', async () => {
    const cfg = writeConfig(
      'config_jump',
      `Host bastion\n  HostName 127.0.0.1\n  Port ${jump2.port}\n  User root\n  IdentityFile ${key.privateKeyFile}\n\n` +
        `Host inner\n  HostName 127.0.0.1\n  Port ${target.port}\n  User root\n  IdentityFile ${key.privateKeyFile}\n  ProxyJump bastion\n`,
    )
    jump2.log = ''
    await ok(base({ address: 'inner', sshConfigPath: cfg }))
    expect(forwarded(jump2, target)).toBe(true)
    jump1.log = ''
    // The jump host from -o has no config block: it gets no key from the config (like OpenSSH), but
    // orch lets it try the target's explicit key last.
    await expect(connect(base({ address: 'inner', sshConfigPath: cfg, sshCommonArgs: `-o ProxyJump=root@127.0.0.1:${jump1.port}` }))).rejects.toThrow(
      /jump host root@127\.0\.0\.1:\d+.*Permission denied/,
    )
    await ok(
      base({ address: 'inner', sshConfigPath: cfg, privateKeyFile: key.privateKeyFile, sshCommonArgs: `-o ProxyJump=root@127.0.0.1:${jump1.port}` }),
    )
    expect(forwarded(jump1, target)).toBe(true)
  })

  it('chains several hops (-J a,b: b is reached through a, the target through b)', async () => {
    jump1.log = ''
    jump2.log = ''
    const cfg = writeConfig('config_multi', `Host *\n  IdentityFile ${key.privateKeyFile}\n  User root\n`)
    await ok(base({ port: target.port, sshConfigPath: cfg, sshCommonArgs: `-J 127.0.0.1:${jump1.port},127.0.0.1:${jump2.port}` }))
    expect(forwarded(jump1, jump2)).toBe(true)
    expect(forwarded(jump2, target)).toBe(true)
    expect(forwarded(jump1, target)).toBe(false)
  })

  it('runs a ProxyCommand (one local process per connection): socat, and the Ansible idiom ssh -W %h:%p', async () => {
    const o = base({ port: target.port, user: 'root', privateKeyFile: key.privateKeyFile })
    const c = await check({ ...o, sshCommonArgs: `-o ProxyCommand="socat - TCP:%h:%p"` })
    expect(c.target.proxyCommand).toBe(`socat - TCP:127.0.0.1:${target.port}`)
    await c.close()
    jump1.log = ''
    const viaSsh =
      `ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null ` +
      `-i ${key.privateKeyFile} -p ${jump1.port} -W %h:%p root@127.0.0.1`
    await ok({ ...o, sshCommonArgs: ['-o', `ProxyCommand=${viaSsh}`] })
    expect(forwarded(jump1, target)).toBe(true)
  })

  it('checks the jump host key too', async () => {
    const kh = join(dir, 'kh_target_only')
    writeFileSync(kh, target.knownHostsLine() + '\n')
    const e = await connect(
      base({ port: target.port, user: 'root', privateKeyFile: key.privateKeyFile, knownHostsFiles: [kh], sshCommonArgs: `-J root@127.0.0.1:${jump1.port}` }),
    ).catch((err) => err)
    expect(e).toBeInstanceOf(UnreachableError)
    expect(e.name).toBe('HostKeyError')
    expect(e.message).toContain(`[127.0.0.1]:${jump1.port}`)
  })
})

describe('keys and agent', () => {
  it('decrypts a passphrase-protected key (string or callback) and explains a wrong one', async () => {
    const enc = keygen(dir, 'id_enc', { passphrase: 'sekr3t pass' })
    target.authorize('root', enc.publicKey)
    const o = base({ port: target.port, user: 'root', privateKeyFile: enc.privateKeyFile })
    await ok({ ...o, passphrase: 'sekr3t pass' })
    const asked: string[] = []
    await ok({
      ...o,
      passphrase: async (f) => {
        asked.push(f)
        return 'sekr3t pass'
      },
    })
    expect(asked).toEqual([enc.privateKeyFile])
    const wrong = await connect({ ...o, passphrase: 'nope' }).catch((e) => e)
    expect(wrong.message).toMatch(/wrong passphrase/)
    expect(wrong.message).not.toContain('nope')
    await expect(connect(o)).rejects.toThrow(/encrypted and no passphrase/)
  })

  it('asks for a passphrase only for a key the server accepts (public half from the clear key header)', async () => {
    const unauthorized = keygen(dir, 'id_enc_unauth', { passphrase: 'zzz' })
    rmSync(unauthorized.publicKeyFile)
    const cfg = writeConfig('config_lazy', `Host *\n  IdentityFile ${unauthorized.privateKeyFile}\n  IdentityFile ${key.privateKeyFile}\n`)
    const asked: string[] = []
    await ok(
      base({
        port: target.port,
        user: 'root',
        sshConfigPath: cfg,
        passphrase: (f) => {
          asked.push(f)
          return 'zzz'
        },
      }),
    )
    expect(asked).toEqual([])
  })

  it('is not thrown off by a stale SSH_AUTH_SOCK', async () => {
    await ok(base({ port: target.port, user: 'root', privateKeyFile: key.privateKeyFile, agentSocket: join(dir, 'no-such-agent.sock') }))
    const e = await connect(base({ port: target.port, user: 'root', agentSocket: join(dir, 'no-such-agent.sock') })).catch((err) => err)
    expect(e.message).toMatch(/Permission denied.*ssh-agent at .*no-such-agent\.sock/)
  })

  it('authenticates with ssh-agent (SSH_AUTH_SOCK), honouring IdentitiesOnly', async () => {
    const agentKey = keygen(dir, 'id_agent')
    target.authorize('root', agentKey.publicKey)
    const agent = new TestAgent(dir)
    const saved = process.env.SSH_AUTH_SOCK
    try {
      await agent.start()
      agent.add(agentKey.privateKeyFile)
      process.env.SSH_AUTH_SOCK = agent.socket
      const o = base({ port: target.port, user: 'root' })
      delete o.agentSocket
      await ok(o)
      // IdentitiesOnly with another IdentityFile: the agent's key is not offered.
      const other = keygen(dir, 'id_unauthorized')
      const cfgOnly = writeConfig('config_idonly', `Host *\n  IdentitiesOnly yes\n  IdentityFile ${other.privateKeyFile}\n`)
      await expect(connect({ ...o, sshConfigPath: cfgOnly })).rejects.toThrow(/Permission denied/)
      // IdentitiesOnly with the key's file (encrypted, no passphrase here): the agent's copy is used.
      const encCopy = keygen(dir, 'id_agent_enc', { passphrase: 'x' })
      copyFileSync(agentKey.publicKeyFile, encCopy.publicKeyFile)
      const cfgAgent = writeConfig('config_idagent', `Host *\n  IdentitiesOnly yes\n  IdentityFile ${encCopy.privateKeyFile}\n`)
      await ok({ ...o, sshConfigPath: cfgAgent })
      // IdentityAgent none disables it.
      const cfgNone = writeConfig('config_noagent', `Host *\n  IdentityAgent none\n`)
      await expect(connect({ ...o, sshConfigPath: cfgNone })).rejects.toThrow(/Permission denied/)
    } finally {
      if (saved === undefined) delete process.env.SSH_AUTH_SOCK
      else process.env.SSH_AUTH_SOCK = saved
      agent.kill()
    }
  })
})
