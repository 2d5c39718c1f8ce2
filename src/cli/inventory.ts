/** `orch inventory -i INV --list [--yaml] | --host H | --graph [group] [--vars] [--limit P]`, as ansible-inventory. */
import type { Group, Inventory } from '../inventory/types.ts'
import { exitCodeForError, UsageError } from '../errors.ts'
import { parseExtraVars } from './extraVars.ts'
import type { Io } from './io.ts'
import { setupVault, type VaultCliOptions } from './vault.ts'

export interface InventoryCliOptions extends VaultCliOptions {
  inventory: string[]
  list?: boolean
  graph?: string | boolean
  host?: string
  yaml?: boolean
  vars?: boolean
  toml?: boolean
  export?: boolean
  limit?: string
  extraVars: string[]
}

/** The inventory restricted to the hosts a --limit selects (groups keep only those hosts). */
export function limitInventory(inv: Inventory, names: Set<string>): Inventory {
  const hosts = new Map([...inv.hosts].filter(([n]) => names.has(n)))
  const groups = new Map<string, Group>()
  for (const [n, g] of inv.groups) groups.set(n, { ...g, hosts: g.hosts.filter((h) => names.has(h)) })
  return { ...inv, hosts, groups }
}

export async function inventoryCommand(o: InventoryCliOptions, io: Io): Promise<number> {
  try {
    if (!o.inventory.length) throw new UsageError('no inventory: pass -i <file|dir|host1,host2,>')
    const actions = [o.list && '--list', o.graph && '--graph', o.host !== undefined && '--host'].filter(Boolean)
    if (!actions.length) throw new UsageError('orch inventory: pass --list, --host HOST or --graph [group]')
    if (actions.length > 1) throw new UsageError(`orch inventory: ${actions.join(' and ')} exclude each other (one action only, as ansible-inventory)`)
    if (o.toml) throw new UsageError('orch inventory: --toml is not supported: use --yaml or the default JSON')
    if (o.export) throw new UsageError('orch inventory: --export is not supported: --list shows the merged host variables')
    const m = await import('../inventory/index.ts')
    // Inline !vault values stay envelopes, as ansible-inventory --list prints them.
    await setupVault(o, io, true)
    const extraVars = await parseExtraVars(o.extraVars, io.cwd)
    let inv = await m.loadInventory(o.inventory, { extraVars })
    for (const w of inv.warnings ?? []) io.stderr.write(`[WARNING]: ${w}\n`)
    if (o.limit) inv = limitInventory(inv, new Set(m.selectHosts(inv, 'all', { limit: o.limit, cwd: io.cwd, warn: (w) => io.stderr.write(`[WARNING]: ${w}\n`) }).map((h) => h.name)))
    // --yaml is ignored for --graph and --vars outside --graph, as ansible-inventory does.
    if (o.host !== undefined) io.stdout.write((o.yaml ? m.renderYamlHost(inv, o.host) : m.renderHost(inv, o.host)) + '\n')
    else if (o.list) io.stdout.write(o.yaml ? m.renderYamlList(inv) : JSON.stringify(m.renderList(inv), null, 4) + '\n')
    else io.stdout.write(m.renderGraph(inv, typeof o.graph === 'string' ? o.graph : 'all', !!o.vars) + '\n')
    return 0
  } catch (e) {
    io.stderr.write(`ERROR! ${(e as Error)?.message ?? e}\n`)
    return exitCodeForError(e)
  }
}
