/**
 * Templated host variables against the real Ansible (its Templar over VariableManager's variables, via
 * test/helpers/ansible_template.py): for every case, orch's rendered value equals Ansible's, or both
 * refuse it. Inventories are written here: YAML and INI sources, group_vars beside them.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { loadInventory } from '../../src/inventory/index.ts'
import { renderEach } from '../../src/inventory/template/index.ts'
import { ansibleTemplate, HAVE_ANSIBLE, SKIP_REASON, type TemplateAnswer } from '../helpers/ansible.ts'

/** Plain variables every template may use. */
const BASE: Record<string, unknown> = {
  real_ip: '198.18.7.5',
  region: 'eu-west',
  port: 2222,
  ratio: 1.5,
  flag: true,
  nothing: null,
  empty: '',
  zero: 0,
  name_list: ['alpha', 'beta', 'gamma'],
  nums: [3, 1, 2],
  site: { dc: 'fra1', rack: 7, tags: ['a', 'b'] },
  mixed: 'Hello World',
  spaced: '  padded\t',
  csv: 'a,b,,c',
  yes_str: 'yes',
  num_str: '42',
  float_str: '3.75',
  ref_ip: '{{ real_ip }}',
  ref_chain: '{{ ref_ip }}/24',
  ref_undefined: '{{ not_there }}',
  ref_list: '{{ name_list }}',
  ref_port: '{{ port }}',
  ref_flag: '{{ flag }}',
}

