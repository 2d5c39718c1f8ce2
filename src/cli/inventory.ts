/** `orch inventory -i INV --list | --graph [group] [--limit P]`, as ansible-inventory. */
import type { Group, Inventory } from '../inventory/types.ts'
import { exitCodeForError, UsageError } from '../errors.ts'
import { parseExtraVars } from './extraVars.ts'
import type { Io } from './io.ts'
import { setupVault, type VaultCliOptions } from './vault.ts'

export interface InventoryCliOptions extends VaultCliOptions {
  inventory: string[]
  list?: boolean
  graph?: string | boolean
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
    if (!o.list && !o.graph) throw new UsageError('orch inventory: pass --list or --graph [group]')
    if (o.list && o.graph) throw new UsageError('orch inventory: --list and --graph exclude each other')
    const m = await import('../inventory/index.ts')
    // Inline !vault values stay envelopes, as ansible-inventory --list prints them.
    await setupVault(o, io, true)
    const extraVars = await parseExtraVars(o.extraVars, io.cwd)
    let inv = await m.loadInventory(o.inventory, { extraVars })
    for (const w of inv.warnings ?? []) io.stderr.write(`[WARNING]: ${w}\n`)
    if (o.limit) inv = limitInventory(inv, new Set(m.selectHosts(inv, 'all', { limit: o.limit, cwd: io.cwd, warn: (w) => io.stderr.write(`[WARNING]: ${w}\n`) }).map((h) => h.name)))
    if (o.list) io.stdout.write(JSON.stringify(m.renderList(inv), null, 4) + '\n')
    else io.stdout.write(m.renderGraph(inv, typeof o.graph === 'string' ? o.graph : 'all') + '\n')
    return 0
  } catch (e) {
    io.stderr.write(`ERROR! ${(e as Error)?.message ?? e}\n`)
    return exitCodeForError(e)
  }
}
