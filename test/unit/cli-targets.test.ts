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
  it('refuses become settings it would otherwise ignore, naming host and variable', () => {
    expect(() => connectOptions('web1', connectionVars(host({ ansible_become_user: 'postgres' })))).toThrow(/web1: ansible_become_user: expected 'root'/)
    expect(() => connectOptions('web1', connectionVars(host({ ansible_become_method: 'su' })))).toThrow(/web1: ansible_become_method: expected 'sudo'/)
  })
})
