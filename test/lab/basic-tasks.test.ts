/**
 * The basic tasks on real lab hosts, over SSH: each task's read/diff/apply/undo against a real kernel and
 * filesystem (idempotence, check mode, exact undo), then whole `orch run`s through the CLI: JSON report,
 * second run changes nothing, --check touches nothing, the undo journal on the target replays the host
 * back to its snapshot, and the real binary resolves `import ... from 'orch'`.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Connection } from '../../src/transport/types.ts'
import { command, directory, file, lineinfile, service, shell, sysctl } from '../../src/tasks/index.ts'
import { sshTo } from '../helpers/conn.ts'
import { labSkipReason, withLab } from '../helpers/lab.ts'
import { snapshot } from '../helpers/snapshot.ts'
import { runTask, undoAll } from '../helpers/task.ts'
import { orch } from './playbook-common.ts'

const repo = fileURLToPath(new URL('../../', import.meta.url))
const indexTs = join(repo, 'src/index.ts')

describe.skipIf(labSkipReason)('basic tasks on lab hosts', () => {
  const lab = withLab({ hosts: 2, docker: true })
  let conn: Connection
  const A = () => lab().hosts[0]
  const onA = async (script: string) => {
    const r = await conn.run(script)
    if (r.code !== 0) throw new Error(`${script}: ${r.stderr}`)
    return r.stdout
  }
  beforeAll(async () => {
    conn = await sshTo(lab(), A())
  })
  afterAll(async () => {
    await conn?.close()
  })

  it('sysctl: runtime + persisted, idempotent, check mode, undo back to the snapshot', async () => {
    await onA('echo 0 > /proc/sys/net/ipv4/ip_forward') // dockerd turned it on; start from a fresh host's 0
    const before = await snapshot(conn)
    expect(before.forward).toBe('0')
    const t = sysctl('net.ipv4.ip_forward', 1)
    const check = await runTask(t, conn, { check: true })
    expect(check.changes.map((c) => c.what)).toEqual(['net.ipv4.ip_forward (runtime)', 'create /etc/sysctl.d/99-orch.conf (at commit)'])
    expect(await onA('cat /proc/sys/net/ipv4/ip_forward')).toBe('0\n')
    const run = await runTask(t, conn)
    expect(run.changed).toBe(true)
    expect(await onA('cat /proc/sys/net/ipv4/ip_forward; cat /etc/sysctl.d/99-orch.conf; stat -c %a /etc/sysctl.d/99-orch.conf')).toBe('1\nnet.ipv4.ip_forward = 1\n644\n')
    expect((await runTask(t, conn)).changes).toEqual([])
    await undoAll(conn, [run.undo])
    expect(await snapshot(conn)).toEqual(before)
  })

  it('sysctl: edits an existing conf file in place and restores it byte for byte', async () => {
    const original = '# keep me\nnet.ipv4.ip_forward=0\nnet.ipv4.conf.all.rp_filter = 2\n'
    await onA('echo 0 > /proc/sys/net/ipv4/ip_forward')
    await conn.run('mkdir -p /etc/sysctl.d && cat > /etc/sysctl.d/60-net.conf && chmod 640 /etc/sysctl.d/60-net.conf', { stdin: original })
    const t = sysctl({ name: 'net.ipv4.ip_forward', value: 1, persist: '60-net' })
    const run = await runTask(t, conn)
    expect(await onA('cat /etc/sysctl.d/60-net.conf; stat -c %a /etc/sysctl.d/60-net.conf')).toBe('# keep me\nnet.ipv4.ip_forward = 1\nnet.ipv4.conf.all.rp_filter = 2\n640\n')
    await undoAll(conn, [run.undo])
    expect(await onA('cat /etc/sysctl.d/60-net.conf; stat -c %a /etc/sysctl.d/60-net.conf; cat /proc/sys/net/ipv4/ip_forward')).toBe(original + '640\n0\n')
    await onA('rm -f /etc/sysctl.d/60-net.conf')
    // A multi-value key compares by words (the kernel separates them with a tab).
    const range = (await onA('cat /proc/sys/net/ipv4/ip_local_port_range')).trim().split(/\s+/).join(' ')
    expect((await runTask(sysctl({ name: 'net.ipv4.ip_local_port_range', value: range, persist: false }), conn)).changes).toEqual([])
    await expect(runTask(sysctl('net.ipv4.no_such_key', 1), conn)).rejects.toThrow(/unknown sysctl net\.ipv4\.no_such_key/)
  })

  it('file: exact bytes (quotes, $(), newlines, binary), mode/owner, content diff, undo restores or removes', async () => {
    const hostile = Buffer.concat([Buffer.from(`it's "$(reboot)" \`id\` $HOME\n\\n ünï\n`), Buffer.from([0, 1, 2, 255, 10])])
    const path = '/etc/orch-test/hostile file.bin'
    await onA("mkdir -p '/etc/orch-test'")
    const t = file({ path, content: hostile, mode: 0o600 })
    const run = await runTask(t, conn)
    expect(run.changes[0].what).toBe(`create ${path}`)
    expect(Buffer.from(await onA(`base64 < '${path}'`), 'base64').equals(hostile)).toBe(true)
    expect(await onA(`stat -c '%a %U' '${path}'`)).toBe('600 root\n')
    expect((await runTask(t, conn)).changes).toEqual([])

    const t2 = file({ path, content: 'line one\nline two\n', mode: '0644', owner: 'nobody' })
    const run2 = await runTask(t2, conn)
    expect(run2.changes.map((c) => c.what)).toEqual([`content ${path}`, 'mode', 'owner'])
    expect(run2.changes[0].before).toMatch(/^\(binary content, \d+ bytes\)/)
    expect(await onA(`cat '${path}'; stat -c '%a %U' '${path}'`)).toBe('line one\nline two\n644 nobody\n')
    await undoAll(conn, [run2.undo])
    expect(Buffer.from(await onA(`base64 < '${path}'`), 'base64').equals(hostile)).toBe(true)
    expect(await onA(`stat -c '%a %U' '${path}'`)).toBe('600 root\n')
    await undoAll(conn, [run.undo])
    expect((await conn.run(`test -e '${path}'`)).code).not.toBe(0)

    // Only the mode differs: no rewrite, just chmod.
    await onA("printf 'x\\n' > /etc/orch-test/m && chmod 644 /etc/orch-test/m")
    const m = await runTask(file({ path: '/etc/orch-test/m', content: 'x\n', mode: 0o640 }), conn)
    expect(m.changes).toEqual([{ what: 'mode', before: '0644', after: '0640' }])
    expect(await onA('stat -c %a /etc/orch-test/m')).toBe('640\n')
    await expect(runTask(file({ path: '/etc/orch-test', content: 'x' }), conn)).rejects.toThrow(/not a regular file/)
    await expect(runTask(file({ path: '/etc/nonexistent-dir/x', content: 'x' }), conn)).rejects.toThrow(/writing \/etc\/nonexistent-dir\/x failed/)
  })

  it('lineinfile: append, replace by regexp, remove, create; undo restores', async () => {
    const p = '/etc/orch-test/lines.conf'
    await conn.run(`cat > ${p}`, { stdin: 'a=1\n#b=2\nc=3\n' })
    const add = await runTask(lineinfile({ path: p, line: 'd=4' }), conn)
    const rep = await runTask(lineinfile({ path: p, line: 'b=9', regexp: '^#?b=' }), conn)
    const rm = await runTask(lineinfile({ path: p, regexp: /^a=/, state: 'absent' }), conn)
    expect(await onA(`cat ${p}`)).toBe('b=9\nc=3\nd=4\n')
    expect((await runTask(lineinfile({ path: p, line: 'b=9', regexp: '^#?b=' }), conn)).changes).toEqual([])
    await undoAll(conn, [add.undo, rep.undo, rm.undo])
    expect(await onA(`cat ${p}`)).toBe('a=1\n#b=2\nc=3\n')
    await expect(runTask(lineinfile({ path: '/etc/orch-test/none.conf', line: 'x' }), conn)).rejects.toThrow(/does not exist \(use create: true/)
    const cr = await runTask(lineinfile({ path: '/etc/orch-test/new.conf', line: 'x', create: true, mode: 0o600 }), conn)
    expect(await onA('cat /etc/orch-test/new.conf; stat -c %a /etc/orch-test/new.conf')).toBe('x\n600\n')
    await undoAll(conn, [cr.undo])
    expect((await conn.run('test -e /etc/orch-test/new.conf')).code).not.toBe(0)
  })

  it('directory: nested create with mode, undo removes only what it created; absent keeps a backup for undo', async () => {
    // Only paths that are private to a lab host (/etc, /var, /root, /tmp): never the machine's own.
    await onA('mkdir -p /var/lib/orch-test')
    const t = directory({ path: '/var/lib/orch-test/a/b/c', mode: 0o750 })
    const run = await runTask(t, conn)
    expect(await onA('stat -c %a /var/lib/orch-test/a/b/c')).toBe('750\n')
    expect((await runTask(t, conn)).changes).toEqual([])
    await undoAll(conn, [run.undo])
    expect(await onA('ls -A /var/lib/orch-test')).toBe('')

    await onA("mkdir -p /var/lib/orch-test/data/sub && printf 'keep\\n' > /var/lib/orch-test/data/sub/f && chmod 700 /var/lib/orch-test/data")
    const rmTask = directory({ path: '/var/lib/orch-test/data', state: 'absent' })
    const ctxState = await rmTask.resource.read({ run: (s: string) => conn.run(s) } as never)
    const changes = rmTask.resource.diff(ctxState, {} as never)
    const undo = rmTask.resource.undo!(ctxState, changes, {} as never)!
    const backupEnv = 'ORCH_BACKUP=/root/orch-backup-test; export ORCH_BACKUP; '
    await onA(backupEnv + undo.backup!)
    await rmTask.resource.apply({ run: (s: string) => conn.run(s) } as never, ctxState, changes)
    expect((await conn.run('test -e /var/lib/orch-test/data')).code).not.toBe(0)
    await onA(backupEnv + undo.script)
    expect(await onA('cat /var/lib/orch-test/data/sub/f; stat -c %a /var/lib/orch-test/data')).toBe('keep\n700\n')
  })

  it('service: via the systemctl stand-in, started/stopped idempotent, undo, restarted always changes', async () => {
    const stop = await runTask(service({ name: 'docker', state: 'stopped' }), conn)
    expect(stop.changed).toBe(true)
    expect((await conn.run('systemctl is-active docker')).stdout.trim()).toBe('inactive')
    expect((await runTask(service({ name: 'docker', state: 'stopped' }), conn)).changes).toEqual([])
    const start = await runTask(service({ name: 'docker', state: 'started' }), conn)
    expect((await conn.run('systemctl is-active docker')).stdout.trim()).toBe('active')
    expect(start.undo?.script).toBe('systemctl stop docker')
    expect((await runTask(service({ name: 'docker', state: 'restarted' }), conn)).changed).toBe(true)
    expect((await conn.run('systemctl is-active docker')).stdout.trim()).toBe('active')
    await expect(runTask(service({ name: 'no-such-unit', state: 'started' }), conn)).rejects.toThrow(/start no-such-unit failed \(rc=5\).*could not be found/)
  })

  it('command/shell: creates/removes, rc, stdout, chdir, no shell interpretation of argv', async () => {
    const c = await runTask(command({ argv: ['sh', '-c', 'pwd; echo "$1"', 'x', '$(id) ; touch /tmp/pwned'], chdir: '/etc' }), conn)
    expect(c.outcome).toMatchObject({ rc: 0, stdout: '/etc\n$(id) ; touch /tmp/pwned', failed: false })
    expect((await conn.run('test -e /tmp/pwned')).code).not.toBe(0)
    const guarded = command({ argv: ['touch', '/root/made'], creates: '/root/made' })
    expect((await runTask(guarded, conn)).changed).toBe(true)
    expect((await runTask(guarded, conn)).changes).toEqual([])
    const removes = shell('rm /root/made', { removes: '/root/made' })
    expect((await runTask(removes, conn)).changed).toBe(true)
    expect((await runTask(removes, conn)).changes).toEqual([])
    await expect(runTask(shell('echo oops >&2; exit 3'), conn)).rejects.toThrow(/oops/)
    const s = await runTask(shell('exit 0; echo never'), conn)
    expect(s.outcome).toMatchObject({ rc: 0, stdout: '' })
    // `exit` in a script ends the script, not the connection's shell.
    expect((await conn.run('echo still-here')).stdout).toBe('still-here\n')
  })
})

describe.skipIf(labSkipReason)('orch run on lab hosts (CLI, SSH, journal)', () => {
  const lab = withLab({ hosts: 3 })
  const dir = mkdtempSync(join(tmpdir(), 'orch-lab-run-'))
  const pb = join(dir, 'basic.ts')
  writeFileSync(
    pb,
    `import { playbook, sysctl, file, lineinfile, directory, command, shell, sh } from ${JSON.stringify(indexTs)}
export default playbook({
  name: 'basic tasks',
  hosts: 'lab',
  tasks: ({ host, vars, peers }) => [
    sysctl('net.ipv4.ip_forward', 1),
    directory({ path: '/etc/orch-demo', mode: 0o755 }),
    file({ path: '/etc/orch-demo/peers', content: peers.map((p) => p.address).join('\\n') + '\\n', mode: 0o644 }).with({ notify: 'peers changed' }),
    lineinfile({ path: '/etc/orch-demo/conf', line: 'managed = orch', create: true }),
    file({ path: '/etc/orch-demo/me', content: String(vars.greeting ?? 'hello') + ' ' + host.name + '\\n' }),
    command(['cat', '/proc/sys/net/ipv4/ip_forward']).with({ register: 'fwd', changed_when: () => false, check_mode: false }),
    shell(sh\`test "$(cat /proc/sys/net/ipv4/ip_forward)" = 1\`).with({ changed_when: () => false, when: (ctx) => ctx.registered.fwd.stdout === '1' }),
  ],
  handlers: {
    'peers changed': shell('date > /etc/orch-demo/handler-ran', { undo: 'rm -f /etc/orch-demo/handler-ran' }),
  },
})
`,
  )

  it('first run changes, JSON is one document; the journal is on the target, root-only, and replays to the snapshot', async () => {
    const conns = await Promise.all(lab().hosts.map((h) => sshTo(lab(), h)))
    try {
      const before = await Promise.all(conns.map((c) => snapshot(c)))
      const r = await orch('run', pb, '-i', lab().inventoryPath, '--json', '--diff', '-e', "greeting='hi there'", '--run-id', 'labtest-1')
      expect(r.code, r.err).toBe(0)
      const doc = JSON.parse(r.out)
      expect(doc.orch).toMatchObject({ runId: 'labtest-1', exitCode: 0 })
      const tasks = doc.plays[0].tasks
      expect(tasks.map((t: any) => t.task.module)).toEqual(['sysctl', 'directory', 'file', 'lineinfile', 'file', 'command', 'shell', 'shell'])
      expect(tasks[7].task).toMatchObject({ name: 'peers changed', handler: true })
      for (const h of lab().hosts) {
        expect(doc.stats[h.name]).toMatchObject({ ok: 8, changed: 6, failed: 0, unreachable: 0 })
        expect(tasks[2].hosts[h.name].diff[0].unified).toContain('+' + lab().hosts.find((x) => x.name !== h.name)!.address)
        expect(tasks[5].hosts[h.name]).toMatchObject({ status: 'ok', stdout: '1', rc: 0 })
      }
      const c = conns[0]
      expect((await c.run('cat /etc/orch-demo/me /etc/orch-demo/peers /etc/orch-demo/conf')).stdout).toBe(`hi there node1\n${lab().hosts[1].address}\n${lab().hosts[2].address}\nmanaged = orch\n`)
      const j = await c.run('cd /var/lib/orch/journal/labtest-1 && stat -c "%a %n" . entries && grep "^# orch entry " entries')
      expect(j.stdout).toMatch(/^700 \.\n600 entries\n/)
      // One entry per change with an undo, in order; the handler has its own; the command (nothing to undo) none;
      // sysctl's conf file last: it is written at commit, after the checks.
      expect(j.stdout.split('\n').filter((l) => l.startsWith('# orch entry')).map((l) => l.replace(/ host=\S+/, ''))).toEqual([
        '# orch entry 0001 module=sysctl',
        '# orch entry 0002 module=directory',
        '# orch entry 0003 module=file',
        '# orch entry 0004 module=lineinfile',
        '# orch entry 0005 module=file',
        '# orch entry 0006 module=shell',
        '# orch entry 0007 module=sysctl',
      ])

      // Second run: nothing changes, nothing is journalled.
      const r2 = await orch('run', pb, '-i', lab().inventoryPath, '--json', '-e', '{"greeting": "hi there"}', '--run-id', 'labtest-2')
      const doc2 = JSON.parse(r2.out)
      for (const h of lab().hosts) expect(doc2.stats[h.name]).toMatchObject({ ok: 7, changed: 0 })
      expect((await c.run('ls /var/lib/orch/journal/labtest-2 2>/dev/null | wc -l')).stdout.trim()).toBe('0')

      // Replaying the journal newest first (what a rollback does) gives back the snapshot.
      for (const conn of conns) {
        const rb = await conn.run('/bin/sh /var/lib/orch/bin/rollback.sh labtest-1 test')
        expect(rb.code, rb.stderr).toBe(0)
      }
      const after = await Promise.all(conns.map((c) => snapshot(c)))
      expect(after).toEqual(before)
      expect((await c.run('test -e /etc/orch-demo')).code).not.toBe(0)
    } finally {
      await Promise.all(conns.map((c) => c.close()))
    }
  })

  it('--check reports what would change and changes nothing; plain output is Ansible-like', async () => {
    const r = await orch('run', pb, '-i', lab().inventoryPath, '--check', '--limit', 'node2', '--run-id', 'check-1')
    expect(r.code, r.err).toBe(0)
    expect(r.out).toContain('PLAY [basic tasks] (check mode) ***')
    expect(r.out).toContain('TASK [sysctl net.ipv4.ip_forward=1] ***')
    expect(r.out).toMatch(/changed: \[node2\]\n  ~ net\.ipv4\.ip_forward \(runtime\): 0 -> 1\n  ~ create \/etc\/sysctl\.d\/99-orch\.conf \(at commit\): \(none\) -> net\.ipv4\.ip_forward = 1\n/)
    expect(r.out).toContain('  ~ create /etc/orch-demo/peers (2 lines; --diff shows them)')
    expect(r.out).toMatch(/RUNNING HANDLER \[peers changed\] \*+\nskipping: \[node2\]/)
    expect(r.out).toMatch(/^node2 +: ok=\d+ +changed=\d+ +unreachable=0 +failed=0 /m)
    expect(r.out).not.toMatch(/node1|node3/)
    const c = await sshTo(lab(), lab().hosts[1])
    try {
      expect((await c.run('cat /proc/sys/net/ipv4/ip_forward; test -e /etc/orch-demo || echo absent; test -e /var/lib/orch/journal/check-1 || echo no-journal')).stdout).toBe('0\nabsent\nno-journal\n')
    } finally {
      await c.close()
    }
  })

  it('a failing host stops, the others go on (exit 2); an unreachable host gives exit 4', async () => {
    const fail = join(dir, 'fail.ts')
    writeFileSync(
      fail,
      `import { playbook, shell, file } from ${JSON.stringify(indexTs)}
export default playbook({ name: 'fail', hosts: 'lab', tasks: [
  shell('test "$(hostname)" != node1').with({ changed_when: () => false }),
  file({ path: '/root/after-fail', content: 'x\\n' }),
] })
`,
    )
    const r = await orch('run', fail, '-i', lab().inventoryPath, '--json')
    expect(r.code).toBe(2)
    const doc = JSON.parse(r.out)
    expect(doc.stats.node1).toMatchObject({ failed: 1, ok: 0 })
    expect(doc.stats.node2).toMatchObject({ failed: 0, ok: 2, changed: 1 })
    expect(doc.plays[0].tasks[1].hosts.node1).toBeUndefined()

    const inv = join(dir, 'with-dead.ini')
    const { readFileSync } = await import('node:fs')
    writeFileSync(inv, readFileSync(lab().inventoryPath, 'utf8').replace('[lab]\n', `[lab]\ndead ansible_host=${lab().gateway.replace(/\.\d+$/, '.250')} ansible_ssh_common_args='-o ConnectTimeout=1'\n`))
    const r2 = await orch('run', fail, '-i', inv, '--json', '--limit', 'dead,node2')
    expect(r2.code).toBe(4)
    expect(JSON.parse(r2.out).stats.dead.unreachable).toBe(1)
  })

  it("the real binary runs a playbook that imports from 'orch' (no build step), plain output when not a TTY", async () => {
    // Outside the package: 'orch' resolves through bin/orch.js's hook, and the .ts file loads as ESM.
    const outside = join(dir, 'outside.ts')
    writeFileSync(outside, `import { playbook, command } from 'orch'\nexport default playbook({ name: 'outside', hosts: 'node3', tasks: [command(['uname', '-n']).with({ changed_when: () => false })] })\n`)
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [join(repo, 'bin/orch.js'), 'run', outside, '-i', lab().inventoryPath, '-v'], { cwd: dir, timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    )
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('ok: [node3]')
    expect(r.stdout).toContain('  stdout:\n    node3')
    expect(r.stdout).toMatch(/^node3 +: ok=1 +changed=0 /m)
    expect(r.stdout).not.toMatch(/\x1b\[/)
  })

  it("the V8 code cache kept for later runs comes from the first run that applies a change, not from --check", async () => {
    const cache = mkdtempSync(join(tmpdir(), 'orch-lab-codecache-'))
    const pb = join(dir, 'cache.ts')
    writeFileSync(pb, `import { playbook, file } from 'orch'\nexport default playbook({ name: 'cache', hosts: 'node3', tasks: [file({ path: '/etc/orch-codecache-test', content: 'x\\n' })] })\n`)
    const run = (...args: string[]) =>
      new Promise<{ code: number; stderr: string }>((resolve) =>
        execFile(process.execPath, [join(repo, 'bin/orch.js'), ...args, '-i', lab().inventoryPath], { cwd: dir, timeout: 120_000, env: { ...process.env, ORCH_CACHE_DIR: cache } }, (err, _o, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
        ),
      )
    const image = () => join(cache, readdirSync(cache).find((x) => !x.startsWith('.'))!)
    const codeFiles = () => readdirSync(image()).filter((x) => x.startsWith('code-run')).sort()
    try {
      let r = await run('run', pb, '--check')
      expect(r.code, r.stderr).toBe(0)
      expect(codeFiles()).toEqual(['code-run.partial.bin'])
      r = await run('run', pb)
      expect(r.code, r.stderr).toBe(0)
      expect(codeFiles()).toEqual(['code-run.bin'])
      const whole = readFileSync(join(image(), 'code-run.bin'))
      r = await run('run', pb) // nothing to change: the complete cache stays as it is
      expect(r.code, r.stderr).toBe(0)
      expect(codeFiles()).toEqual(['code-run.bin'])
      expect(readFileSync(join(image(), 'code-run.bin')).equals(whole)).toBe(true)
    } finally {
      await run('rollback', '--limit', 'node3')
      rmSync(cache, { recursive: true, force: true })
    }
  })
})


describe.skipIf(labSkipReason)('scale: 20 hosts × 10 tasks', () => {
  const lab = withLab({ hosts: 20 })
  it('a no-change run is dominated by SSH round trips', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orch-lab-scale-'))
    const pb = join(dir, 'ten.ts')
    writeFileSync(
      pb,
      `import { playbook, sysctl, file, directory, lineinfile } from ${JSON.stringify(indexTs)}
export default playbook({ name: 'ten', hosts: 'lab', tasks: [
  directory({ path: '/etc/orch-scale' }),
  ...Array.from({ length: 7 }, (_, i) => file({ path: '/etc/orch-scale/f' + i, content: 'v' + i + '\\n' })),
  sysctl('net.ipv4.conf.all.rp_filter', 2),
  lineinfile({ path: '/etc/orch-scale/lines', line: 'x=1', create: true }),
] })
`,
    )
    const first = await orch('run', pb, '-i', lab().inventoryPath, '--json')
    expect(first.code, first.err).toBe(0)
    const t0 = performance.now()
    const second = await orch('run', pb, '-i', lab().inventoryPath, '--json')
    const ms = performance.now() - t0
    const doc = JSON.parse(second.out)
    expect(Object.keys(doc.stats)).toHaveLength(20)
    for (const s of Object.values(doc.stats) as any[]) expect(s).toMatchObject({ ok: 10, changed: 0 })
    console.log(`20 hosts × 10 tasks, no change: ${Math.round(ms)} ms (first run ${JSON.parse(first.out).orch.durationMs} ms)`)
    expect(ms).toBeLessThan(10_000)
  })
})
