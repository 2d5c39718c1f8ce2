/**
 * The inventory as `ansible-inventory` prints it: `--list` (JSON or `--yaml`), `--host`, `--graph [--vars]`.
 * Same shapes and orders, so the two can be compared (test/unit/inventory-ansible.test.ts does).
 */
import { dumpPyYaml } from './yaml.ts'
import { matchHosts } from './pattern.ts'
import { InventoryError, type Host, type Inventory, type Vars } from './types.ts'

/** Variables ansible-inventory leaves out of `_meta.hostvars` (its INTERNAL_VARS). */
export const INTERNAL_VARS: ReadonlySet<string> = new Set([
  'ansible_diff_mode',
  'ansible_config_file',
  'ansible_facts',
  'ansible_forks',
  'ansible_inventory_sources',
  'ansible_limit',
  'ansible_playbook_python',
  'ansible_run_tags',
  'ansible_skip_tags',
  'ansible_verbosity',
  'ansible_version',
  'inventory_dir',
  'inventory_file',
  'inventory_hostname',
  'inventory_hostname_short',
  'groups',
  'group_names',
  'omit',
  'playbook_dir',
])

export interface ListGroup {
  hosts?: string[]
  children?: string[]
}

export interface InventoryList {
  _meta: { hostvars: Record<string, Vars> }
  [group: string]: ListGroup | { hostvars: Record<string, Vars> }
}

/**
 * `ansible-inventory --list`: `{ _meta: { hostvars }, all: { children }, group: { hosts, children } }`.
 * Groups with neither hosts nor children are left out (but still named in their parent's children);
 * hosts without vars are left out of hostvars.
 */
export function renderList(inv: Inventory): InventoryList {
  const out: Record<string, unknown> = {}
  const seen = new Set<string>()
  const format = (name: string): void => {
    const g = inv.groups.get(name)
    if (!g) return
    const entry: ListGroup = {}
    if (name !== 'all' && g.hosts.length) entry.hosts = [...g.hosts]
    if (g.children.length) entry.children = [...g.children]
    if (entry.hosts || entry.children) out[name] = entry
    for (const kid of g.children) {
      if (!seen.has(kid)) {
        format(kid)
        seen.add(kid)
      }
    }
  }
  format('all')
  const hostvars: Record<string, Vars> = {}
  for (const h of inv.hosts.values()) {
    const vars = Object.fromEntries(Object.entries(h.vars).filter(([k]) => !INTERNAL_VARS.has(k)))
    if (Object.keys(vars).length) hostvars[h.name] = vars
  }
  return { _meta: { hostvars }, ...out } as InventoryList
}

/**
 * `ansible-inventory --graph [group]`:
 *
 *     @all:
 *       |--@ungrouped:
 *       |  |--gw
 *       |--@docker_hosts:
 *       |  |--node01
 *
 * A group's children come first, then its direct hosts; 'all' lists no hosts of its own. No trailing newline.
 */
export function renderGraph(inv: Inventory, group = 'all', withVars = false): string {
  if (!inv.groups.has(group)) throw new InventoryError(`--graph needs a group name; '${group}' is not a group`)
  const line = (text: string, depth: number): string => (depth ? '  |'.repeat(depth) + '--' + text : text)
  // --vars: `{name = value}` lines, sorted, values as Python's str() (ansible-inventory's _show_vars).
  const vars = (v: Vars, depth: number) => Object.keys(v).filter((k) => !INTERNAL_VARS.has(k)).sort().map((k) => line(`{${k} = ${pyStr(v[k])}}`, depth))
  const walk = (name: string, depth: number): string[] => {
    const g = inv.groups.get(name)!
    const out = [line(`@${name}:`, depth)]
    for (const kid of g.children) out.push(...walk(kid, depth + 1))
    if (name !== 'all')
      for (const h of g.hosts) {
        out.push(line(h, depth + 1))
        if (withVars) out.push(...vars(inv.hosts.get(h)?.vars ?? {}, depth + 2))
      }
    if (withVars) out.push(...vars(groupVars(g), depth + 1))
    return out
  }
  return walk(group, 0).join('\n')
}

