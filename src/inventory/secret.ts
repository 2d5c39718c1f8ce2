/**
 * Secret values (decrypted vault values), kept out of every output the way Ansible's no_log
 * remove_values does it: values stay plain strings (every consumer reads them unchanged) and the
 * strings are registered here; whatever orch writes (reports, --diff, -v, --json, errors) goes
 * through redact(), which replaces each registered secret with '********'. A leaf: imports nothing.
 *
 * The templating engine keeps a value made from a secret secret: markSecret(result) when any input
 * isSecret.
 */

export const MASK = '********'

const secrets = new Set<string>()
/** Longest first, so a secret that contains another is masked whole. */
let ordered: string[] = []

const esc = (s: string): string => JSON.stringify(s).slice(1, -1)
function forms(s: string): string[] {
  // The JSON forms too: --json escapes quotes, backslashes and control characters, twice for a message
  // that already quoted the value as JSON (`got "..."`).
  return [...new Set([s, esc(s), esc(esc(s))])]
}

/** Registers s as a secret; returns s itself (still a plain string). The empty string is never a secret. */
export function markSecret(s: string): string {
  if (typeof s !== 'string' || s === '' || secrets.has(s)) return s
  secrets.add(s)
  ordered = [...new Set([...ordered, ...forms(s)])].sort((a, b) => b.length - a.length)
  return s
}

/** Whether v is a string that is, or contains, a secret. */
export function isSecret(v: unknown): boolean {
  if (typeof v !== 'string' || !ordered.length) return false
  return secrets.has(v) || ordered.some((s) => v.includes(s))
}

export function hasSecrets(): boolean {
  return ordered.length > 0
}

/** Every secret in text replaced by MASK. */
export function redact(text: string): string {
  if (!ordered.length || typeof text !== 'string') return text
  let out = text
  for (const s of ordered) if (out.includes(s)) out = out.split(s).join(MASK)
  return out
}

/** Marks every string leaf of a value (a vaulted file's variables) as secret. */
export function markSecretsIn(v: unknown): void {
  if (typeof v === 'string') markSecret(v)
  else if (Array.isArray(v)) v.forEach(markSecretsIn)
  else if (v && typeof v === 'object') Object.values(v).forEach(markSecretsIn)
}

/** For tests: forget every secret. */
export function clearSecrets(): void {
  secrets.clear()
  ordered = []
}
