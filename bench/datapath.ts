/**
 * npm run bench -- datapath [--strategies routes,bridge,vxlan,ovs-gre,wireguard] [--runs N] [--seconds S]
 *                           [--mtu N] [--out FILE]
 *
 * What each strategy costs on the data path: on one 2-host lab (docker, OVS), for each strategy in turn,
 * playbooks/cross-host.ts is run (orch over SSH, as a user would), then, alternating in every round:
 *
 *   bare       iperf3 TCP from host 1's network namespace to host 2's underlay address
 *   container  iperf3 TCP from host 1's probe container to host 2's probe container (nsenter -t PID -n:
 *              the container's own network namespace, the host's iperf3 binary; busybox has none)
 *
 * and ping (20 echoes, 50 ms apart) on both paths; then `orch rollback` puts the hosts back before the next
 * strategy. Medians of --runs rounds; the ratio is container / bare of the same run. The machine's load
 * average is recorded with every sample (this machine is shared: figures move with it). Measurements go
 * through nsenter (lab.exec), never SSH, so only the data path is timed. Results: table on stdout and
 * bench/datapath-results.json (or --out).
 */
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { cpus, loadavg, release, totalmem } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { down, up, type Lab, type LabHost } from '../src/lab/index.ts'
import { argv as shArgv } from '../src/net/shell.ts'
import { summarize, table, type Summary } from './lib/stats.ts'
import { parseIperf, parsePingAvg, datapathGoals, type DatapathRow } from './lib/datapath.ts'

const here = dirname(fileURLToPath(import.meta.url))
const repo = resolve(here, '..')
const ORCH = join(repo, 'bin', 'orch.js')
const STRATEGIES = ['routes', 'bridge', 'vxlan', 'ovs-gre', 'wireguard'] as const
type Strategy = (typeof STRATEGIES)[number]
const PORT = 5201

interface Options {
  strategies: Strategy[]
  runs: number
  seconds: number
  mtu?: number
  out: string
}

function usage(msg?: string): never {
  if (msg) console.error(`bench datapath: ${msg}`)
  console.error(`usage: npm run bench -- datapath [--strategies ${STRATEGIES.join(',')}] [--runs N] [--seconds S] [--mtu N] [--out FILE]`)
  process.exit(msg ? 2 : 0)
}

export function parseDatapathOptions(argv: string[]): Options {
  const o: Options = { strategies: [...STRATEGIES], runs: 5, seconds: 3, out: join(here, 'datapath-results.json') }
  const int = (flag: string, v: string | undefined, min: number, max: number) => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min || n > max) usage(`${flag}: expected an integer from ${min} to ${max}, got ${v}`)
    return n
  }
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].includes('=') ? [argv[i].slice(0, argv[i].indexOf('=')), argv[i].slice(argv[i].indexOf('=') + 1)] : [argv[i], undefined]
    const val = () => inline ?? argv[++i]
    if (flag === '--strategies') {
      const s = (val() ?? '').split(',').map((x) => x.trim()).filter(Boolean)
      const bad = s.filter((x) => !(STRATEGIES as readonly string[]).includes(x))
      if (!s.length || bad.length) usage(`--strategies: expected names among ${STRATEGIES.join(',')}, got ${bad.join(',') || 'nothing'}`)
      o.strategies = s as Strategy[]
    } else if (flag === '--runs') o.runs = int('--runs', val(), 1, 50)
    else if (flag === '--seconds') o.seconds = int('--seconds', val(), 1, 60)
    else if (flag === '--mtu') o.mtu = int('--mtu', val(), 1280, 9000)
    else if (flag === '--out') o.out = resolve(val() ?? usage('--out: expected a file'))
    else if (flag === '-h' || flag === '--help') usage()
    else usage(`unknown option ${argv[i]}`)
  }
  return o
}

