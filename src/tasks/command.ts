/**
 * command: run a program from an argv array (every word quoted, no shell interpretation).
 * Changed whenever it runs (use changed_when to say otherwise); rc != 0 fails. `creates`/`removes` make it
 * idempotent: skip when that path already exists / does not exist. In check mode it is skipped.
 */
import { argv as toArgv, quote, sh } from '../net/shell.ts'
import { ArgError, task, type ApplyOutcome, type Resource, type Task, type TaskContext } from '../engine/types.ts'
import { needAbsPath } from '../engine/taskkit.ts'
import { argSpec, parseArgs, type Fields } from '../argspec.ts'

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

/** The arguments command and shell share. */
export const COMMON_COMMAND_FIELDS = {
  creates: { type: 'path', parse: needAbsPath, desc: 'skip when this path exists' },
  removes: { type: 'path', parse: needAbsPath, desc: 'skip when this path does not exist' },
  chdir: { type: 'path', parse: needAbsPath, desc: 'directory to run in' },
  stdin: { type: 'str', desc: "fed to the command's standard input" },
  undo: { type: 'str', check: (s: string) => (s.trim() ? undefined : 'a non-empty sh script'), expected: 'a non-empty sh script', desc: 'an sh script that undoes what the command did' },
} as const satisfies Fields

const argvWord = (variable: string, w: unknown): string | number => {
  if ((typeof w !== 'string' && typeof w !== 'number') || String(w).includes('\0')) throw new ArgError(variable, 'a word (a string or a number, no NUL)', w)
  return w
}

export const COMMAND_SPEC = argSpec('command', {
  argv: { type: 'list', min: 1, elements: { type: 'raw', parse: argvWord }, required: true, desc: "the program and its arguments: ['ip', 'link', 'show']" },
  ...COMMON_COMMAND_FIELDS,
})

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
      const p = parseArgs(COMMAND_SPEC, a)
      if (String(p.argv[0]) === '') throw new ArgError('command.argv[0]', 'a program name', p.argv[0])
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
