/**
 * The mutable inventory the parsers fill in, with Ansible's rules for groups:
 * 'all' and 'ungrouped' always exist; a group without parents becomes a child of 'all';
 * a host in no group but 'all' goes to 'ungrouped' (and leaves it when it is in another group);
 * a cycle in :children is an error naming the groups.
 */
import { InventoryError, type Vars } from './types.ts'

export interface Where {
  file?: string
  line?: number
}

export interface RawGroup {
  name: string
  /** Direct hosts, in the order they were added. */
  hosts: string[]
  children: string[]
  parents: string[]
  /** Vars from inventory files only ([g:vars], YAML vars:). */
  vars: Vars
  priority: number
}

export interface RawHost {
  name: string
  /** Vars from inventory files only (inline vars, YAML host vars, host:port). */
  vars: Vars
  /** Groups the host was added to directly. */
  groups: string[]
  source?: string
}

const at = (w?: Where): string | undefined => (w?.file ? `${w.file}${w.line ? `:${w.line}` : ''}` : undefined)

export class InventoryBuilder {
  readonly groups = new Map<string, RawGroup>()
  readonly hosts = new Map<string, RawHost>()
  readonly warnings: string[] = []

  constructor() {
    this.addGroup('all')
    this.addGroup('ungrouped')
    this.addChild('all', 'ungrouped')
  }

  addGroup(name: string, where?: Where): RawGroup {
    if (!name) throw new InventoryError('empty group name', where?.file, where?.line)
    let g = this.groups.get(name)
    if (!g) {
      g = { name, hosts: [], children: [], parents: [], vars: {}, priority: 1 }
      this.groups.set(name, g)
    }
    return g
  }

  addHost(name: string, group?: string, where?: Where): RawHost {
    if (!name) throw new InventoryError('empty host name', where?.file, where?.line)
    let h = this.hosts.get(name)
    if (!h) {
      h = { name, vars: {}, groups: [], source: at(where) }
      this.hosts.set(name, h)
    }
    if (group) {
      const g = this.groups.get(group)
      if (!g) throw new InventoryError(`unknown group '${group}'`, where?.file, where?.line)
      if (!g.hosts.includes(name)) g.hosts.push(name)
      if (!h.groups.includes(group)) h.groups.push(group)
    }
    return h
  }

  /** Makes `child` a child group of `parent`; throws InventoryError naming the groups of a cycle. */
  addChild(parent: string, child: string, where?: Where): void {
    const p = this.groups.get(parent)
    const c = this.groups.get(child)
    if (!p || !c) throw new InventoryError(`unknown group '${p ? child : parent}'`, where?.file, where?.line)
    if (p.children.includes(child)) return
    if (parent === child) {
      throw new InventoryError(`group '${parent}' cannot be a child of itself`, where?.file, where?.line)
    }
    const path = this.pathDown(child, parent)
    if (path) {
      throw new InventoryError(
        `cycle in group children: ${[parent, ...path].join(' -> ')} (making '${child}' a child of '${parent}')`,
        where?.file,
        where?.line,
      )
    }
    p.children.push(child)
    c.parents.push(parent)
  }

  /** A path of group names from `from` down to `to` through children, or null. */
  private pathDown(from: string, to: string, seen = new Set<string>()): string[] | null {
    if (from === to) return [from]
    if (seen.has(from)) return null
    seen.add(from)
    for (const kid of this.groups.get(from)?.children ?? []) {
      const rest = this.pathDown(kid, to, seen)
      if (rest) return [from, ...rest]
    }
    return null
  }

  setGroupVar(group: string, key: string, value: unknown, where?: Where): void {
    const g = this.addGroup(group, where)
    if (key === 'ansible_group_priority') {
      // Like Ansible: a property of the group (used to order same-depth groups), not a variable.
      const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value) ? Number(value) : NaN
      if (!Number.isInteger(n)) {
        throw new InventoryError(
          `group '${group}': ansible_group_priority must be an integer, got ${JSON.stringify(value)}`,
          where?.file,
          where?.line,
        )
      }
      g.priority = n
      return
    }
    g.vars[key] = value
  }

  setHostVar(host: string, key: string, value: unknown): void {
    const h = this.hosts.get(host)
    if (!h) throw new InventoryError(`unknown host '${host}'`)
    h.vars[key] = value
  }

  /** All ancestors of a group (not the group itself). */
  ancestors(group: string): Set<string> {
    const out = new Set<string>()
    const walk = (g: string): void => {
      for (const p of this.groups.get(g)?.parents ?? []) {
        if (!out.has(p)) {
          out.add(p)
          walk(p)
        }
      }
    }
    walk(group)
    return out
  }

  /** Every group a host is in: its direct groups and their ancestors. */
  hostGroups(host: string): Set<string> {
    const out = new Set<string>()
    for (const g of this.hosts.get(host)?.groups ?? []) {
      out.add(g)
      for (const a of this.ancestors(g)) out.add(a)
    }
    return out
  }

  /** Ansible's reconcile_inventory: orphan groups under 'all', 'ungrouped' fixed up. */
  reconcile(): void {
    for (const g of this.groups.values()) {
      if (g.name !== 'all' && g.parents.length === 0) this.addChild('all', g.name)
    }
    const ungrouped = this.groups.get('ungrouped')!
    for (const h of this.hosts.values()) {
      const mine = this.hostGroups(h.name)
      if (mine.has('ungrouped')) {
        const others = [...mine].filter((g) => g !== 'all' && g !== 'ungrouped')
        if (others.length > 0 && h.groups.includes('ungrouped')) {
          ungrouped.hosts = ungrouped.hosts.filter((n) => n !== h.name)
          h.groups = h.groups.filter((g) => g !== 'ungrouped')
        }
      } else if (mine.size === 0 || (mine.size === 1 && mine.has('all'))) {
        this.addHost(h.name, 'ungrouped')
      }
    }
    for (const name of this.hosts.keys()) {
      if (this.groups.has(name)) this.warnings.push(`found both a group and a host named '${name}'`)
    }
  }

  /** Longest path from 'all' for every group ('all' = 0). */
  depths(): Map<string, number> {
    const depth = new Map<string, number>()
    const of = (name: string): number => {
      const known = depth.get(name)
      if (known !== undefined) return known
      const g = this.groups.get(name)!
      const d = g.parents.length ? Math.max(...g.parents.map((p) => of(p) + 1)) : 0
      depth.set(name, d)
      return d
    }
    for (const name of this.groups.keys()) of(name)
    return depth
  }
}
