import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  groupHosts,
  HostPatternError,
  InventoryError,
  loadInventory,
  NoHostsMatchedError,
  selectHosts,
  splitPattern,
  type Inventory,
} from '../../src/inventory/index.ts'
import { globToRegExp } from '../../src/inventory/pattern.ts'
import { exitCodeForError } from '../../src/errors.ts'
import { FIXTURES, tree } from '../fixtures/inventory/tree.ts'

let inv: Inventory
beforeAll(async () => {
  inv = await loadInventory([join(FIXTURES, 'patterns.ini')])
})

const names = (pattern: string | string[], opts = {}): string[] => selectHosts(inv, pattern, opts).map((h) => h.name)
// Ansible's group walk: all's children (ungrouped, prod, staging, edge) and their hosts, then prod's children.
const ALL = ['lonely', 'gw', 'web2', 'stg-db', '10.0.0.5', '2001:db8::7', 'web1', 'web10', 'db1', 'db2']

describe('splitPattern', () => {
  it('splits like Ansible', () => {
    expect(splitPattern('a,b[1], c[2:3] , d')).toEqual(['a', 'b[1]', 'c[2:3]', 'd'])
    expect(splitPattern('web:&prod:!db1')).toEqual(['web', '&prod', '!db1'])
    expect(splitPattern('node[1:3]')).toEqual(['node[1:3]'])
    expect(splitPattern('2001:db8::1')).toEqual(['2001:db8::1'])
    expect(splitPattern('~web.*:db')).toEqual(['~web.*', 'db'])
    expect(splitPattern(['web', 'db,gw'])).toEqual(['web', 'db', 'gw'])
    expect(splitPattern('')).toEqual([])
  })
})