const log = (m: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${m}`)

function orch(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((res) => {
    execFile('node', [ORCH, ...args], { cwd: repo, maxBuffer: 64 << 20, timeout: 900_000 }, (err, stdout, stderr) =>
      res({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout + stderr }),
    )
  })
}

async function on(lab: Lab, h: LabHost, script: string): Promise<string> {
  const r = await lab.exec(h, script)
  if (r.code !== 0) throw new Error(`${h.name}: ${script.slice(0, 120)}: rc=${r.code} ${(r.stderr || r.stdout).trim().slice(-400)}`)
  return r.stdout
}

/** The prefix entering a path's network namespace on a host: '' (the host's own) or the probe's. */
async function netnsOf(lab: Lab, h: LabHost, path: 'bare' | 'container'): Promise<string> {
  if (path === 'bare') return ''
  const pid = (await on(lab, h, "docker inspect -f '{{.State.Pid}}' orch-probe")).trim()
  return `nsenter -t ${pid} -n `
}

async function addressOf(lab: Lab, h: LabHost, path: 'bare' | 'container', s: Strategy): Promise<string> {
  if (path === 'bare') return h.address
  const iface = s === 'bridge' || s === 'ovs-gre' ? 'eth1' : 'eth0'
  const out = await on(lab, h, `${await netnsOf(lab, h, path)}ip -4 -o addr show dev ${iface}`)
  const m = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(out)
  if (!m) throw new Error(`${h.name}: no probe address on ${iface}: ${out}`)
  return m[1]
}

/** One iperf3 TCP sample (bits/s received) from a to b on a path; the server is a one-off, ended by its pidfile. */
async function iperf(lab: Lab, a: LabHost, b: LabHost, path: 'bare' | 'container', s: Strategy, seconds: number): Promise<{ bps: number; retransmits: number }> {
  const [na, nb, addr] = [await netnsOf(lab, a, path), await netnsOf(lab, b, path), await addressOf(lab, b, path, s)]
  const pidfile = `/tmp/orch-bench-iperf.${PORT}.pid`
  await on(lab, b, `rm -f ${pidfile}; ${nb}iperf3 -s -1 -D -p ${PORT} -I ${pidfile}; i=0; until ${nb}ss -Hltn 'sport = :${PORT}' | grep -q .; do i=$((i + 1)); [ $i -gt 100 ] && exit 1; sleep 0.05; done`)
  try {
    const out = await on(lab, a, `${na}${shArgv(['iperf3', '-c', addr, '-p', PORT, '-t', seconds, '-J'])}`)
    return parseIperf(out)
  } finally {
    await lab.exec(b, `[ -f ${pidfile} ] && kill $(cat ${pidfile}) 2>/dev/null; rm -f ${pidfile}; true`)
  }
}

async function ping(lab: Lab, a: LabHost, b: LabHost, path: 'bare' | 'container', s: Strategy): Promise<number> {
  const [na, addr] = [await netnsOf(lab, a, path), await addressOf(lab, b, path, s)]
  return parsePingAvg(await on(lab, a, `${na}${shArgv(['ping', '-n', '-q', '-c', 20, '-i', 0.05, '-W', 2, addr])}`))
}

interface Sample {
  strategy: Strategy
  path: 'bare' | 'container'
  round: number
  bps?: number
  retransmits?: number
  rttMs?: number
  load1: number
}

function strategyVars(lab: Lab, s: Strategy): string[] {
  const v = ['-e', `orch_strategy=${s}`]
  // Inside the lab's LAN, away from the hosts (.1-.2), the controller (.253) and the gateway (.254).
  if (s === 'bridge') v.push('-e', `lan_pool=${lab.lanCidr.replace(/\.0\/24$/, '.96/28')}`)
  return v
}

export async function datapathMain(argv: string[]): Promise<void> {
  const o = parseDatapathOptions(argv)
  const started = new Date()
  const loadStart = loadavg()
  const prefix = `d${Math.floor(Math.random() * 36 ** 4).toString(36).padStart(4, '0')}`
  log(`lab ${prefix}: 2 docker${o.strategies.includes('ovs-gre') ? ' + OVS' : ''} hosts${o.mtu ? `, MTU ${o.mtu}` : ''}...`)
  let lab: Lab | undefined
  const cleanup = () => (lab ? down(lab.prefix).catch(() => {}) : Promise.resolve())
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void cleanup().finally(() => process.exit(130)))
  const samples: Sample[] = []
  const errors: string[] = []
  try {
    lab = await up({ hosts: 2, docker: true, ovs: o.strategies.includes('ovs-gre'), prefix, ...(o.mtu ? { mtu: o.mtu } : {}) })
    const [a, b] = lab.hosts
    for (const s of o.strategies) {
      log(`${s}: orch run playbooks/cross-host.ts`)
      const r = await orch(['run', 'playbooks/cross-host.ts', '-i', lab.inventoryPath, ...strategyVars(lab, s)])
      try {
        if (r.code !== 0) throw new Error(`orch run exited ${r.code}: ${r.out.trim().split('\n').slice(-8).join(' | ')}`)
        for (let round = 0; round < o.runs; round++) {
          // Alternate the order in every round: neither path always runs first (a warmer cache, a calmer machine).
          const order: Array<'bare' | 'container'> = round % 2 ? ['container', 'bare'] : ['bare', 'container']
          for (const path of order) {
            const load1 = loadavg()[0]
            const t = await iperf(lab, a, b, path, s, o.seconds)
            const rttMs = await ping(lab, a, b, path, s)
            samples.push({ strategy: s, path, round, bps: t.bps, retransmits: t.retransmits, rttMs, load1 })
            log(`${s} ${path} round ${round + 1}: ${(t.bps / 1e9).toFixed(2)} Gbit/s, rtt ${rttMs.toFixed(3)} ms (load ${load1.toFixed(1)})`)
          }
        }
      } catch (e) {
        errors.push(`${s}: ${(e as Error).message}`)
        log(`${s}: FAILED ${(e as Error).message}`)
      }
      const back = await orch(['rollback', '-i', lab.inventoryPath])
      if (back.code !== 0) {
        errors.push(`${s}: orch rollback exited ${back.code}: ${back.out.trim().split('\n').slice(-4).join(' | ')}`)
        break
      }
    }
  } finally {
    await cleanup()
  }

  const rows: DatapathRow[] = o.strategies.map((s) => {
    const of = (path: 'bare' | 'container', k: 'bps' | 'rttMs' | 'load1') => summarize(samples.filter((x) => x.strategy === s && x.path === path).map((x) => x[k] ?? NaN))
    return { strategy: s, bare: of('bare', 'bps'), container: of('container', 'bps'), bareRtt: of('bare', 'rttMs'), containerRtt: of('container', 'rttMs'), load: summarize(samples.filter((x) => x.strategy === s).map((x) => x.load1)) }
  })
  const goals = datapathGoals(rows)
  const gbit = (x: Summary) => (x.n ? `${(x.median / 1e9).toFixed(2)} (${(x.min / 1e9).toFixed(2)}-${(x.max / 1e9).toFixed(2)})` : '-')
  const ms = (x: Summary) => (x.n ? x.median.toFixed(3) : '-')
  const out = [
    `orch datapath bench: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB, kernel ${release()}; lab underlay MTU ${o.mtu ?? 1500}`,
    `medians of ${o.runs} rounds of iperf3 -t ${o.seconds} (min-max in brackets); load average at start ${loadStart.map((x) => x.toFixed(1)).join(' ')}, at end ${loadavg().map((x) => x.toFixed(1)).join(' ')}`,
    '',
    table([
      ['strategy', 'bare Gbit/s', 'container Gbit/s', 'container/bare', 'rtt bare ms', 'rtt container ms', 'load (median)'],
      ...rows.map((r) => [r.strategy, gbit(r.bare), gbit(r.container), r.bare.n && r.container.n ? `${((r.container.median / r.bare.median) * 100).toFixed(0)}%` : '-', ms(r.bareRtt), ms(r.containerRtt), r.load.n ? r.load.median.toFixed(1) : '-']),
    ]),
    '',
    ...goals.map((g) => `${g.met ? 'MET ' : 'MISS'}  ${g.goal}: ${(g.measured * 100).toFixed(0)}%`),
    ...errors.map((e) => `!! ${e}`),
  ]
  writeFileSync(o.out, JSON.stringify({ generatedAt: started.toISOString(), finishedAt: new Date().toISOString(), command: `npm run bench -- datapath ${argv.join(' ')}`.trim(), options: o, loadStart, loadEnd: loadavg(), rows, goals, errors, samples }, null, 2) + '\n')
  console.log(out.join('\n') + `\n\nresults: ${o.out}`)
  if (errors.length) process.exitCode = 1
}
