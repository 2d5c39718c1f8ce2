/**
 * ~/.ssh/config resolution against the real OpenSSH client as the oracle: every config below is resolved
 * by `ssh -G -F file [args] host` (no connection is made; all names are lab names or 198.18.x.x) and by
 * orch's resolver (src/transport/sshconfig.ts + sshsettings.ts), and the lines of every keyword orch uses
 * must be the same. All ssh runs go in one shell script (one process) for speed.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mapSshArgs } from '../../src/transport/sshargs.ts'
import { resolveTarget } from '../../src/transport/options.ts'
import { expandIdentityFile, proxyCommandLine, RENDERED, renderG, sshSettings } from '../../src/transport/sshsettings.ts'
import { localInfo, shellSafeName } from '../../src/transport/sshtokens.ts'

const HAVE_SSH = spawnSync('ssh', ['-V']).status === 0
const local = localInfo()
let dir: string
const relName = `orch-test-${randomBytes(4).toString('hex')}.conf`
const relPath = join(local.home, '.ssh', relName)

interface Case {
  name: string
  config: string
  host: string
  args?: string[]
}

const cases: Case[] = []
const add = (name: string, config: string, hosts: string[], args?: string[]) => {
  for (const host of hosts) cases.push({ name: `${name} [${host}${args ? ' ' + args.join(' ') : ''}]`, config, host, args })
}

// Host patterns: ?, *, negation, case (Host matches the name as given, case-sensitive), several patterns.
for (const p of ['web?', 'web*', 'web', '!web1 web*', 'WEB*', '*.lab', 'web1 db*', 'w?b?', '!*.lab *', 'web,web1'])
  add(`Host ${p}`, `Host ${p}\n  Port 2001\n  User pat\nHost *\n  User fallback\n`, ['web', 'web1', 'web12', 'WEB1', 'db.lab'])

// Match criteria, with and without a user given, before and after HostName is known.
for (const m of [
  'host web1',
  '!host web1',
  'host 198.18.0.1',
  'originalhost WEB1',
  'originalhost web1',
  'host 198.18.0.*,!198.18.0.2',
  'user bob',
  '!user bob',
  'user b*',
  'localuser root',
  '!localuser root',
  'all',
  '!all',
  'canonical',
  'final',
  'final host 198.18.0.1',
  '!final',
  'exec true',
  'exec false',
  '!exec false',
  'exec "test %h = 198.18.0.1"',
  'exec "test %n = web1 -a %r = bob"',
  'host web1 user bob',
  'host web2 exec false',
  'canonical all',
]) {
  const cfg = `Host web1\n  HostName 198.18.0.1\nMatch ${m}\n  Port 2002\n  User matched\nHost *\n  ConnectTimeout 7\n`
  add(`Match ${m}`, cfg, ['web1', 'web2'])
  add(`Match ${m}`, cfg, ['web1'], ['-l', 'bob'])
}

add('keywords any case; a lowercase hostname is seen by a later Match host', 'host A\n  hostname 198.18.0.9\nmatch HOST 198.18.0.9\n  PORT 2003\n', ['A', 'a'])
add('first value wins', 'Host a\n  Port 1001\n  User one\nHost *\n  Port 1002\n  User two\n  HostName 198.18.1.1\n', ['a', 'b'])
add('= and spaces', 'Host a\n  Port=1001\n  User = eq\n\tHostName\t198.18.1.2\n', ['a'])
add('comments and blank lines', '# top\n\nHost a # trailing\n  # inside\n  Port 1003 # after\n', ['a'])
add('quoted values', 'Host a\n  User "q u"\n  IdentityFile "~/.ssh/my key"\n  UserKnownHostsFile "/tmp/a b" /tmp/c\n', ['a'])
add('host names lowercased', 'Host A\n  HostName Web.LAB\n', ['A'])
add('HostName %h', 'Host *.x\n  HostName %h.lab\n', ['A.x', 'b.x'])
add('IdentityFile accumulates in order', 'Host a\n  IdentityFile ~/.ssh/k1\nHost *\n  IdentityFile ~/.ssh/k2\n  IdentityFile ~/.ssh/k1\n  IdentityFile /k/%h_%r\n', ['a', 'b'])
add('ProxyJump first', 'Host a\n  ProxyJump j1,u@j2:2222\n  ProxyCommand nc %h %p\n', ['a'])
add('ProxyCommand first', 'Host a\n  ProxyCommand nc %h %p\n  ProxyJump j1\n', ['a'])
add('ProxyCommand none blocks ProxyJump', 'Host a\n  ProxyCommand none\nHost *\n  ProxyJump j1\n', ['a', 'b'])
add('ProxyJump none', 'Host a\n  ProxyJump none\nHost *\n  ProxyJump j1\n', ['a', 'b'])
add('tokens in paths', 'Host a\n  HostName Real.%h\n  User Bob\n  ControlPath /tmp/cp_%C_%h_%p_%r_%n_%u_%L_%l_%d_%i_%k_%%\n  UserKnownHostsFile ~/kh1 /x/%h kh3\n  HostKeyAlias hka\n', ['a'])
add('%k without HostKeyAlias', 'Host *\n  ControlPath /tmp/%k-%h\n  HostName 198.18.2.2\n', ['A', 'b'])
add('defaults', '', ['a', '198.18.3.3'])
add('defaults with args', '', ['a'], ['-p', '2200', '-l', 'argu', '-i', '/nonexistent/key', '-o', 'ConnectTimeout=9'])
add('-i with a file that exists', 'Host *\n  IdentityFile /cfg/key\n', ['a'], ['-i', '/etc/hostname', '-i', '/etc/hosts'])
add('args first', 'Host a\n  Port 1\n  User cfg\n  ProxyCommand nc %h %p\n', ['a'], ['-o', 'User=opt', '-o', 'Port 2', '-J', 'jj'])
add('args -o first wins', 'Host a\n  StrictHostKeyChecking yes\n', ['a'], ['-o', 'StrictHostKeyChecking=accept-new', '-o', 'StrictHostKeyChecking=no'])
add('StrictHostKeyChecking values', 'Host a\n  StrictHostKeyChecking yes\nHost b\n  StrictHostKeyChecking off\nHost c\n  StrictHostKeyChecking Accept-New\nHost d\n  StrictHostKeyChecking ask\n', ['a', 'b', 'c', 'd', 'e'])
add('times', 'Host a\n  ConnectTimeout 1m30s\n  ServerAliveInterval 2m\n  ServerAliveCountMax 5\nHost b\n  ConnectTimeout none\n  ServerAliveInterval none\nHost c\n  ConnectTimeout 0\n', ['a', 'b', 'c'])
add('flags', 'Host a\n  IdentitiesOnly Yes\n  HashKnownHosts true\nHost b\n  IdentitiesOnly no\n', ['a', 'b'])
add('known hosts files', 'Host a\n  UserKnownHostsFile none\n  GlobalKnownHostsFile /g1 /g2 /g3\nHost *\n  UserKnownHostsFile ~/.ssh/kh_%h\n', ['a', 'b'])
add('IdentityAgent', 'Host a\n  IdentityAgent ~/agent_%h\nHost b\n  IdentityAgent none\nHost c\n  IdentityAgent SSH_AUTH_SOCK\n', ['a', 'b', 'c'])
add('BindAddress', 'Host a\n  BindAddress 198.18.9.9\n', ['a'])
add('Match final: Host lines see the new host name', 'Host a\n  HostName b\nMatch final\nHost b\n  User fb\nMatch final host b\n  Port 12\n', ['a', 'b'])
add('Match host uses HostName set earlier only', 'Match host 198.18.0.1\n  Port 4\nHost a\n  HostName 198.18.0.1\n', ['a'])
add('IgnoreUnknown', 'IgnoreUnknown UseKeychain,Foo*\nHost *\n  UseKeychain yes\n  FooBar 1\n  Port 1004\n', ['a'])
add('deprecated keywords are accepted', 'Host *\n  Protocol 2\n  UseRoaming no\n  RSAAuthentication no\n  Port 1005\n', ['a'])
// Errors ssh refuses (also in blocks that do not apply): both must fail.
add('error: bad port in another block', 'Host other\n  Port 22x\n', ['a'])
add('error: unknown keyword', 'Host a\n  Frobnicate yes\n', ['a'])
add('error: extra argument', 'Host a\n  User a b\n', ['a'])
add('error: bad Match attribute', 'Match nosuch x\n  Port 1\n', ['a'])
add('error: all combined', 'Match all host a\n  Port 1\n', ['a'])
add('error: Match without criteria value', 'Match host\n  Port 1\n', ['a'])
add('error: bad time', 'Host *\n  ConnectTimeout 5x\n', ['a'])
add('error: bad flag', 'Host *\n  IdentitiesOnly maybe\n', ['a'])
add('error: bad ProxyJump', 'Host *\n  ProxyJump u@:22\n', ['a'])
add('error: unterminated quote', 'Host *\n  User "x\n', ['a'])
add('error: bad StrictHostKeyChecking', 'Host *\n  StrictHostKeyChecking sometimes\n', ['a'])

// Include: inside a Host block, inactive block, relative (to ~/.ssh), globs, nested, Match inside.
function includeCases(d: string) {
  add('Include in a Host block: its lines belong to the block; the next line does not leak', `Host a\n  Include ${d}/inc1\n  Port 6\nHost b\n  User bee\n`, ['a', 'x', 'b'])
  add('Include in an inactive block: nothing of it applies', `Host nope\n  Include ${d}/inc2\nPort 8\n`, ['a'])
  add('Include in an active block: its first lines apply', `Host a\n  Include ${d}/inc2\n  Port 9\n`, ['a', 'b'])
  add('Include glob, sorted', `Include ${d}/conf.d/*.conf\nHost *\n  User fallback\n`, ['app1', 'app2', 'z'])
  add('Include glob matching nothing', `Include ${d}/none.d/*\nHost *\n  Port 1006\n`, ['a'])
  add('Include relative to ~/.ssh (not to the including file)', `Include ${relName}\nHost *\n  Port 1007\n`, ['rel', 'other'])
  add('Include with a Match inside does not clobber the outer state', `Host a\n  Include ${d}/incmatch\n  User after\n`, ['a', 'b'])
  add('nested Include', `Include ${d}/nest1\n`, ['n'])
  add('Include then more', `Include ${d}/inc1\nHost *\n  Port 1008\n`, ['x', 'y'])
}

function runOracle(): Map<number, { rc: number; lines: string[] }> {
  let script = ''
  cases.forEach((c, i) => {
    const f = join(dir, `case${i}`)
    writeFileSync(f, c.config)
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`
    script += `echo "=== ${i}"; ssh -G -F ${q(f)} ${(c.args ?? []).map(q).join(' ')} ${q(c.host)} 2>/dev/null </dev/null; echo "=== rc $?"\n`
  })
  const r = spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })
  const out = new Map<number, { rc: number; lines: string[] }>()
  let cur = -1
  let lines: string[] = []
  for (const line of r.stdout.split('\n')) {
    const m = /^=== (\d+)$/.exec(line)
    const e = /^=== rc (\d+)$/.exec(line)
    if (m) {
      cur = Number(m[1])
      lines = []
    } else if (e) out.set(cur, { rc: Number(e[1]), lines })
    else if (RENDERED.includes(line.split(' ')[0])) lines.push(line)
  }
  return out
}

/** keyword -> its lines in order (ssh prints keywords in its own order; the order within one keyword matters). */
function byKeyword(lines: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const l of lines) (out[l.split(' ')[0]] ??= []).push(l)
  return out
}

