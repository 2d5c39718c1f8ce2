import { describe, expect, it } from 'vitest'
import { connectOptions } from '../../src/cli/targets.ts'
import { connectionVars } from '../../src/inventory/index.ts'

const host = (vars: Record<string, unknown>) => ({ name: 'web1', vars, groups: ['all'] })

describe('inventory variables become connection settings', () => {
  it('maps Ansible connection vars', () => {
    const co = connectOptions('web1', connectionVars(host({ ansible_host: '198.18.0.5', ansible_port: 2222, ansible_user: 'ops', ansible_become: true, ansible_ssh_common_args: '-o BindAddress=198.19.0.1' })))
    expect(co).toMatchObject({ hostName: 'web1', address: '198.18.0.5', port: 2222, user: 'ops', become: true, sshCommonArgs: '-o BindAddress=198.19.0.1' })
  })
  it('uses the asked become password only where the inventory has none', () => {
    expect(connectOptions('web1', connectionVars(host({ ansible_become: true })), undefined, 's3cret').becomePassword).toBe('s3cret')
    expect(connectOptions('web1', connectionVars(host({ ansible_become_password: 'inv' })), undefined, 's3cret').becomePassword).toBe('inv')
  })
  it('become user and method: sudo or su; another user only where no transaction runs (orch run --check)', () => {
    expect(() => connectOptions('web1', connectionVars(host({ ansible_become_user: 'postgres' })))).toThrow(/web1: ansible_become_user: expected 'root' here: orch's transaction/)
    expect(connectOptions('web1', connectionVars(host({ ansible_become: true, ansible_become_user: 'postgres' })), undefined, undefined, { tasksOnly: true })).toMatchObject({ become: true, becomeUser: 'postgres' })
    expect(connectOptions('web1', connectionVars(host({ ansible_become_method: 'su' })))).toMatchObject({ becomeMethod: 'su' })
    expect(() => connectOptions('web1', connectionVars(host({ ansible_become_method: 'doas' })))).toThrow(/web1: ansible_become_method: expected 'sudo' or 'su'/)
  })
  it('-b, --become-user, --become-method are defaults: the inventory variables win', () => {
    const d = { become: true, becomeUser: 'root', becomeMethod: 'su' }
    expect(connectOptions('web1', connectionVars(host({})), undefined, undefined, d)).toMatchObject({ become: true, becomeUser: 'root', becomeMethod: 'su' })
    expect(connectOptions('web1', connectionVars(host({ ansible_become: false, ansible_become_method: 'sudo' })), undefined, undefined, d)).toMatchObject({ become: false, becomeMethod: 'sudo' })
    expect(() => connectOptions('web1', connectionVars(host({})), undefined, undefined, { becomeUser: 'pg' })).toThrow(/web1: --become-user: expected 'root' here/)
  })
})

describe('orch run connection flags (-u, --private-key, --ssh-common-args, --ssh-extra-args, -T)', () => {
  it('are defaults: the inventory variables win; extra args come after the common ones', () => {
    const d = { user: 'cli', privateKeyFile: '/k/cli', sshCommonArgs: '-o ConnectTimeout=3', sshExtraArgs: '-o ServerAliveInterval=9', timeoutSec: 4 }
    expect(connectOptions('web1', connectionVars(host({})), undefined, undefined, d)).toMatchObject({
      user: 'cli',
      privateKeyFile: '/k/cli',
      sshCommonArgs: '-o ConnectTimeout=3 -o ServerAliveInterval=9',
      connectTimeoutMs: 4000,
    })
    const inv = connectOptions('web1', connectionVars(host({ ansible_user: 'inv', ansible_private_key_file: '/k/inv', ansible_ssh_common_args: '-o Port=2' })), undefined, undefined, d)
    expect(inv).toMatchObject({ user: 'inv', privateKeyFile: '/k/inv', sshCommonArgs: '-o Port=2 -o ServerAliveInterval=9' })
  })
  it('are parsed by orch run (both spellings of the key flag)', async () => {
    const { buildProgram } = await import('../../src/cli/main.ts')
    for (const keyFlag of ['--private-key', '--key-file']) {
      let seen: Record<string, unknown> = {}
      const io = { stdout: { write: () => true }, stderr: { write: () => true } } as never
      const p = buildProgram(io, () => undefined)
      const run = p.commands.find((c) => c.name() === 'run')!
      run.action((_pb: string, opts: Record<string, unknown>) => void (seen = opts))
      await p.parseAsync(['node', 'orch', 'run', 'pb.ts', '-i', 'h,', '-u', 'ops', keyFlag, '/k', '--ssh-common-args', '-o X=1', '--ssh-extra-args=-4', '-T', '7'])
      expect(seen).toMatchObject({ user: 'ops', sshCommonArgs: '-o X=1', sshExtraArgs: '-4', timeout: 7 })
      expect(seen.privateKey ?? seen.keyFile).toBe('/k')
    }
  })
})
