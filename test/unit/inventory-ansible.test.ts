/**
 * orch's inventory against the real thing: `ansible-inventory --list` and `--graph` on every fixture
 * must print exactly what renderList/renderGraph give (groups, children order, host order, hostvars
 * with precedence and value types).
 *
 * Needs ansible-core's ansible-inventory on PATH. Without it the tests are skipped (the reason is in
 * their names); CI installs ansible-core, so they run there. Runs ansible in an empty directory with
 * an empty config, so no local ansible.cfg or ./group_vars can change its answer.
 */
import { execFile, spawnSync } from 'node:child_process'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { beforeAll, describe, expect, it } from 'vitest'
import { parseYamlValue } from '../../src/inventory/yaml.ts'
import { loadInventory, renderGraph, renderHost, renderList, renderYamlHost, renderYamlList, type LoadOptions } from '../../src/inventory/index.ts'
import { FIXTURES } from '../fixtures/inventory/tree.ts'

const run = promisify(execFile)
const HAVE_ANSIBLE = spawnSync('ansible-inventory', ['--version'], { stdio: 'ignore' }).status === 0
const SKIP_REASON = HAVE_ANSIBLE ? '' : ' (skipped: ansible-inventory not installed; CI installs ansible-core)'

interface Case {
  name: string
  sources: string[]
  playbookDir?: string
  extraVars?: Record<string, string>
}

const f = (p: string): string => join(FIXTURES, p)
const CASES: Case[] = [
  { name: 'basic.ini', sources: [f('basic.ini')] },
  { name: 'basic.yml', sources: [f('basic.yml')] },
  { name: 'groups.ini (depth, priority, name order)', sources: [f('groups.ini')] },
  { name: 'patterns.ini (IPv6, ports)', sources: [f('patterns.ini')] },
  { name: 'scalars.yml (YAML 1.1 as PyYAML)', sources: [f('scalars.yml')] },
  { name: 'varsfiles (group_vars/host_vars files and dirs)', sources: [f('varsfiles/hosts.yml')] },
  { name: 'dir (a directory source)', sources: [f('dir')] },
  {
    name: 'precedence (playbook dir, extra vars)',
    sources: [f('precedence/inventory/hosts')],
    playbookDir: f('precedence/playbook'),
    extraVars: { v10: 'L10' },
  },
  { name: 'several -i', sources: [f('groups.ini'), f('varsfiles/hosts.yml'), f('basic.yml')] },
]

