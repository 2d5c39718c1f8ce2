/**
 * The transport's pure parts (no sshd): framing scanner across chunk boundaries, printf literals
 * through a real /bin/sh, ssh args, jump specs, known_hosts patterns, config resolution.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { batchScript, frameCommand, MarkerScanner, newMarker, printfLiteral, splitBatch } from '../../src/transport/framing.ts'
import { checkHostKey, hashHostName, knownHostsName, matchesHostPatterns } from '../../src/transport/known-hosts.ts'
import { normalizeChecking, parseJumpSpec, parseSshArgs, resolveTarget, shellSplit } from '../../src/transport/options.ts'

let dir: string
beforeAll(() => {
  dir = join(spawnSync('mktemp', ['-d'], { encoding: 'utf8' }).stdout.trim())
})
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('MarkerScanner', () => {
  it('finds a marker split across any chunk boundary, and keeps the bytes before/after it', () => {
    const marker = Buffer.from(newMarker() + ':')
    const payload = Buffer.concat([randomBytes(3000), Buffer.from(marker.toString().slice(0, 20)), randomBytes(100)])
    const stream = Buffer.concat([payload, marker, Buffer.from('17\n')])
    for (const size of [1, 2, 7, 33, 64, 1000, stream.length]) {
      const s = new MarkerScanner(marker)
      let found = false
      for (let i = 0; i < stream.length; i += size) found = s.push(stream.subarray(i, i + size)) || found
      expect(found).toBe(true)
      expect(s.data().equals(payload)).toBe(true)
      expect(s.after.toString()).toBe('17\n')
    }
  })
})

describe('batchScript / splitBatch', () => {
  it('gives each script its output and code through /bin/sh, and stops at a script that ends the shell', () => {
    const markers = [newMarker(), newMarker(), newMarker()]
    const parts = [{ script: "printf 'a'; echo x >&2; exit 4" }, { script: 'kill -9 $$' }, { script: 'echo never' }]
    // As the persistent shell runs a batch: the glue in the shell itself (here the sh -c), each script in a subshell.
    const r = spawnSync('/bin/sh', ['-c', batchScript(parts, markers)])
    const out = splitBatch(r.stdout, r.stderr, markers)
    expect(out[0]).toMatchObject({ code: 4 })
    expect(out[0]!.stdout.toString()).toBe('a')
    expect(out[0]!.stderr.toString()).toBe('x\n')
    // kill -9 $$ in a subshell kills the shell that runs the batch: nothing after it is reported as run.
    expect(out[1]).toBeUndefined()
    expect(out[2]).toBeUndefined()
  })

  it('a marker printed by a script (it cannot know one) does not cut its output', () => {
    const markers = [newMarker(), newMarker()]
    const r = spawnSync('/bin/sh', ['-c', batchScript([{ script: `printf '%s' '${newMarker()}:0'` }, { script: 'echo two' }], markers)])
    const out = splitBatch(r.stdout, r.stderr, markers)
    expect(out.map((x) => x?.code)).toEqual([0, 0])
    expect(out[1]!.stdout.toString()).toBe('two\n')
  })
})

describe('printfLiteral / frameCommand', () => {
  it('prints every byte value exactly through /bin/sh printf', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
    for (const data of [all, Buffer.from('-n'), Buffer.from('%s%d\\n\\\\'), Buffer.from("'\"'"), Buffer.alloc(0), randomBytes(10000)]) {
      const r = spawnSync('/bin/sh', ['-c', `printf ${printfLiteral(data)}`])
      expect(Buffer.compare(r.stdout, data)).toBe(0)
    }
  })

  it('frames a command that a local /bin/sh runs with its own exit code and a clean stdin', () => {
    const m = newMarker()
    const text = frameCommand(m, { script: 'cat; echo "in:$1"; exit 3', stdin: Buffer.from('abc') }) + frameCommand(newMarker(), { script: 'cat' })
    const r = spawnSync('/bin/sh', [], { input: text + 'echo PROTOCOL-INTACT\n' })
    expect(r.stdout.toString()).toMatch(new RegExp(`^abcin:\\n${m}:3\\n__orch_[0-9a-f]{32}:0\\nPROTOCOL-INTACT\\n$`))
  })
})

describe('ssh args', () => {
  it('splits like a shell and understands -o/-J/-p/-l/-i/-F', () => {
    expect(shellSplit(`-o "ProxyCommand=ssh -W %h:%p bastion" -o'User=x y' a\\ b`)).toEqual(['-o', 'ProxyCommand=ssh -W %h:%p bastion', '-oUser=x y', 'a b'])
    const a = parseSshArgs('-C -q -o ControlMaster=auto -o StrictHostKeyChecking=no -J u@j:2222,k -p 2200 -lroot -i /k -F /cfg -o "UserKnownHostsFile /a /b" -L 1:h:2')
    expect(a).toMatchObject({
      stricthostkeychecking: ['no'],
      proxyjump: ['u@j:2222,k'],
      port: ['2200'],
      user: ['root'],
      identityfile: ['/k'],
      __configfile: ['/cfg'],
      userknownhostsfile: ['/a /b'],
      controlmaster: ['auto'],
    })
    expect(parseJumpSpec('ssh://me@[::1]:2022')).toEqual({ host: '::1', port: 2022, user: 'me' })
    expect(parseJumpSpec('bastion')).toEqual({ host: 'bastion', port: undefined, user: undefined })
    expect(normalizeChecking('accept-new')).toBe('accept-new')
    expect(normalizeChecking(false)).toBe('off')
    expect(() => normalizeChecking('maybe')).toThrow(/StrictHostKeyChecking/)
  })
})

describe('known_hosts patterns', () => {
  it('matches plain, [host]:port, wildcard, negated and hashed entries', () => {
    expect(knownHostsName('Example.COM', 22)).toBe('example.com')
    expect(knownHostsName('10.0.0.1', 2222)).toBe('[10.0.0.1]:2222')
    expect(matchesHostPatterns('a.example,b.example', 'b.example')).toBe(true)
    expect(matchesHostPatterns('*.example,!bad.example', 'bad.example')).toBe(false)
    expect(matchesHostPatterns('*.example,!bad.example', 'good.example')).toBe(true)
    expect(matchesHostPatterns('[10.0.0.?]:2222', '[10.0.0.1]:2222')).toBe(true)
    expect(matchesHostPatterns('10.0.0.1', '[10.0.0.1]:2222')).toBe(false)
    const h = hashHostName('[10.0.0.1]:2222')
    expect(matchesHostPatterns(h, '[10.0.0.1]:2222')).toBe(true)
    expect(matchesHostPatterns(h, '10.0.0.1')).toBe(false)
    // A hash OpenSSH made.
    const f = join(dir, 'kh')
    writeFileSync(f, '[10.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOZ2M2r0s1bXh0TG1aQ7v1q3cX0K0y4pJQ2W8m8xHcJf\n')
    spawnSync('ssh-keygen', ['-H', '-f', f])
    const line = spawnSync('cat', [f], { encoding: 'utf8' }).stdout.split(' ')[0]
    expect(matchesHostPatterns(line, '[10.0.0.1]:2222')).toBe(true)
    const key = Buffer.from('AAAAC3NzaC1lZDI1NTE5AAAAIOZ2M2r0s1bXh0TG1aQ7v1q3cX0K0y4pJQ2W8m8xHcJf', 'base64')
    expect(checkHostKey([f], ['[10.0.0.1]:2222'], key).status).toBe('ok')
    expect(checkHostKey([f, join(dir, 'missing')], ['10.0.0.1'], key).status).toBe('unknown')
  })
})

describe('config resolution', () => {
  it('follows Include (globs, relative to the including file) and keeps first-value-wins', () => {
    mkdirSync(join(dir, 'conf.d'), { recursive: true })
    writeFileSync(join(dir, 'conf.d', '10-a.conf'), 'Host app*\n  Port 2201\n  User alice\n')
    writeFileSync(join(dir, 'conf.d', '20-b.conf'), 'Host app1\n  Port 9999\n  HostName 10.1.1.1\n')
    writeFileSync(join(dir, 'config'), 'Include conf.d/*.conf\nHost *\n  User fallback\n  IdentityFile ~/.ssh/id_x\n  ProxyJump j1,j2\n')
    const t = resolveTarget({ hostName: 'app1', address: 'app1', sshConfigPath: join(dir, 'config'), homeDir: '/home/me' })
    expect(t).toMatchObject({ host: '10.1.1.1', port: 2201, user: 'alice', identityFiles: ['/home/me/.ssh/id_x'], proxyJump: ['j1', 'j2'] })
    const t2 = resolveTarget({ hostName: 'x', address: 'other', port: 22, user: 'bob', sshConfigPath: join(dir, 'config'), homeDir: '/home/me', sshCommonArgs: '-o ProxyJump=none' })
    expect(t2).toMatchObject({ host: 'other', port: 22, user: 'bob', proxyJump: [] })
  })

  it('uses defaults when there is no config', () => {
    const t = resolveTarget({ hostName: 'x', address: '192.0.2.1', sshConfigPath: join(dir, 'nope'), homeDir: '/home/me', agentSocket: null })
    expect(t).toMatchObject({
      host: '192.0.2.1',
      port: 22,
      identityFiles: ['/home/me/.ssh/id_ed25519', '/home/me/.ssh/id_ecdsa', '/home/me/.ssh/id_rsa'],
      identityFilesExplicit: false,
      knownHostsFiles: ['/home/me/.ssh/known_hosts', '/home/me/.ssh/known_hosts2'],
      hostKeyChecking: 'strict',
      connectTimeoutMs: 10000,
    })
  })
})
