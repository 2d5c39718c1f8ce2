/**
 * What the playbook lab tests (test/lab/playbook-*.test.ts) share: `orch` run in-process through the real
 * CLI (`--json`), host snapshots taken straight from the lab hosts (nsenter, not the SSH orch uses),
 * the probe containers' addresses and an independent ping matrix between them, and the suite every
 * strategy goes through:
 *
 *   bad variables → exit 5, nothing touched   --check on the fresh lab → nothing changed, changes listed
 *   run → checks pass, committed, kernel state, own ping matrix   second run → changed=0 on every host
 *   orch rollback → every host equals its pre-run snapshot   another strategy on the same hosts, rolled back
 */
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'
import { main } from '../../src/cli/main.ts'
import type { Io } from '../../src/cli/io.ts'
import { nsenterConnection } from '../../src/lab/connection.ts'
import type { Lab, LabHost } from '../../src/lab/index.ts'
import { argv } from '../../src/net/shell.ts'
import { snapshot } from '../helpers/snapshot.ts'

export const repo = fileURLToPath(new URL('../../', import.meta.url))
export const PLAYBOOK = 'playbooks/cross-host.ts'
export type StrategyName = 'routes' | 'bridge' | 'ovs-gre' | 'vxlan' | 'wireguard'

export interface OrchResult {
  code: number
  out: string
  err: string
  /** The --json document, when one was printed. */
  doc: any
}

/** `orch ...` in-process (the CLI's main with a captured Io). */
export async function orch(...args: string[]): Promise<OrchResult> {
  let out = ''
  let err = ''
  const io: Io = {
    stdout: { write: (s: string) => ((out += s), true), isTTY: false } as never,
    stderr: { write: (s: string) => ((err += s), true) } as never,
    cwd: repo,
    onSigint: () => {},
    offSigint: () => {},
    exit: (c: number) => {
      throw new Error(`exit ${c}`)
    },
  }
  const code = await main(['node', 'orch', ...args], io)
  let doc: any
  try {
    doc = args.includes('--json') ? JSON.parse(out) : undefined
  } catch {
    doc = undefined
  }
  return { code, out, err, doc }
}

/** Variables a strategy needs on the lab beyond the lab inventory's (the LAN pool of the bridge strategy). */
export function strategyVars(lab: Lab, s: StrategyName): string[] {
  const vars = ['-e', `orch_strategy=${s}`]
  // 198.18.I.96/28: inside the lab's LAN, away from the hosts (.1-.3), the controller (.253) and the gateway (.254).
  if (s === 'bridge') vars.push('-e', `lan_pool=${lab.lanCidr.replace(/\.0\/24$/, '.96/28')}`)
  return vars
}

export function run(lab: Lab, s: StrategyName, ...more: string[]): Promise<OrchResult> {
  return orch('run', PLAYBOOK, '-i', lab.inventoryPath, ...strategyVars(lab, s), '--json', ...more)
}

export async function exec(lab: Lab, h: LabHost, script: string): Promise<string> {
  const r = await lab.exec(h, script)
  if (r.code !== 0) throw new Error(`${h.name}: ${script}: rc=${r.code} ${r.stderr}`)
  return r.stdout
}

/** Every host's snapshot (links, addresses, routes, iptables, OVS, docker networks, files) and its containers. */
export async function snapshots(lab: Lab): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  for (const h of lab.hosts) {
    const snap = await snapshot(nsenterConnection(lab, h))
    const containers = (await exec(lab, h, "docker ps -a --format '{{.Names}} {{.Status}}' | sed 's/ Up .*/ up/' | sort")).trim()
    out[h.name] = { ...snap, containers }
  }
  return out
}

/** The probe's IPv4 address on `iface` in each host (from inside the container). */
export async function probeIps(lab: Lab, iface: string, probe = 'orch-probe'): Promise<Map<string, string>> {
  const ips = new Map<string, string>()
  for (const h of lab.hosts) {
    const out = await exec(lab, h, argv(['docker', 'exec', probe, 'ip', '-4', '-o', 'addr', 'show', 'dev', iface]))
    const m = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(out)
    if (!m) throw new Error(`${h.name}: no address on ${probe} ${iface}: ${out}`)
    ips.set(h.name, m[1])
  }
  return ips
}

/** Our own check, not orch's: every probe pings every other probe's address. Returns the failures. */
export async function pingMatrix(lab: Lab, ips: Map<string, string>, probe = 'orch-probe'): Promise<string[]> {
  const bad: string[] = []
  await Promise.all(
    lab.hosts.flatMap((a) =>
      lab.hosts
        .filter((b) => b !== a)
        .map(async (b) => {
          const r = await lab.exec(a, argv(['docker', 'exec', probe, 'ping', '-c', '2', '-W', '2', ips.get(b.name)!]))
          if (r.code !== 0) bad.push(`${a.name} -> ${b.name} (${ips.get(b.name)}): ${r.stdout.trim().split('\n').pop()}`)
        }),
    ),
  )
  return bad
}

/** A TCP transfer between two probes, counted on the receiving side (busybox nc). */
export async function tcpBytes(lab: Lab, from: LabHost, to: LabHost, toIp: string, bytes: number, port = 7911, probe = 'orch-probe'): Promise<number> {
  await exec(lab, to, argv(['docker', 'exec', '-d', probe, 'sh', '-c', `rm -f /tmp/rx; sleep 15 | nc -l -p ${port} > /tmp/rx`]))
  await new Promise((r) => setTimeout(r, 300))
  await lab.exec(from, argv(['docker', 'exec', probe, 'sh', '-c', `head -c ${bytes} /dev/zero | nc -w 3 ${toIp} ${port}`]))
  let n = 0
  for (let i = 0; i < 20 && n < bytes; i++) {
    n = Number((await exec(lab, to, argv(['docker', 'exec', probe, 'sh', '-c', 'wc -c < /tmp/rx 2>/dev/null || echo 0']))).trim())
    if (n < bytes) await new Promise((r) => setTimeout(r, 200))
  }
  return n
}

