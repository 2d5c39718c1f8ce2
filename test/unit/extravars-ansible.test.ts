/**
 * -e as Ansible reads it: orch's parseExtraVars against Ansible's own load_extra_vars
 * (test/helpers/ansible-extravars.py, with the python ansible-core runs on) for key=value lists,
 * inline YAML/JSON and @files: same variables, same types (YAML 1.1), an error where Ansible refuses.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseExtraVars } from '../../src/cli/extraVars.ts'

const PY = '/usr/bin/python3'
const HAVE = spawnSync(PY, ['-c', 'import ansible.utils.vars'], { stdio: 'ignore' }).status === 0
const SKIP = HAVE ? '' : ' (skipped: ansible-core python modules not installed; CI installs ansible-core)'

const FILES: Record<string, string> = {
  'v11.yml': 'a: yes\nb: off\nc: 0644\nd: 1:30\ne: 0b101\nf: ~\ng: 2024-01-15\nh: 0x1F\ni: 1e3\nj: 1.0e3\nk: y\nl: 08\n',
  'v.json': '{"a": "yes", "b": 0.5, "c": [1, 2], "d": {"e": null}}\n',
  'not-json.json': '{a: yes, b: 0644}\n',
  'empty.yml': '',
  'list.yml': '- 1\n- 2\n',
  'nested.yml': 'net:\n  mtu: 1450\n  on: [on, off]\n  mode: 0755\n',
}

const CASES: string[][] = [
  ['a=1 b=yes c=0644'],
  ['a=1', 'a=2'],
  ['{"a": 1, "b": "yes"}'],
  ['{a: yes, b: 0644, c: 1:30, d: 0b101, e: ~}'],
  ['{a: [on, off, y, n]}'],
  ["{a: '0644', b: \"yes\"}"],
  ['{a: 2001-12-14t21:59:43.10-05:00}'],
  ['@v11.yml'],
  ['@v.json'],
  ['@not-json.json'],
  ['@empty.yml'],
  ['@nested.yml', 'x=1'],
  ['@v11.yml', '{a: no}'],
  ['@list.yml'],
  ['[1, 2]'],
  ['{a: [1}'],
]

describe.skipIf(!HAVE)(`-e as Ansible's load_extra_vars reads it${SKIP}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'orch-extravars-'))
  for (const [name, text] of Object.entries(FILES)) writeFileSync(join(dir, name), text)
  const r = HAVE ? spawnSync(PY, [join(import.meta.dirname, '../helpers/ansible-extravars.py')], { cwd: dir, input: JSON.stringify(CASES), encoding: 'utf8' }) : undefined
  const expected: Array<{ value?: unknown; error?: string }> = HAVE && r!.status === 0 ? JSON.parse(r!.stdout) : []

  it('the oracle answered for every case', () => {
    expect(r!.status, r!.stderr).toBe(0)
    expect(expected).toHaveLength(CASES.length)
  })

  it.each(CASES.map((c, i) => [c.join(' | '), i] as const))('-e %s', async (_, i) => {
    const want = expected[i]
    if (want.error) await expect(parseExtraVars(CASES[i], dir), `Ansible raised ${want.error}`).rejects.toThrow()
    else expect(await parseExtraVars(CASES[i], dir)).toEqual(want.value)
  })
})
