/**
 * Round trips counted by the transport (src/transport/roundtrips.ts), on a real sshd: what `--json`
 * reports under "transport", directly and through the lab's delaying relay (src/lab/delay.ts). Counts,
 * not timings.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { delayLab } from '../../src/lab/delay.ts'
import { runOrch } from '../helpers/cli.ts'
import { labSkipReason, withLab } from '../helpers/lab.ts'

const repo = resolve(import.meta.dirname, '../..')
const SMALL = join(repo, 'bench/orch/small.ts')
/** Shell start-up after the handshake: channel open, exec request, the shell's ready line. */
const SHELL_START = 3

interface Wire {
  roundTrips: number
  handshakeRoundTrips: number
  commands: number
}

describe.skipIf(labSkipReason)('round trips counted by the transport', () => {
  const lab = withLab({ hosts: 2 })
  const dir = mkdtempSync(join(tmpdir(), 'orch-rt-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  async function run(playbook: string, inventory: string): Promise<{ wire: Record<string, Wire>; changed: number }> {
    const r = await runOrch(dir, ['run', playbook, '-i', inventory, '--json'])
    expect(r.code, r.err + r.out.slice(-2000)).toBe(0)
    const doc = JSON.parse(r.out) as { transport: Record<string, Wire>; stats: Record<string, { changed: number }> }
    return { wire: doc.transport, changed: Object.values(doc.stats).reduce((n, s) => n + s.changed, 0) }
  }

  it('a task with nothing to change is one round trip; each command is exactly one', async () => {
    const pb = join(dir, 'one.ts')
    writeFileSync(pb, `import { file, playbook } from ${JSON.stringify(join(repo, 'src/index.ts'))}\nexport default playbook({ name: 'one', hosts: 'all', tasks: [file({ path: '/etc/orch-rt-one', content: 'x\\n' })] })\n`)
    await run(pb, lab().inventoryPath) // makes the file
    const { wire, changed } = await run(pb, lab().inventoryPath)
    expect(changed).toBe(0)
    for (const h of lab().hosts) {
      const w = wire[h.name]
      expect(w.handshakeRoundTrips).toBeGreaterThanOrEqual(4) // key exchange, new keys + service, auth (2)
      // begin, the task's read, commit: one command for the task, and no command costs more than one trip
      expect(w.commands).toBe(3)
      expect(w.roundTrips - w.handshakeRoundTrips).toBe(SHELL_START + w.commands)
    }
  })

  it("the bench's 10 tasks: at most one round trip per task with nothing to change, the same counts through a 20 ms relay", async () => {
    await run(SMALL, lab().inventoryPath)
    const direct = await run(SMALL, lab().inventoryPath)
    expect(direct.changed).toBe(0)
    const wan = await delayLab(lab(), { rttMs: (h) => (h.name === 'node1' ? 20 : 5) })
    try {
      const delayed = await run(SMALL, wan.inventoryPath)
      expect(delayed.changed).toBe(0)
      for (const h of lab().hosts) {
        for (const w of [direct.wire[h.name], delayed.wire[h.name]]) {
          const taskTrips = w.roundTrips - w.handshakeRoundTrips - SHELL_START - 2 // begin, commit
          expect(taskTrips).toBeGreaterThan(0)
          expect(taskTrips).toBeLessThanOrEqual(10)
          expect(w.roundTrips - w.handshakeRoundTrips, JSON.stringify({ host: h.name, direct: direct.wire[h.name], delayed: delayed.wire[h.name] })).toBe(SHELL_START + w.commands)
        }
        expect(delayed.wire[h.name].commands).toBe(direct.wire[h.name].commands)
      }
    } finally {
      await wan.stop()
    }
  })
})
