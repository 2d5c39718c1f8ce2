/**
 * The one place where values become shell words.
 *
 * Every remote command is built either from an argv array (`argv(['ip','link','set',name,'up'])`)
 * or with the `sh` tagged template, which quotes each interpolated value. Nothing else in the code
 * base pastes a value into a command line, so a variable holding `;reboot`, quotes, newlines or
 * non-ASCII arrives on the host byte-exact as one word.
 */

/** Quote one value as a single POSIX shell word. Safe for any byte sequence except NUL. */
export function quote(value: string | number | bigint): string {
  const s = String(value)
  if (s.includes('\0')) throw new Error('a shell word cannot contain a NUL byte')
  if (s !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s
  return "'" + s.replace(/'/g, "'\\''") + "'"
}

/** Join an argv array into one command line, every word quoted. */
export function argv(words: ReadonlyArray<string | number>): string {
  return words.map(quote).join(' ')
}

/** A value that `sh` pastes as it is: only for fragments that were themselves built by `sh`/`argv`. */
export class Raw {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text
  }
}
export const raw = (text: string): Raw => new Raw(text)

type Interp = string | number | bigint | Raw | ReadonlyArray<string | number>

/**
 * Tagged template: sh`ip addr add ${cidr} dev ${dev}`. Strings and numbers are quoted, arrays become
 * several quoted words, `raw()` fragments (already built by sh/argv) pass through.
 */
export function sh(strings: TemplateStringsArray, ...values: Interp[]): string {
  let out = strings[0]
  values.forEach((v, i) => {
    if (v instanceof Raw) out += v.text
    else if (Array.isArray(v)) out += (v as ReadonlyArray<string | number>).map(quote).join(' ')
    else out += quote(v as string | number)
    out += strings[i + 1]
  })
  return out
}
