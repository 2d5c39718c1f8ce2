/**
 * Dynamic inventory scripts (sh, python3, node) and inventory directories mixing INI, YAML, scripts and
 * nested directories with Ansible's ignore rules: `orch inventory --list` output against the real
 * `ansible-inventory --list` on the same sources; script failures against orch's own errors.
 */
import { chmod } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { InventoryError, loadInventory, renderList } from '../../src/inventory/index.ts'
import { ansibleInventory, HAVE_ANSIBLE, SKIP_REASON } from '../helpers/ansible.ts'
import { tree } from '../fixtures/inventory/tree.ts'

const SH_META = `#!/bin/sh
# with _meta: no --host calls
cat <<'JSON'
{"web": {"hosts": ["w1", "w2"], "vars": {"http_port": 8080, "tls": true}, "children": ["edge"]},
 "edge": ["e1"],
 "db": {"hosts": ["d1"], "vars": {"nested": {"a": [1, "x", null]}}},
 "_meta": {"hostvars": {"w1": {"ansible_host": "198.18.0.11", "ünï": "çödé"}, "ghost": {"x": 1}}}}
JSON
`
const PY_NO_META = `#!/usr/bin/python3
import json, sys
hosts = {"p1": {"ansible_port": 2222}, "p2": {}, "p3": {"role": "db", "list": [1, 2]}}
if sys.argv[1] == "--list":
    print(json.dumps({"py": {"hosts": ["p1", "p2"]}, "pydb": {"hosts": ["p3"], "vars": {"tier": 2}}, "all": {"vars": {"from_py": "yes"}}}))
elif sys.argv[1] == "--host":
    h = sys.argv[2]
    print(json.dumps(hosts[h]))
`
const NODE_SHORT = `#!/usr/bin/env node
// shorthand forms: a list is the group's hosts; a mapping without hosts/vars/children is one host with vars
const out = { listed: ['n1', 'n2'], solo: { ansible_host: '198.18.0.30', weight: 1.5 }, parent: { children: ['listed', 'solo'] }, _meta: { hostvars: {} } }
process.stdout.write(JSON.stringify(out))
`
const INI = `[static]
s1 x=1
[web]
w2 from_ini=true
`
const YAML = `all:
  children:
    yamlgroup:
      hosts:
        y1:
          a: yes
      children:
        static:
`
const executable = ['script.sh', 'dir/03-script.py', 'dir/sub/05-node', 'noshebang', 'py.py', 'node.js', 'dir/sub/07-ini-exec']

const FILES: Record<string, string> = {
  'script.sh': SH_META,
  'py.py': PY_NO_META,
  'node.js': NODE_SHORT,
  'noshebang': INI, // executable INI text without #!: Ansible reads it as a file
  'dir/01-static': INI,
  'dir/02-hosts.yml': YAML,
  'dir/03-script.py': PY_NO_META,
  'dir/04-skip.ini': '[skipped]\nnever\n',
  'dir/04-skip.cfg': '[skipped]\nnever\n',
  'dir/04-backup~': '[skipped]\nnever\n',
  'dir/04-notes.md': '[skipped]\nnever\n',
  'dir/04-x.retry': 'never\n',
  'dir/.hidden': '[skipped]\nnever\n',
  'dir/group_vars/web.yml': 'gv_web: 1\n',
  'dir/group_vars/all': 'gv_all: from-dir\n',
  'dir/host_vars/p1.json': '{"hv": "p1-json"}',
  'dir/sub/05-node': NODE_SHORT,
  'dir/sub/06-more.yaml': 'more:\n  hosts:\n    m1:\n    w1:\n      from_yaml: 1\n',
  'dir/sub/07-ini-exec': '[ini_exec]\nie1\n',
  'dir/sub/group_vars/more.yml': 'never: 1\n', // only group_vars beside a top-level source count
  'fail.sh': '#!/bin/sh\necho "cannot reach the cloud API" >&2\nexit 3\n',
  'badjson.sh': '#!/bin/sh\necho "{not json"\necho "warning: half done" >&2\n',
  'array.sh': '#!/bin/sh\necho "[1, 2]"\n',
  'badhost.sh': '#!/bin/sh\ncase "$1" in --list) echo \'{"g": ["h1"]}\';; *) echo oops;; esac\n',
  'slow.sh': '#!/bin/sh\nsleep 30\n',
  'notexec.sh': '#!/bin/sh\necho "{}"\n',
}

