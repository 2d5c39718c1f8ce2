/**
 * npm run bench -- datapath [...]   the data path per strategy (bench/datapath.ts)
 * npm run bench [-- --only a,b,c,d,e,s] [--runs N] [--hosts N] [--scale 50,100,200] [--docker-hosts N]
 *                  [--rtt 0,20,50,100] [--sizes 50,200,500,1000] [--scale-floor] [--out FILE] [--keep-going]
 *
 *   a  20 lab hosts x 10 small idempotent tasks: orch vs ansible-playbook, first (changing) and second
 *      (no-change) run
 *   b  playbooks/cross-host.ts (routes) vs bench/ansible/cross-host.yml on 10 docker lab hosts
 *   c  orch alone on 50, 100, 200 bare lab hosts x the same 10 tasks (and the floor, for reference)
 *   d  the floor: one ssh2 connection + one persistent shell per host, the same work, no engine
 *   e  (only when asked) latency: (a)'s hosts behind a delaying relay at each --rtt, orch vs ansible vs the
 *      floor, with orch's round trips per host counted by its transport (lib/wan.ts)
 *   s  (only when asked) many hosts: orch (and --scale-floor) on --sizes hosts, several labs (lib/many.ts)
 *
 * Every sample is a whole process (node bin/orch.js run ..., ansible-playbook ..., node bench/floor.mjs),
 * timed from spawn to exit, output to a pipe. Medians of --runs samples. Labs are brought up and torn down
 * here (also on Ctrl-C). Writes a table to stdout and bench/results.json.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { down, up, type Lab } from '../src/lab/index.ts'
import { floorCommands, RESET_SCRIPT } from './lib/workload.ts'
import { fmtMiB, fmtRatio, fmtSec, parseOrchTotal, parseRecap, ratio, summarize, table, type Summary } from './lib/stats.ts'
import { killRunning, timed, type Timed } from './lib/proc.ts'
import { machineBusy, processCpuMs, targetCpuMs } from './lib/cpu.ts'
import { crossHostPart, type CrossHostResult } from './lib/crosshost.ts'
import { wanPart, type WanResult } from './lib/wan.ts'
import { manyPart, type ManyRow } from './lib/many.ts'
import { manyReport, wanReport } from './lib/report-es.ts'

const here = dirname(fileURLToPath(import.meta.url))
const repo = resolve(here, '..')
const ORCH = join(repo, 'bin', 'orch.js')
const FLOOR = join(here, 'floor.mjs')
const ANSIBLE_DIR = join(here, 'ansible')
const TASKS = 10

// ---------------------------------------------------------------------------------------------- options
interface Options {
  only: Set<string>
  runs: number
  hosts: number
  scale: number[]
  dockerHosts: number
  out: string
  keepGoing: boolean
  rtts: number[]
  sizes: number[]
  scaleFloor: boolean
}

function usage(msg?: string): never {
  if (msg) console.error(`bench: ${msg}`)
  console.error('usage: npm run bench -- [--only a,b,c,d,e,s] [--runs N] [--hosts N] [--scale 50,100,200] [--docker-hosts N] [--rtt 0,20,50,100] [--sizes 50,200,500,1000] [--scale-floor] [--out FILE] [--keep-going]')
  process.exit(msg ? 2 : 0)
}

function parseOptions(argv: string[]): Options {
  const o: Options = { only: new Set(['a', 'b', 'c', 'd']), runs: 3, hosts: 20, scale: [50, 100, 200], dockerHosts: 10, out: join(here, 'results.json'), keepGoing: false, rtts: [0, 20, 50, 100], sizes: [50, 200, 500, 1000], scaleFloor: false }
  const int = (flag: string, v: string | undefined, min: number, max: number) => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min || n > max) usage(`${flag}: expected an integer from ${min} to ${max}, got ${v}`)
    return n
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined]
    const val = () => inline ?? argv[++i]
    switch (flag) {
      case '--only': {
        const parts = (val() ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)
        if (!parts.length || parts.some((p) => !['a', 'b', 'c', 'd', 'e', 's'].includes(p))) usage(`--only: expected letters among a,b,c,d,e,s, got ${parts.join(',')}`)
        o.only = new Set(parts)
        break
      }
      case '--runs':
        o.runs = int('--runs', val(), 1, 50)
        break
      case '--hosts':
        o.hosts = int('--hosts', val(), 1, 250)
        break
      case '--docker-hosts':
        o.dockerHosts = int('--docker-hosts', val(), 2, 50)
        break
      case '--scale':
        o.scale = (val() ?? '').split(',').map((s) => int('--scale', s, 1, 250))
        break
      case '--out':
        o.out = resolve(val() ?? usage('--out: expected a file'))
        break
      case '--rtt':
        o.rtts = (val() ?? '').split(',').map((x) => int('--rtt', x, 0, 1000))
        break
      case '--sizes':
        o.sizes = (val() ?? '').split(',').map((x) => int('--sizes', x, 1, 5000))
        break
      case '--scale-floor':
        o.scaleFloor = true
        break
      case '--keep-going':
        o.keepGoing = true
        break
      case '-h':
      case '--help':
        usage()
      default:
        usage(`unknown option ${a}`)
    }
  }
  return o
}

// ------------------------------------------------------------------------------------------------ labs
const labs = new Map<string, Lab>()
const runTag = Math.floor(Math.random() * 36 ** 3).toString(36).padStart(3, "0")

async function labUp(suffix: string, hosts: number, docker = false): Promise<Lab> {
  const prefix = `b${runTag}${suffix}`
  const t0 = performance.now()
  log(`lab ${prefix}: bringing up ${hosts} ${docker ? 'docker ' : ''}hosts...`)
  const lab = await up({ hosts, docker, prefix })
  labs.set(prefix, lab)
  log(`lab ${prefix}: up in ${fmtSec(performance.now() - t0)}`)
  return lab
}

async function labDown(lab: Lab): Promise<void> {
  labs.delete(lab.prefix)
  await lab.down()
  log(`lab ${lab.prefix}: down`)
}

let stopping = false
/** The part the samples being taken belong to. */
let currentPart: Sample['part'] = 'a'
async function teardownAll(): Promise<void> {
  for (const lab of [...labs.values()]) {
    labs.delete(lab.prefix)
    await down(lab.prefix).catch((e) => console.error(`bench: could not remove lab ${lab.prefix}: ${(e as Error).message}`))
  }
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stopping) return
    stopping = true
    console.error(`\nbench: ${sig}: stopping the running command and removing the labs...`)
    killRunning()
    void teardownAll().finally(() => process.exit(130))
  })
}