describe('selectHosts', () => {
  // Checked against `ansible -i patterns.ini PATTERN --list-hosts` (hosts and order).
  const table: Array<[string, string[]]> = [
    ['all', ALL],
    ['*', ALL],
    ['web', ['web1', 'web2', 'web10']],
    ['prod', ['gw', 'web1', 'web2', 'web10', 'db1', 'db2']], // children's hosts too
    ['ungrouped', ['lonely']],
    ['web1', ['web1']],
    ['stg-db', ['stg-db']],
    ['10.0.0.5', ['10.0.0.5']],
    ['2001:db8::7', ['2001:db8::7']],
    ['web:db', ['web1', 'web2', 'web10', 'db1', 'db2']],
    ['db,web', ['db1', 'db2', 'web1', 'web2', 'web10']], // the terms' order
    ['db1,gw,db1', ['db1', 'gw']],
    ['prod:&staging', ['web2']],
    ['prod:!db', ['gw', 'web1', 'web2', 'web10']],
    ['!db:prod', ['gw', 'web1', 'web2', 'web10']], // exclusions apply last, wherever written
    ['&staging:web', ['web2']],
    ['!db', ALL.filter((h) => !['db1', 'db2'].includes(h))], // only ! or &: starts from all
    ['prod:!web:&staging', []],
    ['w*', ['web1', 'web2', 'web10']],
    ['web?', ['web1', 'web2']],
    ['db?', ['db1', 'db2']],
    ['*db*', ['db1', 'db2', 'stg-db', '2001:db8::7']],
    ['web[!1]*', ['web2']], // a glob character class ([12] at the end would be a subscript)
    ['~web\\d$', ['web1', 'web2']],
    ['~(web|db)1', ['web1', 'web10', 'db1']], // re.match: anchored at the start only
    ['web[0]', ['web1']],
    ['web[-1]', ['web10']],
    ['web[1:2]', ['web2', 'web10']],
    ['web[1:]', ['web2', 'web10']],
    ['prod[0]:staging', ['gw', 'web2', 'stg-db']],
  ]
  it.each(table)('%s', (pattern, expected) => {
    if (expected.length === 0) expect(() => names(pattern)).toThrow(NoHostsMatchedError)
    else expect(names(pattern)).toEqual(expected)
  })

  it('returns the Host objects with their vars', () => {
    const [h] = selectHosts(inv, '2001:db8::7')
    expect(h.vars.ansible_port).toBe(22)
    expect(h.groups).toEqual(['all', 'edge'])
  })

  it('warns about a term that matches nothing and keeps the rest', () => {
    const warnings: string[] = []
    expect(names('web1:nope:!nada', { warn: (m: string) => warnings.push(m) })).toEqual(['web1'])
    expect(warnings).toEqual(['Could not match supplied host pattern, ignoring: nope', 'Could not match supplied host pattern, ignoring: nada'])
  })

  it('a pattern that matches nothing is a NoHostsMatchedError (exit 1, as ansible-playbook) naming it', () => {
    let err: unknown
    try {
      names('nope*')
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(NoHostsMatchedError)
    expect(err).not.toBeInstanceOf(InventoryError)
    expect(exitCodeForError(err)).toBe(1)
    expect((err as Error).message).toMatch(/^Specified inventory, host pattern and\/or --limit leaves us with no hosts to target: pattern 'nope\*' \(inventory: 10 hosts; groups: web, db, prod, staging, edge\)$/)
  })

  it('a subscript out of range is an error', () => {
    expect(() => names('web[5]')).toThrow("No hosts matched the subscripted pattern 'web[5]'")
    expect(() => names('web[12]')).toThrow(HostPatternError)
    expect(() => names('web[12]')).not.toThrow(NoHostsMatchedError) // not a play to skip: an error
  })

  it('an invalid regex is an error naming it', () => {
    expect(() => names('~web(')).toThrow(/Invalid host list pattern: ~web\(/)
  })

  it('--limit intersects with the pattern', () => {
    expect(names('prod', { limit: 'web*:!web10' })).toEqual(['web1', 'web2'])
    expect(names('all', { limit: '' })).toEqual(ALL) // an empty limit is no limit
    expect(() => names('db', { limit: 'web1' })).toThrow("no hosts to target: pattern 'db' with --limit 'web1'")
  })

  it('--limit @file: each line is one pattern (no comments, no splitting); an empty file limits nothing', async () => {
    const dir = await tree({ 'retry': 'db1\n# a comment\n\n web2 \nstaging:!stg-db\n', empty: '' })
    expect(names('prod', { limit: `@${join(dir, 'retry')}` })).toEqual(['web2', 'db1'])
    expect(names('all', { limit: '@retry', cwd: dir })).toEqual(['web2', 'db1'])
    expect(names('all', { limit: '@empty', cwd: dir })).toEqual(ALL)
    expect(() => names('all', { limit: '@missing', cwd: dir })).toThrow(/Unable to find limit file .*missing \(ENOENT\)/)
    expect(() => names('all', { limit: '@.', cwd: dir })).toThrow(/must be a file, not a directory/)
  })

  it('groupHosts lists a group with its descendants in Ansible\'s walk order', () => {
    expect(groupHosts(inv, 'prod').map((h) => h.name)).toEqual(['gw', 'web1', 'web2', 'web10', 'db1', 'db2'])
    expect(groupHosts(inv, 'all').map((h) => h.name)).toEqual(ALL)
    expect(groupHosts(inv, 'all')).toHaveLength(10)
    expect(groupHosts(inv, 'nope')).toEqual([])
  })
})

describe('globToRegExp (Python fnmatch.translate)', () => {
  it('translates * ? [seq] [!seq] and escapes the rest', () => {
    expect(globToRegExp('web*').test('web-01')).toBe(true)
    expect(globToRegExp('web*').test('aweb')).toBe(false)
    expect(globToRegExp('n?').test('n1')).toBe(true)
    expect(globToRegExp('n?').test('n12')).toBe(false)
    expect(globToRegExp('n[!1]').test('n2')).toBe(true)
    expect(globToRegExp('n[!1]').test('n1')).toBe(false)
    expect(globToRegExp('a.b').test('axb')).toBe(false)
    expect(globToRegExp('a[').test('a[')).toBe(true)
  })
})
