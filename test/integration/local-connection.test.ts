/**
 * ansible_connection=local: the same Connection over local /bin/sh children (harmless commands only:
 * echo, id, files in the test's temp dir), `orch run` against a local host, other connection types
 * refused with exit 5 before anything runs, and the ssh args variables composed as Ansible's ssh plugin.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { connectOptions } from '../../src/cli/targets.ts'
import { connectionVars } from '../../src/inventory/index.ts'
import { connectLocal, ConnectionPool } from '../../src/transport/index.ts'
import { runOrch } from '../helpers/cli.ts'

const dir = mkdtempSync(join(tmpdir(), 'orch-local-'))
const indexTs = fileURLToPath(new URL('../../src/index.ts', import.meta.url))
const opened: Array<{ close(): Promise<void> }> = []

afterAll(async () => {
  for (const c of opened) await c.close().catch(() => undefined)
})

const uid = String(userInfo().uid)

describe('local connection', () => {
  it('runs commands in one persistent local shell, as this user', async () => {
    const c = connectLocal({ hostName: 'localhost', address: 'localhost' })
    opened.push(c)
    const a = await c.run('echo $$; id -u')
    const b = await c.run('echo $$')
    expect(a.code).toBe(0)
    expect(a.stdout.split('\n')[1]).toBe(uid)
    expect(b.stdout.split('\n')[0]).toBe(a.stdout.split('\n')[0])
    expect(await c.run('printf out; printf err >&2; exit 3')).toMatchObject({ code: 3, stdout: 'out', stderr: 'err' })
    expect((await c.run('cat', { stdin: 'fed on stdin' })).stdout).toBe('fed on stdin')
    const batch = await c.runBatch!([{ script: 'echo one' }, { script: 'echo two; exit 4' }])
    expect(batch.map((r) => [r.code, r.stdout])).toEqual([[0, 'one\n'], [4, 'two\n']])
    expect(c.isRoot).toBe(uid === '0')
  })

  it('uploads files through the shell, atomically with their mode', async () => {
    const c = connectLocal({ hostName: 'localhost', address: 'localhost' })
    opened.push(c)
    const path = join(dir, 'uploaded')
    const data = Buffer.from([0, 1, 2, 255, 10, 39, 34])
    await c.upload(path, data, 0o640)
    expect(readFileSync(path)).toEqual(data)
    expect(statSync(path).mode & 0o777).toBe(0o640)
  })

  it('a command that times out is reported and the next one gets a fresh shell', async () => {
    const c = connectLocal({ hostName: 'localhost', address: 'localhost' })
    opened.push(c)
    const r = await c.run('sleep 5', { timeoutMs: 300 })
    expect(r.timedOut).toBe(true)
    expect((await c.run('echo alive')).stdout).toBe('alive\n')
  })

  it('closing ends its shells', async () => {
    const c = connectLocal({ hostName: 'localhost', address: 'localhost' })
    const pid = (await c.run('echo $$')).stdout.trim()
    await c.close()
    expect(c.alive).toBe(false)
    // The shell's PID is gone (kill -0 fails).
    await new Promise((r) => setTimeout(r, 200))
    expect(spawnSync('kill', ['-0', pid]).status).not.toBe(0)
  })

  it('the pool opens a local connection for ansible_connection=local', async () => {
    const co = connectOptions('localhost', connectionVars({ name: 'localhost', vars: { ansible_connection: 'local' }, groups: ['all'] }))
    expect(co.connection).toBe('local')
    const pool = new ConnectionPool({ resolve: [co] })
    try {
      expect((await (await pool.get('localhost')).run('echo pooled')).stdout).toBe('pooled\n')
    } finally {
      await pool.closeAll()
    }
  })
})

describe('orch run with a local host', () => {
  const book = join(dir, 'book.ts')
  writeFileSync(
    book,
    `import { playbook, shell, sh } from ${JSON.stringify(indexTs)}
export default playbook({
  name: 'local',
  hosts: 'all',
  tasks: ({ host, vars }) => [
    shell(sh\`id -u > \${${JSON.stringify(dir)} + '/out-' + host.name}; printf %s \${String(vars.greeting)} >> \${${JSON.stringify(dir)} + '/out-' + host.name}\`).with({ check_mode: false }),
  ],
})
`,
  )
  const orch = (...args: string[]) => runOrch(dir, args)

  it('runs the tasks on the controller', async () => {
    writeFileSync(join(dir, 'local.ini'), 'ctl ansible_connection=local greeting="{{ \'hi \' ~ inventory_hostname }}"\n')
    const r = await orch('run', book, '-i', join(dir, 'local.ini'), '--check')
    expect(r.err).not.toContain('ERROR')
    expect(r.code).toBe(0)
    expect(readFileSync(join(dir, 'out-ctl'), 'utf8')).toBe(`${uid}\nhi ctl`)
  }, 60_000)

  it.each([
    ['docker', /ansible_connection: expected ssh or local \(orch has no 'docker' connection: run sshd in the container/],
    ['community.docker.docker', /no 'community.docker.docker' connection/],
    ['winrm', /Linux hosts over ssh only/],
    ['paramiko_ssh_x', /ssh \(the default\) or local/],
  ])('refuses ansible_connection=%s, exit 5, before running anything', async (kind, msg) => {
    writeFileSync(join(dir, 'bad.ini'), `bad ansible_connection=${kind} greeting=x\n`)
    const r = await orch('run', book, '-i', join(dir, 'bad.ini'), '--check')
    expect(r.code).toBe(5)
    expect(r.err).toMatch(msg)
    expect(r.err).toContain('bad')
    expect(() => statSync(join(dir, 'out-bad'))).toThrow()
  }, 60_000)
})

describe('ssh args variables, composed as Ansible ssh plugin: ssh_args, common, extra', () => {
  const co = (vars: Record<string, unknown>, d = {}) => connectOptions('h', connectionVars({ name: 'h', vars, groups: ['all'] }), undefined, undefined, d).sshCommonArgs
  it('orders them and lets the variables win over the flags', () => {
    expect(co({ ansible_ssh_args: '-o A=1', ansible_ssh_common_args: '-o B=2', ansible_ssh_extra_args: '-o C=3' })).toBe('-o A=1 -o B=2 -o C=3')
    expect(co({ ansible_ssh_extra_args: '-o C=3' }, { sshCommonArgs: '-o B=cli', sshExtraArgs: '-o C=cli' })).toBe('-o B=cli -o C=3')
    expect(co({}, { sshExtraArgs: '-4' })).toBe('-4')
    expect(co({ ansible_ssh_args: '' })).toBeUndefined()
  })
})
