/** Exit codes as Ansible's, and which errors mean "bad input" (5: nothing was touched). */
import { ArgError, PlaybookError } from '../engine/types.ts'
import { EXIT } from '../engine/results.ts'
import { InventoryError } from '../inventory/types.ts'

export { EXIT }

/** A bad command line: names the option and what was expected. Exit code 5. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

export function isBadInput(e: unknown): boolean {
  return e instanceof UsageError || e instanceof ArgError || e instanceof PlaybookError || e instanceof InventoryError
}

export function exitCodeForError(e: unknown): number {
  return isBadInput(e) ? EXIT.BAD_INPUT : EXIT.ERROR
}
