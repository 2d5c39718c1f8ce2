/**
 * The basic tasks' pure logic: argument checks, parsing what read() gets back, diff, undo shape, and the
 * number of round trips. The scripts themselves run on real hosts in test/lab/basic-tasks.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { ArgError, type Task, type TaskContext } from '../../src/engine/types.ts'
import { needAbsPath, needMode, needOwner, parseFileState } from '../../src/engine/taskkit.ts'
import { READ_MARK } from '../../src/model/read.ts'
import { command, directory, file, lineinfile, service, shell, sysctl } from '../../src/tasks/index.ts'
import { editLines } from '../../src/tasks/lineinfile.ts'
import { procPath } from '../../src/tasks/sysctl.ts'
import { RemoteJournal, entryText } from '../../src/engine/journal.ts'
import { FakeConnection, mkHost } from './engine-helpers.ts'

/** What a composed read prints (model/read.ts): each section's output and status. */
const framed = (sections: Record<string, [string, number?]>) => Object.entries(sections).map(([n, [out, rc]]) => `${READ_MARK} ${n}\n${out}\n${READ_MARK} rc ${rc ?? 0}\n`).join('')

function ctxWith(answer: (script: string) => { code?: number; stdout?: string; stderr?: string }) {
  const conn = new FakeConnection('h', answer)
  const ctx: TaskContext = {
    host: mkHost('h'),
    vars: {},
    check: false,
    diff: false,
    conn,
    run: (s, o) => conn.run(s, o),
    registered: {},
    facts: {},
    runId: 'r',
    log: () => {},
  }
  return { ctx, conn }
}

const validateErr = (t: Task<any>): ArgError | undefined => {
  try {
    t.resource.validate?.(mkHost('h'), {})
  } catch (e) {
    return e as ArgError
  }
  return undefined
}

const b64 = (s: string) => Buffer.from(s).toString('base64')

describe('argument checks', () => {
  it('paths, modes, owners', () => {
    expect(needAbsPath('p', '/etc/x.conf')).toBe('/etc/x.conf')
    for (const bad of ['etc/x', '/', '/a/../b', '', 3, '/a\nb']) expect(() => needAbsPath('p', bad)).toThrow(ArgError)
    expect(needAbsPath('p', '/a//b/')).toBe('/a/b')
    expect(needMode('m', 0o644)).toBe('0644')
    expect(needMode('m', '644')).toBe('0644')
    expect(needMode('m', '0755')).toBe('0755')
    expect(needMode('m', '1777')).toBe('1777')
    for (const bad of ['888', 'rw-r--r--', 0o17777, -1, '64']) expect(() => needMode('m', bad)).toThrow(ArgError)
    expect(needOwner('o', 'root:adm')).toBe('root:adm')
    expect(needOwner('o', '0:0')).toBe('0:0')
    for (const bad of ['root;id', 'a b', ':x', '']) expect(() => needOwner('o', bad)).toThrow(ArgError)
  })

  it('each task names the variable and what it expected', () => {
    expect(validateErr(sysctl('net.ipv4.ip_forward; reboot', 1))?.message).toMatch(/^sysctl\.name: expected a sysctl name/)
    expect(validateErr(sysctl('../../etc/passwd', 1))?.variable).toBe('sysctl.name')
    expect(validateErr(sysctl('net.ipv4.ip_forward', undefined as any))?.message).toMatch(/^sysctl\.value: expected a number, a boolean or a one-line string, got undefined/)
    expect(validateErr(sysctl('net.ipv4.ip_forward', 1, { persist: '../x' }))?.variable).toBe('sysctl.persist')
    expect(validateErr(file({ path: 'relative', content: 'x' }))?.variable).toBe('file.path')
    expect(validateErr(file({ path: '/x', content: 5 as any }))?.variable).toBe('file.content')
    expect(validateErr(file({ path: '/x', content: '', mode: 'rwx' }))?.variable).toBe('file.mode')
    expect(validateErr(lineinfile({ path: '/x', line: 'a\nb' }))?.variable).toBe('lineinfile.line')
    expect(validateErr(lineinfile({ path: '/x', line: 'a', regexp: '(' }))?.variable).toBe('lineinfile.regexp')
    expect(validateErr(directory({ path: '/x', state: 'gone' as any }))?.variable).toBe('directory.state')
    expect(validateErr(service({ name: 'docker;reboot', state: 'started' }))?.variable).toBe('service.name')
    expect(validateErr(service({ name: 'docker', state: 'running' as any }))?.message).toMatch(/service\.state: expected one of 'started', 'stopped', 'restarted', 'reloaded'/)
    expect(validateErr(command([]))?.variable).toBe('command.argv')
    expect(validateErr(command({ argv: ['x'], creates: 'rel' }))?.variable).toBe('command.creates')
    expect(validateErr(shell(''))?.variable).toBe('shell.script')
    for (const ok of [sysctl('net.ipv4.conf.all.forwarding', true), sysctl({ name: 'net/ipv4/conf/eth0.100/forwarding', value: '1', persist: false }), file({ path: '/etc/x', content: Buffer.from([0, 1]) }), command(['ip', 'link']), shell('echo hi')])
      expect(validateErr(ok)).toBeUndefined()
  })
})

