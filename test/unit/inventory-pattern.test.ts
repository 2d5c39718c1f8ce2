import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  groupHosts,
  InventoryError,
  loadInventory,
  NoHostsMatchedError,
  selectHosts,
  splitPattern,
  type Inventory,
} from '../../src/inventory/index.ts'
import { globToRegExp } from '../../src/inventory/pattern.ts'
import { FIXTURES, tree } from '../fixtures/inventory/tree.ts'

let inv: Inventory
beforeAll(async () => {
  inv = await loadInventory([join(FIXTURES, 'patterns.ini')])
})

const names = (pattern: string | string[], opts = {}): string[] => selectHosts(inv, pattern, opts).map((h) => h.name)
const ALL = ['lonely', 'gw', 'web1', 'web2', 'web10', 'db1', 'db2', 'stg-db', '10.0.0.5', '2001:db8::7']

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
  // Sets checked against `ansible -i patterns.ini PATTERN --list-hosts`; orch returns inventory order.
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
    ['db,web', ['web1', 'web2', 'web10', 'db1', 'db2']], // inventory order, not pattern order
    ['db1,gw,db1', ['gw', 'db1']],
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
    expect(warnings).toEqual(['could not match supplied host pattern, ignoring: nope', 'could not match supplied host pattern, ignoring: nada'])
  })

  it('a pattern that matches nothing is a NoHostsMatchedError (an InventoryError) naming it', () => {
    let err: unknown
    try {
      names('nope*')
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(NoHostsMatchedError)
    expect(err).toBeInstanceOf(InventoryError)
    expect((err as Error).message).toMatch(/^no hosts matched pattern 'nope\*' \(inventory: 10 hosts; groups: web, db, prod, staging, edge\)$/)
  })

  it('a subscript out of range is an error', () => {
    expect(() => names('web[5]')).toThrow("no hosts matched the subscripted pattern 'web[5]'")
    expect(() => names('web[12]')).toThrow(NoHostsMatchedError)
  })

  it('an invalid regex is an InventoryError', () => {
    expect(() => names('~web(')).toThrow(/invalid host pattern '~web\('/)
  })

  it('--limit intersects with the pattern', () => {
    expect(names('prod', { limit: 'web*:!web10' })).toEqual(['web1', 'web2'])
    expect(names('all', { limit: '' })).toEqual(ALL) // an empty limit is no limit
    expect(() => names('db', { limit: 'web1' })).toThrow("no hosts matched pattern 'db' with --limit 'web1'")
  })

  it('--limit @file reads patterns from a file, one per line', async () => {
    const dir = await tree({ 'retry': 'db1\n# a comment\n\nweb2\nstaging:!stg-db\n', empty: '' })
    expect(names('prod', { limit: `@${join(dir, 'retry')}` })).toEqual(['web2', 'db1'])
    expect(names('all', { limit: '@retry', cwd: dir })).toEqual(['web2', 'db1'])
    expect(() => names('all', { limit: '@empty', cwd: dir })).toThrow(NoHostsMatchedError)
    expect(() => names('all', { limit: '@missing', cwd: dir })).toThrow(/cannot read host list .*missing: ENOENT/)
  })

  it('groupHosts lists a group with its descendants in inventory order', () => {
    expect(groupHosts(inv, 'prod').map((h) => h.name)).toEqual(['gw', 'web1', 'web2', 'web10', 'db1', 'db2'])
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
