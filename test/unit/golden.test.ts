/**
 * Golden task cases (test/unit/golden/<task>/<case>.json, recorded on a lab host by
 * `npm run golden:record`): the task reads through a connection that replays the recorded output, and
 * must send the same read, plan the same steps, show the same changes, apply with the same commands and
 * journal the same undo; a second run on the output read after apply plans nothing.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { drive, normalize, TASKS, type Golden, type RecordedRun } from '../golden/harness.ts'

const root = join(import.meta.dirname, 'golden')
const goldens: Golden[] = readdirSync(root).flatMap((t) => readdirSync(join(root, t)).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(root, t, f), 'utf8')) as Golden))

/** A connection that answers each command with the recorded result, after checking it is the recorded command. */
function replay(runs: RecordedRun[]) {
  let i = 0
  return async (script: string, o?: { stdin?: string | Buffer }) => {
    const want = runs[i++]
    if (!want) throw new Error(`command #${i} was not recorded:\n${script}`)
    expect(normalize(script), `command #${i} (${want.phase})`).toBe(normalize(want.script))
    expect(o?.stdin === undefined ? undefined : String(o.stdin), `stdin of command #${i}`).toBe(want.stdin)
    return { code: want.code, stdout: want.stdout, stderr: want.stderr, durationMs: 0 }
  }
}

describe('golden task cases', () => {
  it('cover every task that has a golden suite, several cases each (one without a change)', () => {
    for (const t of Object.keys(TASKS)) {
      const mine = goldens.filter((g) => g.task === t)
      expect(mine.length, t).toBeGreaterThanOrEqual(3)
      expect(mine.some((g) => g.changes.length === 0), `${t}: a case with nothing to change`).toBe(true)
      expect(mine.some((g) => g.undo !== null), `${t}: a case with an undo`).toBe(true)
    }
  })

  for (const g of goldens) {
    it(`${g.task}/${g.case}: ${g.about}`, async () => {
      const out = await drive(TASKS[g.task](g.args), 'node1', replay(g.runs))
      expect(out.runs.length, 'commands sent').toBe(g.runs.length)
      expect(out.plan).toEqual(g.plan)
      expect(out.persist, 'persisted steps').toEqual(g.persist)
      expect(out.changes).toEqual(g.changes)
      expect(out.undo && { ...out.undo, script: normalize(out.undo.script) }).toEqual(g.undo && { ...g.undo, script: normalize(g.undo.script) })
      expect(out.outcome).toEqual(g.outcome)
      const again = await drive(TASKS[g.task](g.args), 'node1', replay(g.second), false)
      expect(again.changes).toEqual([])
    })
  }
})
