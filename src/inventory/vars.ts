/**
 * Host variables, merged the way Ansible merges them.
 *
 * Variable precedence, lowest to highest (Ansible's default, `ansible-inventory --list` agrees):
 *
 *  1. `all` group vars from inventory files        ([all:vars], all: { vars: })
 *  2. other groups' vars from inventory files      ([web:vars], web: { vars: })
 *  3. group_vars/all beside each inventory source  (in -i order)
 *  4. group_vars/all beside the playbook
 *  5. group_vars/<group> beside each inventory source
 *  6. group_vars/<group> beside the playbook
 *  7. host vars from inventory files               (inline `host1 x=1`, YAML host vars, host:port)
 *  8. host_vars/<host> beside each inventory source
 *  9. host_vars/<host> beside the playbook
 * 10. extra vars (-e), which always win
 *
 * Note that every group_vars/ *file* beats every inventory-file group var: group_vars/all.yml
 * overrides [web:vars]. That is Ansible's documented order ("inventory group_vars/all" comes after
 * "inventory file or script group vars"). Steps 1-6 can be reordered with `groupPrecedence`, as
 * Ansible's ANSIBLE_PRECEDENCE / [defaults] precedence does.
 *
 * Within steps 2, 5 and 6 the host's groups (all but 'all') are merged parents first: sorted by depth
 * (longest :children path from 'all'), then ansible_group_priority (default 1, higher wins; only
 * settable in inventory files, not group_vars/), then name, alphabetically; later ones win. So a child
 * group overrides its parents, and of two unrelated groups at the same depth the one later in the
 * alphabet wins unless a priority says otherwise. Within steps 3, 5, 8 sources are taken in -i order
 * (each source's dir once per source, all groups of that dir before the next source).
 *
 * Merging replaces top-level keys (Ansible's hash_behaviour=replace): a dict is not deep-merged.
 *
 * Vars files: group_vars/NAME, NAME.yml, NAME.yaml, NAME.json (the first that exists, in that
 * order) or a directory group_vars/NAME/ whose files (no extension or .yml/.yaml/.json, recursively,
 * hidden files and backups~ skipped) are merged in lexical order. Same for host_vars/.
 */
import { readdir, stat } from 'node:fs/promises'
import { extname, join } from 'node:path'
import type { InventoryBuilder, RawGroup } from './model.ts'
import { InventoryError, type Vars } from './types.ts'
import { readText } from './read.ts'

export type GroupVarsStep =
  | 'all_inventory'
  | 'groups_inventory'
  | 'all_plugins_inventory'
  | 'all_plugins_play'
  | 'groups_plugins_inventory'
  | 'groups_plugins_play'

/** Ansible's default VARIABLE_PRECEDENCE: steps 1-6 above. */
export const ANSIBLE_GROUP_PRECEDENCE: readonly GroupVarsStep[] = [
  'all_inventory',
  'groups_inventory',
  'all_plugins_inventory',
  'all_plugins_play',
  'groups_plugins_inventory',
  'groups_plugins_play',
]

const VARS_EXTS = ['.yml', '.yaml', '.json']

/** Top-level replace, Ansible's default hash_behaviour. */
export function combineVars(a: Vars, b: Vars): Vars {
  return { ...a, ...b }
}

/** Parents first: depth, then priority, then name (Ansible's sort_groups). */
export function sortGroups<G extends { name: string; depth: number; priority: number }>(groups: G[]): G[] {
  return [...groups].sort(
    (a, b) => a.depth - b.depth || a.priority - b.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  )
}

async function kindOf(path: string): Promise<'file' | 'dir' | null> {
  try {
    const s = await stat(path)
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : null
  } catch {
    return null
  }
}

async function dirVarsFiles(dir: string): Promise<string[]> {
  const out: string[] = []
  const names = (await readdir(dir)).sort()
  for (const name of names) {
    if (name.startsWith('.') || name.endsWith('~')) continue
    const full = join(dir, name)
    const ext = extname(name)
    const k = await kindOf(full)
    if (k === 'dir' && !ext) out.push(...(await dirVarsFiles(full)))
    else if (k === 'file' && (!ext || VARS_EXTS.includes(ext))) out.push(full)
  }
  return out
}

/** The files holding vars for `name` in `dir` (a group_vars/ or host_vars/ directory), in merge order. */
export async function findVarsFiles(dir: string, name: string): Promise<string[]> {
  if (name.startsWith('/')) return []
  for (const ext of ['', ...VARS_EXTS]) {
    const path = join(dir, name + ext)
    const k = await kindOf(path)
    if (k === 'dir') return dirVarsFiles(path)
    if (k === 'file') return [path]
  }
  return []
}

/** Loads group_vars/host_vars files, each file once. */
export class VarsFiles {
  private files = new Map<string, Promise<Vars>>()
  private found = new Map<string, Promise<string[]>>()
  /** Every file that contributed, for messages. */
  readonly loaded = new Set<string>()

  private file(path: string): Promise<Vars> {
    let p = this.files.get(path)
    if (!p) {
      p = readText(path).then(async (text) => {
        this.loaded.add(path)
        // yaml.ts (and the yaml package) only when there is a vars file.
        return (await import('./yaml.ts')).parseVarsFile(text, path)
      })
      this.files.set(path, p)
    }
    return p
  }

