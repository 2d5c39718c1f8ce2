/** What `orch run` does with each stop (src/cli/stop.ts), by the transaction's phase. The real signals: test/lab/safety-signals.test.ts. */
import { describe, expect, it } from 'vitest'
import { stopHandler } from '../../src/cli/stop.ts'
import type { TxPhase } from '../../src/safety/transaction.ts'
import { fakeIo } from '../helpers/cli.ts'

function setup(phase: TxPhase = 'tasks') {
  const io = fakeIo('/')
  const warnings: string[] = []
  const ac = new AbortController()
  const tx = { phase }
  const h = stopHandler({ io, warn: (m) => warnings.push(m), ac, runId: 'R1', tx, inventory: ['inv.ini'], stopReporter: () => undefined })
  return { io, warnings, ac, tx, h }
}

describe('stopHandler', () => {
  it('the first stop while tasks run aborts with its cause; a repeated SIGTERM or SIGHUP does not quit', () => {
    const { warnings, ac, h } = setup()
    h.onStop('SIGTERM')
    expect(ac.signal.aborted).toBe(true)
    expect(ac.signal.reason).toBe('SIGTERM')
    expect(warnings[0]).toBe('interrupted (SIGTERM): no new task will start; waiting for the running ones, then every host is rolled back')
    h.onStop('SIGHUP')
    h.onStop('SIGTERM')
    expect(warnings.slice(1)).toEqual([
      'SIGHUP: already stopping; every host will be rolled back once the running tasks finish',
      'SIGTERM: already stopping; every host will be rolled back once the running tasks finish',
    ])
    expect(h.stdoutClosed()).toBe(false)
  })

  it('a second Ctrl-C while tasks run quits now and says the hosts stay held', () => {
    const { io, h } = setup()
    h.onStop('stdout closed')
    expect(h.stdoutClosed()).toBe(true)
    h.onStop('SIGINT') // the closed stdout was the first stop, this the first Ctrl-C: no quitting yet
    expect(io.err).toBe('')
    expect(() => h.onStop('SIGINT')).toThrow('exit 99')
    expect(io.err).toBe('ERROR! interrupted twice: exiting without waiting: the hosts stay held by run R1; roll them back with `orch rollback -i inv.ini`\n')
  })

  it('while rolling back or committing, no stop quits or aborts anything', () => {
    for (const phase of ['rolling-back', 'committing'] as const) {
      const { io, ac, warnings, h } = setup(phase)
      for (const c of ['SIGINT', 'SIGINT', 'SIGTERM', 'SIGHUP', 'stdout closed'] as const) h.onStop(c)
      expect(ac.signal.aborted).toBe(false)
      expect(io.err).toBe('')
      expect(warnings).toHaveLength(5)
      expect(warnings[0]).toBe(phase === 'committing' ? 'SIGINT: the commit is under way; it goes to its end' : 'SIGINT: every host is being rolled back; that goes to its end (a signal does not stop it)')
    }
  })

  it('a stop during the checks aborts: the transaction rolls back instead of committing', () => {
    const { ac, warnings, h } = setup('checking')
    h.onStop('SIGHUP')
    expect(ac.signal.reason).toBe('SIGHUP')
    expect(warnings).toEqual(['interrupted (SIGHUP) during the checks: every host will be rolled back'])
  })
})
