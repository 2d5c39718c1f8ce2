/**
 * known_hosts handling against a real sshd on 127.0.0.1: strict / accept-new / off, changed and
 * revoked keys, hashed entries, patterns, several files.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect, HostKeyError, type ConnectOptions } from '../../src/transport/index.ts'
import { keygen, tempDir, TestSshd, type KeyPair } from '../helpers/sshd.ts'

let sshd: TestSshd
let dir: string
let key: KeyPair
let n = 0

function kh(content: string): string {
  const f = join(dir, `known_hosts_${n++}`)
  writeFileSync(f, content)
  return f
}

function opts(extra: Partial<ConnectOptions>): ConnectOptions {
  return {
    hostName: 'hk',
    address: '127.0.0.1',
    port: sshd.port,
    user: 'root',
    privateKeyFile: key.privateKeyFile,
    sshConfigPath: null,
    agentSocket: null,
    globalKnownHostsFiles: [],
    retries: 3,
    retryDelayMs: 1000,
    ...extra,
  }
}

async function tryConnect(extra: Partial<ConnectOptions>): Promise<Error | null> {
  try {
    const c = await connect(opts(extra))
    expect((await c.run('echo ok')).stdout).toBe('ok\n')
    await c.close()
    return null
  } catch (e) {
    return e as Error
  }
}

beforeAll(async () => {
  dir = tempDir()
  key = keygen(dir, 'id_ed25519')
  sshd = new TestSshd({ hostKeyTypes: ['ed25519', 'ecdsa'] })
  await sshd.start()
  sshd.authorize('root', key.publicKey)
})

afterAll(async () => {
  await sshd?.destroy()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('host key checking', () => {
  it('strict: refuses an unknown host, says how to add the key, and does not retry', async () => {
    const f = kh('')
    const t0 = Date.now()
    const e = await tryConnect({ hostKeyChecking: 'strict', knownHostsFiles: [f] })
    expect(Date.now() - t0).toBeLessThan(900)
    expect(e).toBeInstanceOf(HostKeyError)
    expect(e!.message).toContain(`ssh-keyscan -p ${sshd.port} 127.0.0.1 >> ${f}`)
    expect(e!.message).toMatch(/SHA256:[A-Za-z0-9+/]{43}/)
    expect(readFileSync(f, 'utf8')).toBe('')
  })

  it('strict is the default when nothing says otherwise', async () => {
    const e = await tryConnect({ knownHostsFiles: [kh('')] })
    expect(e).toBeInstanceOf(HostKeyError)
  })

  it('accept-new: writes an unknown key, then strict accepts it', async () => {
    const f = join(dir, 'sub', 'dir', 'known_hosts')
    expect(await tryConnect({ hostKeyChecking: 'accept-new', knownHostsFiles: [f] })).toBeNull()
    const content = readFileSync(f, 'utf8')
    expect(content).toMatch(new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sshd.port} (ssh-ed25519|ecdsa-sha2-nistp256) \\S+\\n$`))
    expect(await tryConnect({ hostKeyChecking: 'strict', knownHostsFiles: [f] })).toBeNull()
    // Connecting again does not append a second line.
    expect(await tryConnect({ hostKeyChecking: 'accept-new', knownHostsFiles: [f] })).toBeNull()
    expect(readFileSync(f, 'utf8')).toBe(content)
    // OpenSSH agrees with what we wrote.
    const r = spawnSync('ssh-keygen', ['-F', `[127.0.0.1]:${sshd.port}`, '-f', f], { encoding: 'utf8' })
    expect(r.status).toBe(0)
  })

  it('accept-new with HashKnownHosts writes a hashed entry that OpenSSH finds', async () => {
    const f = kh('# comment\n')
    const cfg = join(dir, 'hash_config')
    writeFileSync(cfg, 'Host *\n  HashKnownHosts yes\n')
    expect(await tryConnect({ hostKeyChecking: 'accept-new', knownHostsFiles: [f], sshConfigPath: cfg })).toBeNull()
    const lines = readFileSync(f, 'utf8').split('\n')
    expect(lines[1]).toMatch(/^\|1\|[A-Za-z0-9+/=]+\|[A-Za-z0-9+/=]+ \S+ \S+$/)
    expect(spawnSync('ssh-keygen', ['-F', `[127.0.0.1]:${sshd.port}`, '-f', f]).status).toBe(0)
  })

  it('refuses a changed key in strict and accept-new, naming file and line like OpenSSH', async () => {
    const other = keygen(dir, 'impostor')
    const wrong = `[127.0.0.1]:${sshd.port} ${other.publicKey.split(' ').slice(0, 2).join(' ')}`
    const f = kh(`# first line\nother.example ${other.publicKey}\n${wrong}\n`)
    for (const mode of ['strict', 'accept-new'] as const) {
      const t0 = Date.now()
      const e = await tryConnect({ hostKeyChecking: mode, knownHostsFiles: [f] })
      expect(Date.now() - t0).toBeLessThan(900)
      expect(e).toBeInstanceOf(HostKeyError)
      expect(e!.message).toContain('REMOTE HOST IDENTIFICATION HAS CHANGED')
      expect(e!.message).toContain(`${f}:3`)
      expect(e!.message).toContain(`ssh-keygen -f "${f}" -R "[127.0.0.1]:${sshd.port}"`)
    }
    expect(readFileSync(f, 'utf8').split('\n').length).toBe(4)
    // off ignores everything.
    expect(await tryConnect({ hostKeyChecking: 'off', knownHostsFiles: [f] })).toBeNull()
  })

  it('accepts a hashed entry (ssh-keygen -H)', async () => {
    const f = kh(sshd.knownHostsLine('ed25519') + '\n')
    expect(spawnSync('ssh-keygen', ['-H', '-f', f]).status).toBe(0)
    rmSync(`${f}.old`, { force: true })
    expect(readFileSync(f, 'utf8')).toMatch(/^\|1\|/)
    expect(await tryConnect({ hostKeyChecking: 'strict', knownHostsFiles: [f] })).toBeNull()
  })

  it('accepts wildcard patterns and skips negated ones', async () => {
    expect(await tryConnect({ knownHostsFiles: [kh(sshd.knownHostsLine('ed25519', `[127.0.0.?]:${sshd.port}`) + '\n')] })).toBeNull()
    expect(await tryConnect({ knownHostsFiles: [kh(sshd.knownHostsLine('ed25519', `[127.0.0.*]:*,![127.0.0.1]:${sshd.port}`) + '\n')] })).toBeInstanceOf(
      HostKeyError,
    )
  })

  it('looks through several files (UserKnownHostsFile a b)', async () => {
    const empty = kh('')
    const good = kh(sshd.knownHostsLine('ed25519') + '\n')
    expect(await tryConnect({ knownHostsFiles: [join(dir, 'missing'), empty, good] })).toBeNull()
    const viaArgs = await tryConnect({ sshCommonArgs: `-o UserKnownHostsFile="${empty} ${good}" -o StrictHostKeyChecking=yes` })
    expect(viaArgs).toBeNull()
  })

  it('prefers the key type already known (ECDSA known, server also has ED25519)', async () => {
    expect(await tryConnect({ knownHostsFiles: [kh(sshd.knownHostsLine('ecdsa') + '\n')] })).toBeNull()
  })

  it('refuses a key marked @revoked, even with accept-new', async () => {
    const f = kh(`@revoked * ${sshd.hostKeys.ed25519.publicKey}\n@revoked * ${sshd.hostKeys.ecdsa.publicKey}\n${sshd.knownHostsLine('ed25519')}\n`)
    const e = await tryConnect({ hostKeyChecking: 'accept-new', knownHostsFiles: [f] })
    expect(e).toBeInstanceOf(HostKeyError)
    expect(e!.message).toMatch(/revoked in .*:\d/)
  })

  it('takes StrictHostKeyChecking and UserKnownHostsFile from sshCommonArgs and from the ssh config', async () => {
    const f1 = join(dir, 'kh_args')
    expect(await tryConnect({ sshCommonArgs: ['-o', 'StrictHostKeyChecking=accept-new', '-o', `UserKnownHostsFile=${f1}`] })).toBeNull()
    expect(readFileSync(f1, 'utf8')).toContain(`[127.0.0.1]:${sshd.port}`)
    const f2 = join(dir, 'kh_cfg')
    const cfg = join(dir, 'kh_config')
    writeFileSync(cfg, `Host 127.0.0.1\n  StrictHostKeyChecking accept-new\n  UserKnownHostsFile ${f2}\n`)
    expect(await tryConnect({ sshConfigPath: cfg })).toBeNull()
    expect(readFileSync(f2, 'utf8')).toContain(`[127.0.0.1]:${sshd.port}`)
    // An explicit inventory value wins over the config.
    const f3 = kh('')
    expect(await tryConnect({ sshConfigPath: cfg, knownHostsFiles: [f3], hostKeyChecking: 'strict' })).toBeInstanceOf(HostKeyError)
  })
})