/** Template cases: each becomes a host variable t_N of web1.example.com. */
const CASES: string[] = [
  // plain references and text around them
  '{{ real_ip }}', '{{real_ip}}', 'ip={{ real_ip }}', '{{ region }}.pool.ntp.org', '{{ port }}', '{{ ratio }}', '{{ flag }}',
  '{{ nothing }}', 'x{{ nothing }}y', '{{ empty }}', '{{ zero }}', '{{ name_list }}', '{{ site }}', '{{ site.dc }}',
  "{{ site['rack'] }}", '{{ site.tags[1] }}', '{{ name_list[0] }}', '{{ name_list[-1] }}', '{{ name_list.1 }}',
  '{{ name_list[1:] }}', '{{ name_list[::-1] }}', "{{ mixed[0:5] }}", '{{ site.nope }}', '{{ name_list[7] }}',
  // lazy references: another variable's template, chains, undefined inside
  '{{ ref_ip }}', '{{ ref_chain }}', '{{ ref_list }}', '{{ ref_list[2] }}', '{{ ref_port }}', '{{ ref_flag }}',
  '{{ ref_undefined }}', '{{ ref_undefined | default("fallback") }}', '{{ ref_port | int + 1 }}',
  // undefined
  '{{ missing }}', '{{ missing | default("d") }}', '{{ missing | d("d") }}', '{{ missing.attr | default("deep") }}',
  "{{ missing['k'] | default('deep2') }}", '{{ empty | default("e") }}', '{{ empty | default("e", true) }}',
  '{{ zero | default(5, boolean=true) }}', '{{ nothing | default("n") }}', '{{ missing is defined }}',
  '{{ real_ip is defined }}', '{{ missing is undefined }}', '{{ nothing is none }}', '{{ site.nope is defined }}',
  // filters
  '{{ mixed | lower }}', '{{ mixed | upper }}', '{{ mixed | capitalize }}', '{{ num_str | int }}', '{{ float_str | int }}',
  "{{ 'abc' | int }}", "{{ 'abc' | int(7) }}", "{{ '0x1A' | int(base=16) }}", '{{ float_str | float }}', '{{ port | float }}',
  "{{ 'x' | float }}", '{{ yes_str | bool }}', "{{ 'off' | bool }}", '{{ 1 | bool }}', '{{ nothing | bool }}', '{{ port | string }}',
  '{{ name_list | string }}', '{{ name_list | length }}', '{{ mixed | length }}', '{{ site | length }}', '{{ name_list | count }}',
  "{{ name_list | join(',') }}", '{{ name_list | join }}', '{{ nums | join("-") }}', "{{ mixed | replace('World', 'There') }}",
  "{{ csv | replace(',', ';', 2) }}", "{{ real_ip | regex_replace('\\.\\d+$', '.0') }}",
  "{{ 'web-07' | regex_replace('^web-(\\d+)$', 'node\\1') }}", "{{ 'web-07' | regex_replace('^(?P<kind>[a-z]+)-(?P<n>\\d+)$', '\\g<n>-\\g<kind>') }}",
  "{{ 'ABC' | regex_replace('b', 'x', ignorecase=true) }}", "{{ 'a\\nb' | regex_replace('^', '> ', multiline=true) }}",
  "{{ 'line\\n' | regex_replace('e$', 'E') }}", "{{ 'cost $5' | regex_replace('\\$(\\d)', '\\1 dollars') }}",
  '{{ spaced | trim }}', "{{ 'xxhixx' | trim('x') }}", '{{ name_list | first }}', '{{ name_list | last }}', '{{ mixed | first }}',
  '{{ [] | first }}', '{{ -3 | abs }}', '{{ 2.567 | round(1) }}', '{{ 2.5 | round }}', "{{ 'a b  c' | split }}", "{{ csv | split(',') }}",
  "{{ 'abc' | list }}", '{{ real_ip | ansible.builtin.regex_replace("198", "10") }}', "{{ 'x' | to_yaml }}", '{{ site | dict2items }}',
  // lookups
  "{{ lookup('env', 'ORCH_T_USER') }}", "{{ lookup('env', 'ORCH_T_UNSET') }}", "{{ lookup('env', 'ORCH_T_UNSET', default='dflt') }}",
  "{{ lookup('env', 'ORCH_T_USER', 'ORCH_T_HOME') }}", "{{ query('env', 'ORCH_T_USER', 'ORCH_T_HOME') }}",
  "{{ lookup('ansible.builtin.env', 'ORCH_T_USER') | upper }}", "{{ lookup('file', 'motd.txt') }}", "{{ lookup('file', 'plain.txt') }}",
  "{{ lookup('file', 'nope.txt') }}", "{{ lookup('pipe', 'echo hi') }}", "{{ lookup('env', 'ORCH_T_UNSET') | default('empty-is-defined', true) }}",
  // arithmetic, concatenation, comparisons
  '{{ 1 + 2 }}', '{{ port + 1 }}', '{{ port - 22 }}', '{{ 7 / 2 }}', '{{ 8 / 2 }}', '{{ 7 // 2 }}', '{{ -7 // 2 }}', '{{ 7 % 3 }}',
  '{{ -7 % 3 }}', '{{ 2 ** 10 }}', '{{ 2 ** -1 }}', '{{ ratio * 2 }}', '{{ 0.1 + 0.2 }}', '{{ 1e20 }}', '{{ 1 / 3 }}', '{{ 3 * "ab" }}',
  '{{ name_list + ["delta"] }}', '{{ "a" + "b" }}', '{{ "a" + 1 }}', '{{ "a" ~ 1 ~ none ~ flag }}', '{{ region ~ "-" ~ port }}',
  '{{ 1 / 0 }}', '{{ port > 1000 }}', '{{ 1 < 2 < 3 }}', '{{ "a" < "b" }}', '{{ "a" < 1 }}', '{{ port == 2222 }}', '{{ 1 == 1.0 }}',
  '{{ "alpha" in name_list }}', "{{ 'eu' in region }}", "{{ 'dc' in site }}", '{{ "x" not in name_list }}', '{{ not flag }}',
  '{{ flag and port }}', '{{ zero or "z" }}', '{{ -port }}', '{{ flag + 1 }}',
  // conditionals
  "{{ 'big' if port > 1000 else 'small' }}", "{{ 'yes' if missing is defined else 'no' }}", "{{ 'only' if false }}x",
  "{% if region == 'eu-west' %}west{% else %}other{% endif %}", "{% if port < 10 %}a{% elif port < 10000 %}b{% else %}c{% endif %}",
  "{% if missing is defined %}{{ missing }}{% endif %}", "{% if flag %}\nyes\n{% endif %}\n", "  {%- if flag -%}  x  {%- endif -%}  ",
  "{% if missing %}x{% endif %}", "{# comment #}v", '{% raw %}{{ not rendered }}{% endraw %}', "{% set x = 1 %}{{ x }}",
  "{% for i in name_list %}{{ i }}{% endfor %}",
  // literals and the list/dict/bool conversion of the output
  '{{ [1, "a", none, true] }}', '[{{ port }}]', "{'k': '{{ region }}'}", '{{ {"a": [1, 2]} }}', '{{ true }}', 'True', '{{ "True" }}',
  '{{ "[1, 2" }}', '{{ ["a", ratio] }}', "{{ 'it''s' }}", '{{ "quote\'s" }}', "{{ 'a\\tb' }}", '{{ (1, 2) }}', "{{ ('a') }}",
  // magic variables
  '{{ inventory_hostname }}', '{{ inventory_hostname_short }}', '{{ group_names }}', "{{ groups['web'] }}", '{{ groups.db | length }}',
  "{{ hostvars['db1'].db_port }}", "{{ hostvars['db1']['db_url'] }}", "{{ hostvars.db1.region }}", "{{ hostvars['nohost'].x | default('nh') }}",
  // string methods
  "{{ inventory_hostname.split('.')[0] }}", "{{ mixed.lower() }}", "{{ mixed.startswith('Hell') }}", "{{ spaced.strip() }}",
  "{{ csv.split(',', 1) }}", "{{ mixed.replace('l', 'L') }}", "{{ '-'.join(name_list) }}", "{{ site.get('dc') }}", "{{ site.get('x', 'dx') }}",
  "{{ mixed.swapcase() }}",
  // syntax errors
  '{{ }}', '{{ real_ip', '{{ 1 + }}', '{% if %}x{% endif %}', '{% if flag %}x', '{% endif %}',
]

/** Cases Ansible renders that orch refuses on purpose (exit 5, 'not supported by orch: ...'). */
const UNSUPPORTED = new Set([
  "{{ 'x' | to_yaml }}", '{{ site | dict2items }}', "{{ lookup('pipe', 'echo hi') }}", '{% set x = 1 %}{{ x }}',
  '{% for i in name_list %}{{ i }}{% endfor %}', '{{ mixed.swapcase() }}',
])

