import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadInventory } from '../../src/inventory/index.ts'
import { ANSIBLE_GROUP_PRECEDENCE } from '../../src/inventory/vars.ts'
import { FIXTURES, tree } from '../fixtures/inventory/tree.ts'

const P = join(FIXTURES, 'precedence')

describe('variable precedence', () => {
  // test/fixtures/inventory/precedence sets v<N> at every level 1..N, so v<N> must come from level N:
  // each row proves level N beats every level below it.
  const levels: Array<[string, string, string]> = [
    ['v1', 'L1', '[all:vars] in the inventory file'],
    ['v2', 'L2', '[web:vars] in the inventory file'],
    ['v3', 'L3', 'group_vars/all.yml beside the inventory'],
    ['v4', 'L4', 'group_vars/all.yml beside the playbook'],
    ['v5', 'L5', 'group_vars/web.yml beside the inventory'],
    ['v6', 'L6', 'group_vars/web.yml beside the playbook'],
    ['v7', 'L7', 'inline host vars in the inventory file'],
    ['v8', 'L8', 'host_vars/h1.yml beside the inventory'],
    ['v9', 'L9', 'host_vars/h1.yml beside the playbook'],
    ['v10', 'L10', 'extra vars (-e)'],
  ]
  const load = () => loadInventory([join(P, 'inventory/hosts')], { playbookDir: join(P, 'playbook'), extraVars: { v10: 'L10' } })

  it.each(levels)('%s = %s: %s wins over every lower level', async (name, value) => {
    const inv = await load()
    expect(inv.hosts.get('h1')!.vars[name]).toBe(value)
  })

  it('a host without host-level vars gets the highest group level', async () => {
    const inv = await load()
    expect(inv.hosts.get('h2')!.vars).toEqual({
      v1: 'L1', v2: 'L2', v3: 'L3', v4: 'L4', v5: 'L5', v6: 'L6', v7: 'L6', v8: 'L6', v9: 'L6', v10: 'L10',
    })
  })

  it('without a playbook dir, its group_vars/host_vars do not apply', async () => {
    const inv = await loadInventory([join(P, 'inventory/hosts')])
    expect(inv.hosts.get('h1')!.vars).toMatchObject({ v4: 'L3', v6: 'L5', v9: 'L8', v10: 'L8' })
  })

  it('the group steps can be reordered (ANSIBLE_PRECEDENCE)', async () => {
    expect(ANSIBLE_GROUP_PRECEDENCE).toEqual([
      'all_inventory', 'groups_inventory', 'all_plugins_inventory', 'all_plugins_play', 'groups_plugins_inventory', 'groups_plugins_play',
    ])
    // "all" group vars first (inventory, then files), then the other groups: [web:vars] now beats group_vars/all.
    const inv = await loadInventory([join(P, 'inventory/hosts')], {
      playbookDir: join(P, 'playbook'),
      groupPrecedence: ['all_inventory', 'all_plugins_inventory', 'all_plugins_play', 'groups_inventory', 'groups_plugins_inventory', 'groups_plugins_play'],
    })
    expect(inv.hosts.get('h2')!.vars).toMatchObject({ v2: 'L2', v3: 'L2', v4: 'L2', v5: 'L5' })
  })

  it('groups merge by depth, then ansible_group_priority, then name', async () => {
    const inv = await loadInventory([join(FIXTURES, 'groups.ini')])
    const h1 = inv.hosts.get('h1')!.vars
    const h2 = inv.hosts.get('h2')!.vars
    expect(h1.depth_wins).toBe('leaf') // top(1) < mid(2) < leaf(3): children override parents
    expect(h1.name_wins).toBe('zeta') // alpha and zeta both depth 1: later name wins
    expect(h2.name_wins).toBe('prio') // prio (priority 5) beats zeta (1) at the same depth
    expect(h2.deep_beats_priority).toBe('leaf') // depth comes before priority
    expect(h2).not.toHaveProperty('ansible_group_priority')
    expect(inv.groups.get('prio')!.priority).toBe(5)
    expect(inv.groups.get('leaf')!.depth).toBe(3)
  })

  it('merging replaces whole values (no deep merge of dicts)', async () => {
    const dir = await tree({
      'hosts.yml': 'all:\n  vars: { cfg: { a: 1, b: 2 } }\n  children:\n    g:\n      hosts: { h: }\n      vars: { cfg: { a: 9 } }\n',
    })
    const inv = await loadInventory([join(dir, 'hosts.yml')])
    expect(inv.hosts.get('h')!.vars.cfg).toEqual({ a: 9 })
  })

  it('extra vars win over everything and are copied per host', async () => {
    const extra = { mtu: 1234, nested: { k: 'v' } }
    const inv = await loadInventory([join(FIXTURES, 'basic.ini')], { extraVars: extra })
    for (const h of inv.hosts.values()) expect(h.vars.mtu).toBe(1234)
    ;(inv.hosts.get('gw')!.vars.nested as { k: string }).k = 'changed'
    expect(extra.nested.k).toBe('v')
    expect(inv.hosts.get('bastion')!.vars.nested).toEqual({ k: 'v' })
  })
})

