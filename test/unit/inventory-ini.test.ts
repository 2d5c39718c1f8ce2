import { symlink } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { expandHostRange, InventoryError, loadInventory } from '../../src/inventory/index.ts'
import { iniValue } from '../../src/inventory/literal.ts'
import { shlexSplit } from '../../src/inventory/shlex.ts'
import { FIXTURES, tree } from '../fixtures/inventory/tree.ts'

/** Loads one INI text from a temp file; returns the inventory and the file path. */
async function ini(text: string) {
  const dir = await tree({ hosts: text })
  const file = join(dir, 'hosts')
  return { inv: await loadInventory([file]), file }
}

async function iniError(text: string): Promise<InventoryError> {
  const dir = await tree({ hosts: text })
  try {
    await loadInventory([join(dir, 'hosts')])
  } catch (e) {
    expect(e).toBeInstanceOf(InventoryError)
    return e as InventoryError
  }
  throw new Error('expected an InventoryError')
}

describe('INI value typing (Python ast.literal_eval, like Ansible)', () => {
  // Expected values produced by Python 3.11's ast.literal_eval (tuples/sets → lists, failures → the text).
  const table: Record<string, unknown> = {
    '2222': 2222,
    True: true,
    False: false,
    None: null,
    true: 'true',
    yes: 'yes',
    '0644': '0644',
    '00': 0,
    '0x1F': 31,
    '0o17': 15,
    '0b101': 5,
    '1_000': 1000,
    '1.5': 1.5,
    '.5': 0.5,
    '5.': 5,
    '1e3': 1000,
    '-3': -3,
    '+4': 4,
    '- 5': -5,
    "'quoted'": 'quoted',
    '"dq"': 'dq',
    "'a' 'b'": 'ab',
    "[1, 'two', [3]]": [1, 'two', [3]],
    '(1, 2)': [1, 2],
    '(1)': 1,
    '()': [],
    '1, 2': [1, 2],
    "{'k': 1, 2: [3]}": { k: 1, '2': [3] },
    '{1, 2}': [1, 2],
    '{}': {},
    'hello world': 'hello world',
    '8080 # c': 8080,
    'web # c': 'web # c',
    "'x' # c": 'x',
    '': '',
    '/srv/data': '/srv/data',
    '10.0.0.1': '10.0.0.1',
    '1.2.3': '1.2.3',
    "r'a\\nb'": 'a\\nb',
    "'a\\nb'": 'a\nb',
    "'\\x41\\u00e9'": 'Aé',
    "'unterminated": "'unterminated",
    '1j': '1j',
    '1+2j': '1+2j',
    '...': '...',
    '--5': '--5',
    '1 2': '1 2',
    '[1, 2': '[1, 2',
    "f'x'": "f'x'",
    "b'bytes'": 'bytes',
    "'\\d'": '\\d',
    "{'a': 1,}": { a: 1 },
    '[,]': '[,]',
    '99999999999999999999': '99999999999999999999',
    '1__0': '1__0',
    '1_': '1_',
    '0_0': 0,
  }
  it.each(Object.entries(table))('%j → %j', (text, expected) => {
    expect(iniValue(text)).toEqual(expected)
  })
})

describe('host line splitting (Python shlex.split, comments=True)', () => {
  // Expected tokens produced by Python 3.11's shlex.split(line, comments=True).
  const table: Array<[string, string[]]> = [
    ['h a=1 b=2', ['h', 'a=1', 'b=2']],
    [`h foo="a b" bar='c d'`, ['h', 'foo=a b', 'bar=c d']],
    ['h e=f\\ g', ['h', 'e=f g']],
    ['h x="a\\"b\\n"', ['h', 'x=a"b\\n']],
    ["h y='a\\b'", ['h', 'y=a\\b']],
    ['h z=a"b c"d', ['h', 'z=ab cd']],
    ['h a=b#c x=1', ['h', 'a=b']],
    ['h # comment', ['h']],
    [`h empty="" e2=''`, ['h', 'empty=', 'e2=']],
    ['h  \t  spaced=1   ', ['h', 'spaced=1']],
    [`h q="it's"`, ['h', "q=it's"]],
    ['h u=ü', ['h', 'u=ü']],
  ]
  it.each(table)('%j', (line, tokens) => {
    expect(shlexSplit(line)).toEqual(tokens)
  })
  it('rejects unbalanced quotes and a trailing backslash', () => {
    expect(() => shlexSplit('h x="open')).toThrow('No closing quotation')
    expect(() => shlexSplit("h y='open")).toThrow('No closing quotation')
    expect(() => shlexSplit('h z=\\')).toThrow('No escaped character')
  })
})

