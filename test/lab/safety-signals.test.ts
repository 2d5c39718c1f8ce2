/**
 * The controller stopped from outside (issue 16 §3, races and exits): SIGTERM, SIGHUP and a closed stdout
 * (`orch run ... | head`) roll every host back as Ctrl-C does, exit 99, and say which hosts were rolled
 * back (on stderr when stdout is gone); a signal while rolling back does not stop the rollback. A real
 * `node bin/orch.js run` child against a lab (real sshd, the real target scripts); every test ends with
 * every host equal to its snapshot from before the run. (SIGKILL: safety-transaction.test.ts, the timers.)
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { repoRoot, type Lab } from '../../src/lab/index.ts'
import { nsenterConnection } from '../../src/lab/connection.ts'
import { labSkipReason, withLab } from '../helpers/lab.ts'
import { snapshot } from '../helpers/snapshot.ts'

const PLAYBOOK = join(repoRoot, 'test/fixtures/playbooks/signals.ts')
const ORCH = join(repoRoot, 'bin/orch.js')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Done {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** `cmd ...args` as a child process, its output collected. */
function start(cmd: string, args: string[]): { child: ReturnType<typeof spawn>; done: Promise<Done> } {
  const child = spawn(cmd, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d) => (stdout += d))
  child.stderr!.on('data', (d) => (stderr += d))
  const done = new Promise<Done>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })))
  return { child, done }
}

async function snapshots(lab: Lab): Promise<Record<string, unknown>[]> {
  return Promise.all(lab.hosts.map((h) => snapshot(nsenterConnection(lab, h))))
}

/** Wait until `script` succeeds on the host. */
async function until(lab: Lab, host: string, script: string, ms = 90_000): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if ((await lab.exec(host, script)).code === 0) return
    await sleep(100)
  }
  throw new Error(`timed out waiting for: ${script}`)
}

describe.skipIf(labSkipReason)('the controller stopped from outside rolls back', () => {
  const lab = withLab({ hosts: 2 })
  let inv: string
  let before: Record<string, unknown>[]
  const args = (extra: string[]) => ['run', PLAYBOOK, '-i', inv, ...extra]
  /** Every host was rolled back by orch and the output `text` says so, host by host. */
  const saysRolledBack = (text: string, cause: string) => {
    expect(text).toContain(`TRANSACTION ROLLED-BACK (interrupted (${cause}))`)
    for (const h of lab().hosts) expect(text).toMatch(new RegExp(`${h.name}\\s+: rolled-back, back in its pre-run state`))
  }

  beforeAll(async () => {
    inv = lab().inventoryPath
    before = await snapshots(lab())
  })

  afterEach(async () => {
    expect(await snapshots(lab())).toEqual(before)
    for (const h of lab().hosts) {
      // Nothing of the run is left: no file, no lock, the run recorded as rolled back.
      expect((await lab().exec(h, 'test -e /etc/orch-signals || test -e /var/lib/orch/lock')).code).not.toBe(0)
      expect((await lab().exec(h, 'for f in /var/lib/orch/journal/*/status; do sed -n 1p "$f"; done | sort -u')).stdout.trim()).toBe('rolled-back')
    }
  })

  for (const sig of ['SIGTERM', 'SIGHUP'] as const) {
    it(`${sig} after the changes, before the commit: every host rolled back, exit 99, the hosts named`, async () => {
      const [a] = lab().hosts
      const p = start(process.execPath, [ORCH, ...args(['-e', 'hold=3'])])
      // The slow command runs: every change before it is made on every host (linear strategy).
      await until(lab(), a.name, 'pgrep -f "^sleep 3" >/dev/null')
      expect((await lab().exec(a, 'ip -o addr show dev lo | grep -c 10.69.0.1')).stdout.trim()).toBe('1')
      p.child.kill(sig)
      const r = await p.done
      expect(r.code, r.stdout + r.stderr).toBe(99)
      expect(r.stderr).toContain(`interrupted (${sig}): no new task will start`)
      saysRolledBack(r.stdout, sig)
      expect(r.stdout).toContain(`INTERRUPTED: no new task was started after ${sig}`)
    })
  }

  it('SIGTERM during the checks: rolled back instead of committed, exit 99', async () => {
    const [a] = lab().hosts
    const p = start(process.execPath, [ORCH, ...args(['-e', 'check_hold=3'])])
    await until(lab(), a.name, 'test -e /run/orch-signals-checking')
    p.child.kill('SIGTERM')
    const r = await p.done
    expect(r.code, r.stdout + r.stderr).toBe(99)
    expect(r.stderr).toContain('interrupted (SIGTERM) during the checks: every host will be rolled back')
    saysRolledBack(r.stdout, 'SIGTERM')
    await lab().exec(a, 'rm -f /run/orch-signals-checking')
  })

  it('stdout closed (`orch run ... | head -n 5`) after a change: every host rolled back, exit 99, the outcome on stderr', async () => {
    // A real pipe into head, as a user would type it; bash reports orch's own exit code.
    const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(ORCH)} ${args(['-e', 'hold=2']).map((a) => JSON.stringify(a)).join(' ')} | head -n 5; echo "orch exit \${PIPESTATUS[0]}" >&2`
    const r = await start('bash', ['-c', cmd]).done
    // head saw a change made before it went away.
    expect(r.stdout).toMatch(/^changed: \[node\d\]/m)
    expect(r.stdout.split('\n').length).toBeLessThanOrEqual(6)
    expect(r.stderr).toMatch(/orch exit 99\n$/)
    expect(r.stderr).toContain('interrupted (stdout closed)')
    saysRolledBack(r.stderr, 'stdout closed')
  })

  it('signals while rolling back do not stop the rollback: it goes to its end, exit 99', async () => {
    const [a] = lab().hosts
    const p = start(process.execPath, [ORCH, ...args(['-e', 'hold=2', '-e', 'undo_hold=4'])])
    await until(lab(), a.name, 'pgrep -f "^sleep 2" >/dev/null')
    p.child.kill('SIGTERM')
    // The rollback runs: the address's undo sleeps first.
    await until(lab(), a.name, 'pgrep -f "^sleep 4" >/dev/null')
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGINT'] as const) p.child.kill(sig)
    const r = await p.done
    expect(r.code, r.stdout + r.stderr).toBe(99)
    expect(r.stderr).toContain('SIGINT: every host is being rolled back; that goes to its end (a signal does not stop it)')
    expect(r.stderr).not.toContain('interrupted twice')
    saysRolledBack(r.stdout, 'SIGTERM')
  })
})
