/**
 * Helpers for writing tasks: argument checks (ArgError), reading a file's state in one round trip,
 * writing it atomically, and the undo scripts that restore it. Every command is built with net/shell.ts.
 */
import { posix } from 'node:path'
import type { ExecResult } from '../transport/types.ts'
import { quote, sh } from '../net/shell.ts'
import { newMarker, printfLiteral, SHELL_UMASK } from '../transport/framing.ts'
import { ArgError, TaskFailed, type Change, type TaskContext, type Undo } from './types.ts'

// ---------------------------------------------------------------- argument checks

export function needString(variable: string, v: unknown, expected = 'a non-empty string'): string {
  if (typeof v !== 'string' || v === '') throw new ArgError(variable, expected, v)
  if (v.includes('\0')) throw new ArgError(variable, 'a string without NUL bytes', v)
  return v
}

/** An absolute, normalised POSIX path: no NUL, no '..' games, not '/'. */
export function needAbsPath(variable: string, v: unknown): string {
  const expected = "an absolute path like '/etc/orch.conf'"
  if (typeof v !== 'string' || !v.startsWith('/') || v.includes('\0') || v.includes('\n')) throw new ArgError(variable, expected, v)
  if (v.split('/').some((seg) => seg === '..' || seg === '.')) throw new ArgError(variable, `${expected} (no '.' or '..' parts)`, v)
  const norm = posix.normalize(v).replace(/\/+$/, '')
  if (norm === '') throw new ArgError(variable, `${expected} (not '/')`, v)
  return norm
}

/** File mode as 3-4 octal digits ('0644'), from 0o644, '644' or '0644'. */
export function needMode(variable: string, v: unknown): string {
  const expected = "an octal mode like 0o644 or '0644'"
  let s: string
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0 || v > 0o7777) throw new ArgError(variable, expected, v)
    s = v.toString(8)
  } else if (typeof v === 'string' && /^0?[0-7]{3,4}$/.test(v)) s = v.replace(/^0(?=[0-7]{4}$)/, '')
  else throw new ArgError(variable, expected, v)
  return s.padStart(4, '0')
}

/** 'user' or 'user:group' (names or numeric ids). */
export function needOwner(variable: string, v: unknown): string {
  const word = '([a-z_][a-z0-9_.-]*\\$?|[0-9]+)'
  if (typeof v !== 'string' || !new RegExp(`^${word}(:${word})?$`, 'i').test(v)) throw new ArgError(variable, "an owner like 'root' or 'root:adm'", v)
  return v
}

export function needOneOf<T extends string>(variable: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) throw new ArgError(variable, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, v)
  return v as T
}

// ---------------------------------------------------------------- running

