/**
 * shell: run an sh script. Build the script with `sh` from 'orch' so every value in it is quoted.
 * Changed whenever it runs unless changed_when says otherwise; rc != 0 fails; skipped in check mode.
 */
import { ArgError, task, type Resource, type Task } from '../engine/types.ts'
import { needAbsPath } from '../engine/taskkit.ts'
import { argSpec, parseArgs } from '../argspec.ts'
import { COMMON_COMMAND_FIELDS, guardsSayRun, readGuards, runForResult, viaShell, type CommonCommandArgs, type GuardState } from './command.ts'

export interface ShellArgs extends CommonCommandArgs {
  /** Interpreter (default /bin/sh). */
  executable?: string
}

/** The options after the script (the script itself is the first argument). */
export const SHELL_SPEC = argSpec('shell', {
  executable: { type: 'path', parse: needAbsPath, desc: 'interpreter (default /bin/sh)' },
  ...COMMON_COMMAND_FIELDS,
})

export function shell(script: string, args: ShellArgs = {}): Task<GuardState> {
  const a = args ?? {}
  const firstLine = typeof script === 'string' ? script.trim().split('\n')[0] : '?'
  const resource: Resource<GuardState> = {
    module: 'shell',
    name: `shell ${firstLine}`.slice(0, 120),
    checkMode: 'skip',
    validate() {
      if (typeof script !== 'string' || !script.trim() || script.includes('\0')) throw new ArgError('shell.script', 'a non-empty sh script', script)
      parseArgs(SHELL_SPEC, a)
    },
    readAhead: true,
    read: (ctx) => readGuards(ctx, a),
    diff(s) {
      return guardsSayRun(s) ? [{ what: `run: ${firstLine}` }] : []
    },
    undo() {
      return a.undo ? { description: `undo of: ${firstLine}`.slice(0, 200), script: a.undo } : null
    },
    apply(ctx) {
      return runForResult(ctx, viaShell(script, a.executable), a)
    },
  }
  return task(resource)
}