function ours(c: Case, f: string): { rc: number; lines: string[]; error?: string } {
  try {
    const a = mapSshArgs(c.args ?? [])
    return { rc: 0, lines: renderG(sshSettings({ host: c.host, cmdline: a.cmdline, userConfig: f, systemConfig: null, local })) }
  } catch (e) {
    return { rc: 255, lines: [], error: (e as Error).message }
  }
}

let oracle: Map<number, { rc: number; lines: string[] }>

beforeAll(() => {
  if (!HAVE_SSH) return
  dir = mkdtempSync(join(tmpdir(), 'orch-sshcfg-'))
  mkdirSync(join(dir, 'conf.d'))
  writeFileSync(join(dir, 'inc1'), 'Host x\n  User xx\n')
  writeFileSync(join(dir, 'inc2'), 'User top\nHost *\n  User star\n')
  writeFileSync(join(dir, 'conf.d', '20-b.conf'), 'Host app1\n  Port 9999\n  HostName 198.18.4.1\n')
  writeFileSync(join(dir, 'conf.d', '10-a.conf'), 'Host app*\n  Port 2201\n  User alice\n')
  writeFileSync(join(dir, 'conf.d', 'skip.txt'), 'Host *\n  User wrong\n')
  writeFileSync(join(dir, 'incmatch'), 'Match host zzz\n  Port 1\n')
  writeFileSync(join(dir, 'nest1'), `Host n\n  Include ${dir}/nest2\n`)
  writeFileSync(join(dir, 'nest2'), 'Port 1009\nUser nested\n')
  mkdirSync(join(local.home, '.ssh'), { recursive: true })
  writeFileSync(relPath, 'Host rel\n  User relative\n')
  includeCases(dir)
  oracle = runOracle()
  // ~190 `ssh -G` runs: seconds on an idle machine, past vitest's 10 s default when 2 cores are shared.
}, 120_000)

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
  rmSync(relPath, { force: true })
})

