/**
 * orch's one YAML reading (src/inventory/yaml.ts: inventories, group_vars/host_vars, -e @file and
 * inline -e) against Ansible's own loader (AnsibleLoader, PyYAML's SafeLoader rules, run by
 * test/helpers/pyyaml.py with the python that ansible-core uses) on many inputs: same value, same
 * type, or an error where PyYAML raises. Dates come out as Ansible's JSON writes them (isoformat).
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseYamlValue } from '../../src/inventory/yaml.ts'

const PY = '/usr/bin/python3'
const HAVE = spawnSync(PY, ['-c', 'import ansible.parsing.yaml.loader'], { stdio: 'ignore' }).status === 0
const SKIP = HAVE ? '' : ' (skipped: ansible-core python modules not installed; CI installs ansible-core)'

/** inf/nan as the oracle writes them (JSON has neither). */
const special = (v: unknown): unknown =>
  typeof v === 'number' && !Number.isFinite(v) ? (Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf') : v

const deep = (v: unknown): unknown =>
  Array.isArray(v) ? v.map(deep) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, deep(x)])) : special(v)

const scalars = [
  // booleans: PyYAML's YAML 1.1 set (y/n are strings)
  'yes', 'Yes', 'YES', 'no', 'No', 'NO', 'on', 'On', 'ON', 'off', 'Off', 'OFF', 'true', 'True', 'TRUE',
  'false', 'False', 'FALSE', 'y', 'Y', 'n', 'N', 'yES', 'tRUE',
  // null
  '~', 'null', 'Null', 'NULL', '', 'nULL',
  // integers
  '0', '-0', '+1', '42', '1_000', '0x1F', '0x_1f', '-0x1F', '0b101', '0b1_0', '-0b11', '0o17', '017', '0644',
  '-0644', '08', '09', '00', '0_7', '1:30', '190:20:30', '-1:30', '0:30', '1:60', '2:5', '1:30:00',
  '12345678901234', '0x', '0b', '1__0',
  // floats
  '1.5', '1.', '.5', '-.5', '+.5', '1e3', '1.0e3', '1.0e+3', '1.0E-3', '6.8523015e+5', '685.230_15e+03',
  '685_230.15', '190:20:30.15', '.inf', '-.Inf', '+.INF', '.NaN', '.nan', '1_0.5', '1.2.3', '0.0', '-0.0',
  '1e+3', '._5', '1.e5',
  // strings that look like something else
  '10.0.0.1', '02:42:10:00:00:02', '00:11:22:33:44:55', '1:2:3:4', '=', 'v1.0', '1,000', '0x1G',
  '"yes"', "'0644'", '"1:30"', 'a b', '-', '--', '+', 'null_x',
  // timestamps
  '2002-12-14', '2001-12-14t21:59:43.10-05:00', '2001-12-14 21:59:43.10', '2001-12-14T21:59:43Z',
  '2001-12-14 21:59:43.1234567 +05', '2001-1-2 3:04:05', '2001-1-2', '2001-12-14T21:59:43.000000',
  '2001-12-14t21:59:43-0500', '20011214',
  // explicit tags
  '!!str 123', '!!str yes', '!!int "5"', '!!float 1', '!!bool yes', '!!null ""',
]

const docs = [
  'a: 1\nb: [yes, no, on, off]\nc: {d: 0644, e: 1:30}\n',
  'x: &a {p: 1, q: 2}\ny:\n  <<: *a\n  q: 3\n',
  'x: &a {p: 1}\nz: &b {r: 2}\ny:\n  <<: [*a, *b]\n  s: 4\n',
  'dup: 1\ndup: 2\n',
  'yes: 1\nno: 2\n3: x\n~: y\n1.5: z\n',
  'k: |\n  line1\n  line2\n',
  'k: >\n  folded\n  text\n\n  para\n',
  'k: "esc \\t \\u00e9 \\x41"\n',
  "k: 'it''s'\n",
  'list:\n- 0644\n- 0x10\n- 1e3\n- 1.0e3\n- .5\n- 08\n',
  '---\na: 1\n...\n',
  '# only a comment\n',
  'a: [1\n',
  '---\na: 1\n---\nb: 2\n',
  '2001-02-30: x\n',
  'v: 2001-02-29\n',
  'v: 2000-02-29 24:00:00\n',
  'a: b: c\n',
  'key with spaces: value\n"quoted key": 2\n',
  'a: 1 # comment\nb: "# not a comment"\n',
  'a:\n  - b: 1\n    c: 2\n  - d\n',
  '{"json": [1, 2.5, true, null, "s"]}\n',
  '{a: 0644, b: yes}',
]

/** Where orch is deliberately stricter than Ansible. */
const STRICTER = new Set(['dup: 1\ndup: 2\n'])

describe.skipIf(!HAVE)(`YAML 1.1 as Ansible's PyYAML loader reads it${SKIP}`, () => {
  const inputs = [...scalars.map((s) => `v: ${s}\n`), ...docs]
  const r = HAVE ? spawnSync(PY, [join(import.meta.dirname, '../helpers/pyyaml.py')], { input: JSON.stringify(inputs), encoding: 'utf8' }) : undefined
  const expected: Array<{ value?: unknown; error?: string }> = HAVE ? JSON.parse(r!.stdout) : []

  it('the oracle answered for every input', () => {
    expect(r!.status, r!.stderr).toBe(0)
    expect(expected).toHaveLength(inputs.length)
  })

  it.each(inputs.map((text, i) => [JSON.stringify(text), i] as const))('%s', (_, i) => {
    const text = inputs[i]
    const want = expected[i]
    if (STRICTER.has(text)) {
      // PyYAML warns and keeps the last value; orch refuses the file (named, with the line).
      expect(want.error).toBeUndefined()
      expect(() => parseYamlValue(text, 'test.yml')).toThrow(/Map keys must be unique/)
    } else if (want.error) {
      expect(() => parseYamlValue(text, 'test.yml'), `PyYAML raised ${want.error}`).toThrow()
    } else {
      expect(deep(parseYamlValue(text, 'test.yml'))).toEqual(want.value)
    }
  })
})