describe.skipIf(!HAVE_ANSIBLE)(`same output as ansible-inventory${SKIP_REASON}`, () => {
  let cwd: string
  let env: NodeJS.ProcessEnv
  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'orch-ansible-'))
    await writeFile(join(cwd, 'ansible.cfg'), '')
    env = {
      ...process.env,
      ANSIBLE_CONFIG: join(cwd, 'ansible.cfg'),
      ANSIBLE_HOME: join(cwd, 'home'),
      ANSIBLE_LOCAL_TEMP: join(cwd, 'tmp'),
      ANSIBLE_NOCOLOR: '1',
    }
  })

  const ansible = async (c: Case, mode: string[]): Promise<string> => {
    const args = [...c.sources.flatMap((s) => ['-i', s]), ...mode]
    if (c.playbookDir) args.push('--playbook-dir', c.playbookDir)
    if (c.extraVars) args.push('-e', JSON.stringify(c.extraVars))
    const { stdout } = await run('ansible-inventory', args, { cwd, env, timeout: 60_000 })
    return stdout
  }
  const ours = (c: Case) => {
    const opts: LoadOptions = { playbookDir: c.playbookDir, extraVars: c.extraVars }
    return loadInventory(c.sources, opts)
  }

  it.each(CASES)('--list: $name', async (c) => {
    const [theirs, inv] = await Promise.all([ansible(c, ['--list']), ours(c)])
    expect(JSON.parse(JSON.stringify(renderList(inv)))).toEqual(JSON.parse(theirs))
  })

  it.each(CASES)('--graph: $name', async (c) => {
    const [theirs, inv] = await Promise.all([ansible(c, ['--graph']), ours(c)])
    expect(renderGraph(inv)).toBe(theirs.trimEnd())
  })

  it.each(CASES)('--graph --vars: $name', async (c) => {
    const [theirs, inv] = await Promise.all([ansible(c, ['--graph', '--vars']), ours(c)])
    // The one documented difference: an integral float (1e3) is 1000.0 to Python, 1000 to JavaScript.
    expect(renderGraph(inv, 'all', true)).toBe(theirs.trimEnd().replace(/(= -?\d+)\.0\}$/gm, '$1}'))
  })

  // Documented differences (docs/coming-from-ansible.md): PyYAML writes a list or mapping that several
  // hosts share (one group var) once, with an anchor (orch's hosts never share values); a YAML timestamp is
  // a date to Python (written plain) and its isoformat string to orch (quoted); a float with an integral
  // value (1e3) is 1000.0 to Python and 1000 to JavaScript. Read back as Ansible reads YAML the documents
  // are the same; where none of the three occur, the text is too.
  const documented = (yaml: string) => /&id\d{3}|: \d{4}-\d\d?-\d\d?\b|: -?\d+\.0$/m.test(yaml)
  it.each(CASES)('--list --yaml: $name', async (c) => {
    const [theirs, inv] = await Promise.all([ansible(c, ['--list', '--yaml']), ours(c)])
    const mine = renderYamlList(inv)
    expect(parseYamlValue(mine, 'orch')).toEqual(parseYamlValue(theirs, 'ansible'))
    if (!documented(theirs)) expect(mine).toBe(theirs)
  })

  it.each(CASES)('--host (first and last host, JSON and --yaml): $name', async (c) => {
    const inv = await ours(c)
    const names = [...inv.hosts.keys()]
    for (const h of new Set([names[0], names[names.length - 1]])) {
      const [json, yaml] = await Promise.all([ansible(c, ['--host', h]), ansible(c, ['--host', h, '--yaml'])])
      expect(JSON.parse(renderHost(inv, h)), h).toEqual(JSON.parse(json))
      if (!/\d\.0\b/.test(json)) expect(renderHost(inv, h), h).toBe(json.trimEnd())
      expect(parseYamlValue(renderYamlHost(inv, h), 'orch'), h).toEqual(parseYamlValue(yaml, 'ansible'))
      if (!documented(yaml)) expect(renderYamlHost(inv, h), h).toBe(yaml.trimEnd())
    }
  })

  // Ansible's implicit localhost (no such host in these inventories): the 'all' group's vars, host_vars/NAME,
  // -e, ansible_connection=local; a pattern naming one host works as --host too. The one documented
  // difference: Ansible adds ansible_python_interpreter (its own sys.executable); orch runs no Python.
  it.each(CASES)('--host of the implicit localhost and of a pattern: $name', async (c) => {
    const first = [...(await ours(c)).hosts.keys()][0]
    // ansible-inventory costs seconds a call: every name on the cases with localhost vars files, localhost on the rest.
    const names = /varsfiles|precedence/.test(c.name) ? ['localhost', '127.0.0.1', `~${first.replace(/[.[\]]/g, '\\$&')}$`] : ['localhost']
    await Promise.all(
      names.map(async (h) => {
        // A fresh inventory per name: the implicit localhost takes the name it is first asked for.
        const [out, inv] = await Promise.all([ansible(c, ['--host', h]), ours(c)])
        const theirs = JSON.parse(out)
        delete theirs.ansible_python_interpreter
        expect(JSON.parse(renderHost(inv, h)), h).toEqual(theirs)
      }),
    )
  })

  it('--graph of one group', async () => {
    const c = CASES[0]
    const [theirs, inv] = await Promise.all([ansible(c, ['--graph', 'docker_hosts']), ours(c)])
    expect(renderGraph(inv, 'docker_hosts')).toBe(theirs.trimEnd())
  })
})
