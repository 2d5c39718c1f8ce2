/**
 * Lab fixtures for vitest: a lab per describe block with a unique prefix, always torn down.
 * When the lab cannot run here (no root, no namespaces), `labSkipReason` says why and suites using
 * `describe.skipIf(labSkipReason)` are reported as skipped with that reason, never passed.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll } from 'vitest'
import { labUnavailableReason, up, type Lab, type UpOptions } from '../../src/lab/index.ts'

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
