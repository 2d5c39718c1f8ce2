import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { InventoryError, loadInventory } from '../../src/inventory/index.ts'
import { detectFormat } from '../../src/inventory/index.ts'
import { FIXTURES, tree } from '../fixtures/inventory/tree.ts'

async function yamlError(text: string, name = 'hosts.yml'): Promise<InventoryError> {
  const dir = await tree({ [name]: text })
  try {
    await loadInventory([join(dir, name)])
  } catch (e) {
    expect(e).toBeInstanceOf(InventoryError)
    return e as InventoryError
  }
  throw new Error('expected an InventoryError')
}

describe('YAML inventory', () => {
  it('reads basic.yml: nested children, ranges, host:port, a string for hosts', async () => {
    const inv = await loadInventory([join(FIXTURES, 'basic.yml')])
    expect([...inv.hosts.keys()]).toEqual([
      'gw', 'bastion', 'edge1', 'edge2', 'edge3', 'node01', 'node03', 'node05', 'nodea', 'nodeb', 'nodec',
    ])
    expect(inv.groups.get('all')!.children).toEqual(['ungrouped', 'docker_hosts', 'monitoring'])
    expect(inv.groups.get('docker_hosts')!.children).toEqual(['edge', 'core'])
    expect(inv.groups.get('ungrouped')!.hosts).toEqual(['bastion'])
    expect(inv.hosts.get('bastion')!.vars).toEqual({ ansible_port: 2200, ansible_user: 'ops', ntp: 'pool.ntp.org', mtu: 1400 })
    expect(inv.hosts.get('nodeb')!.vars).toEqual({
      ntp: 'pool.ntp.org',
      mtu: 9000,
      docker_subnet: '10.10.0.0/16',
      bridge: 'br0',
      rack: 'r2',
      enabled: true, // `yes`: YAML 1.1, like Ansible
      mode: '0644',
      tags: ['x', 'y'],
    })
    expect(inv.hosts.get('edge2')!.vars.mtu).toBe(1500)
    expect(inv.hosts.get('gw')!.groups).toEqual(['all', 'monitoring'])
  })

  it('gives each host its own copy of shared values', async () => {
    const dir = await tree({ 'h.yml': 'all:\n  vars: { list: [1] }\n  hosts: { a: , b: }\n' })
    const inv = await loadInventory([join(dir, 'h.yml')])
    ;(inv.hosts.get('a')!.vars.list as number[]).push(2)
    expect(inv.hosts.get('b')!.vars.list).toEqual([1])
  })

  it('accepts top-level groups other than all, null groups, aliases and a child listed twice', async () => {
    const dir = await tree({
      'h.yml': [
        'web:',
        '  hosts:',
        '    w1: &common { tier: front }',
        '    w2: *common',
        'empty:',
        'db:',
        '  children:',
        '    web:',
        '  hosts: { d1: }',
      ].join('\n'),
    })
    const inv = await loadInventory([join(dir, 'h.yml')])
    expect(inv.groups.get('all')!.children).toEqual(['ungrouped', 'empty', 'db'])
    expect(inv.groups.get('db')!.children).toEqual(['web'])
    expect(inv.hosts.get('w2')!.vars).toEqual({ tier: 'front' })
    expect(inv.hosts.get('w1')!.groups).toEqual(['all', 'db', 'web'])
  })

  it('an empty YAML file is an empty inventory', async () => {
    const dir = await tree({ 'h.yml': '# nothing yet\n' })
    const inv = await loadInventory([join(dir, 'h.yml')])
    expect(inv.hosts.size).toBe(0)
    expect([...inv.groups.keys()]).toEqual(['all', 'ungrouped'])
  })

  it('detects the format of files without a YAML extension', () => {
    expect(detectFormat('inv/hosts', '# c\nall:\n  hosts:\n')).toBe('yaml')
    expect(detectFormat('inv/hosts', '---\nall: {}\n')).toBe('yaml')
    expect(detectFormat('inv/hosts', 'web: { hosts: { a: } }\n')).toBe('yaml')
    expect(detectFormat('inv/hosts', '; c\n[web]\na\n')).toBe('ini')
    expect(detectFormat('inv/hosts', 'a ansible_host=1.2.3.4\n')).toBe('ini')
    expect(detectFormat('inv/hosts', 'web1:2222 x=1\n')).toBe('ini')
    expect(detectFormat('inv/hosts.cfg', '[web]\n')).toBe('ini')
    expect(detectFormat('inv/x.ini', 'all:\n')).toBe('ini')
    expect(detectFormat('inv/x.yaml', '[web]\n')).toBe('yaml')
  })
})

