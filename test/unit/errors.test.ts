import { describe, expect, it } from 'vitest'
import { ArgError, ArgErrors, EXIT, exitCodeForError, InventoryError, PlaybookError, UsageError } from '../../src/errors.ts'

describe('errors', () => {
  it('ArgError names host, variable, expected and got', () => {
    const e = new ArgError('mtu', 'an integer from 68 to 65535', 9).forHost('h1')
    expect(e.message).toBe('h1: mtu: expected an integer from 68 to 65535, got 9')
    expect(e.forHost('h2').hostName).toBe('h1')
  })

  it('ArgErrors lists every problem under one host and is an ArgError (exit 5)', () => {
    const e = ArgErrors.of([new ArgError('a', 'an integer', 'x'), new ArgError('b', 'one of on, off', 3)], 'web1')!
    expect(e).toBeInstanceOf(ArgErrors)
    expect(e).toBeInstanceOf(ArgError)
    expect(e.message).toBe('web1: 2 bad arguments:\n  a: expected an integer, got "x"\n  b: expected one of on, off, got 3')
    expect((e as ArgErrors).errors.every((x) => x.hostName === 'web1')).toBe(true)
    expect(exitCodeForError(e)).toBe(EXIT.BAD_INPUT)
  })

  it('ArgErrors.of: none is null, one is itself', () => {
    expect(ArgErrors.of([])).toBeNull()
    const one = new ArgError('x', 'y', 1)
    expect(ArgErrors.of([one], 'h')).toBe(one)
    expect(one.message).toBe('h: x: expected y, got 1')
  })

  it('bad input is exit 5, anything else exit 1', () => {
    for (const e of [new UsageError('u'), new PlaybookError('p', 'f.ts'), new InventoryError('i', 'hosts', 3)]) expect(exitCodeForError(e)).toBe(5)
    expect(exitCodeForError(new Error('x'))).toBe(1)
    expect(new InventoryError('bad', 'hosts', 3).message).toBe('hosts:3: bad')
  })
})
