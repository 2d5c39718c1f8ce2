import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parseExtraVars, splitWords } from '../../src/cli/extraVars.ts'
import { UsageError, exitCodeForError } from '../../src/errors.ts'
import { loadPlaybook } from '../../src/engine/loader.ts'
import { ArgError, PlaybookError } from '../../src/engine/types.ts'
import { InventoryError } from '../../src/inventory/types.ts'
import { runOrch } from '../helpers/cli.ts'

const dir = mkdtempSync(join(tmpdir(), 'orch-cli-test-'))
const indexTs = fileURLToPath(new URL('../../src/index.ts', import.meta.url))
const put = (name: string, text: string) => {
  const p = join(dir, name)
  writeFileSync(p, text)
  return p
}

const orch = (...args: string[]) => runOrch(dir, args)

describe('-e extra vars', () => {
  it('key=value pairs are strings; quotes work; several -e merge, later wins', async () => {
    expect(await parseExtraVars(['a=1 b="two words" c=\'x=y\'', 'a=3', 'empty='])).toEqual({ a: '3', b: 'two words', c: 'x=y', empty: '' })
    expect(splitWords(`a\\ b "c \\"d\\"" 'e'`)).toEqual(['a b', 'c "d"', 'e'])
  })

  it('inline JSON keeps types', async () => {
    expect(await parseExtraVars(['{"n": 1, "list": [1, 2], "o": {"x": true}}'])).toEqual({ n: 1, list: [1, 2], o: { x: true } })
  })

  it('@file reads YAML or JSON relative to cwd', async () => {
    put('vars.yml', 'subnet: 10.1.0.0/16\nmtu: 1450\n')
    put('vars.json', '{"mtu": 9000}')
    expect(await parseExtraVars(['@vars.yml', '@vars.json'], dir)).toEqual({ subnet: '10.1.0.0/16', mtu: 9000 })
  })

  it('rejects what is not key=value, a mapping, or a readable file', async () => {
    await expect(parseExtraVars(['justaword'])).rejects.toThrow(UsageError)
    await expect(parseExtraVars(['1bad=x'])).rejects.toThrow(/not a valid variable name/)
    await expect(parseExtraVars(['[1,2]'])).rejects.toThrow(/expected a mapping/)
    await expect(parseExtraVars(['@nope.yml'], dir)).rejects.toThrow(/cannot read .*nope\.yml: ENOENT/)
    await expect(parseExtraVars(['a="unterminated'])).rejects.toThrow(/unterminated/)
    put('list.yml', '- a\n- b\n')
    await expect(parseExtraVars(['@list.yml'], dir)).rejects.toThrow(/expected a mapping/)
  })
})

describe('exit codes for errors', () => {
  it('bad input is 5, anything else 1', () => {
    expect(exitCodeForError(new UsageError('x'))).toBe(5)
    expect(exitCodeForError(new ArgError('v', 'e', 1))).toBe(5)
    expect(exitCodeForError(new PlaybookError('x', 'f.ts'))).toBe(5)
    expect(exitCodeForError(new InventoryError('x', 'inv', 3))).toBe(5)
    expect(exitCodeForError(new Error('boom'))).toBe(1)
  })
})

describe('playbook loader', () => {
  it('loads a TypeScript playbook (default export, or a list of plays)', async () => {
    const p = put('ok.ts', `import { playbook, sysctl } from ${JSON.stringify(indexTs)}\nexport default playbook({ name: 'x', hosts: 'all', tasks: [sysctl('net.ipv4.ip_forward', 1)] })\n`)
    const lp = await loadPlaybook(p)
    expect(lp.plays).toHaveLength(1)
    expect(lp.plays[0].name).toBe('x')
    const p2 = put('two.ts', `export default [{ name: 'a', hosts: 'all', tasks: [] }, { name: 'b', hosts: 'web', tasks: () => [] }]\n`)
    expect((await loadPlaybook(p2)).plays.map((x) => x.name)).toEqual(['a', 'b'])
  })

  it('names the file (and line) when it cannot load or has the wrong shape', async () => {
    await expect(loadPlaybook(join(dir, 'missing.ts'))).rejects.toThrow(/missing\.ts: no such playbook file/)
    const syntax = put('syntax.ts', 'export default {\n  name: "x",\n  hosts: \n')
    await expect(loadPlaybook(syntax)).rejects.toThrow(PlaybookError)
    await expect(loadPlaybook(syntax)).rejects.toThrow(/syntax\.ts: cannot load/)
    const throws = put('throws.ts', 'const x: any = undefined\nexport default x.nope\n')
    await expect(loadPlaybook(throws)).rejects.toThrow(/throws\.ts: cannot load \(at line 2:\d+\): .*nope/)
    await expect(loadPlaybook(put('nodefault.ts', 'export const x = 1\n'))).rejects.toThrow(/no default export/)
    await expect(loadPlaybook(put('noname.ts', 'export default { hosts: "all", tasks: [] }\n'))).rejects.toThrow(/play 1: "name" must be/)
    await expect(loadPlaybook(put('nohosts.ts', 'export default { name: "x", tasks: [] }\n'))).rejects.toThrow(/"hosts" must be a host pattern/)
    await expect(loadPlaybook(put('notasks.ts', 'export default { name: "x", hosts: "all" }\n'))).rejects.toThrow(/"tasks" must be/)
  })
})