describe('YAML errors name the key path and line', () => {
  const cases: Array<[string, string, number | undefined, RegExp]> = [
    ['hosts as a list', 'all:\n  children:\n    web:\n      hosts:\n        - a\n', 5, /all\.children\.web\.hosts: hosts must be a mapping of host names .* got a list/],
    ['a group that is a list', 'all:\n  children:\n    web: [a, b]\n', 3, /all\.children\.web: a group must be a mapping/],
    ['an unknown key', 'all:\n  children:\n    web:\n      host:\n        a:\n', 4, /all\.children\.web\.host: unknown key in group 'web'/],
    ['vars as a list', 'all:\n  vars:\n    - a\n', 3, /all\.vars: vars must be a mapping, got a list/],
    ['vars as a string', 'all:\n  vars: x=1\n', 2, /all\.vars: vars must be a mapping, got string "x=1"/],
    ['host vars as a string', 'all:\n  hosts:\n    a: x=1\n', 3, /all\.hosts\.a: host vars must be a mapping/],
    ['a numeric host name', 'all:\n  hosts:\n    10:\n', 3, /all\.hosts: keys must be strings, got number 10/],
    ['a bad range', 'g:\n  hosts:\n    n[01:100]:\n', 3, /g\.hosts: host range .* same width/],
    ['a top-level list', '- all\n', 1, /a YAML inventory must be a mapping of groups, got a list/],
    ['a plugin config', 'plugin: aws_ec2\n', 1, /plugin configuration files .* not supported/],
    ['a syntax error', 'all:\n  hosts:\n    a: {\n', 4, /invalid YAML/],
    // Stricter than Ansible (which warns and keeps the last); the yaml package points at the mapping.
    ['a duplicate key', 'all:\n  hosts:\n    a:\n    a:\n', 3, /invalid YAML: Map keys must be unique/],
    // b is parsed (with its child a) before a gets b as a child: that edge closes the cycle.
    ['a cycle', 'a:\n  children:\n    b:\n      children:\n        a:\n', 3, /cycle in group children: a -> b -> a/],
  ]
  it.each(cases)('%s', async (_name, text, line, message) => {
    const e = await yamlError(text)
    expect(e.message).toMatch(message)
    expect(e.file).toMatch(/hosts\.yml$/)
    expect(e.line).toBe(line)
  })
})

describe('YAML scalars resolve like PyYAML (Ansible), not plain YAML 1.1', () => {
  it('reads scalars.yml', async () => {
    const inv = await loadInventory([join(FIXTURES, 'scalars.yml')])
    // Expected values: what ansible-inventory --list prints for this file.
    expect(inv.hosts.get('s1')!.vars).toEqual({
      b_yes: true,
      b_on: true,
      b_off: false,
      s_y: 'y',
      s_n: 'n',
      i_dec: 42,
      i_oct: 493,
      s_08: '08',
      i_hex: 31,
      f_dot: 1.5,
      s_exp: '1e3',
      f_exp: 1000,
      i_sexa: 90,
      mac: '02:42:10:00:00:02',
      mac2: '00:11:22:33:44:55',
      date: '2024-01-15',
      n_tilde: null,
      s_dot: '.',
      ip: '10.0.0.1',
      ver: 1.1,
    })
  })
})