const ENV = { ORCH_T_USER: 'deploy', ORCH_T_HOME: '/home/deploy' }

let dir: string
let inventory: string[]
let answers: TemplateAnswer[]
let orch: Map<string, Map<string, { v: unknown } | { err: string }>>
const caseVars = CASES.map((_, i) => `t_${i}`)

function write(): void {
  dir = mkdtempSync(join(tmpdir(), 'orch-tmpl-'))
  const hostVars: Record<string, unknown> = { ...BASE }
  CASES.forEach((c, i) => (hostVars[`t_${i}`] = c))
  const yml = {
    all: {
      children: {
        web: { hosts: { 'web1.example.com': hostVars, 'web2': { region: 'us-east', ntp_pool: 'fixed' } } },
        db: { hosts: { db1: { db_port: 5432, db_url: 'pg://{{ inventory_hostname }}:{{ db_port }}' } } },
      },
    },
  }
  writeFileSync(join(dir, 'hosts.yml'), JSON.stringify(yml, null, 1))
  // INI values go through Python's literal_eval first, then templating.
  writeFileSync(
    join(dir, 'extra.ini'),
    [
      '[ini]',
      'ini1 ansible_host="{{ base_ip }}" base_ip=198.18.9.1 p=2200 next="{{ p + 1 }}" quoted=\'{{ "a" ~ p }}\'',
      '[ini:vars]',
      'ansible_user="{{ lookup(\'env\', \'ORCH_T_USER\') }}"',
      'greeting="hi {{ inventory_hostname }}"',
    ].join('\n') + '\n',
  )
  mkdirSync(join(dir, 'group_vars'))
  // A group var templated with each host's own values (lazy, after precedence).
  writeFileSync(join(dir, 'group_vars', 'all.yml'), 'ntp: "{{ region | default(\'global\') }}.pool.ntp.org"\nntp_pool: "{{ ntp }}"\nregion_upper: "{{ region | default(\'none\') | upper }}"\n')
  writeFileSync(join(dir, 'group_vars', 'web.yml'), 'region: "{{ \'eu\' if inventory_hostname.endswith(\'.com\') else \'us\' }}-west"\n')
  mkdirSync(join(dir, 'files'))
  writeFileSync(join(dir, 'files', 'motd.txt'), '  welcome \n\n')
  writeFileSync(join(dir, 'plain.txt'), 'beside')
  inventory = [join(dir, 'hosts.yml'), join(dir, 'extra.ini')]
}

describe.skipIf(!HAVE_ANSIBLE)(`templated host variables, against Ansible's Templar${SKIP_REASON}`, () => {
  beforeAll(async () => {
    write()
    const inv = await loadInventory(inventory)
    orch = renderEach(inv, { searchDir: dir, env: { ...ENV } })
    const cases = [
      ...caseVars.map((v) => ({ host: 'web1.example.com', var: v })),
      ...['ntp', 'ntp_pool', 'region', 'region_upper'].flatMap((v) => ['web1.example.com', 'web2', 'db1', 'ini1'].map((host) => ({ host, var: v }))),
      ...['ansible_host', 'next', 'quoted', 'ansible_user', 'greeting', 'p'].map((v) => ({ host: 'ini1', var: v })),
      { host: 'db1', var: 'db_url' },
    ]
    answers = await ansibleTemplate(inventory, dir, cases, ENV)
    ;(globalThis as Record<string, unknown>).__cases = cases
  }, 120_000)

  it('renders every case as Ansible does, or refuses it where Ansible fails', () => {
    const cases = (globalThis as Record<string, unknown>).__cases as Array<{ host: string; var: string }>
    const mismatches: string[] = []
    let refusedByBoth = 0
    cases.forEach((c, i) => {
      const a = answers[i]
      const o = orch.get(c.host)!.get(c.var) ?? { err: 'no such variable' }
      const tmpl = c.var.startsWith('t_') ? CASES[Number(c.var.slice(2))] : c.var
      if ('error' in a) {
        if ('err' in o) refusedByBoth++
        else mismatches.push(`${c.host} ${tmpl}: Ansible fails (${a.error.split('\n')[0]}), orch gives ${JSON.stringify(o.v)}`)
      } else if ('err' in o) {
        if (!(UNSUPPORTED.has(tmpl) && o.err.startsWith('not supported by orch: '))) mismatches.push(`${c.host} ${tmpl}: orch fails (${o.err}), Ansible gives ${JSON.stringify(a.value)}`)
      } else if (UNSUPPORTED.has(tmpl)) mismatches.push(`${c.host} ${tmpl}: listed as unsupported, but orch renders it`)
      else if (JSON.stringify(o.v) !== JSON.stringify(a.value)) mismatches.push(`${c.host} ${tmpl}: orch ${JSON.stringify(o.v)}, Ansible ${JSON.stringify(a.value)} (${a.type})`)
    })
    expect(mismatches).toEqual([])
    expect(refusedByBoth).toBeGreaterThan(10)
  })
})
