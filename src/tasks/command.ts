/**
 * command: run a program from an argv array (every word quoted, no shell interpretation).
 * Changed whenever it runs (use changed_when to say otherwise); rc != 0 fails. `creates`/`removes` make it
 * idempotent: skip when that path already exists / does not exist. In check mode it is skipped.
 */
import { argv as toArgv, quote, sh } from '../net/shell.ts'
import { ArgError, task, type ApplyOutcome, type Resource, type Task, type TaskContext } from '../engine/types.ts'
import { needAbsPath } from '../engine/taskkit.ts'

export interface CommonCommandArgs {
  /** Skip when this path exists. */
  creates?: string
  /** Skip when this path does not exist. */
  removes?: string
  /** Directory to run in. */
  chdir?: string
  /** Fed to the command's standard input. */
  stdin?: string
  /** An sh script that undoes what the command did (journalled before it runs). */
  undo?: string
}

export interface CommandArgs extends CommonCommandArgs {
  argv: Array<string | number>
}

export interface GuardState {
  creates?: boolean
  removes?: boolean
}

/** One round trip for creates/removes; none when neither is set. */
export async function readGuards(ctx: TaskContext, a: CommonCommandArgs): Promise<GuardState> {
  if (!a.creates && !a.removes) return {}
  const parts: string[] = []
  if (a.creates) parts.push(`if [ -e ${quote(a.creates)} ]; then echo 1; else echo 0; fi`)
  if (a.removes) parts.push(`if [ -e ${quote(a.removes)} ]; then echo 1; else echo 0; fi`)
  const r = await ctx.run(parts.join('; '))
  const [x, y] = r.stdout.trim().split('\n')
  const s: GuardState = {}
  if (a.creates) s.creates = x === '1'
  if (a.removes) s.removes = (a.creates ? y : x) === '1'
  return s
}

export function validateCommon(module: string, a: CommonCommandArgs): void {
  if (a.creates !== undefined) needAbsPath(`${module}.creates`, a.creates)
  if (a.removes !== undefined) needAbsPath(`${module}.removes`, a.removes)
  if (a.chdir !== undefined) needAbsPath(`${module}.chdir`, a.chdir)
  if (a.stdin !== undefined && typeof a.stdin !== 'string') throw new ArgError(`${module}.stdin`, 'a string', a.stdin)
  if (a.undo !== undefined && (typeof a.undo !== 'string' || !a.undo.trim())) throw new ArgError(`${module}.undo`, 'a non-empty sh script', a.undo)
}

export function guardsSayRun(s: GuardState): boolean {
  return !(s.creates === true || s.removes === false)
}

/** Ansible strips the trailing newline(s) of stdout/stderr. */
export const rstrip = (s: string) => s.replace(/[\r\n]+$/, '')

export async function runForResult(ctx: TaskContext, script: string, a: CommonCommandArgs): Promise<ApplyOutcome> {
  const full = a.chdir ? `(cd ${quote(a.chdir)} && ${script})` : script
  const r = await ctx.run(full, a.stdin !== undefined ? { stdin: a.stdin } : {})
  const failed = r.code !== 0
  return {
    changed: true,
    failed,
    rc: r.code,
    stdout: rstrip(r.stdout),
    stderr: rstrip(r.stderr),
    msg: r.timedOut ? 'command timed out' : failed ? `non-zero return code ${r.code}` : undefined,
  }
}

export function command(args: Array<string | number> | CommandArgs): Task<GuardState> {
  const a: CommandArgs = Array.isArray(args) ? { argv: args } : (args ?? ({} as CommandArgs))
  const words = () => a.argv.map(String)
  const resource: Resource<GuardState> = {
    module: 'command',
    name: `command ${Array.isArray(a.argv) ? a.argv.join(' ') : '?'}`.slice(0, 120),
    checkMode: 'skip',
    validate() {
      if (!Array.isArray(a.argv) || a.argv.length === 0 || !a.argv.every((w) => (typeof w === 'string' || typeof w === 'number') && !String(w).includes('\0')))
        throw new ArgError('command.argv', "a non-empty array of words like ['ip', 'link', 'show']", a.argv)
      if (String(a.argv[0]) === '') throw new ArgError('command.argv[0]', 'a program name', a.argv[0])
      validateCommon('command', a)
    },
    readAhead: true,
    read: (ctx) => readGuards(ctx, a),
    diff(s) {
      return guardsSayRun(s) ? [{ what: `run ${toArgv(words())}` }] : []
    },
    undo() {
      return a.undo ? { description: `undo of: ${toArgv(words())}`.slice(0, 200), script: a.undo } : null
    },
    apply(ctx) {
      return runForResult(ctx, toArgv(words()), a)
    },
  }
  return task(resource)
}

/** For shell.ts: the script run by an interpreter, as one quoted word. */
export const viaShell = (script: string, executable = '/bin/sh') => sh`${executable} -c ${script}`
