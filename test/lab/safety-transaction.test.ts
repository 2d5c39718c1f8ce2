/**
 * Fault injection against the transaction (issue: safe apply). Each test asserts that afterwards every
 * host equals its snapshot from before the run.
 */
import { spawn } from 'node:child_process'
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { repoRoot, type Lab } from '../../src/lab/index.ts'
import { nsenterConnection } from '../../src/lab/connection.ts'
import { labSkipReason, withLab } from '../helpers/lab.ts'
import { snapshot } from '../helpers/snapshot.ts'

const PLAYBOOK = join(repoRoot, 'test/fixtures/playbooks/safety.ts')
const ORCH = join(repoRoot, 'bin/orch.js')

interface Done {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

function orch(args: string[]): { child: ReturnType<typeof spawn>; done: Promise<Done> } {
  const child = spawn(process.execPath, [ORCH, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d) => (stdout += d))
  child.stderr!.on('data', (d) => (stderr += d))
  const done = new Promise<Done>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })))
  return { child, done }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function snapshots(lab: Lab): Promise<Record<string, unknown>[]> {
  return Promise.all(lab.hosts.map((h) => snapshot(nsenterConnection(lab, h))))
}

/** Wait until `script` succeeds on the host (e.g. the slow task started). */
async function until(lab: Lab, host: string, script: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if ((await lab.exec(host, script)).code === 0) return
    await sleep(100)
  }
  throw new Error(`timed out waiting for: ${script}`)
}