/** Every host of the lab back to fresh (not timed; through nsenter, not SSH). */
async function resetHosts(lab: Lab): Promise<void> {
  const bad: string[] = []
  await Promise.all(
    lab.hosts.map(async (h) => {
      const r = await lab.exec(h, RESET_SCRIPT)
      if (r.code !== 0) bad.push(`${h.name}: ${r.stderr.trim()}`)
    }),
  )
  if (bad.length) throw new Error(`reset failed: ${bad.slice(0, 3).join('; ')}`)
}

// ------------------------------------------------------------------------------------------- the tools
export interface Sample {
  /** a (20 hosts, with d's floor) or c (scale). */
  part: 'a' | 'c'
  tool: 'orch' | 'ansible' | 'floor'
  phase: 'first' | 'second'
  hosts: number
  wallMs: number
  maxRssKb?: number
  /** orch: its own "Total time" (engine, after start-up); floor: time inside the process. */
  innerMs?: number
  /** Controller CPU (user + system) of the tool and its children (Ansible: + its ControlPersist masters). */
  cpuMs?: number
  /** CPU used on all the lab's hosts during the run (sshd, shells, commands): see lib/cpu.ts. */
  targetCpuMs?: number
  changed: number
  expectedChanged: number
  load1: number
  ok: boolean
  note?: string
}

const samples: Sample[] = []

