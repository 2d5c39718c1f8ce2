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
  const runBatch = (parts: Array<{ script: string; stdin?: Buffer }>) => {
    const markers = parts.map(() => newMarker())
    const end = newMarker()
    // As the persistent shell runs a batch: the glue in the shell itself (here the sh -c).
    const r = spawnSync('/bin/sh', ['-c', `${batchScript(parts, markers, end)}echo after`])
    return { out: splitBatch(r.stdout, r.stderr, markers, end), stdout: r.stdout.toString() }
  }

  it('gives each script its output and code, in one subshell; umask and -e/-u/-C are put back in between', () => {
    const { out, stdout } = runBatch([
      { script: "printf 'a'; echo x >&2; false" },
      { script: 'umask 077; set -e -u -C; v=1' },
      { script: 'umask; case $- in *[euC]*) echo options;; esac; echo "v=$v"' },
      { script: 'cat', stdin: Buffer.from([0, 1, 255]) },
    ])
    expect(out.map((x) => x?.code)).toEqual([1, 0, 0, 0])
    expect(out[0]!.stdout.toString()).toBe('a')
    expect(out[0]!.stderr.toString()).toBe('x\n')
    // Variables stay for the next script (it is one subshell); the umask and the options do not.
    expect(out[2]!.stdout.toString()).toBe('0022\nv=1\n')
    expect([...out[3]!.stdout]).toEqual([0, 1, 255])
    // The shell that ran the batch goes on.
    expect(stdout.endsWith('after\n')).toBe(true)
  })

  it("a script's exit ends the batch: it gets the subshell's status, the scripts after it no result", () => {
    const { out, stdout } = runBatch([{ script: 'echo one' }, { script: 'echo two; echo err >&2; exit 7' }, { script: 'echo never' }])
    expect(out[0]).toMatchObject({ code: 0 })
    expect(out[1]).toMatchObject({ code: 7 })
    expect(out[1]!.stdout.toString()).toBe('two\n')
    expect(out[1]!.stderr.toString()).toBe('err\n')
    expect(out[2]).toBeUndefined()
    expect(stdout).not.toContain('never')
    expect(stdout.endsWith('after\n')).toBe(true)
  })

  it('a script whose subshell is killed gets its status from the end marker, the later ones no result', () => {
    // sh -c's parent is the batch's subshell: SIGKILL, 128 + 9.
    const { out, stdout } = runBatch([{ script: "printf 'a'" }, { script: "echo b; sh -c 'kill -9 $PPID'" }, { script: 'echo never' }])
    expect(out[0]!.stdout.toString()).toBe('a')
    expect(out[1]).toMatchObject({ code: 137 })
    expect(out[1]!.stdout.toString()).toBe('b\n')
    expect(out[2]).toBeUndefined()
    expect(stdout.endsWith('after\n')).toBe(true)
    // No end marker either (the shell that ran the batch went away): nothing from the cut on.
    const markers = [newMarker(), newMarker()]
    expect(splitBatch(Buffer.from(`x${markers[0]}:0\ny`), Buffer.from(`${markers[0]}\n`), markers, newMarker())).toEqual([
      { code: 0, stdout: Buffer.from('x'), stderr: Buffer.alloc(0) },
      undefined,
    ])
  })

  it('a marker printed by a script (it cannot know one) does not cut its output', () => {
    const { out } = runBatch([{ script: `printf '%s' '${newMarker()}:0'` }, { script: 'echo two' }])
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
    const a = parseSshArgs('-C -q -o ControlMaster=auto -o StrictHostKeyChecking=no -J u@j:2222,k -p 2200 -lroot -i /etc/hostname -F /cfg -o "UserKnownHostsFile /a /b"')
    expect(a).toEqual({
      stricthostkeychecking: ['no'],
      proxyjump: ['u@j:2222,k'],
      proxycommand: ['none'],
      port: ['2200'],
      user: ['root'],
      identityfile: ['/etc/hostname'],
      __configfile: ['/cfg'],
      userknownhostsfile: ['/a /b'],
    })
    // What orch cannot honour is refused, saying what to use instead.
    expect(() => parseSshArgs('-L 1:h:2')).toThrow(/-L 1:h:2: orch makes no port forwards; use ProxyJump/)
    expect(() => parseSshArgs('-A')).toThrow(/agent forwarding/)
    expect(() => parseSshArgs('-o Ciphers=aes128-ctr')).toThrow(/algorithm defaults/)
    expect(() => parseSshArgs('-o Nonsense=1')).toThrow(/Bad configuration option: nonsense/)
    expect(() => parseSshArgs('-o ForwardAgent=yes')).toThrow(/does not forward the agent/)
    expect(parseSshArgs('-o ForwardAgent=no -vvv -tt -4')).toEqual({})
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
  it('follows Include (globs) and keeps first-value-wins', () => {
    mkdirSync(join(dir, 'conf.d'), { recursive: true })
    writeFileSync(join(dir, 'conf.d', '10-a.conf'), 'Host app*\n  Port 2201\n  User alice\n')
    writeFileSync(join(dir, 'conf.d', '20-b.conf'), 'Host app1\n  Port 9999\n  HostName 10.1.1.1\n')
    writeFileSync(join(dir, 'config'), `Include ${dir}/conf.d/*.conf\nHost *\n  User fallback\n  IdentityFile ~/.ssh/id_x\n  ProxyJump j1,j2\n`)
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
      identityFiles: ['/home/me/.ssh/id_rsa', '/home/me/.ssh/id_ecdsa', '/home/me/.ssh/id_ed25519'],
      identityFilesExplicit: false,
      knownHostsFiles: ['/home/me/.ssh/known_hosts', '/home/me/.ssh/known_hosts2'],
      hostKeyChecking: 'strict',
      connectTimeoutMs: 10000,
    })
  })
})
