/** `orch config dump [--only-changed]`: the ansible.cfg settings orch honours, value and origin, as `ansible-config dump`. */
import { config, dumpConfig } from '../config/index.ts'
import { exitCodeForError, UsageError } from '../errors.ts'
import type { Io } from './io.ts'

export function configCommand(action: string, o: { onlyChanged?: boolean }, io: Io): number {
  try {
    if (action !== 'dump') throw new UsageError(`orch config: unknown action '${action}' (expected dump)`)
    const c = config(io.cwd)
    for (const w of c.warnings) io.stderr.write(`[WARNING]: ${w}\n`)
    io.stdout.write(dumpConfig(c, o.onlyChanged))
    return 0
  } catch (e) {
    io.stderr.write(`ERROR! ${(e as Error)?.message ?? e}\n`)
    return exitCodeForError(e)
  }
}
