/**
 * Part s: many hosts on one controller. A lab holds at most 250 hosts (one /24 each), so N hosts are
 * ceil(N/250) labs side by side in one inventory (names l<lab>n<host>, each lab's key and host keys).
 * orch (forks = N) and, with --scale-floor, the floor: first and second run; controller peak RSS; every
 * lab removed (its processes by PID, its namespaces) before the next size.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Lab } from '../../src/lab/index.ts'
import { summarize, type Summary } from './stats.ts'
import { runFloor, runOrch, type HostSet, type ToolPaths, type ToolSample } from './tools.ts'

export const LAB_MAX = 250
const TASKS = 10

export interface ManyContext extends ToolPaths {
  sizes: number[]
  runs: number
  withFloor: boolean
  labUp(suffix: string, hosts: number): Promise<Lab>
  labDown(lab: Lab): Promise<void>
  resetHosts(lab: Lab): Promise<void>
  log(m: string): void
  stopping(): boolean
}

export interface ManyRow {
  hosts: number
  labs: number
  tool: ToolSample['tool']
  first: Summary
  second: Summary
  maxRssKb?: number
  cpuFirst?: Summary
  targetCpuFirst?: Summary
  labUpMs: number
}

/** The inventory and known_hosts of several labs as one host set. */
export function joinLabs(labs: Lab[], dir: string): HostSet {
  const lines = ['[lab]']
  const known: string[] = []
  const targets: HostSet['targets'] = []
  labs.forEach((lab, j) => {
    known.push(readFileSync(lab.knownHostsPath, 'utf8').trim())
    for (const [i, h] of lab.hosts.entries()) {
      const name = `l${j + 1}n${i + 1}`
      lines.push(`${name} ansible_host=${h.address} ansible_ssh_private_key_file=${lab.keyPath}`)
      targets.push({ name, address: h.address, keyPath: lab.keyPath, ns: h.ns })
    }
  })
  const knownHostsPath = join(dir, 'known_hosts')
  writeFileSync(knownHostsPath, known.join('\n') + '\n')
  lines.push('', '[all:vars]', 'ansible_user=root', `ansible_ssh_common_args='-o UserKnownHostsFile=${knownHostsPath} -o StrictHostKeyChecking=yes'`, 'ansible_python_interpreter=/usr/bin/python3', '')
  const inventoryPath = join(dir, 'inventory.ini')
  writeFileSync(inventoryPath, lines.join('\n'))
  return { inventoryPath, knownHostsPath, targets }
}

export async function manyPart(c: ManyContext): Promise<{ rows: ManyRow[]; samples: Array<ToolSample & { labs: number }> }> {
  const rows: ManyRow[] = []
  const samples: Array<ToolSample & { labs: number }> = []
  for (const [i, n] of c.sizes.entries()) {
    if (c.stopping()) break
    const labs: Lab[] = []
    const dir = mkdtempSync(join(tmpdir(), 'orch-bench-many-'))
    try {
      const t0 = performance.now()
      // A lab prefix holds 8 characters: the size's index (base 36) and the lab's letter, not the size itself.
      for (let j = 0, left = n; left > 0 && !c.stopping(); j++, left -= LAB_MAX) labs.push(await c.labUp(`s${i.toString(36)}${String.fromCharCode(97 + j)}`, Math.min(LAB_MAX, left)))
      const labUpMs = performance.now() - t0
      const set = joinLabs(labs, dir)
      const tools: Array<ToolSample["tool"]> = c.withFloor ? ['orch', 'floor'] : ['orch']
      for (let i = 0; i < c.runs && !c.stopping(); i++) {
        for (let k = 0; k < tools.length && !c.stopping(); k++) {
          const tool = tools[(i + k) % tools.length]
          for (const lab of labs) await c.resetHosts(lab)
          c.log(`part s: ${n} hosts (${labs.length} labs), run ${i + 1}/${c.runs}, ${tool}`)
          for (const phase of ['first', 'second'] as const) {
            const s = tool === 'orch' ? await runOrch(c, set, phase) : await runFloor(c, set, phase)
            const expected = phase === 'first' ? n * TASKS : 0
            samples.push({ ...s, labs: labs.length })
            c.log(`  ${tool.padEnd(5)} ${n} hosts ${phase.padEnd(6)} ${(s.wallMs / 1000).toFixed(2)} s  changed=${s.changed}  cpu ${((s.cpuMs ?? 0) / 1000).toFixed(2)} + targets ${(s.targetCpuMs / 1000).toFixed(2)} s  rss ${((s.maxRssKb ?? 0) / 1024).toFixed(0)} MiB  load ${s.load1.toFixed(1)}${!s.ok || s.changed !== expected ? '  !! unexpected' : ''}`)
          }
        }
      }
      for (const tool of tools) {
        const mine = samples.filter((s) => s.hosts === n && s.tool === tool)
        const ph = (p: string) => mine.filter((s) => s.phase === p)
        if (!ph('first').length || !ph('second').length) continue
        const rss = mine.map((s) => s.maxRssKb).filter((x): x is number => x !== undefined)
        rows.push({
          hosts: n,
          labs: labs.length,
          tool,
          first: summarize(ph('first').map((s) => s.wallMs)),
          second: summarize(ph('second').map((s) => s.wallMs)),
          maxRssKb: rss.length ? Math.max(...rss) : undefined,
          cpuFirst: summarize(ph('first').map((s) => s.cpuMs ?? NaN)),
          targetCpuFirst: summarize(ph('first').map((s) => s.targetCpuMs)),
          labUpMs,
        })
      }
    } finally {
      for (const lab of labs) await c.labDown(lab)
      rmSync(dir, { recursive: true, force: true })
    }
  }
  return { rows, samples }
}
