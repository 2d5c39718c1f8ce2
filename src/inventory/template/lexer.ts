/**
 * Jinja's lexer, for the delimiters Ansible uses ({{ }}, {% %}, {# #}) with its settings: trim_blocks
 * (the newline after a block or comment tag is dropped), '-' whitespace control, {% raw %}. Inside
 * {{ }} string literals keep their backslashes, as Ansible's _escape_backslashes makes them.
 */
import { TemplateSyntaxError } from './errors.ts'

export type Token =
  | { t: 'name'; v: string; at: number }
  | { t: 'num'; v: number; float: boolean; at: number }
  | { t: 'str'; v: string; at: number }
  | { t: 'op'; v: string; at: number }

export type Segment =
  | { k: 'text'; s: string }
  | { k: 'var'; tokens: Token[]; src: string }
  | { k: 'block'; tokens: Token[]; src: string }

/** Whether Ansible would template this string at all (is_possibly_template). */
export const isPossiblyTemplate = (s: string): boolean => s.includes('{{') || s.includes('{%') || s.includes('{#')

const OPS = ['//', '**', '==', '!=', '<=', '>=', '+', '-', '*', '/', '%', '~', '<', '>', '=', '(', ')', '[', ']', '{', '}', ',', '.', ':', '|']

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', '0': '\0', a: '\x07', b: '\b', f: '\f', v: '\v' }

/** Tokens from `src` at `i` up to the closing delimiter at bracket depth 0; returns them and the index after the delimiter. */
function tokenize(src: string, i: number, close: '}}' | '%}', rawStrings: boolean): { tokens: Token[]; end: number; stripAfter: boolean; plus: boolean } {
  const tokens: Token[] = []
  let depth = 0
  for (;;) {
    while (i < src.length && /\s/.test(src[i])) i++
    if (i >= src.length) throw new TemplateSyntaxError(`unexpected end of template, expected '${close}'`)
    if (depth === 0) {
      if (src.startsWith('-' + close, i)) return { tokens, end: i + 3, stripAfter: true, plus: false }
      if (src.startsWith('+' + close, i)) return { tokens, end: i + 3, stripAfter: false, plus: true }
      if (src.startsWith(close, i)) return { tokens, end: i + 2, stripAfter: false, plus: false }
    }
    const at = i
    const c = src[i]
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i, i + 200))
    if (name) {
      tokens.push({ t: 'name', v: name[0], at })
      i += name[0].length
      continue
    }
    const n = /^(?:\d(?:_?\d)*(?:\.\d(?:_?\d)*)?(?:[eE][+-]?\d(?:_?\d)*)?)/.exec(src.slice(i, i + 200))
    if (n) {
      const text = n[0].replace(/_/g, '')
      tokens.push({ t: 'num', v: Number(text), float: /[.eE]/.test(text), at })
      i += n[0].length
      continue
    }
    if (c === '"' || c === "'") {
      let j = i + 1
      let s = ''
      for (;;) {
        if (j >= src.length) throw new TemplateSyntaxError('unexpected end of string')
        const d = src[j]
        if (d === c) break
        if (d === '\\' && j + 1 < src.length) {
          const e = src[j + 1]
          if (rawStrings && e !== c) s += '\\' + e
          else if (rawStrings) s += e
          else s += ESCAPES[e] ?? '\\' + e
          j += 2
          continue
        }
        s += d
        j++
      }
      tokens.push({ t: 'str', v: s, at })
      i = j + 1
      continue
    }
    const op = OPS.find((o) => src.startsWith(o, i))
    if (!op) throw new TemplateSyntaxError(`unexpected char ${JSON.stringify(c)} at ${i}`)
    if (op === '(' || op === '[' || op === '{') depth++
    if (op === ')' || op === ']' || op === '}') {
      if (depth === 0) throw new TemplateSyntaxError(`unexpected '${op}'`)
      depth--
    }
    tokens.push({ t: 'op', v: op, at })
    i += op.length
  }
}

const rstripWs = (s: string) => s.replace(/\s+$/, '')

/** The template's text and tags, in order. */
export function lex(src: string): Segment[] {
  const out: Segment[] = []
  let i = 0
  let stripNext = false
  let trimNewline = false
  const text = (s: string) => {
    if (stripNext) s = s.replace(/^\s+/, '')
    else if (trimNewline) s = s.replace(/^\r?\n/, '')
    stripNext = false
    trimNewline = false
    if (s) out.push({ k: 'text', s })
  }
  while (i < src.length) {
    const m = /\{[{%#]/.exec(src.slice(i))
    if (!m) {
      text(src.slice(i))
      break
    }
    const start = i + m.index
    const kind = src[start + 1]
    const minus = src[start + 2] === '-'
    let before = src.slice(i, start)
    if (minus) before = rstripWs(before)
    text(before)
    const inner = start + 2 + (minus || src[start + 2] === '+' ? 1 : 0)
    if (kind === '#') {
      const endAt = src.indexOf('#}', inner)
      if (endAt < 0) throw new TemplateSyntaxError('missing end of comment tag')
      stripNext = src[endAt - 1] === '-'
      trimNewline = !stripNext
      i = endAt + 2
      continue
    }
    const r = tokenize(src, inner, kind === '{' ? '}}' : '%}', kind === '{')
    const tagSrc = src.slice(start, r.end)
    i = r.end
    stripNext = r.stripAfter
    trimNewline = kind === '%' && !r.stripAfter && !r.plus
    if (kind === '{') {
      out.push({ k: 'var', tokens: r.tokens, src: tagSrc })
      continue
    }
    if (r.tokens.length === 1 && r.tokens[0].t === 'name' && r.tokens[0].v === 'raw') {
      // Everything up to {% endraw %} is text.
      const end = /\{%(-?)\s*endraw\s*(-?)%\}/.exec(src.slice(i))
      if (!end) throw new TemplateSyntaxError("missing '{% endraw %}'")
      let body = src.slice(i, i + end.index)
      if (stripNext) body = body.replace(/^\s+/, '')
      else if (trimNewline) body = body.replace(/^\r?\n/, '')
      if (end[1]) body = rstripWs(body)
      if (body) out.push({ k: 'text', s: body })
      i += end.index + end[0].length
      stripNext = !!end[2]
      trimNewline = !end[2]
      continue
    }
    out.push({ k: 'block', tokens: r.tokens, src: tagSrc })
  }
  return out
}