/** A group's own variables as ansible-inventory shows them (ansible_group_priority when not the default). */
function groupVars(g: Inventory['groups'] extends Map<string, infer G> ? G : never): Vars {
  return g.priority !== undefined && g.priority !== 1 ? { ...g.vars, ansible_group_priority: g.priority } : g.vars
}

/** `ansible-inventory --host H`: the host's variables, keys sorted at every level, indented 4. */
export function renderHost(inv: Inventory, pattern: string): string {
  return JSON.stringify(sortKeys(visibleVars(oneHost(inv, pattern))), null, 4)
}

/** `ansible-inventory --host H --yaml`. */
export function renderYamlHost(inv: Inventory, pattern: string): string {
  return dumpYaml(visibleVars(oneHost(inv, pattern))).trimEnd()
}

/** ansible-inventory's --host argument is a pattern that must select exactly one host (the implicit localhost too). */
function oneHost(inv: Inventory, pattern: string): Host {
  const hosts = matchHosts(inv, pattern)
  if (hosts.length !== 1) throw new InventoryError('You must pass a single valid host to --host parameter')
  return hosts[0]
}

const dumpYaml = (v: unknown) => dumpPyYaml(sortKeys(v))

/**
 * `ansible-inventory --list --yaml`: the group tree from `all`, every host under each group it is a direct
 * member of with its variables; keys sorted, sequences not indented (PyYAML's dump).
 */
export function renderYamlList(inv: Inventory): string {
  // A host's variables are written where the walk (children before hosts, in group order) meets it
  // first; every later mention is `{}` (ansible-inventory's yaml_inventory).
  const seen = new Set<string>()
  const tree = (name: string): Record<string, unknown> => {
    const g = inv.groups.get(name)!
    const out: Record<string, unknown> = {}
    if (g.children.length) out.children = Object.fromEntries(g.children.map((k) => [k, tree(k)]))
    if (name !== 'all' && g.hosts.length)
      out.hosts = Object.fromEntries(
        g.hosts.map((h) => {
          const first = !seen.has(h)
          seen.add(h)
          return [h, first ? hostVars(inv, h) : {}]
        }),
      )
    return out
  }
  return dumpYaml({ all: tree('all') })
}

function hostVars(inv: Inventory, name: string): Vars {
  const h = inv.hosts.get(name)
  return h ? visibleVars(h) : {}
}

function visibleVars(h: Host): Vars {
  return Object.fromEntries(Object.entries(h.vars).filter(([k]) => !INTERNAL_VARS.has(k)))
}

/** Keys sorted at every level; one object met twice stays one object (PyYAML makes it an anchor). */
function sortKeys(v: unknown, seen = new Map<object, unknown>()): unknown {
  if (!v || typeof v !== 'object') return v
  if (seen.has(v)) return seen.get(v)
  const out: unknown = Array.isArray(v) ? [] : {}
  seen.set(v, out)
  if (Array.isArray(v)) for (const x of v) (out as unknown[]).push(sortKeys(x, seen))
  else for (const k of Object.keys(v).sort()) (out as Record<string, unknown>)[k] = sortKeys((v as Record<string, unknown>)[k], seen)
  return out
}

/** Python's str() of a value read from YAML/INI: repr() inside containers. */
export function pyStr(v: unknown): string {
  return typeof v === 'string' ? v : pyRepr(v)
}

/** Python's repr() of a value read from YAML/INI (ansible-playbook prints the play pattern with it too). */
export function pyRepr(v: unknown): string {
  if (v === null || v === undefined) return 'None'
  if (v === true) return 'True'
  if (v === false) return 'False'
  if (typeof v === 'number') return Number.isInteger(v) && !Object.is(v, -0) ? String(v) : pyFloat(v)
  if (typeof v === 'string') {
    const q = v.includes("'") && !v.includes('"') ? '"' : "'"
    return q + v.replace(/\\/g, '\\\\').replace(q === "'" ? /'/g : /"/g, `\\${q}`).replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/\r/g, '\\r') + q
  }
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`
  if (typeof v === 'object') return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`).join(', ')}}`
  return String(v)
}

function pyFloat(v: number): string {
  if (Number.isNaN(v)) return 'nan'
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf'
  const s = String(v)
  return /[.e]/.test(s) ? s.replace(/e([+-])(\d)$/, 'e$10$2') : `${s}.0`
}
