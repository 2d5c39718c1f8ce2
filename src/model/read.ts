/**
 * Composed reads: several fact readers in ONE round trip, with one section framing.
 *
 * A reader is a list of named sh fragments and a pure parser from their output to a typed fact. The
 * fragments run in brace groups, not subshells (no fork per section, and a later fragment sees the
 * variables an earlier one set: the iptables backend chosen once serves every chain read). So a fragment
 * never `exit`s: it signals with its last command's status, `orch_rc N` when it has to choose one.
 *
 *   @@orch-read@@ <name>          one line, then the fragment's output as it is
 *   @@orch-read@@ rc <status>     after a newline the framing adds (and the parser takes away)
 *
 * The marker starts with '@@orch', which readFileScript never lets through as text, so a file's content
 * cannot fake a section.
 */
import { TaskFailed } from '../errors.ts'
import type { TaskContext } from '../engine/types.ts'

export const READ_MARK = '@@orch-read@@'

/** One fragment's output and exit status. */
export interface Section {
  out: string
  rc: number
}

export interface Reader<T> {
  /** [name, sh fragment]; names are unique within the reader. */
  readonly sections: ReadonlyArray<readonly [string, string]>
  /** Pure: the fragments' output (every name of `sections` is there) → the fact. Throws on output it cannot read. */
  parse(get: (name: string) => Section): T
}

export type ReaderValue<R> = R extends Reader<infer T> ? T : never
export type Composed<R extends Record<string, Reader<unknown>>> = { [K in keyof R]: ReaderValue<R[K]> }

/** A reader of one fragment. */
export function reader<T>(name: string, script: string, parse: (s: Section) => T): Reader<T> {
  return { sections: [[name, script]], parse: (get) => parse(get(name)) }
}

/** Several readers as one: their sections run in key order, each key prefixing its readers' section names. */
export function compose<R extends Record<string, Reader<unknown>>>(readers: R): Reader<Composed<R>> {
  const keys = Object.keys(readers) as Array<keyof R & string>
  return {
    sections: keys.flatMap((k) => readers[k].sections.map(([n, s]) => [`${k}.${n}`, s] as const)),
    parse: (get) => Object.fromEntries(keys.map((k) => [k, readers[k].parse((n) => get(`${k}.${n}`))])) as Composed<R>,
  }
}

/** The same reader with its fact mapped (a pure function). */
export function mapReader<T, U>(r: Reader<T>, f: (t: T) => U): Reader<U> {
  return { sections: r.sections, parse: (get) => f(r.parse(get)) }
}

/** The one script of a reader. Names are constant text of ours (never a user's value). */
export function readScript(r: Reader<unknown>): string {
  const lines = ['orch_rc() { return "$1"; }']
  for (const [name, script] of r.sections) {
    if (!/^[A-Za-z0-9_.:@-]+$/.test(name)) throw new Error(`bad section name ${JSON.stringify(name)}`)
    lines.push(`printf '%s %s\\n' '${READ_MARK}' '${name}'`, `{ ${script}`, `}`, `printf '\\n%s rc %s\\n' '${READ_MARK}' "$?"`)
  }
  return lines.join('\n')
}

/** The script's output → sections by name (a section whose end is missing is left out). */
export function splitRead(stdout: string): Map<string, Section> {
  const out = new Map<string, Section>()
  const start = `${READ_MARK} `
  const end = `\n${READ_MARK} rc `
  // Output of a change may come first (a read run behind a change, in the same round trip).
  let pos = stdout.startsWith(start) ? 0 : stdout.indexOf(`\n${start}`) + 1
  while (pos >= 0 && stdout.startsWith(start, pos)) {
    const nl = stdout.indexOf('\n', pos)
    if (nl < 0) break
    const e = stdout.indexOf(end, nl)
    if (e < 0) break
    const eol = stdout.indexOf('\n', e + end.length)
    if (eol < 0) break
    out.set(stdout.slice(pos + start.length, nl), { out: stdout.slice(nl + 1, e), rc: Number(stdout.slice(e + end.length, eol)) })
    pos = eol + 1
  }
  return out
}

/** Parses a run of readScript(r): a missing section (the script stopped early) fails with the run's own status and stderr. */
export function parseRead<T>(r: Reader<T>, res: { code: number; stdout: string; stderr: string }, what: string): T {
  const sections = splitRead(res.stdout)
  const missing = r.sections.find(([n]) => !sections.has(n))
  if (missing) {
    const detail = (res.stderr || res.stdout).trim().split('\n').slice(-3).join(' / ')
    throw new TaskFailed(`${what} failed (rc=${res.code})${detail ? `: ${detail}` : ''}`, { rc: res.code, stdout: res.stdout, stderr: res.stderr })
  }
  try {
    return r.parse((n) => sections.get(n)!)
  } catch (e) {
    if (e instanceof TaskFailed) throw e
    throw new TaskFailed(`${what}: unexpected output: ${(e as Error).message}`, { rc: res.code, stdout: res.stdout, stderr: res.stderr })
  }
}

/** One round trip: the reader's script, parsed. */
export async function runRead<T>(ctx: Pick<TaskContext, 'run'>, r: Reader<T>, what: string): Promise<T> {
  return parseRead(r, await ctx.run(readScript(r)), what)
}