function log(m: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${m}`)
}

function fail(what: string, r: Timed): never {
  const tail = (r.stderr || r.stdout).trim().split('\n').slice(-15).join('\n')
  throw new Error(`${what} exited ${r.code}:\n${tail}`)
}

const settle = () => new Promise((r) => setTimeout(r, 300))

/** Runs one timed command, with the targets' CPU read around it (after the hosts' sessions ended). */
async function measured(lab: Lab, cmd: string, args: string[], opts: Parameters<typeof timed>[2]): Promise<Timed & { targetCpuMs: number; load1: number }> {
  const load1 = loadavg()[0]
  const before = targetCpuMs(lab)
  const r = await timed(cmd, args, opts)
  await settle()
  return { ...r, targetCpuMs: targetCpuMs(lab) - before, load1 }
}

async function runOrch(lab: Lab, playbook: string, phase: Sample['phase'], expectedChanged: number): Promise<Sample> {
  const r = await measured(lab, 'node', [ORCH, 'run', playbook, '-i', lab.inventoryPath, '-f', String(lab.hosts.length)], { cwd: repo, timeoutMs: 600_000 })
  if (r.code !== 0) fail(`orch run ${playbook} (${phase})`, r)
  const recap = parseRecap(r.stdout)
  return record({ part: currentPart, tool: 'orch', phase, hosts: lab.hosts.length, wallMs: r.wallMs, maxRssKb: r.maxRssKb, innerMs: parseOrchTotal(r.stdout), cpuMs: r.cpuMs, targetCpuMs: r.targetCpuMs, changed: recap.changed, expectedChanged, load1: r.load1, ok: recap.hosts === lab.hosts.length && recap.failed + recap.unreachable === 0 })
}

/** ansible-playbook with bench/ansible/ansible.cfg; `controlDir` holds the ControlPersist sockets. */
async function runAnsible(lab: Lab, playbook: string, phase: Sample['phase'], expectedChanged: number, controlDir: string): Promise<Sample> {
  const env = { ...process.env, ANSIBLE_CONFIG: join(ANSIBLE_DIR, 'ansible.cfg'), ANSIBLE_SSH_CONTROL_PATH_DIR: controlDir, ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0' }
  const masters0 = processCpuMs(controlDir)
  const r = await measured(lab, 'ansible-playbook', ['-i', lab.inventoryPath, '-f', String(lab.hosts.length), join(ANSIBLE_DIR, playbook)], { env, cwd: ANSIBLE_DIR, timeoutMs: 1_800_000 })
  if (r.code !== 0) fail(`ansible-playbook ${playbook} (${phase})`, r)
  const masters = processCpuMs(controlDir) - masters0
  const recap = parseRecap(r.stdout)
  return record({ part: currentPart, tool: 'ansible', phase, hosts: lab.hosts.length, wallMs: r.wallMs, maxRssKb: r.maxRssKb, cpuMs: r.cpuMs === undefined ? undefined : r.cpuMs + masters, targetCpuMs: r.targetCpuMs, changed: recap.changed, expectedChanged, load1: r.load1, ok: recap.hosts === lab.hosts.length && recap.failed + recap.unreachable === 0 })
}

/** Close the ControlPersist masters ansible left (ssh -O exit on each socket), then remove the dir. */
function closeControlMasters(controlDir: string): void {
  for (const f of existsSync(controlDir) ? readdirSync(controlDir) : []) {
    try {
      execFileSync('ssh', ['-o', `ControlPath=${join(controlDir, f)}`, '-O', 'exit', 'bench-control-master'], { stdio: 'ignore', timeout: 5000 })
    } catch {
      /* already gone */
    }
  }
  rmSync(controlDir, { recursive: true, force: true })
}

async function runFloor(lab: Lab, phase: Sample['phase'], expectedChanged: number): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), 'orch-floor-'))
  const spec = join(dir, 'spec.json')
  writeFileSync(spec, JSON.stringify({ keyPath: lab.keyPath, knownHostsPath: lab.knownHostsPath, hosts: lab.hosts.map((h) => ({ name: h.name, address: h.address, commands: floorCommands(h.name) })) }))
  try {
    const r = await measured(lab, 'node', [FLOOR, spec], { cwd: repo, timeoutMs: 600_000 })
    if (r.code !== 0) fail(`floor (${phase})`, r)
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { ms: number; changed: number; failed: number }
    return record({ part: currentPart, tool: 'floor', phase, hosts: lab.hosts.length, wallMs: r.wallMs, maxRssKb: r.maxRssKb, innerMs: out.ms, cpuMs: r.cpuMs, targetCpuMs: r.targetCpuMs, changed: out.changed, expectedChanged, load1: r.load1, ok: out.failed === 0 })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function record(s: Sample): Sample {
  if (!s.ok) s.note = 'hosts failed or unreachable'
  else if (s.changed !== s.expectedChanged) s.note = `changed=${s.changed}, expected ${s.expectedChanged}`
  samples.push(s)
  const cpu = s.cpuMs !== undefined ? `  cpu ${fmtSec(s.cpuMs)} + targets ${fmtSec(s.targetCpuMs)}` : ''
  log(`  ${s.tool.padEnd(7)} ${s.hosts} hosts ${s.phase.padEnd(6)} ${fmtSec(s.wallMs).padStart(8)}  changed=${s.changed}${cpu}${s.maxRssKb ? `  rss ${fmtMiB(s.maxRssKb)}` : ''}  load ${s.load1.toFixed(2)}${s.note ? `  !! ${s.note}` : ''}`)
  return s
}

/** first + second run of one tool on a freshly reset lab. */
async function pair(lab: Lab, tool: Sample['tool']): Promise<void> {
  const n = lab.hosts.length
  await resetHosts(lab)
  const playbook = join(here, 'orch', 'small.ts')
  if (tool === 'orch') {
    await runOrch(lab, playbook, 'first', n * TASKS)
    await runOrch(lab, playbook, 'second', 0)
  } else if (tool === 'floor') {
    await runFloor(lab, 'first', n * TASKS)
    await runFloor(lab, 'second', 0)
  } else {
    const controlDir = mkdtempSync(join(tmpdir(), 'orch-bench-cp-'))
    try {
      await runAnsible(lab, 'small.yml', 'first', n * TASKS, controlDir)
      await runAnsible(lab, 'small.yml', 'second', 0, controlDir)
    } finally {
      closeControlMasters(controlDir)
    }
  }
}

// ---------------------------------------------------------------------------------------------- report
interface ToolSummary {
  first: Summary
  second: Summary
  maxRssKb?: number
  innerFirst?: Summary
  innerSecond?: Summary
  cpuFirst?: Summary
  cpuSecond?: Summary
  targetCpuFirst?: Summary
  targetCpuSecond?: Summary
}

function summarizeTool(part: Sample['part'], tool: Sample['tool'], hosts: number): ToolSummary | undefined {
  const mine = samples.filter((s) => s.part === part && s.tool === tool && s.hosts === hosts)
  if (!mine.length) return undefined
  const ph = (p: Sample['phase']) => mine.filter((s) => s.phase === p)
  const field = (p: Sample['phase'], k: 'innerMs' | 'cpuMs' | 'targetCpuMs') => {
    const xs = ph(p).map((s) => s[k]).filter((x): x is number => x !== undefined)
    return xs.length ? summarize(xs) : undefined
  }
  const rss = mine.map((s) => s.maxRssKb).filter((x): x is number => x !== undefined)
  return {
    first: summarize(ph('first').map((s) => s.wallMs)),
    second: summarize(ph('second').map((s) => s.wallMs)),
    maxRssKb: rss.length ? Math.max(...rss) : undefined,
    innerFirst: field('first', 'innerMs'),
    innerSecond: field('second', 'innerMs'),
    cpuFirst: field('first', 'cpuMs'),
    cpuSecond: field('second', 'cpuMs'),
    targetCpuFirst: field('first', 'targetCpuMs'),
    targetCpuSecond: field('second', 'targetCpuMs'),
  }
}

/** "controller + targets" CPU of a phase, for the table. */
const cpuCell = (c?: Summary, t?: Summary) => (c ? `${fmtSec(c.median)} + ${fmtSec(t?.median)}` : '-')

function machine() {
  let os = ''
  try {
    os = /PRETTY_NAME="?([^"\n]*)/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? ''
  } catch {
    /* unknown */
  }
  let ansible = ''
  try {
    ansible = execFileSync('ansible-playbook', ['--version'], { encoding: 'utf8' }).split('\n')[0]
  } catch {
    ansible = 'not installed'
  }
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    os,
    node: process.version,
    ansible,
  }
}

// ------------------------------------------------------------------------------------------------ main
/**
 * orch compiles its sources and each playbook into a cache the first time they are loaded (and again after
 * any change): a one-off ~1 s that is not what a user waits for on every run. Fill the cache before any
 * sample, by loading the bench's playbooks with --syntax-check (nothing connects).
 */
function warmUp(): void {
  for (const playbook of [join(here, 'orch', 'small.ts'), join(repo, 'playbooks', 'cross-host.ts')]) {
    // --syntax-check loads (and so compiles) the playbook and src/, and connects to nothing.
    const r = spawnSync('node', [ORCH, 'run', playbook, '-i', 'orch-bench-warm-up,', '--syntax-check'], { cwd: repo, encoding: 'utf8' })
    if (r.status !== 0) log(`warm-up of ${playbook}: exit ${r.status}: ${(r.stderr || r.stdout).trim().slice(0, 300)}`)
  }
}

async function main(): Promise<void> {
  // `npm run bench -- datapath ...`: the data-path figures (bench/datapath.ts), a bench of its own.
  if (process.argv[2] === 'datapath') return (await import('./datapath.ts')).datapathMain(process.argv.slice(3))
  const o = parseOptions(process.argv.slice(2))
  const started = new Date()
  const loadStart = loadavg()
  const mach = machine()
  // How busy the machine was before the bench started (its own processes count in the load average later).
  const busyBefore = await machineBusy()
  log(`bench: parts ${[...o.only].sort().join(',')}, ${o.runs} runs; ${mach.cores} cores, load ${loadStart.map((x) => x.toFixed(2)).join(' ')}, CPU ${(busyBefore * 100).toFixed(0)}% busy before start`)
  const errors: string[] = []
  const guard = async (part: string, fn: () => Promise<void>) => {
    try {
      await fn()
    } catch (e) {
      if (stopping) return
      const msg = `part ${part}: ${(e as Error).message}`
      errors.push(msg)
      log(`!! ${msg}`)
      if (!o.keepGoing) throw e
    }
  }
  let cross: CrossHostResult | undefined
  let wan: WanResult | undefined
  let many: { rows: ManyRow[]; samples: unknown[] } | undefined
  warmUp()
  const paths = { repo, orch: ORCH, floor: FLOOR, ansibleDir: ANSIBLE_DIR }

  try {
    // a + d: one lab, the tools interleaved (rotating order) so that load changes hit them alike.
    if (o.only.has('a') || o.only.has('d')) {
      await guard('a/d', async () => {
        currentPart = 'a'
        const lab = await labUp('a', o.hosts)
        try {
          const tools: Sample['tool'][] = [...(o.only.has('a') ? (['orch', 'ansible'] as const) : []), ...(o.only.has('d') ? (['floor'] as const) : [])]
          for (let i = 0; i < o.runs && !stopping; i++) {
            log(`part a/d: run ${i + 1}/${o.runs}`)
            for (let k = 0; k < tools.length && !stopping; k++) await pair(lab, tools[(i + k) % tools.length])
          }
        } finally {
          await labDown(lab)
        }
      })
    }
    if (o.only.has('b') && !stopping) {
      await guard('b', async () => {
        cross = await crossHostPart({ repo, orch: ORCH, ansibleDir: ANSIBLE_DIR, hosts: o.dockerHosts, runs: o.runs, labUp, labDown, timed, log, closeControlMasters, stopping: () => stopping })
      })
    }
    if (o.only.has('c') && !stopping) {
      await guard('c', async () => {
        currentPart = 'c'
        for (const n of o.scale) {
          if (stopping) break
          const lab = await labUp(`c${n}`, n)
          try {
            for (let i = 0; i < o.runs && !stopping; i++) {
              log(`part c: ${n} hosts, run ${i + 1}/${o.runs}`)
              await pair(lab, 'orch')
              if (!stopping) await pair(lab, 'floor')
            }
          } finally {
            await labDown(lab)
          }
        }
      })
    }
    if (o.only.has('e') && !stopping) {
      await guard('e', async () => {
        wan = await wanPart({ ...paths, hosts: o.hosts, rtts: o.rtts, runs: o.runs, labUp, labDown, resetHosts, closeControlMasters, log, stopping: () => stopping, tools: ['orch', 'ansible', 'floor'] })
      })
    }
    if (o.only.has('s') && !stopping) {
      await guard('s', async () => {
        many = await manyPart({ ...paths, sizes: o.sizes, runs: o.runs, withFloor: o.scaleFloor, labUp, labDown, resetHosts, log, stopping: () => stopping })
      })
    }
  } finally {
    await teardownAll()
  }
  if (stopping) return

  // ------------------------------------------------------------------ results
  const loadEnd = loadavg()
  const busyAfter = await machineBusy()
  const hostsA = o.hosts
  const a = {
    hosts: hostsA,
    tasks: TASKS,
    orch: summarizeTool('a', 'orch', hostsA),
    ansible: summarizeTool('a', 'ansible', hostsA),
    floor: summarizeTool('a', 'floor', hostsA),
  }
  const ratios = {
    ansibleOverOrch: { first: ratio(a.ansible?.first.median, a.orch?.first.median), second: ratio(a.ansible?.second.median, a.orch?.second.median) },
    orchOverFloor: { first: ratio(a.orch?.first.median, a.floor?.first.median), second: ratio(a.orch?.second.median, a.floor?.second.median) },
  }
  const scale = o.only.has('c')
    ? o.scale.map((n) => ({ hosts: n, tasks: TASKS, orch: summarizeTool('c', 'orch', n), floor: summarizeTool('c', 'floor', n) }))
    : []

  const rows: string[][] = [['part', 'hosts', 'tool', 'first run', 'second run', 'CPU 1st (ctl + targets)', 'CPU 2nd (ctl + targets)', 'peak RSS', 'ansible/orch (1st/2nd)', 'orch/floor (1st/2nd)']]
  const toolRow = (part: string, hosts: number, tool: string, s: ToolSummary, vsOrch = '', vsFloor = '') => [
    part,
    String(hosts),
    tool,
    fmtSec(s.first.median),
    fmtSec(s.second.median),
    cpuCell(s.cpuFirst, s.targetCpuFirst),
    cpuCell(s.cpuSecond, s.targetCpuSecond),
    fmtMiB(s.maxRssKb),
    vsOrch,
    vsFloor,
  ]
  for (const [tool, s] of [['orch', a.orch], ['ansible', a.ansible], ['floor', a.floor]] as const) {
    if (!s) continue
    const vsOrch = tool === 'ansible' ? `${fmtRatio(ratios.ansibleOverOrch.first)} / ${fmtRatio(ratios.ansibleOverOrch.second)}` : ''
    const vsFloor = tool === 'orch' && a.floor ? `${fmtRatio(ratios.orchOverFloor.first)} / ${fmtRatio(ratios.orchOverFloor.second)}` : ''
    rows.push(toolRow(tool === 'floor' ? 'd' : 'a', hostsA, tool, s, vsOrch, vsFloor))
  }
  if (cross) {
    for (const t of ['orch', 'ansible'] as const) {
      const s = cross[t]
      if (!s) continue
      rows.push(['b', String(cross.hosts), t, fmtSec(s.first.median), fmtSec(s.second.median), '', '', fmtMiB(s.maxRssKb), t === 'ansible' ? `${fmtRatio(cross.ratios.ansibleOverOrch.first)} / ${fmtRatio(cross.ratios.ansibleOverOrch.second)}` : '', ''])
    }
    if (cross.orch) rows.push(['b', String(cross.hosts), 'orch rollback', fmtSec(cross.orch.rollback.median), '', '', '', '', '', ''])
  }
  for (const s of scale) {
    if (s.orch) rows.push(toolRow('c', s.hosts, 'orch', s.orch, '', s.floor ? `${fmtRatio(ratio(s.orch.first.median, s.floor.first.median))} / ${fmtRatio(ratio(s.orch.second.median, s.floor.second.median))}` : ''))
    if (s.floor) rows.push(toolRow('c', s.hosts, 'floor', s.floor))
  }

  // The scale goals are about 200 hosts: judged only when a run with at least 200 hosts was measured.
  const at200 = scale.filter((s) => s.orch && s.hosts >= 200).sort((x, y) => x.hosts - y.hosts)[0]
  const goals = [
    { goal: `orch >= 30x faster than ansible on (a), first run`, target: 30, measured: ratios.ansibleOverOrch.first, met: ratios.ansibleOverOrch.first >= 30 },
    { goal: `orch >= 30x faster than ansible on (a), second run`, target: 30, measured: ratios.ansibleOverOrch.second, met: ratios.ansibleOverOrch.second >= 30 },
    { goal: 'orch within 1.5x of the floor on (a), first run', target: 1.5, measured: ratios.orchOverFloor.first, met: ratios.orchOverFloor.first <= 1.5 },
    { goal: 'orch within 1.5x of the floor on (a), second run', target: 1.5, measured: ratios.orchOverFloor.second, met: ratios.orchOverFloor.second <= 1.5 },
    ...(at200?.orch
      ? [
          { goal: `${at200.hosts} hosts x 10 tasks under 10 s, first run`, target: 10_000, measured: at200.orch.first.median, met: at200.orch.first.median < 10_000 },
          { goal: `${at200.hosts} hosts x 10 tasks under 10 s, second run`, target: 10_000, measured: at200.orch.second.median, met: at200.orch.second.median < 10_000 },
          { goal: `controller memory under 200 MB at ${at200.hosts} hosts`, target: 200 * 1024, measured: at200.orch.maxRssKb ?? NaN, met: (at200.orch.maxRssKb ?? Infinity) < 200 * 1024 },
        ]
      : []),
  ].filter((g) => Number.isFinite(g.measured))

  const esReports = [...(wan ? [wanReport(wan)] : []), ...(many ? [manyReport(many.rows)] : [])]
  const results = {
    generatedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine: { ...mach, loadStart, loadEnd, busyBefore, busyAfter },
    options: { only: [...o.only].sort(), runs: o.runs, hosts: o.hosts, scale: o.scale, dockerHosts: o.dockerHosts },
    a: a.orch || a.ansible || a.floor ? { ...a, ratios } : undefined,
    b: cross,
    c: scale.length ? scale : undefined,
    e: wan,
    s: many,
    goals,
    goalsES: [...esReports.flatMap((r) => r.goals)],
    errors,
    samples,
  }
  writeFileSync(o.out, JSON.stringify(results, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : typeof v === 'number' ? Math.round(v * 1000) / 1000 : v), 2) + '\n')

  const out: string[] = []
  out.push(`orch bench — ${mach.cores} cores (${mach.cpu}), ${mach.memGiB} GiB, kernel ${mach.kernel}, node ${mach.node}, ${mach.ansible}`)
  out.push(
    `load average at start ${loadStart.map((x) => x.toFixed(2)).join(' ')}, at end ${loadEnd.map((x) => x.toFixed(2)).join(' ')} (the bench's own processes count too); ` +
      `CPU busy ${(busyBefore * 100).toFixed(0)}% before start, ${(busyAfter * 100).toFixed(0)}% after the end (3 s each)`,
  )
  out.push(`medians of ${o.runs} runs; whole processes, spawn to exit`)
  if (rows.length > 1) out.push('', table(rows))
  if (goals.length) {
    out.push('')
    for (const g of goals) out.push(`${g.met ? 'MET ' : 'MISS'}  ${g.goal}: ${g.target >= 1000 ? (g.goal.includes('memory') ? fmtMiB(g.measured) : fmtSec(g.measured)) : fmtRatio(g.measured)}`)
  }
  for (const r of esReports) {
    out.push('', r.text, '')
    for (const g of r.goals) out.push(`${g.met ? 'MET ' : 'MISS'}  ${g.goal}: ${g.measured}`)
  }
  const notes = [
    ...(wan?.samples ?? []).filter((s) => !s.ok || s.changed !== s.expectedChanged).map((s) => `(e) ${s.tool} ${s.rttMs} ms ${s.phase}: changed=${s.changed}, expected ${s.expectedChanged}${s.ok ? '' : ', hosts failed'}`),
    ...((many?.samples ?? []) as Array<{ ok: boolean; tool: string; hosts: number; phase: string; changed: number }>)
      .filter((s) => !s.ok || s.changed !== (s.phase === 'first' ? s.hosts * TASKS : 0))
      .map((s) => `(s) ${s.tool} ${s.hosts} hosts ${s.phase}: changed=${s.changed}${s.ok ? '' : ', hosts failed'}`),
    ...samples.filter((s) => s.note).map((s) => `${s.tool} ${s.hosts} hosts ${s.phase}: ${s.note}`),
    ...(cross?.samples ?? []).filter((s) => s.note).map((s) => `(b) ${s.tool} ${cross!.hosts} docker hosts ${s.phase}: ${s.note}`),
  ]
  if (notes.length || cross?.skipped) out.push('')
  for (const n of notes) out.push(`!! ${n}`)
  if (cross?.skipped) out.push(`(b) skipped: ${cross.skipped}`)
  if (errors.length) {
    out.push('')
    for (const e of errors) out.push(`!! ${e}`)
  }
  out.push('')
  out.push(`results: ${o.out}`)
  console.log(out.join('\n'))
  if (errors.length || notes.length) process.exitCode = 1
}

main().catch(async (e) => {
  console.error(`bench: ${(e as Error).stack ?? e}`)
  await teardownAll()
  process.exit(1)
})
