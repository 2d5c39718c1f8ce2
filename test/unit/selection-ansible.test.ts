/**
 * --tags / --skip-tags / --start-at-task and the listings, with Ansible as the oracle: Taggable.evaluate_tags
 * and fnmatch through test/helpers/ansible_tags.py on every combination of a small tag universe, and
 * `ansible-playbook --list-tasks / --list-tags / --list-hosts` against the same play written in YAML.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { fnmatch, shouldRun, splitTags } from '../../src/engine/selection.ts'
import { ansibleEnv, ansibleTagAnswers, HAVE_ANSIBLE, SKIP_REASON } from '../helpers/ansible.ts'
import { runOrch } from '../helpers/cli.ts'

const subsets = <T>(xs: T[]): T[][] => xs.reduce<T[][]>((acc, x) => [...acc, ...acc.map((s) => [...s, x])], [[]])

describe.skipIf(!HAVE_ANSIBLE)(`task selection as Ansible's${SKIP_REASON}`, () => {
  it('evaluate_tags: every combination of task tags, --tags and --skip-tags', async () => {
    const cases: Array<[string[], string[], string[]]> = []
    for (const t of subsets(['a', 'always', 'never'])) for (const only of subsets(['a', 'b', 'all', 'tagged', 'untagged', 'always'])) for (const skip of subsets(['a', 'all', 'tagged', 'untagged', 'always'])) cases.push([t, only, skip])
    // --tags never explicitly, and never + always on one task.
    for (const only of [['never'], ['never', 'a'], ['all', 'never']]) for (const t of [['never'], ['never', 'a'], ['always', 'never']]) cases.push([t, only, []])
    const want = (await ansibleTagAnswers(cases, [])).tags
    const got = cases.map(([t, only, skip]) => shouldRun(t, only.length ? only : [], skip))
    const diffs = cases.filter((_, i) => got[i] !== want[i]).map((c, i) => ({ c, ansible: want[i] }))
    expect(diffs).toEqual([])
    expect(cases.length).toBeGreaterThan(2000)
  })

  it('start-at-task globs: fnmatch as Python', async () => {
    const names = ['install docker', 'Install docker', 'route to 10.244.1.0/24', 'a*b', 'x[1]', 'task?', '']
    const pats = ['install*', 'Install*', '*docker', 'install docker', 'route to 10.244.?.0/24', 'a[*]b', 'x[[]1]', 'x[!0]*', 'task?', 'task[?]', '*', '?', '[', 'a*', '[a-z]*', '[!I]*', 'x\\[1]']
    const cases = names.flatMap((n) => pats.map((p) => [n, p] as [string, string]))
    const want = (await ansibleTagAnswers([], cases)).globs
    expect(cases.filter(([n, p], i) => fnmatch(n, p) !== want[i])).toEqual([])
  })

  it('splits comma lists and repeated flags', () => {
    expect(splitTags(['a,b', ' c ', ',d,,'])).toEqual(['a', 'b', 'c', 'd'])
  })
})

const dir = mkdtempSync(join(tmpdir(), 'orch-selection-'))
const indexTs = fileURLToPath(new URL('../../src/index.ts', import.meta.url))
writeFileSync(join(dir, 'hosts.ini'), 'a ansible_host=198.18.9.1\nb ansible_host=198.18.9.2\nc ansible_host=198.18.9.3\n[web]\na\nb\n[db]\nc\n')
writeFileSync(
  join(dir, 'pb.ts'),
  `import { command, playbook } from ${JSON.stringify(indexTs)}
export default [
  playbook({ name: 'first play', hosts: 'web', tags: 'p', tasks: [
    command(['true']).with({ name: 'one', tags: ['x', 'y'] }),
    command(['true']).with({ name: 'two' }),
    command(['true']).with({ name: 'three', tags: 'never' }),
    command(['true']).with({ name: 'four', tags: ['always'] }),
    command(['true']).with({ name: 'install docker', tags: 'y,z' }),
  ] }),
  playbook({ name: 'second', hosts: 'db:web', tasks: [command(['true']).with({ name: 'five' }), command(['true']).with({ name: 'six', tags: ['z'] })] }),
  playbook({ name: 'implicit localhost', hosts: 'localhost:db', tasks: [command(['true']).with({ name: 'seven' })] }),
]
`,
)
writeFileSync(
  join(dir, 'pb.yml'),
  `- name: first play
  hosts: web
  gather_facts: false
  tags: p
  tasks:
    - { name: one, command: 'true', tags: [x, y] }
    - { name: two, command: 'true' }
    - { name: three, command: 'true', tags: never }
    - { name: four, command: 'true', tags: [always] }
    - { name: install docker, command: 'true', tags: 'y,z' }
- name: second
  hosts: db:web
  gather_facts: false
  tasks:
    - { name: five, command: 'true' }
    - { name: six, command: 'true', tags: [z] }
- name: implicit localhost
  hosts: localhost:db
  gather_facts: false
  tasks:
    - { name: seven, command: 'true' }
`,
)

const orch = (...args: string[]) => runOrch(dir, args)
const ansiblePlaybook = async (...args: string[]) => {
  const { env } = ansibleEnv()
  const r = await promisify(execFile)('ansible-playbook', ['-i', join(dir, 'hosts.ini'), join(dir, 'pb.yml'), ...args], { cwd: dir, env, timeout: 120_000 })
  return r.stdout
}
// ansible-playbook prints --list-hosts from a set: compare each play's hosts sorted.
const normalize = (s: string) =>
  s
    .replace(/^playbook: .*$/m, 'playbook: PB')
    .replace(/(hosts \(\d+\):\n)((?: {6}\S.*\n)+)/g, (_, head, list: string) => head + list.trimEnd().split('\n').sort().join('\n') + '\n')

describe.skipIf(!HAVE_ANSIBLE)(`orch run --list-tasks / --list-tags / --list-hosts print what ansible-playbook prints${SKIP_REASON}`, () => {
  const variants: string[][] = [[], ['--tags', 'x'], ['-t', 'y', '--skip-tags', 'x'], ['--tags', 'never,z'], ['--skip-tags', 'always'], ['--tags', 'tagged', '--limit', 'a']]
  const listing = ['--list-tasks', '--list-tags', '--list-hosts']
  // One ansible-playbook process per variant, all at once (each costs ~1.5 s of Python start-up).
  let answers: Promise<string[]> | undefined
  const ansibleAnswer = (i: number) => (answers ??= Promise.all(variants.map((v) => ansiblePlaybook(...listing, ...v)))).then((a) => a[i])
  variants.forEach((v, i) =>
    it(`--list-tasks --list-tags --list-hosts ${v.join(' ') || '(no selection)'}`, async () => {
      const o = await orch('run', join(dir, 'pb.ts'), '-i', join(dir, 'hosts.ini'), ...listing, ...v)
      expect(o.err).toBe('')
      expect(o.code).toBe(0)
      expect(normalize(o.out)).toBe(normalize(await ansibleAnswer(i)))
    }),
  )

  it('--start-at-task runs what ansible-playbook runs: from the first match on, later plays whole', async () => {
    // The same plays with debug tasks (no connection at all), run for real by Ansible.
    writeFileSync(join(dir, 'run.yml'), readFileSync(join(dir, 'pb.yml'), 'utf8').replace(/command: 'true'/g, 'debug: { msg: x }'))
    for (const at of ['four', 'inst*', 'f?ve']) {
      const { env } = ansibleEnv()
      const r = await promisify(execFile)('ansible-playbook', ['-c', 'local', '-i', join(dir, 'hosts.ini'), join(dir, 'run.yml'), '--start-at-task', at], { cwd: dir, env, timeout: 120_000 })
      const ran = [...r.stdout.matchAll(/^TASK \[(.*)\] \*+$/gm)].map((m) => m[1])
      const o = await orch('run', join(dir, 'pb.ts'), '-i', join(dir, 'hosts.ini'), '--list-tasks', '--start-at-task', at)
      const listed = [...new Set([...o.out.matchAll(/^ {6}(\S.*?)\tTAGS/gm)].map((m) => m[1]))]
      expect(listed, at).toEqual(ran)
    }
    const none = await orch('run', join(dir, 'pb.ts'), '-i', join(dir, 'hosts.ini'), '--list-tasks', '--start-at-task', 'zzz')
    expect(none.err).toMatch(/No matching task "zzz" found/)
  })

  it("an empty inventory: Ansible's warning, and only the implicit localhost", async () => {
    writeFileSync(join(dir, 'empty.ini'), '')
    const o = await orch('run', join(dir, 'pb.ts'), '-i', join(dir, 'empty.ini'), '--list-hosts')
    const { env } = ansibleEnv()
    const r = await promisify(execFile)('ansible-playbook', ['-i', join(dir, 'empty.ini'), join(dir, 'pb.yml'), '--list-hosts'], { cwd: dir, env: { ...env, ANSIBLE_LOCALHOST_WARNING: '1' }, timeout: 120_000 })
    expect(o.code).toBe(0)
    expect(normalize(o.out)).toBe(normalize(r.stdout))
    expect(o.out).toMatch(/play #3 \(localhost:db\): implicit localhost.*\n.*\n +hosts \(1\):\n +localhost\n/)
    const words = (t: string) => t.replace(/\s+/g, ' ').trim()
    expect(words(o.err)).toContain(words(r.stderr.match(/\[WARNING\]: provided hosts list is empty[^[]*/)![0]))
  })

  it('--syntax-check checks the playbook and the plan, connecting to nothing', async () => {
    const o = await orch('run', join(dir, 'pb.ts'), '-i', join(dir, 'hosts.ini'), '--syntax-check')
    expect(o.code).toBe(0)
    expect(normalize(o.out)).toBe(normalize(await ansiblePlaybook('--syntax-check')))
    writeFileSync(join(dir, 'bad.ts'), `import { command, playbook } from ${JSON.stringify(indexTs)}\nexport default playbook({ name: 'bad', hosts: 'all', tasks: [command(['true']).with({ tags: [3 as never] })] })\n`)
    const bad = await orch('run', join(dir, 'bad.ts'), '-i', join(dir, 'hosts.ini'), '--syntax-check')
    expect(bad.code).toBe(5)
    expect(bad.err).toMatch(/tags must be a tag name or a list of them/)
  })

  it('--step is refused, saying what to use instead', async () => {
    const o = await orch('run', join(dir, 'pb.ts'), '-i', join(dir, 'hosts.ini'), '--step')
    expect(o.code).toBe(5)
    expect(o.err).toMatch(/--step is not supported.*--check --diff.*--start-at-task/)
  })
})