describe('file state parsing', () => {
  it('reads kind, mode, owner, ids and base64 content', () => {
    const s = parseFileState(`file 644 root adm 6 0 4\n${b64('hello\n')}\n`, '/x')
    expect(s).toMatchObject({ kind: 'file', mode: '0644', owner: 'root', group: 'adm', uid: '0', gid: '4', size: 6 })
    expect(s.kind === 'file' && s.content.toString()).toBe('hello\n')
    expect(parseFileState('absent\n', '/x')).toEqual({ kind: 'absent' })
    expect(parseFileState('dir 755 root root 0 0 0\n', '/x')).toMatchObject({ kind: 'dir', mode: '0755' })
    expect(parseFileState('other symbolic link\n', '/x')).toEqual({ kind: 'other', type: 'symbolic link' })
    expect(() => parseFileState('garbage', '/x')).toThrow(/unexpected output/)
  })
})

describe('lineinfile editing', () => {
  it('as Ansible: replace the last match, else append once; absent removes all matches', () => {
    expect(editLines('a\nb\n', { line: 'c', state: 'present' })).toBe('a\nb\nc\n')
    expect(editLines('a\nc\n', { line: 'c', state: 'present' })).toBe('a\nc\n')
    expect(editLines('x=1\ny\nx=2\n', { line: 'x=3', regexp: /^x=/, state: 'present' })).toBe('x=1\ny\nx=3\n')
    expect(editLines('a', { line: 'b', state: 'present' })).toBe('a\nb\n')
    expect(editLines('', { line: 'b', state: 'present' })).toBe('b\n')
    expect(editLines('a\nb\na\n', { line: 'a', state: 'absent' })).toBe('b\n')
    expect(editLines('#x\nx=1\n', { regexp: /^x=/, state: 'absent' })).toBe('#x\n')
    expect(editLines('no newline', { line: 'no newline', state: 'present' })).toBe('no newline')
  })
})

