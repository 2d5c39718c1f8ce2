/**
 * Once per `npm test`: install the lab's system dependencies if missing (as .ci/run does), and tag the
 * run so that at the end any lab this run created — even one a crashed test file left — is torn down.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

export async function setup(): Promise<void> {
  process.env.ORCH_TEST_RUN = randomBytes(6).toString('hex')
  if (process.getuid?.() === 0) {
    try {
      execFileSync(join(import.meta.dirname, '..', 'scripts', 'install-deps.sh'), { stdio: 'inherit' })
    } catch {
      // The lab's own check then reports what is missing and lab tests are skipped with that reason.
    }
  }
}

export async function teardown(): Promise<void> {
  const { defaultLabDir, down, readState } = await import('../src/lab/index.ts')
  const dir = defaultLabDir()
  if (!existsSync(dir)) return
  for (const prefix of readdirSync(dir)) {
    const s = readState(prefix, dir)
    if (s && s.runTag === process.env.ORCH_TEST_RUN) {
      console.warn(`test run left lab ${prefix} behind: removing it`)
      await down(prefix, dir)
    }
  }
}