/** Names of the tasks that reported changes on a host, from a --json document. */
export function changedTasks(doc: any, host: string): string[] {
  return doc.plays.flatMap((p: any) => p.tasks.filter((t: any) => t.hosts[host]?.changed).map((t: any) => t.task.name))
}

/** Every change line ("what") a host reported, from a --json document. */
export function changeLines(doc: any, host: string): string[] {
  return doc.plays.flatMap((p: any) => p.tasks.flatMap((t: any) => (t.hosts[host]?.changes ?? []).map((c: any) => `${c.what}${c.after ? ` -> ${c.after}` : ''}`)))
}

export function probeIface(s: StrategyName): string {
  return s === 'bridge' || s === 'ovs-gre' ? 'eth1' : 'eth0'
}

/**
 * The tests every strategy passes, on one lab shared by the file (tests run in order and build on each
 * other: check → run → rerun → rollback → switch). `assertState` checks what the kernel/daemons hold after
 * the run; `other` is the strategy switched to on the same hosts.
 */
export function strategySuite(lab: () => Lab, s: StrategyName, o: { assertState(lab: Lab): Promise<void>; other: StrategyName }) {
  let fresh: Record<string, unknown>

  it('check mode on the fresh lab changes nothing and lists what it would do', async () => {
    fresh = await snapshots(lab())
    const r = await run(lab(), s, '--check')
    expect(r.code, r.err).toBe(0)
    expect(r.doc.orch.check).toBe(true)
    for (const h of lab().hosts) {
      expect(r.doc.stats[h.name].failed).toBe(0)
      expect(r.doc.stats[h.name].changed).toBeGreaterThan(0)
      expect(changeLines(r.doc, h.name).some((l) => /orch-probe/.test(l))).toBe(true)
    }
    expect(r.doc.checks).toBeUndefined()
    expect(await snapshots(lab())).toEqual(fresh)
  })

  it('connects the containers of every host: the verify matrix passes, and our own pings and TCP agree', async () => {
    const r = await run(lab(), s)
    expect(r.code, r.err + JSON.stringify(r.doc?.checks ?? r.doc, null, 1).slice(0, 3000)).toBe(0)
    expect(r.doc.transaction.status).toBe('committed')
    const matrix = r.doc.checks.find((c: any) => /container to container/.test(c.name))
    expect(matrix.name).toContain(`${1 << 20} bytes tcp`)
    expect(matrix.ok).toBe(true)
    expect(matrix.probes).toHaveLength(lab().hosts.length * (lab().hosts.length - 1))
    for (const h of lab().hosts) expect(r.doc.stats[h.name]).toMatchObject({ failed: 0, unreachable: 0 })

    const ips = await probeIps(lab(), probeIface(s))
    expect(new Set(ips.values()).size).toBe(lab().hosts.length)
    expect(await pingMatrix(lab(), ips)).toEqual([])
    const [a, b, c] = lab().hosts
    expect(await tcpBytes(lab(), a, c, ips.get(c.name)!, 1 << 20)).toBe(1 << 20)
    expect(await tcpBytes(lab(), c, b, ips.get(b.name)!, 1 << 20, 7912)).toBe(1 << 20)
    await o.assertState(lab())
  })

  it('a second run changes nothing on any host', async () => {
    const before = await snapshots(lab())
    const r = await run(lab(), s)
    expect(r.code, r.err).toBe(0)
    for (const h of lab().hosts) {
      expect(r.doc.stats[h.name], `${h.name}: ${changedTasks(r.doc, h.name).join(', ')}`).toMatchObject({ changed: 0, failed: 0 })
    }
    expect(r.doc.transaction.status).toBe('nothing-changed')
    expect(r.doc.checks.every((c: any) => c.ok)).toBe(true)
    expect(await snapshots(lab())).toEqual(before)
  })

  it('orch rollback returns every host to its pre-run snapshot', async () => {
    const r = await orch('rollback', '-i', lab().inventoryPath)
    expect(r.code, r.out + r.err).toBe(0)
    for (const h of lab().hosts) expect(r.out).toMatch(new RegExp(`^${h.name} +: rolled back`, 'm'))
    expect(await snapshots(lab())).toEqual(fresh)
  })

  it(`switching strategy on the same hosts works: ${o.other}, then rolled back too`, async () => {
    const r = await run(lab(), o.other)
    expect(r.code, r.err + JSON.stringify(r.doc?.checks, null, 1)).toBe(0)
    expect(r.doc.checks.every((c: any) => c.ok)).toBe(true)
    expect(await pingMatrix(lab(), await probeIps(lab(), probeIface(o.other)))).toEqual([])
    const back = await orch('rollback', '-i', lab().inventoryPath)
    expect(back.code, back.out + back.err).toBe(0)
    expect(await snapshots(lab())).toEqual(fresh)
  })
}

/** Runs the playbook with extra variables that must be refused before any host is touched. */
export async function refused(lab: Lab, s: StrategyName, vars: string[], variable: string, host?: string): Promise<void> {
  const before = await snapshots(lab)
  const r = await orch('run', PLAYBOOK, '-i', lab.inventoryPath, ...strategyVars(lab, s), ...vars.flatMap((v) => ['-e', v]))
  expect(r.code, r.err).toBe(5)
  expect(r.err).toContain(`${variable}: expected`)
  if (host) expect(r.err).toContain(`${host}: ${variable}`)
  expect(await snapshots(lab)).toEqual(before)
}