describe('host ranges', () => {
  it('expands numeric ranges keeping leading zeros', () => {
    expect(expandHostRange('node[01:03]')).toEqual(['node01', 'node02', 'node03'])
    expect(expandHostRange('node[8:11].lab')).toEqual(['node8.lab', 'node9.lab', 'node10.lab', 'node11.lab'])
    expect(expandHostRange('n[001:010:4]')).toEqual(['n001', 'n005', 'n009'])
  })
  it('expands letter ranges, strides, an omitted start and several ranges', () => {
    expect(expandHostRange('db-[a:d]')).toEqual(['db-a', 'db-b', 'db-c', 'db-d'])
    expect(expandHostRange('x[a:f:2]')).toEqual(['xa', 'xc', 'xe'])
    expect(expandHostRange('h[:2]')).toEqual(['h0', 'h1', 'h2'])
    expect(expandHostRange('r[1:2]n[a:b]')).toEqual(['r1na', 'r1nb', 'r2na', 'r2nb'])
  })
  it('rejects bad ranges with the reason', () => {
    expect(() => expandHostRange('n[1]')).toThrow('must be begin:end or begin:end:step')
    expect(() => expandHostRange('n[1:]')).toThrow('has no end value')
    expect(() => expandHostRange('n[01:100]')).toThrow('same width')
    expect(() => expandHostRange('n[5:1]')).toThrow('is empty')
    expect(() => expandHostRange('n[a:5]')).toThrow('numbers (01:20) or single letters')
    expect(() => expandHostRange('n[1:3:0]')).toThrow('step must be a positive integer')
    expect(() => expandHostRange('n[f:a]')).toThrow('begin must not come after end')
    expect(() => expandHostRange('n[1:3')).toThrow("unbalanced '['")
  })
})

describe('INI inventory', () => {
  it('reads basic.ini: groups, ungrouped, children used before defined, ranges, ports', async () => {
    const inv = await loadInventory([join(FIXTURES, 'basic.ini')])
    expect([...inv.hosts.keys()]).toEqual([
      'gw', 'bastion', 'edge1', 'edge2', 'edge3', 'node01', 'node03', 'node05', 'nodea', 'nodeb', 'nodec',
    ])
    expect(inv.groups.get('ungrouped')!.hosts).toEqual(['bastion']) // gw moved to [monitoring]
    expect(inv.groups.get('all')!.children).toEqual(['ungrouped', 'docker_hosts', 'monitoring'])
    expect(inv.groups.get('docker_hosts')!.children).toEqual(['edge', 'core'])
    expect(inv.groups.get('core')!.parents).toEqual(['docker_hosts'])
    expect(inv.groups.get('core')!.depth).toBe(2)
    expect(inv.hosts.get('node01')!.groups).toEqual(['all', 'core', 'docker_hosts'])
    expect(inv.hosts.get('gw')!.groups).toEqual(['all', 'monitoring'])
    expect(inv.hosts.get('bastion')!.groups).toEqual(['all', 'ungrouped'])
    expect(inv.hosts.get('bastion')!.vars).toMatchObject({ ansible_port: 2200, ansible_user: 'ops' })
    expect(inv.hosts.get('gw')!.vars).toMatchObject({ ansible_host: '198.18.0.1', ansible_port: 2222, role: 'edge router' })
    // edge3 from the range, then again with its own address: the later line wins.
    expect(inv.hosts.get('edge3')!.vars.ansible_host).toBe('198.18.1.3')
    expect(inv.hosts.get('edge3')!.vars.weight).toBe(3)
    expect(inv.hosts.get('edge3')!.source).toMatch(/basic\.ini:12$/)
  })

  it('types inline and :vars values like Ansible', async () => {
    const inv = await loadInventory([join(FIXTURES, 'basic.ini')])
    const v = inv.hosts.get('nodeb')!.vars
    expect(v).toMatchObject({
      rack: 'r2',
      enabled: true,
      off: 'false', // not a Python literal
      ratio: 0.5,
      tags: ['x', 'y'],
      literal: '0644',
      mode: '0644',
      hexa: 31,
      // [core:vars]
      mtu: 9000,
      bridge: 'br0',
      motd: 'hello world',
      quoted: 'spaced value',
      flag: false,
      port_str: '22',
      after_comment: 42,
      not_literal: 'web # a comment that stays',
      // [docker_hosts:vars], [all:vars]
      docker_subnet: '10.10.0.0/16',
      ntp: 'pool.ntp.org',
    })
  })

  it('host lines before any section are ungrouped; [all] hosts too', async () => {
    const { inv } = await ini('a\n[all]\nb\n[g]\nc\n')
    expect(inv.groups.get('ungrouped')!.hosts).toEqual(['a', 'b'])
    expect(inv.groups.get('all')!.hosts).toEqual(['b'])
    expect(inv.hosts.get('c')!.groups).toEqual(['all', 'g'])
  })

  it('handles a chain of forward references and [g:vars] before [g]', async () => {
    const { inv } = await ini('[a:children]\nb\n[b:vars]\nx=1\n[b:children]\nc\n[c]\nh\n')
    expect(inv.hosts.get('h')!.groups).toEqual(['all', 'a', 'b', 'c'])
    expect(inv.hosts.get('h')!.vars.x).toBe(1)
    expect(inv.groups.get('all')!.children).toEqual(['ungrouped', 'a'])
  })

  it('accepts IPv6 addresses, [v6]:port and CRLF line ends', async () => {
    const { inv } = await ini('[v6]\n2001:db8::1\n[2001:db8::2]:2200 x=1\r\n10.0.0.1:22\r\n')
    expect([...inv.hosts.keys()]).toEqual(['2001:db8::1', '2001:db8::2', '10.0.0.1'])
    expect(inv.hosts.get('2001:db8::2')!.vars).toEqual({ ansible_port: 2200, x: 1 })
    expect(inv.hosts.get('2001:db8::1')!.vars).toEqual({})
  })
})

