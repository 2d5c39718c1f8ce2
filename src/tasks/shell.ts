/**
 * shell: run an sh script. Build the script with `sh` from 'orch' so every value in it is quoted.
 * Changed whenever it runs unless changed_when says otherwise; rc != 0 fails; skipped in check mode.
 */
import { ArgError, task, type Resource, type Task } from '../engine/types.ts'
import { needAbsPath } from '../engine/taskkit.ts'
import { guardsSayRun, readGuards, runForResult, validateCommon, viaShell, type CommonCommandArgs, type GuardState } from './command.ts'

export interface ShellArgs extends CommonCommandArgs {
  /** Interpreter (default /bin/sh). */
  executable?: string
}

export function shell(script: string, args: ShellArgs = {}): Task<GuardState> {
  const a = args ?? {}
  const firstLine = typeof script === 'string' ? script.trim().split('\n')[0] : '?'
  const resource: Resource<GuardState> = {
    module: 'shell',
    name: `shell ${firstLine}`.slice(0, 120),
    checkMode: 'skip',
    validate() {
      if (typeof script !== 'string' || !script.trim() || script.includes('\0')) throw new ArgError('shell.script', 'a non-empty sh script', script)
      if (a.executable !== undefined) needAbsPath('shell.executable', a.executable)
      validateCommon('shell', a)
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