let dir: string
beforeAll(async () => {
  dir = await tree(FILES)
  for (const f of [...executable, 'fail.sh', 'badjson.sh', 'array.sh', 'badhost.sh', 'slow.sh']) await chmod(join(dir, f), 0o755)
})

const CASES: Array<[string, string[]]> = [
  ['sh script with _meta', ['script.sh']],
  ['python3 script without _meta (--host per host)', ['py.py']],
  ['node script, shorthand groups', ['node.js']],
  ['an executable INI file without #!', ['noshebang']],
  ['a directory mixing INI, YAML, scripts, nested dirs and ignored files', ['dir']],
  ['several sources in order', ['node.js', 'script.sh', 'dir/01-static', 'dir']],
]

describe.skipIf(!HAVE_ANSIBLE)(`dynamic inventory and directories as ansible-inventory --list${SKIP_REASON}`, () => {
  it.each(CASES)('%s', async (_name, sources) => {
    const paths = sources.map((s) => join(dir, s))
    const [theirs, inv] = await Promise.all([ansibleInventory([...paths.flatMap((p) => ['-i', p]), '--list']), loadInventory(paths)])
    expect(theirs.code).toBe(0)
    expect(theirs.err).not.toMatch(/Unable to parse|Failed to parse/)
    expect(JSON.parse(JSON.stringify(renderList(inv)))).toEqual(JSON.parse(theirs.out))
  })
})

describe('dynamic inventory errors (Ansible only warns and drops the source; orch stops, exit 5)', () => {
  const err = async (file: string, env: Record<string, string> = {}): Promise<InventoryError> => {
    const old = { ...process.env }
    Object.assign(process.env, env)
    try {
      await loadInventory([join(dir, file)])
    } catch (e) {
      if (e instanceof InventoryError) return e
      throw e
    } finally {
      process.env = old
    }
    throw new Error('no error')
  }
  it('a failing script: its name, exit code and stderr', async () => {
    const e = await err('fail.sh')
    expect(e.message).toBe(`${join(dir, 'fail.sh')}: inventory script '${join(dir, 'fail.sh')} --list' exited 3; its stderr:\ncannot reach the cloud API`)
  })
  it('bad JSON: what it printed and its stderr', async () => {
    const e = await err('badjson.sh')
    expect(e.message).toMatch(/inventory script '.*badjson\.sh --list' printed no valid JSON \(.*; output starts "\{not json"\); its stderr:\nwarning: half done$/)
  })
  it('JSON that is not an object of groups', async () => {
    expect((await err('array.sh')).message).toMatch(/must print a JSON object \(groups\), got an array/)
  })
  it('a bad --host answer names the host call', async () => {
    expect((await err('badhost.sh')).message).toMatch(/inventory script '.*badhost\.sh --host h1' printed no valid JSON/)
  })
  it('a script that does not finish in time is killed', async () => {
    const e = await err('slow.sh', { ORCH_INVENTORY_SCRIPT_TIMEOUT: '1' })
    expect(e.message).toMatch(/inventory script '.*slow\.sh --list' did not finish in 1 s \(ORCH_INVENTORY_SCRIPT_TIMEOUT sets the limit\) \(nothing on stderr\)/)
  })
  it('a #! file that is not executable is read as a file, and the error says to chmod it', async () => {
    expect((await err('notexec.sh')).message).toMatch(/make it executable to run it as an inventory script/)
  })
  it('ANSIBLE_INVENTORY_IGNORE and ANSIBLE_INVENTORY_IGNORE_REGEX change what a directory skips', async () => {
    const d = await tree({ 'a.ini': '[from_ini]\ni1\n', 'b': '[b]\nb1\n', 'c.skip': '[c]\nc1\n' })
    const old = { ...process.env }
    try {
      process.env.ANSIBLE_INVENTORY_IGNORE = '.skip'
      process.env.ANSIBLE_INVENTORY_IGNORE_REGEX = '^b$'
      const inv = await loadInventory([d])
      expect([...inv.hosts.keys()]).toEqual(['i1'])
    } finally {
      process.env = old
    }
  })
})
