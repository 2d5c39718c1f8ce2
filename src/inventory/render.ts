/**
 * The inventory as `ansible-inventory` prints it: `--list` (JSON) and `--graph`.
 * Same shapes and orders, so the two can be compared (test/unit/inventory-ansible.test.ts does).
 */
import { InventoryError, type Inventory, type Vars } from './types.ts'

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
export function renderGraph(inv: Inventory, group = 'all'): string {
  if (!inv.groups.has(group)) throw new InventoryError(`--graph needs a group name; '${group}' is not a group`)
  const line = (text: string, depth: number): string => (depth ? '  |'.repeat(depth) + '--' + text : text)
  const walk = (name: string, depth: number): string[] => {
    const g = inv.groups.get(name)!
    const out = [line(`@${name}:`, depth)]
    for (const kid of g.children) out.push(...walk(kid, depth + 1))
    if (name !== 'all') for (const h of g.hosts) out.push(line(h, depth + 1))
    return out
  }
  return walk(group, 0).join('\n')
}
