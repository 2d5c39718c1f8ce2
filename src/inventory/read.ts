import { readFile } from 'node:fs/promises'
import { isVaulted } from '../vault/format.ts'
import { decryptText, vaultSettings } from '../vault/keyring.ts'
import { InventoryError } from './types.ts'

const vaulted = new Set<string>()

/** Whether readText found this file vault-encrypted (its values are then secrets). */
export function wasVaulted(file: string): boolean {
  return vaulted.has(file)
}

/**
 * A file's text without a UTF-8 BOM, decrypted when it is a vault file (as Ansible's DataLoader does for
 * inventories, vars files and -e @file); read errors become InventoryError naming the file.
 */
export async function readText(file: string): Promise<string> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    throw new InventoryError(`cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, file)
  }
  return decryptIfVaulted(text, file).replace(/^\uFEFF/, '')
}

/** The plaintext of a vault file's text (noting the file as vaulted), or the text as it is. */
export function decryptIfVaulted(text: string, file: string): string {
  if (!isVaulted(text)) return text
  const plain = decryptText(text, file)
  // orch inventory --list (keepInline) shows a vaulted file's values, as ansible-inventory does.
  if (vaultSettings().keepInline) vaulted.delete(file)
  else vaulted.add(file)
  return plain
}
