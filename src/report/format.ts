/** Pieces of text shared by the plain and TTY reporters. */
import type { TaskResult } from '../engine/types.ts'
import { renderChanges } from './diff.ts'
import type { Painter } from './style.ts'

export interface Verbosity {
  /** -v count */
  verbose: number
  diff: boolean
  check: boolean
}

/** Ansible's one-line status: `ok: [host]`, `changed: [host]`, `fatal: [host]: FAILED! => {...}`. */
export function statusLine(r: TaskResult, p: Painter, v: Verbosity): string {
  const host = `[${r.host}]`
  switch (r.status) {
    case 'ok':
      return p.green(`ok: ${host}`) + extra(r, v)
    case 'changed':
      return p.yellow(`changed: ${host}`) + extra(r, v)
    case 'skipped':
      return p.cyan(`skipping: ${host}`) + (r.msg && (v.verbose || v.check) && r.changes.length ? p.dim(` (${r.msg})`) : '')
    case 'unreachable':
      return p.red(`fatal: ${host}: UNREACHABLE! => ${pyJson({ changed: false, msg: r.msg ?? '', unreachable: true })}`)
    case 'failed':
      return p.red(`fatal: ${host}: FAILED! => ${pyJson(failureFields(r))}`) + (r.ignored ? '\n' + p.cyan('...ignoring') : '')
  }
}

/** One-line JSON with Python's separators (`{"a": 1, "b": 2}`), as Ansible prints results. */
export function pyJson(o: Record<string, unknown>): string {
  return '{' + Object.entries(o).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(', ') + '}'
}

function extra(r: TaskResult, v: Verbosity): string {
  return r.attempts && r.attempts > 1 ? ` (after ${r.attempts} attempts)` : ''
}

export function failureFields(r: TaskResult): Record<string, unknown> {
  const o: Record<string, unknown> = { changed: r.changed, msg: r.msg ?? 'failed' }
  if (r.rc !== undefined) o.rc = r.rc
  if (r.stderr) o.stderr = r.stderr
  if (r.stdout) o.stdout = r.stdout
  if (r.attempts) o.attempts = r.attempts
  return o
}

const indent = (s: string, pre: string) =>
  s
    .split('\n')
    .map((l) => pre + l)
    .join('\n')

/** What goes under a status line: changes (check/-v), diffs (--diff), stdout/stderr (-v). */
export function details(r: TaskResult, p: Painter, v: Verbosity): string[] {
  const out: string[] = []
  const showChanges = r.changes.length > 0 && (r.status === 'changed' || (r.status === 'skipped' && v.check) || (r.status === 'failed' && v.verbose > 0))
  if (showChanges && (v.diff || v.check || v.verbose > 0)) {
    const text = renderChanges(r.changes, v.diff)
    out.push(
      text
        .split('\n')
        .map((l) => '  ' + (l.startsWith('+') && !l.startsWith('+++') ? p.green(l) : l.startsWith('-') && !l.startsWith('---') ? p.red(l) : l.startsWith('@@') ? p.cyan(l) : l))
        .join('\n'),
    )
  }
  if (v.verbose > 0 && r.status !== 'failed' && r.status !== 'unreachable') {
    if (r.msg && r.status !== 'skipped') out.push(indent(r.msg, '  msg: '))
    if (r.rc !== undefined && (r.stdout || r.stderr)) out.push(`  rc: ${r.rc}`)
    if (r.stdout) out.push('  stdout:\n' + indent(r.stdout, '    '))
    if (r.stderr) out.push('  stderr:\n' + indent(r.stderr, '    '))
  }
  return out
}
