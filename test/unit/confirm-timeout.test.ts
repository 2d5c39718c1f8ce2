import { describe, expect, it } from 'vitest'
import { ArgError } from '../../src/errors.ts'
import { planRun } from '../../src/engine/runner.ts'
import { playbook, task, type Resource } from '../../src/engine/types.ts'
import { confirmTimeout } from '../../src/safety/confirm.ts'
import { mkHost } from './engine-helpers.ts'

const risky = (): Resource => ({ module: 'risky', name: 'risky', risky: true, read: async () => null, diff: () => [], apply: async () => {} })
const plan = (vars: Record<string, unknown>, r: Resource) =>
  planRun({
    resolveHosts: () => [mkHost('a')],
    connect: async () => {
      throw new Error('must not connect')
    },
    extraVars: vars,
    plays: [playbook({ name: 'p', hosts: 'all', tasks: [task(r)] })],
  } as Parameters<typeof planRun>[0])

describe('confirm_timeout', () => {
  it('one range, 5-3600 whole seconds, default 60; strings of digits (from -e) count', () => {
    expect(confirmTimeout({})).toBe(60)
    expect(confirmTimeout({ confirm_timeout: '8' })).toBe(8)
    for (const bad of [4, 3601, 1.5, 'soon', -5]) expect(() => confirmTimeout({ confirm_timeout: bad })).toThrow(/confirm_timeout: expected whole seconds from 5 to 3600/)
  })

  it('is refused when the run is planned (exit 5, before any host is touched) for a host with a risky task', () => {
    let err: unknown
    try {
      plan({ confirm_timeout: 2 }, risky())
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ArgError)
    expect((err as Error).message).toBe('a: confirm_timeout: expected whole seconds from 5 to 3600, got 2')
  })

  it('is not read for a play without a risky task', () => {
    expect(() => plan({ confirm_timeout: 2 }, { ...risky(), risky: false })).not.toThrow()
    expect(() => plan({ confirm_timeout: 30 }, risky())).not.toThrow()
  })
})
