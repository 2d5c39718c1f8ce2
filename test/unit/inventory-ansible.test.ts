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
import { loadInventory, renderGraph, renderList, type LoadOptions } from '../../src/inventory/index.ts'
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

  it('--graph of one group', async () => {
    const c = CASES[0]
    const [theirs, inv] = await Promise.all([ansible(c, ['--graph', 'docker_hosts']), ours(c)])
    expect(renderGraph(inv, 'docker_hosts')).toBe(theirs.trimEnd())
  })
})