describe('INI errors name file and line', () => {
  const cases: Array<[string, string, number, RegExp]> = [
    ['bad range', '[g]\nok\nnode[1:]\n', 3, /host range "\[1:\]" has no end value/],
    ['range width', '\n\n[g]\nn[01:100]\n', 4, /same width/],
    ['unbalanced quotes', '[g]\nh1 x="open\n', 2, /no closing quotation/],
    ['unknown section type', '[g]\nh\n[g:hosts2]\n', 3, /section \[g:hosts2\] has unknown type 'hosts2'/],
    ['bad section header', '[my group]\n', 1, /invalid section header/],
    ['children naming a host', 'h1\n[g:children]\nh1\n', 3, /\[g:children\] names 'h1', which is a host, not a group/],
    ['children naming a host defined later', '[g:children]\nh1\n[x]\nh1\n', 2, /names 'h1', which is a host/],
    ['children naming nothing', '[g:children]\nnope\n', 2, /\[g:children\] includes undefined group 'nope'/],
    ['vars of an undeclared group', '[g]\nh\n[ghost:vars]\nx=1\n', 3, /\[ghost:vars\] is for group 'ghost', which is never declared/],
    ['a var without =', '[g:vars]\nnovalue\n[g]\n', 2, /expected key=value in \[g:vars\]/],
    ['a host word without =', '[g]\nh1 x=1 oops\n', 2, /expected key=value host variable, got 'oops'/],
    ['a trailing colon', '[g]\nh1:\n', 2, /trailing ':'/],
    ['a YAML marker in INI', '[g]\n---\n', 2, /invalid host '---' \(is this a YAML file\?\)/],
    ['a bad group priority', '[g]\nh\n[g:vars]\nansible_group_priority=high\n', 4, /ansible_group_priority must be an integer/],
  ]
  it.each(cases)('%s', async (_name, text, line, message) => {
    const e = await iniError(text)
    expect(e.message).toMatch(message)
    expect(e.line).toBe(line)
    expect(e.file).toMatch(/hosts$/)
    expect(e.message).toContain(`hosts:${line}: `)
  })

  it('a cycle in children names the groups', async () => {
    const e = await iniError('[a:children]\nb\n[b:children]\nc\n[c:children]\na\n')
    expect(e.message).toMatch(/cycle in group children: c -> a -> b -> c/)
    expect(e.line).toBe(6)
  })

  it('a group cannot be its own child', async () => {
    const e = await iniError('[a:children]\na\n')
    expect(e.message).toMatch(/group 'a' cannot be a child of itself/)
  })

  it('a missing source is an error', async () => {
    await expect(loadInventory(['/nonexistent/inventory'])).rejects.toThrow('inventory source not found: /nonexistent/inventory')
  })
})

describe('file handling', () => {
  it('ignores a UTF-8 byte order mark', async () => {
    const { inv } = await ini('\uFEFF[web]\nw1\n')
    expect(inv.groups.get('web')!.hosts).toEqual(['w1'])
  })

  it('an unreadable file in an inventory directory is an InventoryError naming it', async () => {
    const dir = await tree({ hosts: '[web]\nw1\n' })
    await symlink(join(dir, 'nowhere'), join(dir, 'inv-link')) // dangling
    const err = await loadInventory([dir]).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InventoryError)
    expect((err as InventoryError).file).toBe(join(dir, 'inv-link'))
    expect((err as Error).message).toMatch(/inv-link: cannot read: ENOENT$/)
  })
})
