/**
 * Part (b): playbooks/cross-host.ts (orch_strategy=routes, its default) against bench/ansible/cross-host.yml
 * on docker lab hosts. Per run: orch first (changing) and second (no-change) run, `orch rollback` (timed on
 * its own), then ansible-playbook first and second run, then the lab is recreated (Ansible has no undo).
 * The checks are part of both runs (orch's verify; the playbook's check tasks), as a user would run them.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Lab } from '../../src/lab/index.ts'
import type { Timed } from './proc.ts'
import { parseOrchTotal, parseRecap, ratio, summarize, type Summary } from './stats.ts'
import { listenScript, probeScript } from '../../src/checks/matrix.ts'

/** The bytes each probe sends each other probe, as orch's cross-host checks (and the playbook's tcp_bytes). */
const TCP_BYTES = 1048576
const BASE_PORT = 7700

/**
 * The Ansible playbook's container matrix runs orch's own round scripts (src/checks/matrix.ts), so both
 * tools check the same way: round 1 (listen, the probe's eth0 address) and round 2 (send + read back the
 * count, then ping) for each of `n` hosts in inventory order; peer j's address is written @IPj@ and filled
 * in by the playbook once round 1 read it. Returns the path of an extra-vars file for ansible-playbook.
 */
export function ansibleMatrixVars(dir: string, n: number): string {
  const others = (i: number) => [...Array(n).keys()].filter((j) => j !== i)
  const vars = {
    matrix_listen: [...Array(n).keys()].map((i) => listenScript(BASE_PORT, others(i).map((j) => BASE_PORT + j), TCP_BYTES, 'eth0')),
    matrix_probe: [...Array(n).keys()].map((i) => probeScript(BASE_PORT, others(i).map((j) => [j, `@IP${j}@`]), TCP_BYTES, BASE_PORT + i)),
  }
  const file = join(dir, 'matrix-vars.json')
  writeFileSync(file, JSON.stringify(vars))
  return file
}

export interface CrossSample {
  tool: 'orch' | 'ansible' | 'orch-rollback'
  phase: 'first' | 'second' | 'rollback'
  wallMs: number
  innerMs?: number
  maxRssKb?: number
  changed: number
  load1: number
  ok: boolean
  note?: string
}

export interface CrossHostResult {
  hosts: number
  playbook: string
  orch?: { first: Summary; second: Summary; rollback: Summary; maxRssKb?: number }
  ansible?: { first: Summary; second: Summary; maxRssKb?: number }
  ratios: { ansibleOverOrch: { first: number; second: number } }
  samples: CrossSample[]
  skipped?: string
}

export interface CrossHostDeps {
  repo: string
  orch: string
  ansibleDir: string
  hosts: number
  runs: number
  labUp(suffix: string, hosts: number, docker?: boolean): Promise<Lab>
  labDown(lab: Lab): Promise<void>
  timed(cmd: string, args: string[], opts?: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number }): Promise<Timed>
  log(m: string): void
  closeControlMasters(dir: string): void
  stopping(): boolean
}

/** What a reset must give back: docker's config, containers, routes, the nat and filter rules. */
const STATE_SCRIPT =
  "cat /etc/docker/daemon.json 2>/dev/null; echo ==; docker ps -a --format '{{.Names}}' | sort; echo ==; ip -4 route; echo ==; " +
  "iptables -t nat -S | sort; echo ==; iptables -S | sort; echo ==; cat /proc/sys/net/ipv4/ip_forward"

async function hostStates(lab: Lab): Promise<string[]> {
  return Promise.all(lab.hosts.map(async (h) => (await lab.exec(h, STATE_SCRIPT)).stdout))
}

