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
import { isExecutable, loadScript, magic } from './script.ts'
import { InventoryBuilder } from './model.ts'
import { InventoryError, type Group, type Host, type Inventory, type LocalhostFactory, type Vars } from './types.ts'
import { IMPLICIT_LOCALHOST, resolveVars, type GroupVarsStep } from './vars.ts'

export * from './types.ts'
export { connectionVars, HostVarError, toBool, type ConnectionVars } from './connection.ts'
export { groupHosts, HostPatternError, matchHosts, NoHostsMatchedError, selectHosts, splitPattern, type SelectOptions } from './pattern.ts'
export { pyStr, renderGraph, renderHost, renderList, renderYamlHost, renderYamlList, type InventoryList } from './render.ts'
export { ANSIBLE_GROUP_PRECEDENCE, type GroupVarsStep } from './vars.ts'
export { expandHostRange } from './hostpattern.ts'

/**
 * Ansible's InventoryData.localhost: the first host of the inventory named like localhost, else an
 * implicit one made for the first name asked for, and that same host for every later name.
 */
function localhostFactory(hosts: Map<string, Host>, implicitVars: Map<string, Vars>): LocalhostFactory {
  let chosen: Host | undefined
  for (const h of hosts.values()) {
    if (IMPLICIT_LOCALHOST.includes(h.name)) {
      chosen = h
      break
    }
  }
  return (name) => (chosen ??= { name, vars: structuredClone(implicitVars.get(name) ?? { ansible_connection: 'local' }), groups: [], implicit: true })
}

export interface LoadOptions {
  /** -e: override every other variable. */
  extraVars?: Vars
  /** The playbook's directory: its group_vars/ and host_vars/ apply too (above the inventory's). */
  playbookDir?: string
  /** Reorders group variable steps 1-6 (see vars.ts); default Ansible's. */
  groupPrecedence?: readonly GroupVarsStep[]
}

/** Files Ansible skips in an inventory directory: INVENTORY_IGNORE_EXTS (`ansible-config dump` default). */
export const IGNORED_EXTS = ['.pyc', '.pyo', '.swp', '.bak', '~', '.rpm', '.md', '.txt', '.rst', '.orig', '.ini', '.cfg', '.retry']
/** IGNORED_ALWAYS: hidden entries and the vars directories. */
const IGNORED_NAMES = new Set(['host_vars', 'group_vars', 'vars_plugins'])

/** ANSIBLE_INVENTORY_IGNORE (extensions, replacing the default) and ANSIBLE_INVENTORY_IGNORE_REGEX (patterns), as Ansible's lists. */
function ignoreRules(): { exts: string[]; patterns: RegExp[] } {
  const list = (v: string | undefined) => (v ?? '').split(',').map((x) => x.trim()).filter(Boolean)
  const exts = process.env.ANSIBLE_INVENTORY_IGNORE !== undefined ? list(process.env.ANSIBLE_INVENTORY_IGNORE) : IGNORED_EXTS
  const patterns = list(process.env.ANSIBLE_INVENTORY_IGNORE_REGEX).map((p) => {
    try {
      return new RegExp(p)
    } catch (e) {
      throw new InventoryError(`ANSIBLE_INVENTORY_IGNORE_REGEX: invalid pattern '${p}': ${(e as Error).message}`)
    }
  })
  return { exts, patterns }
}

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
    // Ansible's plugin order: script (an executable), then YAML/INI by content; TOML is not read.
    const kind = await magic(file)
    if ((kind === 'shebang' || kind === 'elf') && (await isExecutable(file))) {
      sources.push(file)
      return loadScript(file, inv)
    }
    if (extname(file).toLowerCase() === '.toml') throw new InventoryError('TOML inventories are not supported (write it as YAML or INI)', file)
    const text = await readText(file)
    sources.push(file)
    try {
      // yaml.ts (and the yaml package, ~20 ms to load) only for YAML inventories.
      if (detectFormat(file, text) === 'yaml') (await import('./yaml.ts')).parseYamlInventory(text, file, inv)
      else parseIni(text, file, inv)
    } catch (e) {
      if (kind === 'shebang' && e instanceof InventoryError) {
        throw new InventoryError(`${e.message} (it starts with #!: make it executable to run it as an inventory script)`)
      }
      throw e
    }
  }
  const ignore = ignoreRules()
  // Ansible's parse_source for a directory: sorted entries, nested directories too, each file through the plugins.
  const parseDir = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const full = join(dir, name)
      if (name.startsWith('.') || IGNORED_NAMES.has(name) || ignore.patterns.some((p) => p.test(name))) continue
      if (ignore.exts.some((e) => name.endsWith(e))) {
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
  const inventory: Inventory = { sources, hosts, groups, localhost: localhostFactory(hosts, resolved.implicitVars) }
  if (inv.warnings.length) inventory.warnings = [...inv.warnings]
  return inventory
}