describe.skipIf(labSkipReason)('transaction under faults', () => {
  const lab = withLab({ hosts: 2, docker: true })
  let inv: string
  let before: Record<string, unknown>[]
  const run = (extra: string[]) => orch(['run', PLAYBOOK, '-i', inv, ...extra])

  beforeAll(async () => {
    inv = lab().inventoryPath
    before = await snapshots(lab())
  })

  afterEach(async () => {
    // Whatever happened, the lab must be back as it was; later tests start from a clean state.
    expect(await snapshots(lab())).toEqual(before)
    const status = orch(['status', '-i', inv])
    const st = await status.done
    expect(st.stdout).not.toMatch(/UNFINISHED|ROLLBACK FAILED/)
  })

  it('rolls every host back when one host fails the container check', async () => {
    const [, b] = lab().hosts
    // Inject: b drops new TCP connections from a (the matrix's TCP probe a -> b fails).
    await lab().exec(b, `iptables -I INPUT -s ${lab().hosts[0].address} -p tcp --dport 7000:7999 --syn -j DROP`)
    try {
      const r = await run(['-e', 'scenario=check', '-e', `container_image=${lab().image}`]).done
      expect(r.code, r.stdout + r.stderr).toBe(2)
      expect(r.stdout).toMatch(/FAIL container to container \(ping \+ 65536 bytes tcp\)/)
      expect(r.stdout).toMatch(/! node1 -> node2: tcp: 0 of 65536 bytes arrived/)
      expect(r.stdout).toMatch(/TRANSACTION ROLLED-BACK \(check failed: container to container/)
      for (const h of lab().hosts) expect(r.stdout).toMatch(new RegExp(`${h.name}\\s+: rolled-back, back in its pre-run state`))
      expect(r.stdout).toMatch(/rolled_back=1/)
    } finally {
      await lab().exec(b, `iptables -D INPUT -s ${lab().hosts[0].address} -p tcp --dport 7000:7999 --syn -j DROP`)
    }
  })

  it('br0 takeover that loses the address: the host restores itself by its timer and orch reports it', async () => {
    const [, b] = lab().hosts
    const r = await run(['-e', 'scenario=lose-addr', '-e', `fault_host=${b.name}`, '-e', 'confirm_timeout=8']).done
    expect(r.code, r.stdout + r.stderr).toBe(2)
    expect(r.stdout).toMatch(new RegExp(`${b.name}\\s+: rolled-back-by-timer, back in its pre-run state`))
    expect(r.stdout).toMatch(/restored itself \(rolled back by its timer\)/)
  })

  it('br0 takeover with a wrong gateway: the host restores itself within confirm_timeout', async () => {
    const [a, b] = lab().hosts
    // The controller comes in from its second address, which hosts reach only through their default
    // route: a wrong gateway cuts it off, as it would cut off a controller in another subnet.
    const bound = `${inv}.bound`
    writeFileSync(bound, readFileSync(inv, 'utf8').replace(/ansible_ssh_common_args='/, `ansible_ssh_common_args='-o BindAddress=${lab().controllerIp2} `))
    appendFileSync(bound, `wrong_gateway=${lab().lanCidr.replace(/0\/24$/, '200')}\n`)
    const t0 = Date.now()
    const r = await orch(['run', PLAYBOOK, '-i', bound, '-e', 'scenario=wrong-gw', '-e', `fault_host=${b.name}`, '-e', 'confirm_timeout=8']).done
    expect(r.code, r.stdout + r.stderr).toBe(2)
    expect(r.stdout).toMatch(new RegExp(`${b.name}\\s+: rolled-back-by-timer, back in its pre-run state`))
    expect(r.stdout).toMatch(new RegExp(`${a.name}\\s+: rolled-back, back in its pre-run state`))
    expect(Date.now() - t0).toBeLessThan(90_000)
  })

  it('SSH connection killed mid-apply: reported unreachable, every host rolled back', async () => {
    const [a] = lab().hosts
    const p = run(['-e', 'scenario=slow', '-e', 'hold=6'])
    await until(lab(), a.name, 'pgrep -f "^sleep 6" >/dev/null')
    // Kill the sshd session serving the controller on host a (the listener stays).
    await lab().exec(a, 'pkill -f "^sshd: root"')
    const r = await p.done
    expect(r.code, r.stdout + r.stderr).toBe(4)
    expect(r.stdout).toMatch(/TRANSACTION ROLLED-BACK/)
    for (const h of lab().hosts) expect(r.stdout).toMatch(new RegExp(`${h.name}\\s+: rolled-back, back in its pre-run state`))
  })

  it('a rollback that leaves something behind is caught by the pre-run snapshot and said loudly', async () => {
    const [a, b] = lab().hosts
    try {
      const r = await run(['-e', 'scenario=bad-undo', '-e', `fault_host=${b.name}`]).done
      expect(r.code, r.stdout + r.stderr).toBe(2)
      expect(r.stdout).toMatch(new RegExp(`${a.name}\\s+: rolled-back, back in its pre-run state`))
      expect(r.stdout).toMatch(new RegExp(`${b.name}\\s+: rolled-back, NOT back in its pre-run state - differs from its pre-run state in: addrs`))
    } finally {
      await lab().exec(b, 'ip addr del 10.67.0.1/32 dev lo 2>/dev/null; true')
    }
  })

  it('SIGINT mid-apply: no new task, every host rolled back, exit 99', async () => {
    const [a] = lab().hosts
    const p = run(['-e', 'scenario=slow', '-e', 'hold=3'])
    await until(lab(), a.name, 'pgrep -f "^sleep 3" >/dev/null')
    p.child.kill('SIGINT')
    const r = await p.done
    expect(r.code, r.stdout + r.stderr).toBe(99)
    expect(r.stdout).toMatch(/TRANSACTION ROLLED-BACK \(interrupted/)
  })

  it('a second concurrent run is refused with a clear message; the first completes', async () => {
    const [a] = lab().hosts
    const first = run(['-e', 'scenario=slow', '-e', 'hold=4'])
    await until(lab(), a.name, 'pgrep -f "^sleep 4" >/dev/null')
    const second = await run(['-e', 'scenario=slow', '-e', 'hold=0']).done
    expect(second.code).toBe(1)
    expect(second.stderr).toMatch(/refusing to run:\n\s+node1: another orch run \(\S+\) is in progress on this host/)
    const r = await first.done
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stdout).toMatch(/TRANSACTION COMMITTED/)
    // Leave the lab as it was for the next test.
    const rb = await orch(['rollback', '-i', inv]).done
    expect(rb.code, rb.stdout + rb.stderr).toBe(0)
  })

  it('controller killed outright while a risky change is armed: the hosts restore themselves', async () => {
    const [a] = lab().hosts
    const p = run(['-e', 'scenario=risky-slow', '-e', 'hold=30', '-e', 'confirm_timeout=6'])
    await until(lab(), a.name, 'ip -o addr show dev lo | grep -q 10.66.0.1')
    p.child.kill('SIGKILL')
    await p.done
    // Nobody disarms: within confirm_timeout the timers replay the journals.
    const end = Date.now() + 30_000
    let st = ''
    while (Date.now() < end) {
      st = (await orch(['status', '-i', inv]).done).stdout
      if (lab().hosts.every((h) => new RegExp(`${h.name}\\s+: .*last rolled back: \\S+ \\(by timer\\)`).test(st)) && !/UNFINISHED/.test(st)) break
      await sleep(1000)
    }
    expect(st).not.toMatch(/UNFINISHED/)
    for (const h of lab().hosts) expect(st).toMatch(new RegExp(`${h.name}\\s+: .*\\(by timer\\)`))
  })

  it('controller killed outright with no timer armed: the next run refuses until rolled back or resumed', async () => {
    const [a] = lab().hosts
    const p = run(['-e', 'scenario=slow', '-e', 'hold=20'])
    await until(lab(), a.name, 'pgrep -f "^sleep 20" >/dev/null')
    p.child.kill('SIGKILL')
    await p.done
    await lab().exec(a, 'pkill -f "^sleep 20"; true')
    await sleep(500)
    const again = await run(['-e', 'scenario=slow', '-e', 'hold=0']).done
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/did not finish \(status applying\); roll it back with `orch rollback/)
    const st = (await orch(['status', '-i', inv]).done).stdout
    const unfinished = /UNFINISHED run (\S+)/.exec(st)?.[1]
    expect(unfinished).toBeTruthy()
    // --resume continues that very run: its journal is kept and extended, then it commits.
    const resumed = await run(['-e', 'scenario=slow', '-e', 'hold=0', '--resume', unfinished!]).done
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0)
    expect(resumed.stdout).toMatch(/TRANSACTION COMMITTED/)
    expect(resumed.stdout).toContain(`run ${unfinished}`)
    // ...and `orch rollback` undoes all of it, the entries of both invocations.
    const rb = await orch(['rollback', '-i', inv]).done
    expect(rb.code, rb.stdout + rb.stderr).toBe(0)
    expect(rb.stdout).toMatch(/rolled back \(run/)
  })
})
