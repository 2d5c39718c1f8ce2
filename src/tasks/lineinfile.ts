/** lineinfile: one line present in (or absent from) a text file, as Ansible's lineinfile. */
import { ArgError, TaskFailed, task, type Resource, type Task } from '../engine/types.ts'
import {
  displayContent,
  fileUndo,
  mustSucceed,
  needAbsPath,
  needMode,
  needOneOf,
  readFile,
  writeFileScript,
  type FileState,
} from '../engine/taskkit.ts'
import { argSpec, parseArgs } from '../argspec.ts'

export interface LineInFileArgs {
  path: string
  /** The line (without newline). Required with state 'present'. */
  line?: string
  /**
   * With 'present': the last line matching it is replaced by `line` (appended when none matches and `line`
   * is not there yet). With 'absent': every matching line is removed. Default: lines equal to `line`.
   */
  regexp?: string | RegExp
  state?: 'present' | 'absent'
  /** Create the file when missing (default false: a missing file fails the task, as Ansible). */
  create?: boolean
  /** Mode of a created file (default 0644). */
  mode?: number | string
}

/** The new text of a file, pure: exported for tests and for tasks built on it (sysctl). */
export function editLines(text: string, o: { line?: string; regexp?: RegExp; state: 'present' | 'absent' }): string {
  const endsNl = text.endsWith('\n')
  const lines = text === '' ? [] : (endsNl ? text.slice(0, -1) : text).split('\n')
  const matches = (l: string) => (o.regexp ? o.regexp.test(l) : l === o.line)
  let out: string[]
  if (o.state === 'absent') out = lines.filter((l) => !matches(l))
  else {
    const line = o.line as string
    let idx = -1
    if (o.regexp) for (let i = lines.length - 1; i >= 0; i--) if (o.regexp.test(lines[i])) { idx = i; break }
    if (idx >= 0) {
      out = [...lines]
      out[idx] = line
    } else if (lines.includes(line)) out = lines
    else out = [...lines, line]
  }
  if (out.length === lines.length && out.every((l, i) => l === lines[i])) return text
  return out.length ? out.join('\n') + '\n' : ''
}

function regexpArg(variable: string, r: unknown): RegExp {
  if (r instanceof RegExp) return new RegExp(r.source, r.flags.replace(/[gy]/g, ''))
  if (typeof r !== 'string') throw new ArgError(variable, 'a RegExp or a string', r)
  try {
    return new RegExp(r)
  } catch (e) {
    throw new ArgError(variable, `a valid regular expression (${(e as Error).message})`, r)
  }
}

export const LINEINFILE_SPEC = argSpec(
  'lineinfile',
  {
    path: { type: 'path', parse: needAbsPath, required: true },
    line: { type: 'str', check: (l: string) => (/[\n\0]/.test(l) ? 'one line of text (no newline)' : undefined), desc: "the line (without newline); required with state 'present'" },
    regexp: { type: 'raw', parse: regexpArg, desc: "with 'present': the last matching line is replaced by line; with 'absent': every matching line is removed" },
    state: { type: 'str', choices: ['present', 'absent'], default: 'present' },
    create: { type: 'bool', default: false, desc: 'create the file when missing' },
    mode: { type: 'raw', parse: needMode, desc: 'mode of a created file (default 0644)' },
  },
  { required_if: [['state', 'present', ['line']], ['state', 'absent', ['regexp', 'line'], 'any']] },
)

export function lineinfile(args: LineInFileArgs): Task<FileState> {
  const a = args ?? ({} as LineInFileArgs)
  const state = a.state ?? 'present'
  let path = a.path
  let re: RegExp | undefined
  let mode = '0644'

  const target = (s: FileState): { before: string; after: string } | null => {
    if (s.kind === 'absent') {
      if (state === 'absent') return null
      if (!a.create) throw new TaskFailed(`${path} does not exist (use create: true to create it)`)
      return { before: '', after: editLines('', { line: a.line, regexp: re, state }) }
    }
    if (s.kind !== 'file') throw new TaskFailed(`${path} is not a regular file`)
    const before = s.content.toString('utf8')
    return { before, after: editLines(before, { line: a.line, regexp: re, state }) }
  }

  const resource: Resource<FileState> = {
    module: 'lineinfile',
    name: `lineinfile ${a.path}: ${state === 'absent' ? 'remove ' : ''}${a.line ?? String(a.regexp)}`,
    validate() {
      const p = parseArgs(LINEINFILE_SPEC, a)
      path = p.path
      re = p.regexp
      if (p.mode !== undefined) mode = p.mode
    },
    readAhead: true,
    async read(ctx) {
      const s = await readFile(ctx, path)
      if (s.kind === 'toolarge') throw new TaskFailed(`${path} is larger than 8 MiB`)
      return s
    },
    diff(s) {
      const t = target(s)
      if (!t || t.before === t.after) return []
      return [{ what: s.kind === 'absent' ? `create ${path}` : `content ${path}`, before: displayContent(t.before), after: displayContent(t.after) }]
    },
    undo(s) {
      return fileUndo(path, s)
    },
    async apply(ctx, s) {
      const t = target(s)!
      const m = s.kind === 'file' ? s.mode : mode
      mustSucceed(await ctx.run(writeFileScript(path, m, s.kind === 'file' ? `${s.uid}:${s.gid}` : undefined, Buffer.from(t.after), true)), `writing ${path}`)
    },
  }
  return task(resource)
}
