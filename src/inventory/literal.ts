/**
 * A port of the part of Python's `ast.literal_eval` that Ansible's INI inventory relies on.
 *
 * Ansible runs every INI value (inline host vars *and* `[group:vars]` lines) through
 * `ast.literal_eval` and keeps the raw string when that fails. So `port=2222` is the integer 2222,
 * `flag=True` is a boolean, `x=[1, 2]` a list, `name='web'` the string web, but `flag=true`,
 * `flag=yes` and `path=/srv` stay strings, and so does `mode=0644` (a leading zero is a Python
 * syntax error). Python comments count: `port=8080 # web` is 8080 in a `:vars` section.
 *
 * Tuples and sets become arrays, bytes become strings; complex numbers, `...` and integers too big
 * for a JS number stay the original string. Dict keys become strings as JSON would write them.
 */

type Result = { ok: true; value: unknown } | { ok: false }

class Fail extends Error {}

const fail = (): never => {
  throw new Fail()
}

const ID_START = /[A-Za-z_]/
const ID_CHAR = /[A-Za-z0-9_]/

class LiteralParser {
  private i = 0
  /** jsonNames: true/false/null read as True/False/None (Ansible's Json2Python on templated text). */
  constructor(
    private readonly s: string,
    private readonly jsonNames = false,
  ) {}

  parse(): unknown {
    this.ws()
    const first = this.value()
    this.ws()
    let value: unknown = first
    // A bare `1, 2` at the top is a tuple.
    if (this.peek() === ',') {
      const items = [first]
      while (this.peek() === ',') {
        this.i++
        this.ws()
        if (this.i >= this.s.length) break
        items.push(this.value())
        this.ws()
      }
      value = items
    }
    if (this.i < this.s.length) fail()
    return value
  }

  private peek(): string {
    return this.s[this.i] ?? ''
  }

  /** Whitespace and `#` comments (which run to the end: values are one line). */
  private ws(): void {
    while (this.i < this.s.length) {
      const c = this.s[this.i]
      if (c === ' ' || c === '\t' || c === '\f' || c === '\n' || c === '\r') this.i++
      else if (c === '#') this.i = this.s.length
      else break
    }
  }