describe('sysctl', () => {
  it('maps names to /proc/sys paths', () => {
    expect(procPath('net.ipv4.ip_forward')).toBe('/proc/sys/net/ipv4/ip_forward')
    expect(procPath('net/ipv4/conf/eth0.100/forwarding')).toBe('/proc/sys/net/ipv4/conf/eth0.100/forwarding')
  })

  it('reads runtime value and file in ONE round trip; no change → nothing else', async () => {
    const conf = 'net.ipv4.ip_forward = 1\n'
    const { ctx, conn } = ctxWith(() => ({ stdout: framed({ 'runtime.sysctl': ['1\n'], 'conf.file': [`file 644 root root ${conf.length} 0 0\n${b64(conf)}\n`] }) }))
    const t = sysctl('net.ipv4.ip_forward', 1)
    t.resource.validate!(ctx.host, {})
    const st = await t.resource.read(ctx)
    expect(conn.runs).toHaveLength(1)
    expect(conn.runs[0].script).toContain('/proc/sys/net/ipv4/ip_forward')
    expect(conn.runs[0].script).toContain('/etc/sysctl.d/99-orch.conf')
    expect(t.resource.diff(st, ctx)).toEqual([])
  })

  it('diffs runtime and file (the file at commit); undo restores both (no transaction: the file is written now); tab-separated values compare by words', async () => {
    const { ctx } = ctxWith(() => ({ stdout: framed({ 'runtime.sysctl': ['0\n'], 'conf.file': ['absent\n'] }) }))
    const t = sysctl({ name: 'net.ipv4.ip_forward', value: true, persist: '60-fwd' })
    t.resource.validate!(ctx.host, {})
    const st = await t.resource.read(ctx)
    const ch = t.resource.diff(st, ctx)
    expect(ch).toEqual([
      { what: 'net.ipv4.ip_forward (runtime)', before: '0', after: '1' },
      { what: 'create /etc/sysctl.d/60-fwd.conf (at commit)', before: '', after: 'net.ipv4.ip_forward = 1\n' },
    ])
    // With a transaction (ctx.atCommit) the file's undo is journalled at commit, not with the runtime change.
    expect(t.resource.undo!(st, ch, { ...ctx, atCommit: () => {} })!.script).not.toContain('60-fwd.conf')
    const u = t.resource.undo!(st, ch, ctx)!
    expect(u.script).toContain("printf '%s\\n' 0 > /proc/sys/net/ipv4/ip_forward")
    expect(u.script).toContain('rm -f -- /etc/sysctl.d/60-fwd.conf')

    const { ctx: c2 } = ctxWith(() => ({ stdout: framed({ 'runtime.sysctl': ['32768\t60999\n'] }) }))
    const t2 = sysctl({ name: 'net.ipv4.ip_local_port_range', value: '32768 60999', persist: false })
    t2.resource.validate!(c2.host, {})
    expect(t2.resource.diff(await t2.resource.read(c2), c2)).toEqual([])
  })

  it('an unknown key fails clearly', async () => {
    const { ctx } = ctxWith(() => ({ stdout: framed({ 'runtime.sysctl': ['', 4] }) }))
    const t = sysctl('net.ipv4.nope', 1, { persist: false })
    await expect(t.resource.read(ctx)).rejects.toThrow(/unknown sysctl net\.ipv4\.nope/)
  })
})

describe('file', () => {
  it('creates, compares content and mode, and undoes by removing or restoring', async () => {
    const t = file({ path: '/etc/orch/x.conf', content: 'new\n', mode: 0o600 })
    t.resource.validate!(mkHost('h'), {})
    const { ctx } = ctxWith(() => ({ stdout: 'absent\n' }))
    const absent = await t.resource.read(ctx)
    const ch = t.resource.diff(absent, ctx)
    expect(ch[0]).toEqual({ what: 'create /etc/orch/x.conf', before: '', after: 'new\n' })
    expect(t.resource.undo!(absent, ch, ctx)!.script).toBe('rm -f -- /etc/orch/x.conf')

    const { ctx: c2 } = ctxWith(() => ({ stdout: `file 644 root root 4 0 0\n${b64('old\n')}\n` }))
    const old = await t.resource.read(c2)
    expect(t.resource.diff(old, c2)).toEqual([
      { what: 'content /etc/orch/x.conf', before: 'old\n', after: 'new\n' },
      { what: 'mode', before: '0644', after: '0600' },
    ])
    const u = t.resource.undo!(old, [], c2)!
    expect(u.script).toContain(b64('old\n'))
    expect(u.script).toContain('chmod 0644')
    expect(u.script).toContain('chown 0:0')
  })

  it('refuses directories', async () => {
    const t = file({ path: '/etc', content: 'x' })
    const { ctx } = ctxWith(() => ({ stdout: 'dir 755 root root 0 0 0\n' }))
    t.resource.validate!(ctx.host, {})
    await expect(t.resource.read(ctx)).rejects.toThrow(/not a regular file/)
  })
})

