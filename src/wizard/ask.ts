/**
 * Every question of the wizard goes through an Asker. A value given by its flag answers it without a
 * prompt (also on a terminal). Otherwise: on a terminal, @inquirer/prompts asks; without one, the
 * default is taken when --yes was given, and a question without a default is a MissingFlags error
 * (exit 5, naming the flag) — never a prompt on a pipe.
 */
import { checkbox, confirm, input, password, select } from '@inquirer/prompts'
import { UsageError } from '../errors.ts'

export class MissingFlagsError extends UsageError {
  constructor(
    readonly flags: Array<{ flag: string; why: string }>,
    why = process.stdin.isTTY && process.stdout.isTTY ? 'asks nothing with --yes' : 'has no terminal to ask on (stdin/stdout is not a TTY)',
  ) {
    super(
      `orch wizard ${why}, and these answers were not given as flags:\n` +
        flags.map((f) => `  ${f.flag.padEnd(24)} ${f.why}`).join('\n') +
        `\n(orch wizard --help lists every flag)`,
    )
    this.name = 'MissingFlagsError'
  }
}

/** The user cancelled (Ctrl-C at a prompt, or SIGINT). */
export class CancelledError extends Error {
  constructor(message = 'cancelled') {
    super(message)
    this.name = 'CancelledError'
  }
}

export interface Choice<T> {
  name: string
  value: T
  description?: string
}

export interface Asker {
  readonly interactive: boolean
  /** Free text; validate returns true or the problem. */
  input(q: { message: string; flag: string; value?: string; default?: string; validate?: (s: string) => true | string; required?: boolean }): Promise<string>
  confirm(q: { message: string; flag: string; value?: boolean; default: boolean }): Promise<boolean>
  select<T>(q: { message: string; flag: string; value?: T; default?: T; choices: Choice<T>[] }): Promise<T>
  checkbox<T>(q: { message: string; flag: string; value?: T[]; choices: Array<Choice<T> & { checked?: boolean }> }): Promise<T[]>
  secret(q: { message: string }): Promise<string | undefined>
}

export interface AskStreams {
  input: NodeJS.ReadableStream
  output: NodeJS.WritableStream
}

const isExit = (e: unknown) => {
  const n = (e as Error)?.name
  return n === 'ExitPromptError' || n === 'AbortPromptError' || n === 'CancelPromptError'
}

async function guard<T>(p: Promise<T>): Promise<T> {
  try {
    return await p
  } catch (e) {
    if (isExit(e)) throw new CancelledError('cancelled at a prompt')
    throw e
  }
}

function checked(flag: string, value: string, validate?: (s: string) => true | string): string {
  const r = validate ? validate(value) : true
  if (r !== true) throw new UsageError(`${flag} ${JSON.stringify(value)}: ${r}`)
  return value
}

export function interactiveAsker(s: AskStreams): Asker {
  const ctx = { input: s.input, output: s.output } as Parameters<typeof input>[1]
  return {
    interactive: true,
    async input(q) {
      if (q.value !== undefined) return checked(q.flag, q.value, q.validate)
      return guard(
        input(
          {
            message: q.message,
            default: q.default,
            required: q.required,
            validate: q.validate ? (v: string) => q.validate!(v) : undefined,
          },
          ctx,
        ),
      )
    },
    async confirm(q) {
      if (q.value !== undefined) return q.value
      return guard(confirm({ message: q.message, default: q.default }, ctx))
    },
    async select<T>(q: { message: string; flag: string; value?: T; default?: T; choices: Choice<T>[] }): Promise<T> {
      if (q.value !== undefined) return q.value
      return guard(select<T>({ message: q.message, choices: q.choices, default: q.default, pageSize: 10 }, ctx))
    },
    async checkbox<T>(q: { message: string; flag: string; value?: T[]; choices: Array<Choice<T> & { checked?: boolean }> }): Promise<T[]> {
      if (q.value !== undefined) return q.value
      return guard(checkbox<T>({ message: q.message, choices: q.choices, required: true, pageSize: 15 }, ctx))
    },
    async secret(q) {
      const v = await guard(password({ message: q.message, mask: '*' }, ctx))
      return v === '' ? undefined : v
    },
  }
}

/** Without a terminal: flags, then defaults when `yes`; otherwise the question is a missing flag. */
export function flagsAsker(yes: boolean): Asker {
  const missing = (flag: string, why: string) => new MissingFlagsError([{ flag, why }])
  return {
    interactive: false,
    async input(q) {
      if (q.value !== undefined) return checked(q.flag, q.value, q.validate)
      if (q.default !== undefined && (yes || !q.required)) return checked(q.flag, q.default, q.validate)
      if (yes && !q.required) return ''
      throw missing(q.flag, q.message)
    },
    async confirm(q) {
      if (q.value !== undefined) return q.value
      if (yes) return q.default
      throw missing(q.flag, q.message)
    },
    async select<T>(q: { message: string; flag: string; value?: T; default?: T; choices: Choice<T>[] }): Promise<T> {
      if (q.value !== undefined) return q.value
      if (yes && q.default !== undefined) return q.default
      throw missing(q.flag, q.message)
    },
    async checkbox<T>(q: { message: string; flag: string; value?: T[] }): Promise<T[]> {
      if (q.value !== undefined) return q.value
      throw missing(q.flag, q.message)
    },
    async secret() {
      return undefined
    },
  }
}
