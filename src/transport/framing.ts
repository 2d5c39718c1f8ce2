/**
 * Framing of commands over one persistent remote `sh` (no pty).
 *
 * The controller writes one self-contained chunk of shell text per command to the shell's stdin:
 *
 *     ( eval '<script>' ) </dev/null
 *     printf '%s%d\n' '<M>:' "$?"; printf '%s\n' '<M>' >&2
 *
 * - `<M>` is a fresh 128-bit random marker for every command. It only exists in the text the shell
 *   reads from its stdin pipe, so the command can't print it (it does not know it), and nothing a
 *   command prints (binary data, a missing trailing newline, earlier markers) can end its frame early.
 * - The command's stdout and stderr are the shell's own (streamed, no temp files, no extra processes):
 *   everything before `<M>:` on stdout is the command's stdout, everything before `<M>\n` on stderr
 *   is its stderr; the digits after `<M>:` are its exit code.
 * - The script is one single-quoted word run by `eval` in a subshell: a syntax error, `exit`, `exec`,
 *   `cd`, `set -e` or traps only end/affect that subshell, never the persistent shell. Its stdin is
 *   /dev/null (or the caller's bytes), so it can't eat the protocol.
 * - stdin bytes are fed with the shell's builtin printf and octal escapes (binary safe, NUL too).
 * - With a timeout the script runs under `timeout -k 1 <s> /bin/sh -c '<script>'`: `timeout` makes
 *   its own process group and kills that group (only the command, not the shell) and exits 124.
 */
import { randomBytes } from 'node:crypto'
import { quote } from '../net/shell.ts'

/**
 * Random bytes drawn 4 KiB at a time: a marker per command is still 128 fresh random bits, but one
 * getrandom call serves 256 commands (per-command randomBytes(16) was 0.1 s of controller CPU per
 * 1,000 commands on a loaded 2-core lab: bench --cpu-prof).
 */
let pool = Buffer.alloc(0)
let poolAt = 0

export function newMarker(): string {
  if (poolAt + 16 > pool.length) {
    pool = randomBytes(4096)
    poolAt = 0
  }
  const hex = pool.toString('hex', poolAt, poolAt + 16)
  // Used bytes are overwritten: nothing keeps them in memory once their command is framed.
  pool.fill(0, poolAt, poolAt + 16)
  poolAt += 16
  return `__orch_${hex}`
}

/**
 * A printf *format* argument (already shell-quoted) that prints `data` byte-exact: `%` and `\` are
 * doubled, everything outside printable ASCII becomes a 3-digit octal escape.
 */
export function printfLiteral(data: Buffer): string {
  // One regex pass over the bytes as latin1 (a char per byte): it runs for every journal entry and every
  // file written, and was a per-byte loop.
  const text = data.toString('latin1').replace(SPECIAL, escapeByte)
  // '-' first could be taken for an option by some printf builtins.
  return quote(text.startsWith('-') ? '\\055' + text.slice(1) : text)
}

const SPECIAL = /[%\\\x00-\x1f\x7f-\xff]/g
function escapeByte(c: string): string {
  if (c === '%') return '%%'
  if (c === '\\') return '\\\\'
  return '\\' + c.charCodeAt(0).toString(8).padStart(3, '0')
}

/**
 * The umask every command starts with (the shell sets it at start). A script that changes it for one step
 * restores this value instead of running that step in a subshell (a fork of the shell per step).
 */
export const SHELL_UMASK = '022'

export interface FrameSpec {
  script: string
  stdin?: Buffer
  /** Remote-enforced timeout in ms (needs `timeout` on the target). */
  timeoutMs?: number
  /** See ExecOptions.timeoutOnController. */
  timeoutOnController?: boolean
  /** The script is trusted glue (batchScript): it runs in the shell itself, not in a subshell of its own. */
  bare?: boolean
}

/** `printf <bytes> | ` feeding a command its stdin (empty when there is none). */
const stdinPipe = (stdin: Buffer | undefined): string => (stdin && stdin.length > 0 ? `printf ${printfLiteral(stdin)} | ` : '')

/** After a command: its exit code after `<M>:` on stdout, `<M>` alone on stderr (the framing's end marks). */
const endMarks = (marker: string): string => `printf '%s%d\\n' '${marker}:' "$?"; printf '%s\\n' '${marker}' >&2\n`

/** One script of a batch (see batchScript). */
export interface BatchPart {
  script: string
  stdin?: Buffer
}

/**
 * Several scripts in one command (one round trip), in ONE subshell: each runs with its own stdin (none:
 * /dev/null) and is followed by its own random marker on both streams, so splitBatch can give each its
 * exit code, stdout and stderr; after the subshell, an end marker carries its exit status. A fork of the
 * shell per script was most of a batch's cost on a target; in exchange a script's `exit` ends the batch
 * (splitBatch gives that script the subshell's status and the later ones no result), and what a script
 * leaves behind (variables, positional parameters, cwd) is there for the next one: umask and the shell
 * options -e, -u, -C are put back before each. The glue around the subshell is builtins only
 * (FrameSpec.bare): n scripts cost one fork.
 */