describe('directory', () => {
  it('undo of a created directory removes exactly the directories mkdir -p made', async () => {
    const t = directory({ path: '/srv/a/b/c', mode: '0750' })
    t.resource.validate!(mkHost('h'), {})
    const { ctx } = ctxWith(() => ({ stdout: 'absent\n/srv\n' }))
    const s = await t.resource.read(ctx)
    const ch = t.resource.diff(s, ctx)
    expect(ch[0].what).toBe('create directory /srv/a/b/c')
    expect(t.resource.undo!(s, ch, ctx)!.script).toBe('rmdir -- /srv/a/b/c /srv/a/b /srv/a')
  })

  it('removing a non-empty directory journals a backup copy', async () => {
    const t = directory({ path: '/srv/data', state: 'absent' })
    t.resource.validate!(mkHost('h'), {})
    const { ctx } = ctxWith(() => ({ stdout: 'dir 755 root root 0 0\nfull\n' }))
    const s = await t.resource.read(ctx)
    const u = t.resource.undo!(s, t.resource.diff(s, ctx), ctx)!
    expect(u.backup).toBe('cp -a -- /srv/data "$ORCH_BACKUP"')
    expect(u.script).toContain('cp -a -- "$ORCH_BACKUP" /srv/data')
  })
})

describe('service', () => {
  it('detects the manager and state in one round trip; started is idempotent', async () => {
    const { ctx, conn } = ctxWith(() => ({ stdout: 'systemctl\n0\n' }))
    const t = service({ name: 'docker', state: 'started' })
    const s = await t.resource.read(ctx)
    expect(conn.runs).toHaveLength(1)
    expect(s).toEqual({ manager: 'systemctl', active: true })
    expect(t.resource.diff(s, ctx)).toEqual([])
    const stop = service({ name: 'docker', state: 'stopped' })
    const ch = stop.resource.diff(s, ctx)
    expect(ch).toHaveLength(1)
    expect(stop.resource.undo!(s, ch, ctx)!.script).toBe('systemctl start docker')
    expect(service({ name: 'docker', state: 'restarted' }).resource.diff(s, ctx)).toHaveLength(1)
  })

  it('falls back to service / init.d commands', async () => {
    const { ctx, conn } = ctxWith(() => ({ stdout: 'initd\n3\n' }))
    const t = service({ name: 'ssh', state: 'started' })
    const s = await t.resource.read(ctx)
    expect(s).toEqual({ manager: 'initd', active: false })
    await t.resource.apply(ctx, s, t.resource.diff(s, ctx))
    expect(conn.runs[1].script).toBe('/etc/init.d/ssh start')
    const { ctx: c2 } = ctxWith(() => ({ stdout: 'none\n' }))
    await expect(t.resource.read(c2)).rejects.toThrow(/no service manager/)
  })
})