describe.skipIf(!HAVE_SSH)('ssh config resolution = ssh -G', () => {
  it('resolves 100+ configs exactly as ssh -G does (every keyword orch uses)', () => {
    expect(cases.length).toBeGreaterThanOrEqual(150)
    const mismatches: string[] = []
    cases.forEach((c, i) => {
      const want = oracle.get(i)
      if (!want) throw new Error(`no ssh -G output for case ${i}`)
      const got = ours(c, join(dir, `case${i}`))
      if ((want.rc === 0) !== (got.rc === 0)) {
        mismatches.push(`${c.name}: ssh rc ${want.rc}, orch ${got.rc === 0 ? 'ok' : 'error: ' + got.error}`)
        return
      }
      if (want.rc !== 0) return
      const w = byKeyword(want.lines)
      const g = byKeyword(got.lines)
      for (const k of new Set([...Object.keys(w), ...Object.keys(g)]))
        if (JSON.stringify(w[k]) !== JSON.stringify(g[k])) mismatches.push(`${c.name}: ${k}: ssh ${JSON.stringify(w[k])} orch ${JSON.stringify(g[k])}`)
    })
    expect(mismatches).toEqual([])
    // The oracle really distinguishes: some cases fail, Host web? is not web.
    expect([...oracle.values()].filter((o) => o.rc !== 0).length).toBeGreaterThanOrEqual(10)
  })

  it('errors name the file and line', () => {
    const i = cases.findIndex((c) => c.name.startsWith('error: bad port'))
    expect(ours(cases[i], join(dir, `case${i}`)).error).toMatch(/case\d+ line 2: Bad port '22x'/)
  })
})