describe('group_vars/ and host_vars/ files', () => {
  const V = join(FIXTURES, 'varsfiles')

  it('reads NAME (no extension) first and then stops: all.yml beside it is not read', async () => {
    const inv = await loadInventory([join(V, 'hosts.yml')])
    expect(inv.hosts.get('w1')!.vars.from_all).toBe('bare file')
    expect(inv.hosts.get('w1')!.vars).not.toHaveProperty('shadowed')
  })

  it('merges a group_vars/NAME/ directory in lexical order, recursing, skipping hidden/backup/other files', async () => {
    const inv = await loadInventory([join(V, 'hosts.yml')])
    // 01-base.yml, 02-override.yaml, 10-late.json, nested/00.yml; not .hidden.yml, backup.yml~, notes.txt
    expect(inv.hosts.get('w2')!.vars).toEqual({ from_all: 'bare file', a: 1, b: 'nested', list: [1, 2], c: 'json', e: 'nested' })
  })

  it('reads .json group vars and host_vars files and directories', async () => {
    const inv = await loadInventory([join(V, 'hosts.yml')])
    expect(inv.hosts.get('d1')!.vars).toEqual({ from_all: 'bare file', engine: 'postgres', port: 5432, disk: 'ssd', role: 'standby' })
    expect(inv.hosts.get('w1')!.vars).toMatchObject({ role: 'primary', become: true })
  })

  it('shows group_vars in Group.vars', async () => {
    const inv = await loadInventory([join(V, 'hosts.yml')])
    expect(inv.groups.get('db')!.vars).toEqual({ engine: 'postgres', port: 5432 })
  })

  it('a vars file of the wrong shape or bad YAML names the file and line', async () => {
    const dir = await tree({ hosts: '[g]\nh\n', 'group_vars/g.yml': '- a\n- b\n' })
    await expect(loadInventory([join(dir, 'hosts')])).rejects.toThrow(/group_vars\/g\.yml:1: a vars file must contain a mapping, got a list/)
    const dir2 = await tree({ hosts: '[g]\nh\n', 'host_vars/h.yml': 'a: 1\nb: [\n' })
    await expect(loadInventory([join(dir2, 'hosts')])).rejects.toThrow(/host_vars\/h\.yml:3: invalid YAML/)
  })
})

describe('inventory sources', () => {
  it('a directory: files in lexical order, subdirectories, .ini skipped with a warning, its own group_vars', async () => {
    const inv = await loadInventory([join(FIXTURES, 'dir')])
    expect([...inv.hosts.keys()]).toEqual(['w1', 'w2', 'w3', 'd1', 'd2'])
    expect(inv.groups.has('ignored')).toBe(false)
    expect(inv.warnings?.some((w) => w.includes('hosts.ini'))).toBe(true)
    expect(inv.hosts.get('w3')!.vars).toEqual({ in_dir: true, from_sub: 1 })
    expect(inv.groups.get('db')!.hosts).toEqual(['d1', 'd2'])
    expect(inv.sources.map((s) => s.slice(join(FIXTURES, 'dir').length + 1))).toEqual(['01-static', '02-extra.yml', 'sub/03-nested'])
  })

  it('several -i merge in order: later host vars win, groups combine', async () => {
    const dir = await tree({
      'a/hosts': '[web]\nw1 x=a\n[web:vars]\ng=a\n',
      'a/group_vars/web.yml': 'f: a\n',
      'b/hosts.yml': 'web:\n  hosts:\n    w1: { x: b }\n    w2:\n  vars: { g: b }\n',
      'b/group_vars/web.yml': 'f: b\n',
    })
    const inv = await loadInventory([join(dir, 'a/hosts'), join(dir, 'b/hosts.yml')])
    expect(inv.groups.get('web')!.hosts).toEqual(['w1', 'w2'])
    expect(inv.hosts.get('w1')!.vars).toEqual({ x: 'b', g: 'b', f: 'b' })
    expect(inv.sources).toHaveLength(2)
  })

  it('a comma-separated host list', async () => {
    const inv = await loadInventory(['10.0.0.1,web1:2222,'])
    expect([...inv.hosts.keys()]).toEqual(['10.0.0.1', 'web1'])
    expect(inv.hosts.get('web1')!.vars).toEqual({ ansible_port: 2222 })
    expect(inv.groups.get('ungrouped')!.hosts).toEqual(['10.0.0.1', 'web1'])
  })

  it('warns about a host and a group with the same name', async () => {
    const dir = await tree({ hosts: '[web]\nweb\n' })
    const inv = await loadInventory([join(dir, 'hosts')])
    expect(inv.warnings).toEqual(["found both a group and a host named 'web'"])
  })
})