describe('command and shell', () => {
  it('command quotes every word, no round trip to read without creates/removes', async () => {
    const { ctx, conn } = ctxWith(() => ({ stdout: 'out\n', stderr: '' }))
    const t = command(['echo', 'a b', '$(reboot)'])
    const s = await t.resource.read(ctx)
    expect(conn.runs).toHaveLength(0)
    const out = await t.resource.apply(ctx, s, t.resource.diff(s, ctx))
    expect(conn.runs[0].script).toBe("echo 'a b' '$(reboot)'")
    expect(out).toMatchObject({ changed: true, failed: false, rc: 0, stdout: 'out' })
    expect(t.resource.checkMode).toBe('skip')
  })

  it('creates/removes make it idempotent; rc != 0 fails; chdir runs in a subshell', async () => {
    const { ctx } = ctxWith(() => ({ stdout: '1\n' }))
    const t = command({ argv: ['make'], creates: '/opt/built', chdir: '/opt/src' })
    expect(t.resource.diff(await t.resource.read(ctx), ctx)).toEqual([])
    const { ctx: c2, conn } = ctxWith((s) => (s.startsWith('if') ? { stdout: '0\n' } : { code: 2, stderr: 'no rule\n' }))
    const st = await t.resource.read(c2)
    const out = await t.resource.apply(c2, st, t.resource.diff(st, c2))
    expect(conn.runs[1].script).toBe('(cd /opt/src && make)')
    expect(out).toMatchObject({ failed: true, rc: 2, stderr: 'no rule', msg: 'non-zero return code 2' })
  })

  it('shell runs the script as one quoted argument of sh -c, with an optional undo', async () => {
    const { ctx, conn } = ctxWith(() => ({}))
    const t = shell("echo 'hi'; exit 0", { undo: 'echo undo' })
    await t.resource.apply(ctx, {}, [])
    expect(conn.runs[0].script).toBe(`/bin/sh -c 'echo '\\''hi'\\''; exit 0'`)
    expect(t.resource.undo!({}, [], ctx)).toMatchObject({ script: 'echo undo' })
  })
})

describe('journal', () => {
  it('appends entries to /var/lib/orch/journal/<runId>/entries with root-only permissions, one command each', async () => {
    const j = new RemoteJournal('20250101-000000-abcdef')
    const conn = new FakeConnection('h')
    await j.record('h', conn, { description: 'x', script: 'echo undo' }, { module: 'sysctl', task: 't' })
    await j.record('h', conn, { description: 'y', script: 'echo undo2', backup: 'cp -a /x "$ORCH_BACKUP"' }, { module: 'file', task: 't2' })
    expect(conn.runs).toHaveLength(2)
    const [a, b] = conn.runs
    expect(a.script).toContain('umask 077 && mkdir -p /var/lib/orch/journal/20250101-000000-abcdef && chmod 700')
    expect(a.script).toContain('cat >> /var/lib/orch/journal/20250101-000000-abcdef/entries')
    expect(a.script).not.toMatch(/\bmv\b/)
    expect(String(a.opts!.stdin)).toContain('# orch entry 0001 host=h module=sysctl')
    expect(a.opts).toMatchObject({ become: true })
    expect(String(a.opts!.stdin)).toContain('echo undo')
    expect(String(b.opts!.stdin)).toContain('# orch entry 0002 host=h module=file')
    expect(b.script).not.toContain('mkdir') // the directory was made with the first entry
    expect(b.script).toContain('ORCH_BACKUP=/var/lib/orch/journal/20250101-000000-abcdef/0002-file.backup')
    expect(b.script.indexOf('cp -a')).toBeLessThan(b.script.indexOf('cat >'))
    expect(() => new RemoteJournal('../etc')).toThrow(/invalid run id/)
    expect(entryText({ description: 'multi\nline', script: 'true' }, { seq: 3, host: 'h', backupPath: '/b', module: 'm', task: 't' })).toBe(
      '\n# orch entry 0003 host=h module=m\n# task: t\n# undo: multi line\nORCH_BACKUP=/b\nexport ORCH_BACKUP\ntrue\n# orch: end of entry 0003\n',
    )
  })

  it('fails loudly when the target cannot store it', async () => {
    const j = new RemoteJournal('r1')
    const conn = new FakeConnection('h', () => ({ code: 1, stderr: 'Read-only file system' }))
    await expect(j.record('h', conn, { description: 'x', script: 'y' })).rejects.toThrow(/could not journal the undo on h \(rc=1\): Read-only/)
  })
})
