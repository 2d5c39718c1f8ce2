/**
 * Host patterns against Ansible's own InventoryManager (test/helpers/ansible_patterns.py): for each
 * inventory and each pattern (with and without --limit), the same hosts in the same order, or the same
 * error. Ansible walks groups below a group's children through a Python set, so where two groups of one
 * level both have children its order there is arbitrary (it changes from run to run): for such
 * inventories only the sets are compared (walkIsOrdered says which).
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { HostPatternError, loadInventory, matchHosts, type Inventory } from '../../src/inventory/index.ts'
import { ansibleEnv, ansiblePatterns, HAVE_ANSIBLE, SKIP_REASON, type PatternAnswer, type PatternCase } from '../helpers/ansible.ts'
import { tree } from '../fixtures/inventory/tree.ts'

const INVENTORIES: Record<string, Record<string, string>> = {
  // Children listed before their hosts are defined; a group's own hosts before its children's.
  'nested.ini': {
    'hosts': `lone1
[db]
d1
d2
[web]
w[1:3]
[top:children]
web
db
[top]
t1
[edge]
e1 ansible_host=198.18.0.1
w2
[db:children]
dbreplica
[dbreplica]
r1
d1
`,
  },
  'ranges.yml': {
    'hosts.yml': `all:
  hosts:
    solo:
  children:
    southeast:
      children:
        atlanta:
          hosts:
            host[01:03]:
        raleigh:
          hosts:
            host[a:c]x:
            host02:
      hosts:
        se-gw:
    northwest:
      hosts:
        nw[1:9:4]:
`,
  },
  // Two groups of one level with children: Ansible's order there is arbitrary, so sets only.
  'unordered.ini': {
    'hosts': `[web]
w1
[db]
d1
[mq]
m1
[prod:children]
mq
[staging:children]
db
[qa:children]
web
`,
  },
  // An explicit localhost-named host is the one every localhost name gets (InventoryData.localhost).
  'local.ini': {
    'hosts': `[ctl]
127.0.0.1
[web]
w1
w2
`,
  },
  // Nothing but the implicit localhost.
  'empty.ini': { 'hosts': '' },
}

const PATTERNS = [
  // Ansible's implicit localhost (first, so both sides make it under the same name).
  'localhost', '127.0.0.1', '::1', 'localhost:web', 'web:localhost', 'localhost[0]', 'all:!localhost', 'web:&localhost',
  'local*', '~local', 'localhost,nomatch',
  'all', '*', 'ungrouped', 'top', 'db', 'web', 'edge', 'dbreplica', 'southeast', 'atlanta', 'raleigh', 'northwest',
  'db:web', 'web:db', 'web,db', 'db,web,top', 'top:!db', '!db:top', 'top:&edge', '&edge:top', '!web', '&web',
  'top:!web:&db', 'web:&edge:!w2', 'w*', 'w?', '*1', 'host0*', 'host[ab]x', 'w[!1]', '~w\\d', '~(d|w)1', '~.*x$',
  'top[0]', 'top[-1]', 'top[1:3]', 'top[2:]', 'web[0]', 'db[1]', 'southeast[0]', 'southeast[-1]', 'southeast[1:2]',
  'atlanta[0]:raleigh[0]', 'all[0]', 'all[-1]', 'w*[0]', 'top[9]', 'top[0-1]', 'nomatch', 'nomatch:web', 'd1', 'd1:w1:d1',
  'e1:edge', 'mq:db:web', 'prod', 'qa:staging', '198.18.0.1', 'lone1', 'solo', 'host02:host01', 'nw5', '', ' web , db ',
]
const LIMITS = [undefined, 'localhost', 'web', 'top:!w1', 'nomatch', 'd1,w2,t1', '@empty', '@lines', '@missing', 'w*[1]', '&edge', '']

const CASES: PatternCase[] = PATTERNS.flatMap((pattern) => LIMITS.map((limit) => (limit === undefined ? { pattern } : { pattern, limit })))
const LIMIT_FILES = { empty: '', lines: 'w1\n\n  d2  \nnomatch\n# not a comment\nt1,d1\n' }

/** Does Ansible's group walk have one order here: never two groups of one level with children to add? */
function walkIsOrdered(inv: Inventory): boolean {
  for (const g of inv.groups.values()) {
    const seen = new Set([g.name, ...g.children])
    let level = [g.name, ...g.children]
    while (level.length) {
      const adding = level.filter((n) => inv.groups.get(n)!.children.some((c) => !seen.has(c)))
      if (adding.length > 1) return false
      const next = level.flatMap((n) => inv.groups.get(n)!.children.filter((c) => !seen.has(c)))
      next.forEach((c) => seen.add(c))
      level = [...new Set(next)]
    }
  }
  return true
}

