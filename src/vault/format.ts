/**
 * Ansible's vault format, read side (ansible/parsing/vault/__init__.py, VaultAES256):
 *
 *     $ANSIBLE_VAULT;1.1;AES256            (1.2 adds ;<vault id>)
 *     hex( hex(salt) \n hex(hmac) \n hex(ciphertext) ), in lines of 80
 *
 * key material = PBKDF2-HMAC-SHA256(password, salt, 10000 iterations, 80 bytes) = AES key (32) |
 * HMAC key (32) | CTR IV (16); ciphertext = AES-256-CTR(PKCS7-padded plaintext); hmac = HMAC-SHA256 over
 * the ciphertext. node:crypto only.
 */
import { createDecipheriv, createHmac, pbkdf2Sync, timingSafeEqual } from 'node:crypto'

export const HEADER = '$ANSIBLE_VAULT'

/** A malformed envelope or payload (not a wrong password). */
export class VaultFormatError extends Error {
  name = 'VaultFormatError'
}

export interface Envelope {
  version: string
  cipher: string
  /** The 1.2 header's vault id (undefined for 1.1: Ansible then uses 'default'). */
  vaultId?: string
  /** The hex payload, newlines removed. */
  body: string
}

/** Whether text is vault data (Ansible's is_encrypted: starts with the header). */
export function isVaulted(text: string): boolean {
  return text.startsWith(HEADER)
}

export function parseEnvelope(text: string): Envelope {
  const lines = text.split(/\r?\n/)
  const header = lines[0].trim().split(';')
  if (header[0] !== HEADER || header.length < 3) throw new VaultFormatError(`bad vault header '${lines[0].trim().slice(0, 60)}'`)
  const env: Envelope = { version: header[1].trim(), cipher: header[2].trim(), body: lines.slice(1).join('').trim() }
  if (header.length >= 4) env.vaultId = header[3].trim()
  return env
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/

function unhex(s: string, what: string): Buffer {
  if (!HEX.test(s)) throw new VaultFormatError(`${what} is not hex`)
  return Buffer.from(s, 'hex')
}

/** The three parts of a VaultAES256 payload. */
export function parsePayload(body: string): { salt: Buffer; hmac: Buffer; ciphertext: Buffer } {
  const inner = unhex(body, 'the vault payload').toString('latin1')
  const first = inner.indexOf('\n')
  const second = first < 0 ? -1 : inner.indexOf('\n', first + 1)
  if (second < 0) throw new VaultFormatError('the vault payload does not have salt, hmac and ciphertext')
  const salt = unhex(inner.slice(0, first), 'the salt')
  const hmac = unhex(inner.slice(first + 1, second), 'the hmac')
  const ciphertext = unhex(inner.slice(second + 1), 'the ciphertext')
  if (hmac.length !== 32) throw new VaultFormatError(`the hmac is ${hmac.length} bytes, expected 32`)
  if (ciphertext.length === 0 || ciphertext.length % 16) throw new VaultFormatError('the ciphertext is not a whole number of AES blocks')
  return { salt, hmac, ciphertext }
}

/**
 * The plaintext, or null when this password does not fit (HMAC mismatch). A bad payload throws
 * VaultFormatError.
 */
export function decryptAes256(body: string, password: Buffer): Buffer | null {
  const { salt, hmac, ciphertext } = parsePayload(body)
  const key = pbkdf2Sync(password, salt, 10000, 80, 'sha256')
  const mac = createHmac('sha256', key.subarray(32, 64)).update(ciphertext).digest()
  if (!timingSafeEqual(mac, hmac)) return null
  const d = createDecipheriv('aes-256-ctr', key.subarray(0, 32), key.subarray(64, 80))
  const padded = Buffer.concat([d.update(ciphertext), d.final()])
  const n = padded[padded.length - 1]
  if (n < 1 || n > 16 || padded.subarray(padded.length - n).some((b) => b !== n)) throw new VaultFormatError('bad padding after decryption')
  return padded.subarray(0, padded.length - n)
}
