/**
 * Python `re` patterns and replacement templates run on JS RegExp: (?P<n>...) and (?P=n), leading inline
 * flags (?i)(?m)(?s), \A \Z, and Python's `$` (also before a final newline). What has no faithful
 * translation is refused.
 */
import { UnsupportedError, TemplateRuntimeError } from './errors.ts'

export function pyRegex(pattern: string, flags: { ignorecase?: boolean; multiline?: boolean; global?: boolean } = {}): RegExp {
  let f = (flags.global ? 'g' : '') + (flags.ignorecase ? 'i' : '') + (flags.multiline ? 'm' : '')
  let src = pattern
  const lead = /^\(\?([aiLmsux]+)\)/.exec(src)
  if (lead) {
    for (const c of lead[1]) {
      if (c === 'i' || c === 'm' || c === 's') {
        if (!f.includes(c)) f += c
      } else if (c !== 'u') throw new UnsupportedError(`the regex flag (?${c})`)
    }
    src = src.slice(lead[0].length)
  }
  const multiline = f.includes('m')
  let out = ''
  let inClass = false
  for (let i = 0; i < src.length; i++) {
    const c = src[i]
    if (c === '\\') {
      const n = src[i + 1] ?? ''
      i++
      if (!inClass && n === 'A') out += '(?<![\\s\\S])'
      else if (!inClass && n === 'Z') out += '(?![\\s\\S])'
      else out += '\\' + n
      continue
    }
    if (inClass) {
      if (c === ']') inClass = false
      out += c
      continue
    }
    if (c === '[') {
      inClass = true
      out += c
      if (src[i + 1] === '^') out += src[++i]
      if (src[i + 1] === ']') out += '\\' + src[++i]
      continue
    }
    if (c === '(' && src[i + 1] === '?') {
      const rest = src.slice(i)
      let m: RegExpExecArray | null
      if ((m = /^\(\?P<([A-Za-z_]\w*)>/.exec(rest))) {
        out += `(?<${m[1]}>`
        i += m[0].length - 1
        continue
      }
      if ((m = /^\(\?P=([A-Za-z_]\w*)\)/.exec(rest))) {
        out += `\\k<${m[1]}>`
        i += m[0].length - 1
        continue
      }
      if (/^\(\?[aiLmsux-]+[):]/.test(rest)) throw new UnsupportedError('inline regex flags other than at the start of the pattern')
      if (/^\(\?\(/.test(rest)) throw new UnsupportedError('conditional regex groups (?(...))')
    }
    if (c === '$' && !multiline) {
      // Python: the end, or before a newline at the end.
      out += '(?=\\n?(?![\\s\\S]))'
      continue
    }
    out += c
  }
  try {
    return new RegExp(out, f)
  } catch (e) {
    throw new TemplateRuntimeError(`invalid regular expression ${JSON.stringify(pattern)}: ${(e as Error).message}`)
  }
}

/** A function for String.replace that expands a Python replacement template (\1, \g<1>, \g<name>, \n, \\). */
export function pyReplacement(template: string): (...m: unknown[]) => string {
  type Part = string | number | { name: string }
  const parts: Part[] = []
  let lit = ''
  for (let i = 0; i < template.length; i++) {
    const c = template[i]
    if (c !== '\\') {
      lit += c
      continue
    }
    const n = template[i + 1]
    if (n === undefined) throw new TemplateRuntimeError('bad escape (end of pattern) in the replacement')
    let m: RegExpExecArray | null
    if (/\d/.test(n)) {
      const d = /^\d{1,2}/.exec(template.slice(i + 1))![0]
      parts.push(lit, Number(d))
      lit = ''
      i += d.length
    } else if (n === 'g' && (m = /^g<([^>]*)>/.exec(template.slice(i + 1)))) {
      parts.push(lit, /^\d+$/.test(m[1]) ? Number(m[1]) : { name: m[1] })
      lit = ''
      i += m[0].length
    } else {
      const esc: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', a: '\x07', f: '\f', v: '\v', b: '\b' }
      if (n in esc) lit += esc[n]
      else if (/[A-Za-z]/.test(n)) throw new TemplateRuntimeError(`bad escape \\${n} in the replacement`)
      else lit += '\\' + n
      i++
    }
  }
  parts.push(lit)
  return (...m: unknown[]) => {
    const named = typeof m[m.length - 1] === 'object' ? (m[m.length - 1] as Record<string, string | undefined>) : {}
    const groups = m.slice(0, typeof m[m.length - 1] === 'object' ? -3 : -2) as Array<string | undefined>
    return parts
      .map((p) => {
        if (typeof p === 'string') return p
        if (typeof p === 'number') {
          if (p >= groups.length) throw new TemplateRuntimeError(`invalid group reference ${p} in the replacement`)
          return groups[p] ?? ''
        }
        if (!(p.name in named)) throw new TemplateRuntimeError(`unknown group name '${p.name}' in the replacement`)
        return named[p.name] ?? ''
      })
      .join('')
  }
}
