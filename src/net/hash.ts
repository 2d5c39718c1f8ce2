import { createHash } from 'node:crypto'

/** A short deterministic hash (hex) for interface names. */
export function shortHash(text: string, len = 8): string {
  return createHash('sha1').update(text).digest('hex').slice(0, len)
}