function ours(inv: Inventory, c: PatternCase, cwd: string): PatternAnswer {
  try {
    return { hosts: matchHosts(inv, c.pattern, { limit: c.limit, cwd }).map((h) => h.name) }
  } catch (e) {
    if (e instanceof HostPatternError) return { error: e.message }
    throw e
  }
}

describe.skipIf(!HAVE_ANSIBLE)(`host patterns as Ansible's InventoryManager${SKIP_REASON}`, () => {
  const dirs: Record<string, string> = {}
  beforeAll(async () => {
    for (const [name, files] of Object.entries(INVENTORIES)) dirs[name] = await tree({ ...files, ...LIMIT_FILES })
  })

  it.each(Object.keys(INVENTORIES))('%s: every pattern x limit', async (name) => {
    const dir = dirs[name]
    const source = join(dir, Object.keys(INVENTORIES[name])[0])
    const inv = await loadInventory([source])
    const ordered = walkIsOrdered(inv)
    expect(ordered).toBe(name !== 'unordered.ini') // the test's premise about each inventory
    const { answers } = await ansiblePatterns([source], CASES, dir)
    const mismatches: string[] = []
    CASES.forEach((c, i) => {
      const theirs = answers[i]
      const mine = ours(inv, c, dir)
      // Ansible names the limit file by its path as given; orch by its full path.
      // Without one order, a subscript picks an arbitrary host (then --limit may drop it): not comparable.
      const subscripted = /\[-?\d/.test(c.pattern + (c.limit ?? ''))
      const norm = (a: PatternAnswer): unknown =>
        'error' in a
          ? { error: a.error.replace(/^Unable to find limit file .*/, 'Unable to find limit file') }
          : ordered ? a : subscripted ? 'arbitrary' : [...a.hosts].sort()
      if (JSON.stringify(norm(mine)) !== JSON.stringify(norm(theirs))) {
        mismatches.push(`${JSON.stringify(c)}: orch ${JSON.stringify(mine)} ansible ${JSON.stringify(theirs)}`)
      }
    })
    expect(mismatches).toEqual([])
  })

  it('the ansible CLI agrees with the oracle script (order and limit file)', async () => {
    const dir = dirs['nested.ini']
    const { cwd, env } = ansibleEnv()
    const cli = (args: string[]) => {
      const r = spawnSync('ansible', ['-i', join(dir, 'hosts'), ...args, '--list-hosts'], { cwd, env, encoding: 'utf8' })
      return r.stdout.split('\n').slice(1).map((l) => l.trim()).filter(Boolean)
    }
    const cases: PatternCase[] = [{ pattern: 'db:web' }, { pattern: 'all', limit: `@${join(dir, 'lines')}` }]
    const { answers } = await ansiblePatterns([join(dir, 'hosts')], cases, dir)
    expect(cli(['db:web'])).toEqual((answers[0] as { hosts: string[] }).hosts)
    expect(cli(['all', '-l', `@${join(dir, 'lines')}`])).toEqual((answers[1] as { hosts: string[] }).hosts)
  })
})
