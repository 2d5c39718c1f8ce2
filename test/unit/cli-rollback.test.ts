import { describe, expect, it } from 'vitest'
import { runToUndo } from '../../src/cli/transaction.ts'
import type { HostTxStatus } from '../../src/safety/remote.ts'

const run = (id: string, status: string) => ({ run: id, status, rolledBackBy: null, timer: null, pending: 0, meta: '' })

describe('which run orch rollback undoes', () => {
  const st: HostTxStatus = {
    lock: null,
    lastCommitted: null,
    runs: [run('20261101-100000-aaaaaa', 'committed'), run('20261102-100000-bbbbbb', 'committed'), run('20261103-100000-cccccc', 'rolled-back')],
  }
  it('an unfinished run holding the host comes first', () => {
    expect(runToUndo({ ...st, lock: '20261104-100000-dddddd' })).toBe('20261104-100000-dddddd')
  })
  it('then the last committed run', () => {
    expect(runToUndo({ ...st, lastCommitted: '20261101-100000-aaaaaa' })).toBe('20261101-100000-aaaaaa')
  })
  it('after that was rolled back, the newest committed run still in place: rollback steps back in time', () => {
    expect(runToUndo(st)).toBe('20261102-100000-bbbbbb')
    expect(runToUndo({ ...st, runs: st.runs.slice(0, 1) })).toBe('20261101-100000-aaaaaa')
    expect(runToUndo({ ...st, runs: [] })).toBeNull()
  })
  it('--run wins', () => {
    expect(runToUndo(st, '20261101-100000-aaaaaa')).toBe('20261101-100000-aaaaaa')
  })
})