  private value(): unknown {
    const c = this.peek()
    if (c === '[') return this.seq('[', ']')
    if (c === '(') return this.paren()
    if (c === '{') return this.brace()
    if (c === '+' || c === '-') {
      this.i++
      this.ws()
      const n = this.number()
      return c === '-' ? -n : n
    }
    if (/[0-9.]/.test(c)) return this.number()
    if (ID_START.test(c)) {
      // A string prefix (r'', b'', u'', rb'') or a name.
      const m = /^([rRbBuU]|[rR][bB]|[bB][rR])(?=['"])/.exec(this.s.slice(this.i))
      if (m) return this.strings()
      const start = this.i
      while (ID_CHAR.test(this.peek())) this.i++
      const name = this.s.slice(start, this.i)
      if (name === 'True') return true
      if (name === 'False') return false
      if (name === 'None') return null
      if (this.jsonNames && name === 'true') return true
      if (this.jsonNames && name === 'false') return false
      if (this.jsonNames && name === 'null') return null
      return fail()
    }
    if (c === '"' || c === "'") return this.strings()
    return fail()
  }

  private seq(open: string, close: string): unknown[] {
    this.i++ // open
    const items: unknown[] = []
    this.ws()
    while (this.peek() !== close) {
      if (this.i >= this.s.length) fail()
      items.push(this.value())
      this.ws()
      if (this.peek() === ',') {
        this.i++
        this.ws()
      } else if (this.peek() !== close) fail()
    }
    this.i++ // close
    void open
    return items
  }

  /** `(x)` is x; `()`, `(x,)` and `(x, y)` are tuples. */
  private paren(): unknown {
    this.i++
    this.ws()
    if (this.peek() === ')') {
      this.i++
      return []
    }
    const first = this.value()
    this.ws()
    if (this.peek() === ')') {
      this.i++
      return first
    }
    const items = [first]
    while (this.peek() === ',') {
      this.i++
      this.ws()
      if (this.peek() === ')') break
      items.push(this.value())
      this.ws()
    }
    if (this.peek() !== ')') fail()
    this.i++
    return items
  }

  /** `{}` and `{k: v}` are dicts, `{a, b}` is a set. */
  private brace(): unknown {
    this.i++
    this.ws()
    if (this.peek() === '}') {
      this.i++
      return {}
    }
    const first = this.value()
    this.ws()
    if (this.peek() === ':') {
      const dict: Record<string, unknown> = {}
      let key = first
      for (;;) {
        if (this.peek() !== ':') fail()
        this.i++
        this.ws()
        const v = this.value()
        if (typeof key === 'object' && key !== null) fail() // unhashable
        dict[String(key)] = v
        this.ws()
        if (this.peek() === ',') {
          this.i++
          this.ws()
        }
        if (this.peek() === '}') break
        if (this.i >= this.s.length) fail()
        key = this.value()
        this.ws()
      }
      this.i++
      return dict
    }
    const items = [first]
    while (this.peek() === ',') {
      this.i++
      this.ws()
      if (this.peek() === '}') break
      items.push(this.value())
      this.ws()
    }
    if (this.peek() !== '}') fail()
    this.i++
    return items
  }

  private number(): number {
    const rest = this.s.slice(this.i)
    const m = /^(?:0[xXoObB][0-9a-fA-F_]*|[0-9_]*\.?[0-9_]*(?:[eE][+-]?[0-9_]*)?)[jJ]?/.exec(rest)
    const text = m ? m[0] : ''
    if (!text || ID_CHAR.test(rest[text.length] ?? '')) fail()
    this.i += text.length
    const digits = String.raw`\d(?:_?\d)*`
    const point = `(?:(?:${digits})?\\.${digits}|${digits}\\.)`
    const exp = `[eE][+-]?${digits}`
    let v: number
    if (/^0[xX](?:_?[0-9a-fA-F])+$/.test(text)) v = parseInt(text.slice(2).replace(/_/g, ''), 16)
    else if (/^0[oO](?:_?[0-7])+$/.test(text)) v = parseInt(text.slice(2).replace(/_/g, ''), 8)
    else if (/^0[bB](?:_?[01])+$/.test(text)) v = parseInt(text.slice(2).replace(/_/g, ''), 2)
    else if (/^(?:[1-9](?:_?\d)*|0(?:_?0)*)$/.test(text)) v = parseInt(text.replace(/_/g, ''), 10)
    else if (new RegExp(`^(?:${point}(?:${exp})?|${digits}${exp})$`).test(text)) v = parseFloat(text.replace(/_/g, ''))
    else return fail() // leading zeros (0644), complex numbers, malformed
    if (Number.isInteger(v) && !Number.isSafeInteger(v) && !/[.eE]/.test(text)) fail()
    return v
  }

  /** One or more adjacent string literals, concatenated. */
  private strings(): string {
    let out = ''
    let any = false
    for (;;) {
      const m = /^([rRbBuU]{0,2})('''|"""|'|")/.exec(this.s.slice(this.i))
      if (!m) break
      const prefix = m[1].toLowerCase()
      if (prefix && !['r', 'b', 'u', 'rb', 'br'].includes(prefix)) fail()
      const quote = m[2]
      const raw = prefix.includes('r')
      this.i += m[0].length
      let body = ''
      for (;;) {
        if (this.i >= this.s.length) fail()
        if (this.s.startsWith(quote, this.i)) {
          this.i += quote.length
          break
        }
        const c = this.s[this.i]
        if (quote.length === 1 && (c === '\n' || c === '\r')) fail()
        if (c === '\\') {
          const n = this.s[this.i + 1]
          if (n === undefined) fail()
          if (raw) {
            body += c + n
            this.i += 2
          } else {
            body += this.escape()
          }
          continue
        }
        body += c
        this.i++
      }
      out += body
      any = true
      this.ws()
    }
    if (!any) fail()
    return out
  }

  private escape(): string {
    const n = this.s[this.i + 1]
    this.i += 2
    const simple: Record<string, string> = {
      '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\n': '',
    }
    if (n in simple) return simple[n]
    if (/[0-7]/.test(n)) {
      let oct = n
      while (oct.length < 3 && /[0-7]/.test(this.peek())) oct += this.s[this.i++]
      return String.fromCodePoint(parseInt(oct, 8))
    }
    const hexLen = n === 'x' ? 2 : n === 'u' ? 4 : n === 'U' ? 8 : 0
    if (hexLen) {
      const hex = this.s.slice(this.i, this.i + hexLen)
      if (!new RegExp(`^[0-9a-fA-F]{${hexLen}}$`).test(hex)) fail()
      this.i += hexLen
      const cp = parseInt(hex, 16)
      if (cp > 0x10ffff) fail()
      return String.fromCodePoint(cp)
    }
    if (n === 'N') fail() // \N{NAME}: not worth a Unicode name table
    return '\\' + n // unknown escapes keep the backslash, as in Python
  }
}

/** Python's ast.literal_eval on `text`: `{ ok: false }` where Python would raise. */
export function literalEval(text: string, opts: { jsonNames?: boolean } = {}): Result {
  // Python >= 3.10 strips leading spaces and tabs before evaluating.
  const src = text.replace(/^[ \t]+/, '')
  try {
    return { ok: true, value: new LiteralParser(src, opts.jsonNames).parse() }
  } catch (e) {
    if (e instanceof Fail) return { ok: false }
    throw e
  }
}

/** An INI value as Ansible stores it: the literal if `text` is a Python literal, else `text` itself. */
export function iniValue(text: string): unknown {
  const r = literalEval(text)
  return r.ok ? r.value : text
}
