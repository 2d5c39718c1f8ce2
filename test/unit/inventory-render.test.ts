import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  connectionVars,
  HostVarError,
  InventoryError,
  loadInventory,
  renderGraph,
  renderList,
  toBool,
  type Host,
  type Vars,
} from '../../src/inventory/index.ts'
import { FIXTURES, tree } from '../fixtures/inventory/tree.ts'

describe('renderGraph (ansible-inventory --graph)', () => {
  it('draws basic.ini', async () => {
    const inv = await loadInventory([join(FIXTURES, 'basic.ini')])
    expect(renderGraph(inv)).toBe(
      [
        '@all:',
        '  |--@ungrouped:',
        '  |  |--bastion',
        '  |--@docker_hosts:',
        '  |  |--@edge:',
        '  |  |  |--edge1',
        '  |  |  |--edge2',
        '  |  |  |--edge3',
        '  |  |--@core:',
        '  |  |  |--node01',
        '  |  |  |--node03',
        '  |  |  |--node05',
        '  |  |  |--nodea',
        '  |  |  |--nodeb',
        '  |  |  |--nodec',
        '  |--@monitoring:',
        '  |  |--gw',
      ].join('\n'),
    )
  })

  it('starts at a group, repeats a group under each parent, shows an empty ungrouped', async () => {
    const dir = await tree({ hosts: '[a:children]\nshared\n[b:children]\nshared\n[shared]\nh\n' })
    const inv = await loadInventory([join(dir, 'hosts')])
    expect(renderGraph(inv, 'b')).toBe('@b:\n  |--@shared:\n  |  |--h')
    expect(renderGraph(inv)).toBe(
      ['@all:', '  |--@ungrouped:', '  |--@a:', '  |  |--@shared:', '  |  |  |--h', '  |--@b:', '  |  |--@shared:', '  |  |  |--h'].join('\n'),
    )
    expect(() => renderGraph(inv, 'h')).toThrow(InventoryError)
  })
})

describe('renderList (ansible-inventory --list)', () => {
  it('lists groups, children and hostvars like ansible-inventory', async () => {
    const dir = await tree({
      hosts: '[a:children]\nshared\n[b:children]\nshared\n[shared]\nh x=1\n[empty]\n[lone]\nbare\n',
    })
    const inv = await loadInventory([join(dir, 'hosts')])
    expect(renderList(inv)).toEqual({
      _meta: { hostvars: { h: { x: 1 } } }, // bare has no vars: left out
      all: { children: ['ungrouped', 'a', 'b', 'empty', 'lone'] },
      a: { children: ['shared'] },
      b: { children: ['shared'] },
      shared: { hosts: ['h'] },
      lone: { hosts: ['bare'] },
      // ungrouped and empty have neither hosts nor children: named in all.children only
    })
  })

  it('leaves out Ansible internal variables', async () => {
    const dir = await tree({ hosts: 'h inventory_hostname=x group_names=y keep=1\n' })
    const inv = await loadInventory([join(dir, 'hosts')])
    expect(renderList(inv)._meta.hostvars).toEqual({ h: { keep: 1 } })
    expect(inv.hosts.get('h')!.vars.inventory_hostname).toBe('x') // still a var, only hidden in --list
  })
})

