/**
 * Lab fixtures for vitest: a lab per describe block with a unique prefix, always torn down.
 * When the lab cannot run here (no root, no namespaces), `labSkipReason` says why and suites using
 * `describe.skipIf(labSkipReason)` are reported as skipped with that reason, never passed.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, expect } from 'vitest'
import { labUnavailableReason, up, type Lab, type LabHost, type UpOptions } from '../../src/lab/index.ts'

export const labSkipReason: string | null = await labUnavailableReason()
if (labSkipReason) console.warn(`lab tests skipped: ${labSkipReason}`)

/** t + 6 random base-36 characters: unique per run so parallel runs never collide. */
export function uniquePrefix(): string {
  return 't' + BigInt('0x' + randomBytes(5).toString('hex')).toString(36).slice(0, 6).padStart(6, '0')
}

/** Bring a lab up before the block's tests and down after them (also when a test fails). */
export function withLab(opts: Omit<UpOptions, 'prefix'>): () => Lab {
  let lab: Lab | undefined
  beforeAll(async () => {
    lab = await up({ ...opts, prefix: uniquePrefix() })
  })
  afterAll(async () => {
    await lab?.down()
  })
  return () => {
    if (!lab) throw new Error('lab not up')
    return lab
  }
}

/** OpenSSH client into a lab host, the way a person would (`ssh -i key root@host cmd`). */
export function ssh(lab: Lab, address: string, command: string, extra: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'ssh',
      ['-i', lab.keyPath, '-o', `UserKnownHostsFile=${lab.knownHostsPath}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5', ...extra, `root@${address}`, command],
      { timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 255) : 0, stdout, stderr }),
    )
  })
}

/** A script on a lab host (lab.exec, not SSH); its stdout, or an error naming host, script, exit code and output. */
export async function on(lab: Lab, h: LabHost, script: string): Promise<string> {
  const r = await lab.exec(h, script)
  if (r.code !== 0) throw new Error(`${h.name}: ${script}: rc=${r.code} ${r.stderr || r.stdout}`)
  return r.stdout
}

/**
 * Containers c1 on `from` and c2 on `to` (address `toIp`) talk: c1 pings c2, then sends it 1 MiB of
 * random bytes over TCP (busybox nc), and the same bytes arrive.
 */
export async function containerTraffic(lab: Lab, from: LabHost, to: LabHost, toIp: string): Promise<void> {
  const ping = await lab.exec(from, `docker exec c1 ping -c 3 -W 2 ${toIp}`)
  expect(ping.code, ping.stdout + ping.stderr).toBe(0)
  expect(ping.stdout).toMatch(/[123] packets received/)
  await on(lab, to, `docker exec c2 rm -f /tmp/rx; docker exec -d c2 nc -l -p 5000 -e sh -c 'cat > /tmp/rx'`)
  for (let i = 0; i < 50 && (await lab.exec(to, "docker exec c2 netstat -ltn | grep -q ':5000 '")).code !== 0; i++) await new Promise((r) => setTimeout(r, 100))
  const sent = await on(lab, from, `docker exec c1 sh -c 'head -c 1048576 /dev/urandom > /tmp/tx && timeout 30 nc ${toIp} 5000 < /tmp/tx && md5sum < /tmp/tx'`)
  let size = ''
  for (let i = 0; i < 100 && size !== '1048576'; i++) {
    size = (await lab.exec(to, "docker exec c2 sh -c 'wc -c < /tmp/rx'")).stdout.trim()
    if (size !== '1048576') await new Promise((r) => setTimeout(r, 100))
  }
  expect(size).toBe('1048576')
  expect(await on(lab, to, 'docker exec c2 sh -c "md5sum < /tmp/rx"')).toBe(sent)
}
