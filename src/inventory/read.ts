import { readFile } from 'node:fs/promises'
import { InventoryError } from './types.ts'

/** A file's text without a UTF-8 BOM; read errors become InventoryError naming the file. */
export async function readText(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).replace(/^\uFEFF/, '')
  } catch (e) {
    throw new InventoryError(`cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, file)
  }
}