describe('orch command line', () => {
  const inv = put('hosts.ini', '[web]\nw1 ansible_host=192.0.2.10\nw2 ansible_host=192.0.2.11 subnet=10.1.2.0/24\n')
  const pb = put('needs.ts', `import { playbook, sysctl } from ${JSON.stringify(indexTs)}\nexport default playbook({ name: 'x', hosts: 'web', tasks: ({ need }) => [sysctl('net.ipv4.ip_forward', need('fwd'))] })\n`)

  it('--help and --version exit 0', async () => {
    const h = await orch('--help')
    expect(h.code).toBe(0)
    expect(h.out).toMatch(/run \[options\] <playbook>/)
    expect((await orch('run', '--help')).out).toMatch(/--host-key-checking <mode>/)
    expect((await orch('--version')).code).toBe(0)
  })

  it('bad options exit 5', async () => {
    expect((await orch('run', pb)).code).toBe(5) // no -i
    expect((await orch('run', pb, '-i', inv, '--bogus')).code).toBe(5)
    expect((await orch('run', pb, '-i', inv, '--forks', '0')).code).toBe(5)
    expect((await orch('run', pb, '-i', inv, '--strategy', 'random')).code).toBe(5)
    expect((await orch('run', pb, '-i', inv, '--host-key-checking', 'maybe')).code).toBe(5)
    const e = await orch('run', pb, '-i', inv, '-e', 'noequals')
    expect(e.code).toBe(5)
    expect(e.err).toMatch(/ERROR! -e "noequals": expected key=value/)
    expect((await orch('bogus')).code).toBe(5)
  })

  it('a bad inventory or playbook exits 5 naming it, a --limit matching nothing 1', async () => {
    const i = await orch('run', pb, '-i', join(dir, 'nope.ini'))
    expect(i).toMatchObject({ code: 5 })
    expect(i.err).toMatch(/inventory source not found/)
    const l = await orch('run', pb, '-i', inv, '--limit', 'db')
    expect(l.code).toBe(1) // as ansible-playbook: a --limit that leaves no host is exit 1
    expect(l.err).toMatch(/leaves us with no hosts to target/)
    const p = await orch('run', join(dir, 'nope.ts'), '-i', inv)
    expect(p.code).toBe(5)
    expect(p.err).toMatch(/nope\.ts: no such playbook file/)
  })

  it('a missing variable exits 5 naming host and variable, before connecting', async () => {
    const r = await orch('run', pb, '-i', inv)
    expect(r.code).toBe(5)
    expect(r.err).toBe('ERROR! w1: fwd: expected a value (set it in the inventory, the play vars or with -e), got undefined\n')
    expect(r.out).toBe('')
  })

  it('with --json an early error is still one JSON document on stdout', async () => {
    const r = await orch('run', pb, '-i', inv, '--json')
    expect(r.code).toBe(5)
    expect(JSON.parse(r.out)).toMatchObject({ orch: { exitCode: 5, error: expect.stringMatching(/w1: fwd/) }, plays: [], stats: {} })
  })

  it('orch inventory --list / --graph / --limit', async () => {
    const l = await orch('inventory', '-i', inv, '--list')
    expect(l.code).toBe(0)
    const doc = JSON.parse(l.out)
    expect(doc.web.hosts).toEqual(['w1', 'w2'])
    expect(doc._meta.hostvars.w2.subnet).toBe('10.1.2.0/24')
    const g = await orch('inventory', '-i', inv, '--graph', '--limit', 'w2')
    expect(g.out).toBe('@all:\n  |--@ungrouped:\n  |--@web:\n  |  |--w2\n')
    expect((await orch('inventory', '-i', inv)).code).toBe(5)
  })
})