describe('connectionVars', () => {
  const host = (vars: Vars, name = 'node1'): Host => ({ name, vars, groups: ['all'] })

  it('defaults: the name as address, port 22, no become', () => {
    expect(connectionVars(host({}))).toEqual({ address: 'node1', port: 22, portSet: false, become: false, becomeSet: false, connection: 'ssh' })
  })

  it('maps every variable', () => {
    expect(
      connectionVars(
        host({
          ansible_host: '198.18.0.2',
          ansible_port: 2222,
          ansible_user: 'ops',
          ansible_private_key_file: '~/.ssh/lab',
          ansible_password: 'pw',
          ansible_ssh_common_args: '-o ProxyJump=gw',
          ansible_become: 'yes',
          ansible_become_user: 'root',
          ansible_become_password: 'bpw',
          ansible_become_method: 'sudo',
        }),
      ),
    ).toEqual({
      address: '198.18.0.2',
      port: 2222,
      portSet: true,
      user: 'ops',
      privateKeyFile: '~/.ssh/lab',
      password: 'pw',
      sshCommonArgs: '-o ProxyJump=gw',
      become: true,
      becomeSet: true,
      becomeUser: 'root',
      becomePassword: 'bpw',
      becomeMethod: 'sudo',
      connection: 'ssh',
    })
  })

  it('accepts the ansible_ssh_* aliases; the later name in Ansible\'s list wins', () => {
    const c = connectionVars(
      host({ ansible_ssh_host: '10.0.0.9', ansible_ssh_port: '2200', ansible_ssh_user: 'u', ansible_ssh_pass: 'p', ansible_become_pass: 'b' }),
    )
    expect(c).toMatchObject({ address: '10.0.0.9', port: 2200, user: 'u', password: 'p', becomePassword: 'b' })
    const both = connectionVars(host({ ansible_host: 'a', ansible_ssh_host: 'b', ansible_password: 'x', ansible_ssh_pass: 'y' }))
    expect(both).toMatchObject({ address: 'b', password: 'y' })
  })

  it('turns numbers into strings where a string is expected (an INI password=1234 is an int)', () => {
    expect(connectionVars(host({ ansible_password: 1234, ansible_become_password: '' }))).toMatchObject({
      password: '1234',
      becomePassword: '',
    })
  })

  it('validates the port: an integer 1-65535, naming the host and variable', () => {
    for (const bad of [0, 65536, 22.5, '22a', '', true, [22]]) {
      let err: unknown
      try {
        connectionVars(host({ ansible_port: bad }, 'web3'))
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(HostVarError)
      expect(err).toBeInstanceOf(InventoryError)
      expect((err as HostVarError).message).toBe(`host web3: ansible_port: expected an integer 1-65535, got ${JSON.stringify(bad)}`)
      expect((err as HostVarError).variable).toBe('ansible_port')
      expect((err as HostVarError).host).toBe('web3')
    }
    expect(() => connectionVars(host({ ansible_ssh_port: -1 }))).toThrow('node1: ansible_ssh_port: expected an integer 1-65535, got -1')
    expect(connectionVars(host({ ansible_port: ' 65535 ' })).port).toBe(65535)
  })

  it('validates strings and booleans', () => {
    expect(() => connectionVars(host({ ansible_host: '' }))).toThrow('ansible_host: expected a non-empty string, got ""')
    expect(() => connectionVars(host({ ansible_user: ['a'] }))).toThrow('ansible_user: expected a non-empty string, got ["a"]')
    expect(() => connectionVars(host({ ansible_become: 'maybe' }))).toThrow('ansible_become: expected a boolean (true/false, yes/no), got "maybe"')
    expect(connectionVars(host({ ansible_become: 'False' })).become).toBe(false)
    expect(connectionVars(host({ ansible_become: 1 })).become).toBe(true)
  })

  it('works on a loaded inventory (INI typing: ansible_port=2222 is a number, "true" a string)', async () => {
    const dir = await tree({ hosts: 'h ansible_host=198.18.0.5 ansible_port=2222 ansible_become=true ansible_user=root\n' })
    const inv = await loadInventory([join(dir, 'hosts')])
    expect(connectionVars(inv.hosts.get('h')!)).toEqual({
      address: '198.18.0.5',
      port: 2222,
      portSet: true,
      user: 'root',
      become: true,
      becomeSet: true,
      connection: 'ssh',
    })
  })

  it('toBool follows Ansible', () => {
    expect(['yes', 'on', '1', 'true', 'True', 'y', 't', true, 1].map(toBool)).toEqual(Array(9).fill(true))
    expect(['no', 'off', '0', 'false', 'FALSE', 'n', 'f', false, 0].map(toBool)).toEqual(Array(9).fill(false))
    expect([2, 'maybe', null, {}].map(toBool)).toEqual([undefined, undefined, undefined, undefined])
  })
})
