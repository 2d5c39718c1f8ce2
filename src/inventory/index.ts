/**
 * Ansible-compatible inventory: INI and YAML files, directories of them, group_vars/ and
 * host_vars/, Ansible's variable precedence, host patterns, ansible-inventory style output.
 *
 *     const inv = await loadInventory(['inventory/hosts'], { extraVars, playbookDir })
 *     const hosts = selectHosts(inv, 'docker_hosts:!gw', { limit: opts.limit })
 *     const { address, port, user } = connectionVars(hosts[0])
 */
import { readdir, stat } from 'node:fs/promises'
import { dirname, extname, join, resolve } from 'node:path'
import { parseAddress } from './hostpattern.ts'
import { parseIni } from './ini.ts'
import { readText } from './read.ts'
import { InventoryBuilder } from './model.ts'
import { InventoryError, type Group, type Host, type Inventory, type Vars } from './types.ts'
import { resolveVars, type GroupVarsStep } from './vars.ts'

export * from './types.ts'
export { connectionVars, HostVarError, toBool, type ConnectionVars } from './connection.ts'
export { groupHosts, HostPatternError, matchHosts, NoHostsMatchedError, selectHosts, splitPattern, type SelectOptions } from './pattern.ts'
export { renderGraph, renderList, type InventoryList } from './render.ts'
export { ANSIBLE_GROUP_PRECEDENCE, type GroupVarsStep } from './vars.ts'
export { expandHostRange } from './hostpattern.ts'

export interface LoadOptions {
  /** -e: override every other variable. */
  extraVars?: Vars
  /** The playbook's directory: its group_vars/ and host_vars/ apply too (above the inventory's). */
  playbookDir?: string
  /** Reorders group variable steps 1-6 (see vars.ts); default Ansible's. */
  groupPrecedence?: readonly GroupVarsStep[]
}

/** Files Ansible skips in an inventory directory (INVENTORY_IGNORE_EXTS and IGNORED_ALWAYS). */
const IGNORED_EXTS = ['.orig', '.ini', '.cfg', '.retry', '.pyc', '.pyo', '.swp', '.bak', '~', '.rpm', '.md', '.txt', '.rst']
const IGNORED_NAMES = new Set(['host_vars', 'group_vars', 'vars_plugins'])

export type InventoryFormat = 'ini' | 'yaml'

/**
 * Which parser reads a file: .yml/.yaml/.json are YAML; other files are YAML when their first
 * meaningful line looks like YAML (`---`, `all:`, `{`), else INI (`[group]`, `host1 x=1`).
 */
export function detectFormat(file: string, text: string): InventoryFormat {
  const ext = extname(file).toLowerCase()
  if (['.yml', '.yaml', '.json'].includes(ext)) return 'yaml'
  if (ext === '.ini') return 'ini'
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim()
    if (!line || line.startsWith('#') || line.startsWith(';')) continue
    return line === '---' || line.startsWith('{') || /^[^\s=[]+:\s*(#.*)?$/.test(line) || /^[^\s=[]+:\s+\S/.test(line)
      ? 'yaml'
      : 'ini'
  }
  return 'ini'
}

async function isDir(path: string): Promise<boolean | null> {
  try {
    return (await stat(path)).isDirectory()
  } catch {
    return null
  }
}

/** Loads and merges inventory sources (files, directories, or "h1,h2," host lists), like repeated -i. */
export async function loadInventory(paths: string[], opts: LoadOptions = {}): Promise<Inventory> {
  const inv = new InventoryBuilder()
  const sources: string[] = []
  const inventoryDirs: string[] = []

  const parseFile = async (file: string): Promise<void> => {
    const text = await readText(file)
    sources.push(file)
    // yaml.ts (and the yaml package, ~20 ms to load) only for YAML inventories.
    if (detectFormat(file, text) === 'yaml') (await import('./yaml.ts')).parseYamlInventory(text, file, inv)
    else parseIni(text, file, inv)
  }
  const parseDir = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const full = join(dir, name)
      if (name.startsWith('.') || IGNORED_NAMES.has(name)) continue
      if (IGNORED_EXTS.some((e) => name.endsWith(e))) {
        if (name.endsWith('.ini') || name.endsWith('.cfg')) {
          inv.warnings.push(`ignored ${full}: like Ansible, an inventory directory skips ${extname(name)} files`)
        }
        continue
      }
      if (await isDir(full)) await parseDir(full)
      else await parseFile(full)
    }
  }

  for (const p of paths) {
    const abs = resolve(p)
    const dir = await isDir(abs)
    if (dir === null) {
      if (p.includes(',')) {
        // A host list: `-i 'host1,host2:2222,'`.
        for (const entry of p.split(',').map((s) => s.trim()).filter(Boolean)) {
          const a = parseAddress(entry)
          if (!a || a.host.includes('[')) throw new InventoryError(`invalid host '${entry}' in host list '${p}'`)
          inv.addHost(a.host, 'ungrouped', { file: '(host list)' })
          if (a.port !== undefined) inv.setHostVar(a.host, 'ansible_port', a.port)
        }
        continue
      }
      throw new InventoryError(`inventory source not found: ${p}`)
    }
    if (dir) {
      await parseDir(abs)
      inventoryDirs.push(abs)
    } else {
      await parseFile(abs)
      inventoryDirs.push(dirname(abs))
    }
  }

  inv.reconcile()
  const resolved = await resolveVars(inv, {
    inventoryDirs,
    playbookDir: opts.playbookDir ? resolve(opts.playbookDir) : undefined,
    extraVars: opts.extraVars,
    groupPrecedence: opts.groupPrecedence,
  })

  const hosts = new Map<string, Host>()
  for (const h of inv.hosts.values()) {
    const groups = [...inv.hostGroups(h.name)].filter((g) => g !== 'all').sort()
    const host: Host = { name: h.name, vars: resolved.hostVars.get(h.name)!, groups: ['all', ...groups] }
    if (h.source) host.source = h.source
    hosts.set(h.name, host)
  }
  const groups = new Map<string, Group>()
  for (const g of inv.groups.values()) {
    groups.set(g.name, {
      name: g.name,
      hosts: [...g.hosts],
      children: [...g.children],
      vars: resolved.groupVars.get(g.name) ?? {},
      parents: [...g.parents],
      depth: resolved.depth.get(g.name) ?? 0,
      priority: g.priority,
    })
  }
  const inventory: Inventory = { sources, hosts, groups }
  if (inv.warnings.length) inventory.warnings = [...inv.warnings]
  return inventory
}
