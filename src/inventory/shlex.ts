/**
 * Python's `shlex.split(line, comments=True)` (POSIX mode), which Ansible uses to cut an INI host
 * line into the host pattern and its `key=value` words:
 *
 * - words are separated by spaces/tabs; quotes may start anywhere in a word: `foo="a b"` → `foo=a b`
 * - inside '…' nothing is special; inside "…" a backslash escapes only `"` and `\`
 * - outside quotes a backslash escapes any character
 * - `#` starts a comment, even in the middle of a word: `a=b#c` → `a=b`
 *
 * Throws ShlexError with Python's messages ("No closing quotation", "No escaped character").
 */

export class ShlexError extends Error {}

const WHITESPACE = ' \t\r\n'

export function shlexSplit(line: string): string[] {
  const tokens: string[] = []
  let state: string = ' ' // ' ' between words, 'a' in a word, a quote char, or '\\'
  let escapedState = 'a'
  let token = ''
  let quoted = false
  const flush = (): void => {
    if (token || quoted) tokens.push(token)
    token = ''
    quoted = false
  }
  for (let i = 0; i <= line.length; i++) {
    const c = i < line.length ? line[i] : ''
    if (state === ' ' || state === 'a') {
      if (!c) break
      if (WHITESPACE.includes(c)) {
        if (state === 'a') flush()
        state = ' '
      } else if (c === '#') {
        break // the rest of the line is a comment
      } else if (c === '\\') {
        escapedState = 'a'
        state = '\\'
      } else if (c === '"' || c === "'") {
        state = c
      } else {
        token += c
        state = 'a'
      }
    } else if (state === '"' || state === "'") {
      quoted = true
      if (!c) throw new ShlexError('No closing quotation')
      if (c === state) state = 'a'
      else if (c === '\\' && state === '"') {
        escapedState = state
        state = '\\'
      } else token += c
    } else {
      // state === '\\'
      if (!c) throw new ShlexError('No escaped character')
      // In double quotes, a backslash before anything but " or \ is kept.
      if ((escapedState === '"' || escapedState === "'") && c !== '\\' && c !== escapedState) token += '\\'
      token += c
      state = escapedState
    }
  }
  if (state === '"' || state === "'") throw new ShlexError('No closing quotation')
  flush()
  return tokens
}
