/**
 * The vault passwords of this process and decryption with them, as Ansible's VaultLib
 * decrypt_and_get_vault_id: the secrets whose label is the envelope's vault id (1.1 envelopes:
 * 'default') are tried first, then every other one in the order given, unless vault_id_match is set.
 * Errors name the file (and line) and never the plaintext.
 */
import { VaultError } from '../errors.ts'
import { markSecret } from '../inventory/secret.ts'
import { decryptAes256, isVaulted, parseEnvelope, VaultFormatError } from './format.ts'

export interface VaultSecret {
  /** The vault id label ('default' when none was given). */
  id: string
  password: Buffer
  /** Where it came from (a file, a script, 'prompt'), for messages. */
  source: string
}

export interface VaultSettings {
  secrets: VaultSecret[]
  /** Ansible's vault_id_match / ANSIBLE_VAULT_ID_MATCH: only secrets whose label matches. */
  idMatch?: boolean
  /**
   * Inline `!vault` values stay { __ansible_vault: envelope } instead of being decrypted, as
   * ansible-inventory --list prints them (whole vaulted files are still decrypted).
   */
  keepInline?: boolean
}

let settings: VaultSettings = { secrets: [] }

export function setVault(s: VaultSettings): void {
  settings = { ...s, secrets: [...s.secrets] }
}

export function vaultSettings(): Readonly<VaultSettings> {
  return settings
}

export const NO_PASSWORD_HINT = 'pass --vault-password-file FILE, --vault-id [LABEL@]SOURCE or --ask-vault-pass (or set ANSIBLE_VAULT_PASSWORD_FILE)'

/** The order secrets are tried for an envelope with this vault id (Ansible's vault_id_matchers). */
export function candidates(secrets: VaultSecret[], vaultId: string, idMatch = false): VaultSecret[] {
  const first = secrets.filter((s) => s.id === vaultId)
  return idMatch ? first : [...first, ...secrets.filter((s) => s.id !== vaultId)]
}

/** Decrypts vault text with the given secrets; returns the plaintext bytes and the id that fitted. */
export function decryptWith(text: string, secrets: VaultSecret[], where: { file?: string; line?: number; idMatch?: boolean } = {}): { plaintext: Buffer; id: string } {
  const fail = (msg: string): never => {
    throw new VaultError(msg, where.file, where.line)
  }
  if (!isVaulted(text)) fail('not vault encrypted data (it does not start with $ANSIBLE_VAULT)')
  let env
  try {
    env = parseEnvelope(text)
  } catch (e) {
    return fail(`vault format error: ${(e as Error).message}`)
  }
  if (env.cipher !== 'AES256') fail(`vault cipher '${env.cipher}' is not supported (Ansible writes AES256)`)
  const vaultId = env.vaultId ?? 'default'
  if (!secrets.length) fail(`vaulted (vault id '${vaultId}'), but no vault password was given: ${NO_PASSWORD_HINT}`)
  const tried = candidates(secrets, vaultId, where.idMatch)
  for (const s of tried) {
    let out: Buffer | null
    try {
      out = decryptAes256(env.body, s.password)
    } catch (e) {
      if (e instanceof VaultFormatError) return fail(`vault format error (corrupted file?): ${e.message}`)
      throw e
    }
    if (out) return { plaintext: out, id: s.id }
  }
  const ids = [...new Set(tried.map((s) => s.id))].join(', ')
  return fail(
    tried.length
      ? `decryption failed: no vault password given fits (vault id '${vaultId}'; tried ${ids}): wrong password, or a corrupted file`
      : `decryption failed: vault id '${vaultId}' has no password (vault_id_match is set; given: ${[...new Set(secrets.map((s) => s.id))].join(', ')})`,
  )
}

/** Decrypts with this process's secrets; the text is UTF-8 (Ansible decodes vaulted text so). */
export function decryptText(text: string, file?: string, line?: number): string {
  const { plaintext } = decryptWith(text, settings.secrets, { file, line, idMatch: settings.idMatch })
  return plaintext.toString('utf8')
}

/** An inline `!vault` value: its plaintext, marked secret (or the envelope object with keepInline). */
export function inlineVault(text: string, file?: string, line?: number): unknown {
  if (settings.keepInline) return { __ansible_vault: text }
  return markSecret(decryptText(text, file, line))
}
