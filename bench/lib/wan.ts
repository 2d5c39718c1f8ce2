/**
 * Part e: WAN latency. The 20 hosts of part (a) behind the lab's delaying relay (src/lab/delay.ts), at
 * each round-trip time asked for (0 = straight to the hosts, no relay): orch, ansible-playbook and the
 * floor, first and second run, the tools taking turns in a rotating order; orch's round trips per host
 * as its transport counted them.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Lab } from '../../src/lab/index.ts'
import { delayLab } from '../../src/lab/delay.ts'
import { summarize, type Summary } from './stats.ts'
import { runAnsible, runFloor, runOrch, type HostSet, type ToolPaths, type ToolSample } from './tools.ts'

export interface WanContext extends ToolPaths {
  hosts: number
  rtts: number[]
  runs: number
  labUp(suffix: string, hosts: number): Promise<Lab>
  labDown(lab: Lab): Promise<void>
  resetHosts(lab: Lab): Promise<void>
  closeControlMasters(dir: string): void
  log(m: string): void
  stopping(): boolean
  tools: Array<ToolSample['tool']>
}

export interface WanSample extends ToolSample {
  rttMs: number
  expectedChanged: number
}

export interface WanRow {
  rttMs: number
  tool: ToolSample['tool']
  first: Summary
  second: Summary
  /** orch: medians of the per-host medians. */
  roundTripsFirst?: number
  roundTripsSecond?: number
  handshakeRoundTrips?: number
  commandsFirst?: number
  commandsSecond?: number
}

export interface WanResult {
  hosts: number
  tasks: number
  rows: WanRow[]
  samples: WanSample[]
}

const TASKS = 10

export async function wanPart(c: WanContext): Promise<WanResult> {
  const samples: WanSample[] = []
  const lab = await c.labUp('e', c.hosts)
  try {
    for (const rtt of c.rtts) {
      if (c.stopping()) break
      const wan = rtt > 0 ? await delayLab(lab, { rttMs: rtt, name: `wan${rtt}` }) : undefined
      const set: HostSet = {
        inventoryPath: wan?.inventoryPath ?? lab.inventoryPath,
        knownHostsPath: wan?.knownHostsPath ?? lab.knownHostsPath,
        targets: lab.hosts.map((h) => ({ name: h.name, address: wan ? '127.0.0.1' : h.address, port: wan?.routes.get(h.name)?.port, keyPath: lab.keyPath, ns: h.ns })),
      }
      try {
        for (let i = 0; i < c.runs && !c.stopping(); i++) {
          c.log(`part e: ${rtt} ms RTT, run ${i + 1}/${c.runs}`)
          for (let k = 0; k < c.tools.length && !c.stopping(); k++) {
            const tool = c.tools[(i + k) % c.tools.length]
            await c.resetHosts(lab)
            const record = (s: ToolSample, expectedChanged: number) => {
              const w = { ...s, rttMs: rtt, expectedChanged }
              samples.push(w)
              const rt = s.roundTrips !== undefined ? `  round trips/host ${s.roundTrips} (handshake ${s.handshakeRoundTrips}, ${s.commands} commands)` : ''
              c.log(`  ${tool.padEnd(7)} ${rtt} ms ${s.phase.padEnd(6)} ${(s.wallMs / 1000).toFixed(2)} s  changed=${s.changed}${rt}  load ${s.load1.toFixed(1)}${!s.ok || s.changed !== expectedChanged ? '  !! unexpected' : ''}`)
            }
            if (tool === 'orch') {
              record(await runOrch(c, set, 'first'), c.hosts * TASKS)
              record(await runOrch(c, set, 'second'), 0)
            } else if (tool === 'floor') {
              record(await runFloor(c, set, 'first'), c.hosts * TASKS)
              record(await runFloor(c, set, 'second'), 0)
            } else {
              const dir = mkdtempSync(join(tmpdir(), 'orch-bench-cp-'))
              try {
                record(await runAnsible(c, set, 'first', dir), c.hosts * TASKS)
                record(await runAnsible(c, set, 'second', dir), 0)
              } finally {
                c.closeControlMasters(dir)
              }
            }
          }
        }
      } finally {
        await wan?.stop()
      }
    }
  } finally {
    await c.labDown(lab)
  }
  const rows: WanRow[] = []
  for (const rtt of c.rtts) {
    for (const tool of c.tools) {
      const mine = samples.filter((s) => s.rttMs === rtt && s.tool === tool)
      const ph = (p: string) => mine.filter((s) => s.phase === p)
      if (!ph('first').length || !ph('second').length) continue
      const m = (xs: Array<number | undefined>) => summarize(xs.filter((x): x is number => x !== undefined)).median
      rows.push({
        rttMs: rtt,
        tool,
        first: summarize(ph('first').map((s) => s.wallMs)),
        second: summarize(ph('second').map((s) => s.wallMs)),
        ...(tool === 'orch'
          ? {
              roundTripsFirst: m(ph('first').map((s) => s.roundTrips)),
              roundTripsSecond: m(ph('second').map((s) => s.roundTrips)),
              handshakeRoundTrips: m(mine.map((s) => s.handshakeRoundTrips)),
              commandsFirst: m(ph('first').map((s) => s.commands)),
              commandsSecond: m(ph('second').map((s) => s.commands)),
            }
          : {}),
      })
    }
  }
  return { hosts: c.hosts, tasks: TASKS, rows, samples }
}
