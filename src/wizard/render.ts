/**
 * The files the wizard writes: the inventory (Ansible INI or YAML; hosts in group docker_hosts, their
 * connection and per-host variables) and group_vars/docker_hosts.yml (the strategy and its variables).
 * Pure: text in, text out. Values are quoted so that loadInventory (and Ansible) read back exactly the
 * values written: test/unit/wizard.test.ts reads every rendering back.
 */
import YAML from 'yaml'
import { literalEval } from '../inventory/literal.ts'

export type Scalar = string | number | boolean

export interface InventoryHost {
  name: string
  /** Connection and per-host variables, in the order they are written. */
  vars: Record<string, Scalar>
}

export interface WizardFiles {
  /** Inventory text (hosts.ini or hosts.yml). */
  inventory: string
  /** group_vars/docker_hosts.yml text. */
  groupVars: string
}

export const GROUP = 'docker_hosts'

/** A word of an INI host line: shlex-quoted, and quoted twice when Python would read it as a literal. */
export function iniWord(v: Scalar): string {
  if (typeof v === 'number') return String(v)
  if (typeof v === 'boolean') return v ? 'True' : 'False'
  // A string Python would read as something else (22, True, [1], 'x') stays a string only as a Python
  // string literal, itself in shlex double quotes (where a backslash escapes only " and \\).
  if (literalEval(v).ok) return '"' + pyString(v).replace(/[\\"]/g, '\\$&') + '"'
  if (v !== '' && /^[A-Za-z0-9_@%+=:,./~-]+$/.test(v)) return v
  return "'" + v.replace(/'/g, `'"'"'`) + "'"
}

/** A Python string literal (for [group:vars] values, which are literal-evaluated whole). */
export function pyString(s: string): string {
  return "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n') + "'"
}

function iniVarValue(v: Scalar): string {
  if (typeof v === 'number') return String(v)
  if (typeof v === 'boolean') return v ? 'True' : 'False'
  return /^[A-Za-z0-9_@%+=:,./~-]+$/.test(v) && !literalEval(v).ok ? v : pyString(v)
}

export function renderIni(hosts: InventoryHost[], groupVars: Record<string, Scalar>, header: string[]): string {
  const lines = [...header.map((h) => `# ${h}`), `[${GROUP}]`]
  for (const h of hosts) lines.push([h.name, ...Object.entries(h.vars).map(([k, v]) => `${k}=${iniWord(v)}`)].join(' '))
  if (Object.keys(groupVars).length) {
    lines.push('', `[${GROUP}:vars]`)
    for (const [k, v] of Object.entries(groupVars)) lines.push(`${k}=${iniVarValue(v)}`)
  }
  return lines.join('\n') + '\n'
}

export function renderYamlInventory(hosts: InventoryHost[], groupVars: Record<string, Scalar>, header: string[]): string {
  const group: Record<string, unknown> = { hosts: Object.fromEntries(hosts.map((h) => [h.name, Object.keys(h.vars).length ? h.vars : null])) }
  if (Object.keys(groupVars).length) group.vars = groupVars
  const doc = { all: { children: { [GROUP]: group } } }
  return header.map((h) => `# ${h}\n`).join('') + YAML.stringify(doc, { lineWidth: 0 })
}

export function renderGroupVars(vars: Record<string, Scalar>, header: string[], comments: Record<string, string> = {}): string {
  const doc = new YAML.Document(vars)
  const map = doc.contents as YAML.YAMLMap
  for (const item of map.items) {
    const key = String((item.key as YAML.Scalar).value)
    if (comments[key]) (item.key as YAML.Scalar).commentBefore = ` ${comments[key]}`
  }
  return header.map((h) => `# ${h}\n`).join('') + doc.toString({ lineWidth: 0 })
}
