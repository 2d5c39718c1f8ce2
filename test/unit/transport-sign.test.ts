/**
 * signWith (transport/auth.ts) signs from a KeyObject made once per key instead of ssh2's ParsedKey.sign,
 * which parses the PEM text again on every call: the signatures must be the ones ssh2 makes (and verify),
 * for every key type ssh-keygen makes here and the hashes a server may ask for.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import ssh2 from 'ssh2'
import type { ParsedKey } from 'ssh2'
import { afterAll, describe, expect, it } from 'vitest'
import { signWith } from '../../src/transport/auth.ts'

const dir = mkdtempSync(join(tmpdir(), 'orch-sign-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const parse = (f: string) => ssh2.utils.parseKey(readFileSync(f)) as ParsedKey

describe('signWith', () => {
  const kinds: Array<[string, string, Array<string | undefined>]> = [
    ['ed25519', '', [undefined]],
    ['rsa', '2048', [undefined, 'sha256', 'sha512']],
    ['ecdsa', '256', [undefined]],
    ['ecdsa', '384', [undefined]],
    ['ecdsa', '521', [undefined]],
  ]
  for (const [type, bits, hashes] of kinds) {
    it(`${type}${bits ? ` ${bits}` : ''}: the signature ssh2 makes, and one the public key verifies`, () => {
      const f = join(dir, `id_${type}${bits}`)
      execFileSync('ssh-keygen', ['-q', '-t', type, ...(bits ? ['-b', bits] : []), '-N', '', '-f', f])
      const key = parse(f)
      const pub = parse(`${f}.pub`)
      const data = Buffer.from('session id and userauth request')
      for (const hash of hashes) {
        const mine = signWith(key, data, hash)
        expect(pub.verify(data, mine, hash)).toBe(true)
        // ed25519 and RSA signatures are deterministic: byte for byte what ssh2 returns.
        if (type !== 'ecdsa') expect(mine.equals(key.sign(data, hash) as Buffer)).toBe(true)
        // Twice from the cached KeyObject: still right.
        expect(pub.verify(data, signWith(key, data, hash), hash)).toBe(true)
      }
    })
  }
})