  /** Merged vars of `name` from `baseDir/kind/`. */
  async get(baseDir: string, kind: 'group_vars' | 'host_vars', name: string): Promise<Vars> {
    const dir = join(baseDir, kind)
    const key = `${dir}\0${name}`
    let f = this.found.get(key)
    if (!f) {
      f = (async () => ((await kindOf(dir)) === 'dir' ? findVarsFiles(dir, name) : []))()
      this.found.set(key, f)
    }
    let out: Vars = {}
    for (const path of await f) out = combineVars(out, await this.file(path))
    return out
  }
}

/** Ansible's C.LOCALHOST: the names that get the implicit localhost. */
export const IMPLICIT_LOCALHOST: readonly string[] = ['127.0.0.1', 'localhost', '::1']

export interface ResolveOptions {
  /** Directories whose group_vars/ and host_vars/ belong to the inventory: one per -i source, in order. */
  inventoryDirs: string[]
  /** The playbook's directory: its group_vars/ and host_vars/ too. */
  playbookDir?: string
  extraVars?: Vars
  groupPrecedence?: readonly GroupVarsStep[]
}

export interface ResolvedVars {
  hostVars: Map<string, Vars>
  /** The vars an implicit localhost of each name would get (only names the inventory does not hold). */
  implicitVars: Map<string, Vars>
  /** Each group's inventory vars overlaid with its group_vars/ files (inventory dirs, then playbook dir). */
  groupVars: Map<string, Vars>
  depth: Map<string, number>
}

/** Computes every host's final vars (and every group's displayed vars). Call after reconcile(). */
export async function resolveVars(inv: InventoryBuilder, opts: ResolveOptions): Promise<ResolvedVars> {
  const files = new VarsFiles()
  const depth = inv.depths()
  const ranked = new Map<string, RawGroup & { depth: number }>()
  for (const g of inv.groups.values()) ranked.set(g.name, { ...g, depth: depth.get(g.name) ?? 0 })

  const invDirs = opts.inventoryDirs
  const playDirs = opts.playbookDir ? [opts.playbookDir] : []
  const groupFiles = async (dirs: string[], groups: string[]): Promise<Vars> => {
    let out: Vars = {}
    for (const dir of dirs) for (const g of groups) out = combineVars(out, await files.get(dir, 'group_vars', g))
    return out
  }
  const hostFiles = async (dirs: string[], host: string): Promise<Vars> => {
    let out: Vars = {}
    for (const dir of dirs) out = combineVars(out, await files.get(dir, 'host_vars', host))
    return out
  }

  const order = opts.groupPrecedence ?? ANSIBLE_GROUP_PRECEDENCE
  for (const step of order) {
    if (!ANSIBLE_GROUP_PRECEDENCE.includes(step)) throw new InventoryError(`unknown variable precedence step '${step}'`)
  }

  const groupVars = new Map<string, Vars>()
  for (const g of inv.groups.values()) {
    groupVars.set(g.name, combineVars(g.vars, combineVars(await groupFiles(invDirs, [g.name]), await groupFiles(playDirs, [g.name]))))
  }

  const hostVars = new Map<string, Vars>()
  const implicitVars = new Map<string, Vars>()
  const all = inv.groups.get('all')!
  // Ansible's _create_implicit_localhost: no groups (the 'all' group's vars still apply, as
  // VariableManager adds them to every host), ansible_connection=local as a host variable.
  const implicit = IMPLICIT_LOCALHOST.filter((n) => !inv.hosts.has(n)).map((name) => ({ name, vars: { ansible_connection: 'local' }, implicit: true }))
  for (const h of [...inv.hosts.values(), ...implicit]) {
    const groups = 'implicit' in h ? [] : sortGroups([...inv.hostGroups(h.name)].filter((g) => g !== 'all').map((g) => ranked.get(g)!))
    const names = groups.map((g) => g.name)
    const steps: Record<GroupVarsStep, () => Promise<Vars>> = {
      all_inventory: async () => all.vars,
      groups_inventory: async () => groups.reduce<Vars>((acc, g) => combineVars(acc, g.vars), {}),
      all_plugins_inventory: () => groupFiles(invDirs, ['all']),
      all_plugins_play: () => groupFiles(playDirs, ['all']),
      groups_plugins_inventory: () => groupFiles(invDirs, names),
      groups_plugins_play: () => groupFiles(playDirs, names),
    }
    let v: Vars = {}
    for (const step of order) v = combineVars(v, await steps[step]())
    v = combineVars(v, h.vars)
    v = combineVars(v, await hostFiles(invDirs, h.name))
    v = combineVars(v, await hostFiles(playDirs, h.name))
    v = combineVars(v, opts.extraVars ?? {})
    // Hosts must not share mutable values (a list in group vars would otherwise be one object for all).
    ;('implicit' in h ? implicitVars : hostVars).set(h.name, structuredClone(v))
  }
  return { hostVars, implicitVars, groupVars, depth }
}
