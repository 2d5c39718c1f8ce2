/**
 * The commit's answer from each host (commitOutcome), and what the transaction does when a host rolled the
 * run back by itself before its commit (a reboot inside the confirm window, or its timer): the host is
 * reported as such and the hosts that committed are rolled back too, exit non-zero. The host answers are
 * recorded from a lab host (commitScript / rollbackScript run on it after `rollback.sh RUN reboot`, an
 * expired timer, an ordinary run, a run that changed nothing).
 */
import { describe, expect, it } from 'vitest'
import { commitOutcome, beginScript, commitScript, rollbackScript } from '../../src/safety/remote.ts'
import { Transaction } from '../../src/safety/transaction.ts'
import { emptyStats, EXIT, type RunSummary } from '../../src/engine/results.ts'
import type { Connection, ExecResult } from '../../src/transport/types.ts'
import type { Host } from '../../src/inventory/types.ts'

const RECORDED = {
  rebooted: { code: 3, stdout: 'fired rolled-back reboot\n', stderr: 'cannot commit: run is rolled-back\n' },
  timer: { code: 3, stdout: 'fired rolled-back timer\n', stderr: 'cannot commit: run is rolled-back\n' },
  committed: { code: 0, stdout: 'disarmed\ncommitted\n', stderr: '' },
  unchanged: { code: 0, stdout: 'disarmed\nunchanged\n', stderr: '' },
  rollbackRebooted: { code: 0, stdout: 'fired rolled-back reboot\norch: run R1 was already rolled back by reboot\n', stderr: '' },
  rollbackCommitted: { code: 0, stdout: 'fired committed timer\n', stderr: '' },
}

describe('commitOutcome', () => {
  it('maps each recorded answer of commitScript', () => {
    expect(commitOutcome(RECORDED.committed)).toEqual({ status: 'committed' })
    expect(commitOutcome(RECORDED.unchanged)).toEqual({ status: 'unchanged' })
    expect(commitOutcome(RECORDED.rebooted)).toMatchObject({ status: 'rolled-back-by-reboot', message: expect.stringMatching(/rebooted inside the confirm window/) })
    expect(commitOutcome(RECORDED.timer)).toMatchObject({ status: 'rolled-back-by-timer' })
    expect(commitOutcome({ code: 3, stdout: 'fired rollback-failed reboot\n', stderr: 'cannot commit: run is rollback-failed\n' })).toMatchObject({ status: 'rollback-failed' })
    expect(commitOutcome({ code: 1, stdout: '', stderr: 'sh: 1: cannot create /var/lib/orch/last-committed: Read-only file system\n' })).toEqual({
      status: 'commit-failed',
      message: 'sh: 1: cannot create /var/lib/orch/last-committed: Read-only file system',
    })
  })
})

describe('a host rebooted inside the window, found at the commit', () => {
  it('is reported rolled-back-by-reboot; the host that committed is rolled back too; exit 2', async () => {
    const run = 'R1'
    const seen: Record<string, string[]> = { a: [], b: [] }
    const answer = (host: string, script: string): ExecResult => {
      const r = (x: { code: number; stdout: string; stderr: string }) => ({ ...x, durationMs: 1, timedOut: false }) as ExecResult
      if (script === beginScript(run, 'meta')) return r({ code: 0, stdout: 'ok 0\n', stderr: '' })
      if (script === commitScript(run)) return r(host === 'b' ? RECORDED.rebooted : RECORDED.committed)
      if (script === rollbackScript(run, 'timer') || script === rollbackScript(run, 'orch')) return r(host === 'b' ? RECORDED.rollbackRebooted : RECORDED.rollbackCommitted)
      throw new Error(`unexpected script on ${host}: ${script.slice(0, 80)}`)
    }
    const conn = (host: string): Connection =>
      ({
        hostName: host,
        alive: true,
        run: async (script: string) => {
          seen[host].push(script === commitScript(run) ? 'commit' : script === beginScript(run, 'meta') ? 'begin' : 'rollback')
          return answer(host, script)
        },
        upload: async () => undefined,
        close: async () => undefined,
      }) as unknown as Connection
    const warnings: string[] = []
    const tx = new Transaction({ runId: run, meta: 'meta', warn: (m) => warnings.push(m), pool: { get: async (h) => conn(h), forget: () => undefined } })
    const hosts = ['a', 'b'].map((name) => ({ name, vars: {}, groups: [] }) as unknown as Host)
    await tx.begin(hosts)
    const summary: RunSummary = { runId: run, check: false, diff: false, plays: [], stats: { a: emptyStats(), b: emptyStats() }, durationMs: 0, interrupted: false, exitCode: EXIT.OK }
    await tx.end(summary, [])
    expect(seen).toEqual({ a: ['begin', 'commit', 'rollback'], b: ['begin', 'commit', 'rollback'] })
    expect(summary.exitCode).toBe(EXIT.FAILED_HOSTS)
    expect(summary.transaction).toMatchObject({
      status: 'rolled-back',
      reason: 'b rolled-back-by-reboot before the commit',
      hosts: { a: { status: 'rolled-back' }, b: { status: 'rolled-back-by-reboot', message: expect.stringMatching(/rebooted inside the confirm window/) } },
    })
    expect(summary.stats.a.rolled_back).toBe(1)
    expect(summary.stats.b.rolled_back).toBe(1)
    expect(tx.phase).toBe('done')
    expect(warnings).toEqual(['rolling back every host: b rolled-back-by-reboot before the commit'])
  })
})