describe('shell-safe names', () => {
  it('refuses what a shell would interpret', () => {
    for (const ok of ['web1', '198.18.0.1', 'fe80::1', 'a.b-c_d', 'user@host', 'h:22']) expect(shellSafeName(ok)).toBe(true)
    for (const bad of ['a;b', 'a b', '$(x)', '`x`', 'a|b', 'a&b', '-oProxyCommand=x', "a'b", 'a"b', 'a\nb', 'a>b', 'a\\b', '']) expect(shellSafeName(bad)).toBe(false)
  })
})

describe.skipIf(!HAVE_SSH)('IdentityFile and ProxyCommand expansion = ssh -v (the ProxyCommand only writes a file; no connection)', () => {
  it('expands %-tokens, ~ and ${VAR} as ssh loads them, and runs the same ProxyCommand', () => {
    process.env.ORCH_SC_VAR = 'envval'
    for (const [i, host, args] of [
      [0, 'a', []],
      [1, 'B.x', ['-l', 'argu', '-p', '2022']],
      [2, 'c', ['-o', 'HostKeyAlias=alias1']],
    ] as Array<[number, string, string[]]>) {
      const out = join(dir, `pc${i}.out`)
      const cfg = join(dir, `v${i}`)
      writeFileSync(
        cfg,
        `Host B.x\n  HostName Real.%h\nHost *\n  User Bob\n  IdentityFile ~/k_%h_%p_%r_%u_%l_%L_%n_%d_%i_%C_%%_%k\n  IdentityFile rel/%h\n  IdentityFile /k/\${ORCH_SC_VAR}/%r\n  ProxyCommand sh -c "echo %h %p %r %n %% > ${out}"\n`,
      )
      const r = spawnSync('ssh', ['-v', '-F', cfg, '-o', 'BatchMode=yes', ...args, host], { encoding: 'utf8', timeout: 20_000, env: { ...process.env } })
      const want = [...r.stderr.matchAll(/identity file (\S+) type/g)].map((m) => m[1]).filter((f) => !f.endsWith('-cert'))
      const s = sshSettings({ host, cmdline: mapSshArgs(args).cmdline, userConfig: cfg, systemConfig: null, local })
      expect(s.identityFiles.map((f) => expandIdentityFile(s, f))).toEqual(want)
      const sshOut = spawnSync('cat', [out], { encoding: 'utf8' }).stdout
      rmSync(out, { force: true })
      expect(sshOut).not.toBe('')
      spawnSync('/bin/sh', ['-c', proxyCommandLine(s)!])
      expect(spawnSync('cat', [out], { encoding: 'utf8' }).stdout).toBe(sshOut)
    }
  })

  it('a hostile inventory name or user cannot inject a command through ProxyCommand %h/%r/%n', () => {
    const cfg = join(dir, 'hostile')
    const marker = join(dir, 'pwned')
    writeFileSync(cfg, 'Host *\n  ProxyCommand ssh -l %r -W %h:%p jump-%n\n')
    for (const o of [
      { address: `198.18.0.1;touch ${marker}` },
      { address: `$(touch ${marker})` },
      { address: 'web1', user: `x\`touch ${marker}\`` },
      { address: `web1 -oProxyCommand=touch` },
    ]) {
      expect(() => resolveTarget({ hostName: 'evil', sshConfigPath: cfg, agentSocket: null, ...o })).toThrow(/^evil: ProxyCommand for .*shell command/)
    }
    expect(existsSync(marker)).toBe(false)
    // A plain name goes through.
    expect(resolveTarget({ hostName: 'ok', address: 'web1', user: 'ops', sshConfigPath: cfg, agentSocket: null }).proxyCommand).toBe('ssh -l ops -W web1:22 jump-web1')
  })
})