export function batchScript(parts: BatchPart[], markers: string[], end: string): string {
  const body = parts
    .map((p, i) => {
      const input = stdinPipe(p.stdin)
      const reset = i === 0 ? '' : `set +e +u +C; umask ${SHELL_UMASK}\n`
      const run = input ? `${input}( eval ${quote(p.script)} )` : `eval ${quote(p.script)} </dev/null`
      return `${reset}${run}\n${endMarks(markers[i])}`
    })
    .join('')
  return `(\n${body})\n${endMarks(end)}`
}

/**
 * The batch's output, cut at each script's markers. The script running when the subshell ended (an `exit`,
 * the shell killed) gets what was printed after the last marker and the subshell's status from the end
 * marker; the scripts after it, never run, are undefined (so is every script from there when not even the
 * end marker came: the shell itself went away).
 */
export function splitBatch(stdout: Buffer, stderr: Buffer, markers: string[], end: string): Array<{ code: number; stdout: Buffer; stderr: Buffer } | undefined> {
  let o = 0
  let e = 0
  let done = false
  const cut = (m: string) => {
    const om = Buffer.from(`${m}:`)
    const at = stdout.indexOf(om, o)
    const atErr = stderr.indexOf(Buffer.from(`${m}\n`), e)
    const nl = at < 0 ? -1 : stdout.indexOf(0x0a, at + om.length)
    if (at < 0 || atErr < 0 || nl < 0) return undefined
    const part = { code: Number(stdout.toString('latin1', at + om.length, nl)), stdout: stdout.subarray(o, at), stderr: stderr.subarray(e, atErr) }
    o = nl + 1
    e = atErr + m.length + 1
    return part
  }
  return markers.map((m) => {
    if (done) return undefined
    const part = cut(m)
    if (part) return part
    done = true
    return cut(end)
  })
}

/** Scripts bigger than this can't be a single argv word (MAX_ARG_STRLEN 128 KiB): go through a temp file. */
const MAX_ARG = 100_000

/** The text sent to the shell for one command. */
export function frameCommand(marker: string, spec: FrameSpec): string {
  const { script, stdin, timeoutMs } = spec
  const input = stdinPipe(stdin)
  const devnull = input ? '' : ' </dev/null'
  let body: string
  if (timeoutMs !== undefined) {
    const secs = Math.max(0.001, timeoutMs / 1000).toFixed(3)
    if (Buffer.byteLength(script) <= MAX_ARG) {
      body = `${input}timeout -k 1 ${secs} /bin/sh -c ${quote(script)}${devnull}`
    } else {
      const f = `"\${TMPDIR:-/tmp}/.orch-${marker}.sh"`
      body =
        `(umask 077; set -C; printf ${printfLiteral(Buffer.from(script))} > ${f}) && ` +
        `{ ${input}timeout -k 1 ${secs} /bin/sh ${f}${devnull}; __orch_rc=$?; rm -f ${f}; (exit $__orch_rc); }`
    }
  } else if (spec.bare && !input) {
    body = script
  } else {
    body = `${input}( eval ${quote(script)} )${devnull}`
  }
  return `${body}\n${endMarks(marker)}`
}

/**
 * Collects one stream until `needle` shows up, without re-scanning (or re-concatenating) what was
 * already seen: only the tail that could hold the start of a split needle is searched again.
 */
export class MarkerScanner {
  private chunks: Buffer[] = []
  private size = 0
  private tail: Buffer = Buffer.alloc(0)
  /** Offset of the needle in the stream, once found. */
  foundAt = -1
  /** Bytes after the needle (for the exit code line). */
  after: Buffer = Buffer.alloc(0)

  constructor(private readonly needle: Buffer) {}

  /** Returns true once the needle was found. */
  push(chunk: Buffer): boolean {
    if (this.foundAt >= 0) {
      this.after = Buffer.concat([this.after, chunk])
      return true
    }
    const window = this.tail.length ? Buffer.concat([this.tail, chunk]) : chunk
    const idx = window.indexOf(this.needle)
    const windowStart = this.size - this.tail.length
    this.chunks.push(chunk)
    this.size += chunk.length
    if (idx >= 0) {
      this.foundAt = windowStart + idx
      const all = Buffer.concat(this.chunks, this.size)
      this.after = all.subarray(this.foundAt + this.needle.length)
      this.chunks = [all.subarray(0, this.foundAt)]
      this.size = this.foundAt
      return true
    }
    const keep = this.needle.length - 1
    this.tail = window.length > keep ? window.subarray(window.length - keep) : window
    return false
  }

  /** Everything before the needle (or everything so far). */
  data(): Buffer {
    return this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size)
  }
}
