/**
 * Secret values (vaulted, or templated from one). Values stay plain strings so every consumer works;
 * the registry lets output be redacted. Minimal version with the vault engineer's agreed API
 * (markSecret / isSecret / redact / hasSecrets); vault decryption fills it.
 */
const secrets = new Set<string>()

/** Registers `s` as secret and returns the same string. */
export function markSecret(s: string): string {
  if (s !== '') secrets.add(s)
  return s
}

/** A string that is, or contains, a registered secret. */
export function isSecret(v: unknown): boolean {
  if (typeof v !== 'string' || secrets.size === 0) return false
  if (secrets.has(v)) return true
  for (const s of secrets) if (v.includes(s)) return true
  return false
}

/** Every secret substring of `text` replaced by '********' (longest first). */
export function redact(text: string): string {
  let out = text
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join('********')
  return out
}

export const hasSecrets = (): boolean => secrets.size > 0
