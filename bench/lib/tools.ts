/**
 * The three tools run against any set of lab hosts (one lab, a lab behind the delaying relay, several labs
 * in one inventory): parts e (latency) and s (many hosts). Whole processes, as in bench/run.ts: spawn to
 * exit, output to a pipe. orch's round trips come from the transport itself (ORCH_TRANSPORT_STATS).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { namespacesCpuMs, processCpuMs } from './cpu.ts'
import { timed, type Timed } from './proc.ts'
import { parseRecap } from './stats.ts'
import { floorCommands } from './workload.ts'

export interface Target {
  name: string
  /** How the controller reaches it (the relay's 127.0.0.1 when delayed). */
  address: string
  port?: number
  keyPath: string
  /** The host's network namespace (its CPU is read from there). */
  ns: string
}

export interface HostSet {
  inventoryPath: string
  knownHostsPath: string
  targets: Target[]
}

export interface ToolSample {
  tool: 'orch' | 'ansible' | 'floor'
  phase: 'first' | 'second'
  hosts: number
  wallMs: number
  cpuMs?: number
  targetCpuMs: number
  maxRssKb?: number
  changed: number
  ok: boolean
  load1: number
  /** orch: the transport's counts per host, medians over the hosts. */
  roundTrips?: number
  handshakeRoundTrips?: number
  commands?: number
}

export interface ToolPaths {
  repo: string
  orch: string
  floor: string
  ansibleDir: string
}

const settle = () => new Promise((r) => setTimeout(r, 300))

async function measured(set: HostSet, cmd: string, args: string[], opts: Parameters<typeof timed>[2]): Promise<Timed & { targetCpuMs: number; load1: number }> {
  const { loadavg } = await import('node:os')
  const load1 = loadavg()[0]
  const ns = set.targets.map((t) => t.ns)
  const before = namespacesCpuMs(ns)
  const r = await timed(cmd, args, opts)
  await settle()
  return { ...r, targetCpuMs: namespacesCpuMs(ns) - before, load1 }
}

const med = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN
}

function failed(what: string, r: Timed): Error {
  return new Error(`${what} exited ${r.code}:\n${(r.stderr || r.stdout).trim().split('\n').slice(-15).join('\n')}`)
}

export async function runOrch(p: ToolPaths, set: HostSet, phase: ToolSample['phase'], forks = set.targets.length, extraEnv: NodeJS.ProcessEnv = {}): Promise<ToolSample> {
  const dir = mkdtempSync(join(tmpdir(), 'orch-bench-rt-'))
  const statsFile = join(dir, 'transport.json')
  try {
    const r = await measured(set, 'node', [p.orch, 'run', join(p.repo, 'bench/orch/small.ts'), '-i', set.inventoryPath, '-f', String(forks)], {
      cwd: p.repo,
      timeoutMs: 900_000,
      env: { ...process.env, ORCH_TRANSPORT_STATS: statsFile, ...extraEnv },
    })
    if (r.code !== 0) throw failed(`orch run (${phase}, ${set.targets.length} hosts)`, r)
    const recap = parseRecap(r.stdout)
    const wire = Object.values(JSON.parse(readFileSync(statsFile, 'utf8')) as Record<string, { roundTrips: number; handshakeRoundTrips: number; commands: number }>)
    return {
      tool: 'orch',
      phase,
      hosts: set.targets.length,
      wallMs: r.wallMs,
      cpuMs: r.cpuMs,
      targetCpuMs: r.targetCpuMs,
      maxRssKb: r.maxRssKb,
      changed: recap.changed,
      ok: recap.hosts === set.targets.length && recap.failed + recap.unreachable === 0,
      load1: r.load1,
      roundTrips: med(wire.map((w) => w.roundTrips)),
      handshakeRoundTrips: med(wire.map((w) => w.handshakeRoundTrips)),
      commands: med(wire.map((w) => w.commands)),
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export async function runAnsible(p: ToolPaths, set: HostSet, phase: ToolSample['phase'], controlDir: string): Promise<ToolSample> {
  const env = { ...process.env, ANSIBLE_CONFIG: join(p.ansibleDir, 'ansible.cfg'), ANSIBLE_SSH_CONTROL_PATH_DIR: controlDir, ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0' }
  const masters0 = processCpuMs(controlDir)
  const r = await measured(set, 'ansible-playbook', ['-i', set.inventoryPath, '-f', String(set.targets.length), join(p.ansibleDir, 'small.yml')], { env, cwd: p.ansibleDir, timeoutMs: 1_800_000 })
  if (r.code !== 0) throw failed(`ansible-playbook (${phase})`, r)
  const recap = parseRecap(r.stdout)
  return {
    tool: 'ansible',
    phase,
    hosts: set.targets.length,
    wallMs: r.wallMs,
    cpuMs: r.cpuMs === undefined ? undefined : r.cpuMs + processCpuMs(controlDir) - masters0,
    targetCpuMs: r.targetCpuMs,
    maxRssKb: r.maxRssKb,
    changed: recap.changed,
    ok: recap.hosts === set.targets.length && recap.failed + recap.unreachable === 0,
    load1: r.load1,
  }
}

export async function runFloor(p: ToolPaths, set: HostSet, phase: ToolSample['phase']): Promise<ToolSample> {
  const dir = mkdtempSync(join(tmpdir(), 'orch-floor-'))
  const spec = join(dir, 'spec.json')
  const hosts = set.targets.map((t) => ({ name: t.name, address: t.address, port: t.port, keyPath: t.keyPath, commands: floorCommands(t.name) }))
  writeFileSync(spec, JSON.stringify({ keyPath: set.targets[0].keyPath, knownHostsPath: set.knownHostsPath, hosts }))
  try {
    const r = await measured(set, 'node', [p.floor, spec], { cwd: p.repo, timeoutMs: 900_000 })
    if (r.code !== 0) throw failed(`floor (${phase})`, r)
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { changed: number; failed: number }
    return { tool: 'floor', phase, hosts: set.targets.length, wallMs: r.wallMs, cpuMs: r.cpuMs, targetCpuMs: r.targetCpuMs, maxRssKb: r.maxRssKb, changed: out.changed, ok: out.failed === 0, load1: r.load1 }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
