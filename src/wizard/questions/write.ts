/** The files question group: inventory format and place, the inventory and group_vars text, the summary, the write. */
import { existsSync } from 'node:fs'
import { relative } from 'node:path'
import { UsageError } from '../../errors.ts'
import { quote } from '../../net/shell.ts'
import { CancelledError } from '../ask.ts'
import { commitFiles, type PlannedFile } from '../files.ts'
import { absFrom, outputPaths, relFrom, type WizardCtx } from '../options.ts'
import { GROUP, renderGroupVars, renderIni, renderYamlInventory, type InventoryHost, type Scalar } from '../render.ts'
import { underlayOf } from '../suggest.ts'
import { VXLAN_RANGE_PREFIX, type NetworkAnswers } from './network.ts'
import type { Probed } from './probe.ts'

/** Writes the files (all or none) once confirmed; returns where the inventory and group_vars went. */
export async function askFiles(ctx: WizardCtx, probed: readonly Probed[], net: NetworkAnswers): Promise<{ inventory: string; groupVars: string }> {
  const { o, env, ask, interactive, say, color, kh, knownHostsTarget, defaultKnownHosts } = ctx
  const { sug, strategy, groupVars, comments, hostVars } = net
  const format = await ask.select({
    message: 'Inventory format',
    flag: '--format',
    value: o.format,
    default: 'ini',
    choices: [
      { name: 'INI (hosts.ini)', value: 'ini' },
      { name: 'YAML (hosts.yml)', value: 'yaml' },
    ],
  })
  let paths: { inventory: string; groupVars: string }
  let outDir = o.out
  for (;;) {
    outDir = await ask.input({ message: 'Directory to write the inventory to', flag: '--out', value: outDir, default: 'inventory', validate: (s) => (s.trim() ? true : 'a directory') })
    paths = outputPaths(env.cwd, outDir.trim(), format)
    const exists = [paths.inventory, paths.groupVars].filter((f) => existsSync(f))
    if (!exists.length || o.force) break
    if (!interactive) throw new UsageError(`${exists.join(' and ')} already exist: pass --force to replace, or --out DIR`)
    if (await ask.confirm({ message: `${exists.map((f) => relative(env.cwd, f)).join(' and ')} already exist${exists.length === 1 ? 's' : ''}. Replace?`, flag: '--force', default: false })) break
    outDir = undefined
  }

  // Connection variables: what was resolved (ssh config values included), so `orch run` needs nothing else.
  const khArgs = knownHostsTarget !== defaultKnownHosts ? ['-o', `UserKnownHostsFile=${knownHostsTarget}`, '-o', 'StrictHostKeyChecking=yes'] : []
  const invGroupVars: Record<string, Scalar> = {}
  if (khArgs.length) invGroupVars.ansible_ssh_common_args = khArgs.map(quote).join(' ')
  const invHosts: InventoryHost[] = probed.map((p) => {
    const v: Record<string, Scalar> = { ansible_host: p.hop.host }
    if (p.hop.port !== 22) v.ansible_port = p.hop.port
    v.ansible_user = p.hop.user
    const keyFile = p.entry.key ? (p.entry.key.startsWith('~') ? p.entry.key : absFrom(env.cwd, p.entry.key)) : p.hop.identityFilesExplicit ? p.hop.identityFiles[0] : undefined
    if (keyFile) v.ansible_ssh_private_key_file = keyFile
    if (p.hop.user !== 'root') v.ansible_become = true
    const extra: string[] = []
    if (p.hop.proxyJump.length) extra.push('-o', `ProxyJump=${p.hop.proxyJump.join(',')}`)
    if (p.hop.proxyCommand) extra.push('-o', `ProxyCommand=${p.hop.proxyCommand}`)
    if (p.hop.hostKeyAlias) extra.push('-o', `HostKeyAlias=${p.hop.hostKeyAlias}`)
    if (extra.length) v.ansible_ssh_common_args = [...khArgs, ...extra].map(quote).join(' ')
    Object.assign(v, hostVars.get(p.name))
    return { name: p.name, vars: v }
  })
  const stamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
  const header = [
    `Written by orch wizard on ${stamp}: ${probed.length} host${probed.length === 1 ? '' : 's'}, strategy ${strategy}.`,
    `Strategy variables: group_vars/${GROUP}.yml. Run: orch run playbooks/cross-host.ts -i ${relative(env.cwd, paths.inventory).startsWith('..') ? paths.inventory : relative(env.cwd, paths.inventory)} --check`,
  ]
  const inventoryText = format === 'yaml' ? renderYamlInventory(invHosts, invGroupVars, header) : renderIni(invHosts, invGroupVars, header)
  const groupVarsText = renderGroupVars(groupVars, [`Written by orch wizard on ${stamp}. Variables of playbooks/cross-host.ts for group ${GROUP}.`], comments)
  const files: PlannedFile[] = [
    { path: paths.inventory, content: inventoryText, mode: 0o644 },
    { path: paths.groupVars, content: groupVarsText, mode: 0o644 },
  ]
  const khContent = kh.finalContent()
  if (khContent !== null) files.push({ path: knownHostsTarget, content: khContent, mode: 0o600 })

  // ---- summary -------------------------------------------------------------------------------
  const rel = relFrom(env.cwd)
  say()
  say(color.bold('Summary'))
  say(`  hosts (${probed.length}):`)
  for (const p of probed) {
    const u = underlayOf(p.facts, p.hop.host)
    const hv = Object.entries(hostVars.get(p.name) ?? {}).map(([k, v]) => `${k}=${v}`)
    say(`    ${p.name.padEnd(12)} ${`${p.hop.user}@${p.hop.host}:${p.hop.port}`.padEnd(26)} ${u ? `${u.iface} ${u.cidr}` : 'underlay unknown'}${hv.length ? `  ${hv.join(' ')}` : ''}`)
  }
  say(`  strategy: ${strategy}${strategy === sug.strategy ? ' (suggested)' : ` (suggested: ${sug.strategy})`}`)
  if (strategy === 'vxlan') say(`    (the playbook gives each host a /${VXLAN_RANGE_PREFIX} of ${groupVars.overlay_cidr} for its containers, in inventory order)`)
  if (strategy === 'routes' || strategy === 'wireguard') say(`    (docker0 of each host moves to its container_subnet${strategy === 'wireguard' ? '; WireGuard between the hosts, UDP 51820' : ''})`)
  say(`  group_vars/${GROUP}.yml:`)
  for (const [k, v] of Object.entries(groupVars)) say(`    ${k}: ${v}`)
  say('  files:')
  for (const f of files) {
    const what = f.path === knownHostsTarget ? `+${kh.added.length} host key${kh.added.length === 1 ? '' : 's'}` : existsSync(f.path) ? 'replaces the existing file' : 'new'
    say(`    ${rel(f.path)} (${what})`)
  }
  say()
  const write = await ask.confirm({ message: 'Write these files?', flag: '--yes', value: o.yes ? true : undefined, default: true })
  if (!write) throw new CancelledError('you declined to write the files')
  commitFiles(files)
  env.onWritten?.(files.map((f) => f.path))
  say(`${color.green('✔')} wrote ${files.map((f) => rel(f.path)).join(', ')}`)
  return paths
}