/** Fails the task when a command it needs exits non-zero. */
export function mustSucceed(r: ExecResult, what: string): ExecResult {
  if (r.code !== 0) {
    const detail = (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')
    throw new TaskFailed(`${what} failed (rc=${r.code}${r.timedOut ? ', timed out' : ''})${detail ? `: ${detail}` : ''}`, { rc: r.code, stdout: r.stdout, stderr: r.stderr })
  }
  return r
}

/** Separator between parts of one round trip's output. */
export const SECTION = '@@orch-section-7f3a@@'
export const sectionMark = sh`printf '\\n%s\\n' ${SECTION}`
export function splitSections(stdout: string): string[] {
  return stdout.split(`\n${SECTION}\n`)
}

// ---------------------------------------------------------------- files

/** Files bigger than this are not read into memory (content-managing tasks refuse them). */
export const MAX_FILE_BYTES = 8 * 1024 * 1024

/** Mode ('0644'), owner and group names, and their numeric ids. */
export interface Meta {
  mode: string
  owner: string
  group: string
  uid: string
  gid: string
}

export type FileState =
  | { kind: 'absent' }
  | ({ kind: 'file'; size: number; content: Buffer } & Meta)
  | ({ kind: 'toolarge'; size: number } & Meta)
  | ({ kind: 'dir' } & Meta)
  | { kind: 'other'; type: string }

/** Files up to this size are read with the shell's builtin read when they are plain ASCII text. */
export const TEXT_READ_MAX = 4096

/**
 * A script printing a path's state (and a regular file's content) — one round trip. A small file of plain
 * ASCII text (printable characters and white space only) comes back as it is, read by the shell's builtin
 * `read` (no process: this runs for every file task on every run); the byte count read must equal the
 * size stat gave, so nothing `read` cannot carry (NUL bytes) slips through. Anything else goes through base64.
 */
export function readFileScript(path: string): string {
  const p = quote(path)
  return (
    `if [ -f ${p} ]; then set -- $(stat -c '%a %U %G %s %u %g' -- ${p}) || exit 3; ` +
    `if [ "$4" -gt ${MAX_FILE_BYTES} ]; then echo "toolarge $*"; else m=b64; ` +
    `if [ "$4" -le ${TEXT_READ_MAX} ]; then c=; l=; while IFS= read -r l; do c="$c$l
"; done < ${p} || exit 3; c="$c$l"; ` +
    `if [ \${#c} -eq "$4" ]; then case "$c" in *[![:print:][:space:]]*|*@@orch*) ;; *) m=text ;; esac; fi; fi; ` +
    `if [ $m = text ]; then echo "text $*"; printf '%s' "$c"; else echo "file $*"; base64 < ${p} || exit 3; fi; fi; ` +
    `elif [ -d ${p} ]; then echo "dir $(stat -c '%a %U %G 0 %u %g' -- ${p})"; ` +
    `elif [ -e ${p} ] || [ -L ${p} ]; then echo "other $(stat -c '%F' -- ${p})"; ` +
    `else echo absent; fi`
  )
}

const normMode = (m: string) => m.padStart(4, '0')
const meta = (f: string[]): Meta => ({ mode: normMode(f[0]), owner: f[1], group: f[2], uid: f[4] ?? f[1], gid: f[5] ?? f[2] })

export function parseFileState(out: string, path: string): FileState {
  const nl = out.indexOf('\n')
  const head = (nl < 0 ? out : out.slice(0, nl)).trim()
  const body = nl < 0 ? '' : out.slice(nl + 1)
  const [kind, ...f] = head.split(' ')
  switch (kind) {
    case 'absent':
      return { kind: 'absent' }
    case 'file':
      return { kind: 'file', ...meta(f), size: Number(f[3]), content: Buffer.from(body.replace(/\s+/g, ''), 'base64') }
    case 'text': {
      // ASCII only (checked on the target): the decoded string is the bytes. A length that is not the size
      // means the output was cut or mixed: refuse rather than compare against a wrong content.
      const content = Buffer.from(body, 'latin1')
      if (content.length !== Number(f[3])) throw new TaskFailed(`unexpected output reading ${path}: ${content.length} bytes of text for a file of ${f[3]}`)
      return { kind: 'file', ...meta(f), size: Number(f[3]), content }
    }
    case 'toolarge':
      return { kind: 'toolarge', ...meta(f), size: Number(f[3]) }
    case 'dir':
      return { kind: 'dir', ...meta(f) }
    case 'other':
      return { kind: 'other', type: f.join(' ') }
    default:
      throw new TaskFailed(`unexpected output reading ${path}: ${head.slice(0, 200)}`)
  }
}

export async function readFile(ctx: TaskContext, path: string): Promise<FileState> {
  const r = mustSucceed(await ctx.run(readFileScript(path)), `reading ${path}`)
  return parseFileState(r.stdout, path)
}

/** Text for diffs; binary content is summarised. */
export function displayContent(b: Buffer | string): string {
  const buf = typeof b === 'string' ? Buffer.from(b) : b
  const text = buf.toString('utf8')
  if (buf.includes(0) || !Buffer.from(text, 'utf8').equals(buf)) return `(binary content, ${buf.length} bytes)\n`
  return text
}

/**
 * Writes `path` atomically (temp file in the same directory + rename), with mode and owner. The content
 * comes from stdin, or — given `content` (up to 64 KiB) — from the script itself, written by the shell's
 * builtin printf: with the mode set through umask when it can be (no x, setuid or sticky bits), the rename
 * is then the only process (mktemp, cat and chmod were ~1-1.5 ms of the target's CPU each). The temp
 * name is random and created exclusively (noclobber), as mktemp would.
 *
 * `owner` is given to the new file with chown. With `keepOwner` (owner is the replaced file's own uid:gid)
 * chown runs only when the new file would not have it anyway: the old file is ours (test -O/-G, shell
 * builtins) and the directory did not give the new one another group (setgid). The inline form is a brace
 * group, not a subshell (one fork of the shell less): umask and noclobber go back to the shell's, and a
 * failure ends the whole command with its code.
 */
export function writeFileScript(path: string, mode: string, owner?: string, content?: Buffer, keepOwner = false): string {
  const dir = posix.dirname(path)
  const chown = !owner
    ? ''
    : keepOwner
      ? sh` && { { [ -O ${path} ] && [ -G ${path} ] && [ -G "$t" ]; } || chown ${owner} "$t"; }`
      : sh` && chown ${owner} "$t"`
  if (!content || content.length > INLINE_WRITE_MAX) {
    const tmpl = `${dir}/.orch.XXXXXXXX`
    return (
      sh`(t=$(mktemp ${tmpl}) || exit 1; ` +
      sh`{ cat > "$t" && chmod ${mode} "$t"` +
      chown +
      sh` && mv -f "$t" ${path}; } || { rc=$?; rm -f "$t"; exit $rc; })`
    )
  }
  const bits = Number.parseInt(mode, 8)
  const viaUmask = Number.isInteger(bits) && (bits & ~0o666) === 0
  // 128 random bits from the transport's pool (no getrandom call per file written).
  const tmp = `${dir}/.orch.${newMarker().replace(/^__orch_/, '')}`
  return (
    sh`{ umask ${(viaUmask ? 0o777 & ~bits : 0o077).toString(8).padStart(4, '0')}; set -C; t=${tmp}; ` +
    `printf ${printfLiteral(content)} > "$t"; rc=$?; set +C; umask ${SHELL_UMASK}; ` +
    `[ $rc = 0 ]` +
    (viaUmask ? '' : sh` && chmod ${mode} "$t"`) +
    chown +
    sh` && mv -f "$t" ${path} || { r=$?; [ $rc = 0 ] && rc=$r; rm -f "$t"; exit $rc; }; }`
  )
}

/** Content this size or smaller goes inside writeFileScript's script; larger content goes through stdin. */
export const INLINE_WRITE_MAX = 64 * 1024

/** The same, with the content in the script itself (for undo scripts, which run without a controller). */
export function restoreFileScript(path: string, content: Buffer, mode: string, owner?: string): string {
  // base64 text is [A-Za-z0-9+/=] only: safe inside a quoted here-document.
  const b64 = content.toString('base64').replace(/(.{76})/g, '$1\n').replace(/\n$/, '')
  const dir = posix.dirname(path)
  const tmpl = `${dir}/.orch.XXXXXXXX`
  return (
    sh`(t=$(mktemp ${tmpl}) || exit 1; ` +
    `{ base64 -d > "$t" <<'ORCH_B64_END'\n${b64}\nORCH_B64_END\n` +
    sh`chmod ${mode} "$t"` +
    (owner ? sh` && chown ${owner} "$t"` : '') +
    sh` && mv -f "$t" ${path}; } || { rc=$?; rm -f "$t"; exit $rc; })`
  )
}

/** Undo for a task that rewrote (or created) a regular file, from the state read before. */
export function fileUndo(path: string, before: FileState): Undo | null {
  if (before.kind === 'absent') return { description: `remove ${path} (it did not exist)`, script: sh`rm -f -- ${path}` }
  if (before.kind === 'file')
    return {
      description: `restore ${path} (${before.size} bytes, mode ${before.mode}, ${before.owner}:${before.group})`,
      script: restoreFileScript(path, before.content, before.mode, `${before.uid}:${before.gid}`),
    }
  return null
}

/** Changes for mode/owner between a file's state and the wanted ones. */
export function metaChanges(before: Meta | null, mode?: string, owner?: string): Change[] {
  const out: Change[] = []
  if (mode && before && before.mode !== mode) out.push({ what: 'mode', before: before.mode, after: mode })
  if (owner && before && !ownerMatches(before, owner)) {
    const cur = owner.includes(':') ? `${before.owner}:${before.group}` : before.owner
    out.push({ what: 'owner', before: cur, after: owner })
  }
  return out
}

/** 'user[:group]' (names or ids) against what stat said. */
export function ownerMatches(m: Meta, owner: string): boolean {
  const [u, g] = owner.split(':')
  const userOk = u === m.owner || u === m.uid
  const groupOk = g === undefined || g === m.group || g === m.gid
  return userOk && groupOk
}