export async function crossHostPart(d: CrossHostDeps): Promise<CrossHostResult | undefined> {
  const playbook = join(d.repo, 'playbooks', 'cross-host.ts')
  const result: CrossHostResult = { hosts: d.hosts, playbook, ratios: { ansibleOverOrch: { first: NaN, second: NaN } }, samples: [] }
  if (!existsSync(playbook)) {
    result.skipped = 'playbooks/cross-host.ts does not exist yet: part b runs once it does'
    d.log(`part b: skipped: ${result.skipped}`)
    return result
  }
  const push = (s: CrossSample) => {
    result.samples.push(s)
    d.log(`  ${s.tool.padEnd(13)} ${d.hosts} docker hosts ${s.phase.padEnd(8)} ${(s.wallMs / 1000).toFixed(2).padStart(6)} s  changed=${s.changed}${s.note ? `  !! ${s.note}` : ''}`)
  }
  const fail = (what: string, r: Timed): never => {
    throw new Error(`${what} exited ${r.code}:\n${(r.stderr || r.stdout).trim().split('\n').slice(-20).join('\n')}`)
  }

  let lab = await d.labUp('b', d.hosts, true)
  try {
    for (let i = 0; i < d.runs && !d.stopping(); i++) {
      d.log(`part b: run ${i + 1}/${d.runs}`)
      const pristine = await hostStates(lab)

      // orch: first, second, rollback
      for (const phase of ['first', 'second'] as const) {
        const load1 = loadavg()[0]
        const r = await d.timed('node', [d.orch, 'run', playbook, '-i', lab.inventoryPath, '-f', String(lab.hosts.length)], { cwd: d.repo, timeoutMs: 900_000 })
        if (r.code !== 0) fail(`orch run playbooks/cross-host.ts (${phase})`, r)
        const recap = parseRecap(r.stdout)
        const ok = recap.hosts === lab.hosts.length && recap.failed + recap.unreachable === 0
        const note = !ok ? 'hosts failed' : phase === 'first' ? (recap.changed === 0 ? 'first run changed nothing' : undefined) : recap.changed ? `second run changed ${recap.changed}` : undefined
        push({ tool: 'orch', phase, wallMs: r.wallMs, innerMs: parseOrchTotal(r.stdout), maxRssKb: r.maxRssKb, changed: recap.changed, load1, ok, note })
      }
      {
        const load1 = loadavg()[0]
        const r = await d.timed('node', [d.orch, 'rollback', '-i', lab.inventoryPath, '-f', String(lab.hosts.length)], { cwd: d.repo, timeoutMs: 900_000 })
        if (r.code !== 0) fail('orch rollback', r)
        const after = await hostStates(lab)
        const differ = lab.hosts.filter((_, k) => after[k] !== pristine[k]).map((h) => h.name)
        push({ tool: 'orch-rollback', phase: 'rollback', wallMs: r.wallMs, maxRssKb: r.maxRssKb, changed: 0, load1, ok: differ.length === 0, note: differ.length ? `not back to its start state: ${differ.join(', ')}` : undefined })
      }
      if (d.stopping()) break

      // ansible: first, second, then a fresh lab
      const controlDir = mkdtempSync(join(tmpdir(), 'orch-bench-cp-'))
      try {
        for (const phase of ['first', 'second'] as const) {
          const load1 = loadavg()[0]
          const env = { ...process.env, ANSIBLE_CONFIG: join(d.ansibleDir, 'ansible.cfg'), ANSIBLE_SSH_CONTROL_PATH_DIR: controlDir, ANSIBLE_NOCOLOR: '1' }
          const matrixVars = ansibleMatrixVars(controlDir, lab.hosts.length)
          const r = await d.timed('ansible-playbook', ['-i', lab.inventoryPath, '-f', String(lab.hosts.length), '-e', `@${matrixVars}`, join(d.ansibleDir, 'cross-host.yml')], { env, cwd: d.ansibleDir, timeoutMs: 1_800_000 })
          if (r.code !== 0) fail(`ansible-playbook cross-host.yml (${phase})`, r)
          const recap = parseRecap(r.stdout)
          const ok = recap.hosts === lab.hosts.length && recap.failed + recap.unreachable === 0
          const note = !ok ? 'hosts failed' : phase === 'second' && recap.changed ? `second run changed ${recap.changed}` : undefined
          push({ tool: 'ansible', phase, wallMs: r.wallMs, maxRssKb: r.maxRssKb, changed: recap.changed, load1, ok, note })
        }
      } finally {
        d.closeControlMasters(controlDir)
      }
      if (i + 1 < d.runs && !d.stopping()) {
        await d.labDown(lab)
        lab = await d.labUp('b', d.hosts, true)
      }
    }
  } finally {
    await d.labDown(lab)
  }

  const of = (tool: CrossSample['tool'], phase: CrossSample['phase']) => summarize(result.samples.filter((s) => s.tool === tool && s.phase === phase).map((s) => s.wallMs))
  const rss = (tool: CrossSample['tool']) => {
    const xs = result.samples.filter((s) => s.tool === tool && s.maxRssKb !== undefined).map((s) => s.maxRssKb!)
    return xs.length ? Math.max(...xs) : undefined
  }
  if (result.samples.some((s) => s.tool === 'orch')) result.orch = { first: of('orch', 'first'), second: of('orch', 'second'), rollback: of('orch-rollback', 'rollback'), maxRssKb: rss('orch') }
  if (result.samples.some((s) => s.tool === 'ansible')) result.ansible = { first: of('ansible', 'first'), second: of('ansible', 'second'), maxRssKb: rss('ansible') }
  result.ratios.ansibleOverOrch = {
    first: ratio(result.ansible?.first.median, result.orch?.first.median),
    second: ratio(result.ansible?.second.median, result.orch?.second.median),
  }
  return result
}
