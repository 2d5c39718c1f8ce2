import { describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { argv, quote, raw, sh } from '../../src/net/shell.ts'

const echoBack = (cmd: string): string => execFileSync('/bin/sh', ['-c', `printf '%s\\0' ${cmd}`]).toString()

describe('shell quoting', () => {
  it('leaves plain words alone and quotes the rest', () => {
    expect(quote('eth0')).toBe('eth0')
    expect(quote('10.0.0.0/24')).toBe('10.0.0.0/24')
    expect(quote('')).toBe("''")
    expect(quote('eth0;reboot')).toBe("'eth0;reboot'")
  })

  it('round-trips hostile values through a real shell byte-exact', () => {
    const nasty = [`a'b"c`, '$(reboot)', '`id`', 'x\ny', 'tab\there', 'ünïcødé ✓', '*', '~root', '-n', "'", '\\']
    const out = echoBack(argv(nasty)).split('\0').slice(0, -1)
    expect(out).toEqual(nasty)
  })

  it('sh template quotes values, expands arrays, passes raw through', () => {
    const dev = 'eth0; rm -rf /'
    expect(sh`ip link set ${dev} up`).toBe("ip link set 'eth0; rm -rf /' up")
    expect(sh`echo ${['a b', 'c']}`).toBe("echo 'a b' c")
    expect(sh`${raw('true')} && echo ${1}`).toBe('true && echo 1')
  })

  it('refuses NUL', () => {
    expect(() => quote('a\0b')).toThrow(/NUL/)
  })
})
