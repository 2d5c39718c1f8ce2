/**
 * ansible.cfg as Ansible reads it: Python's configparser.ConfigParser(inline_comment_prefixes=(';',)),
 * values read raw (no % interpolation). Written here because configparser is not generic INI:
 * `key = v` and `key: v`, indented lines continue the value (joined with '\n'), whole-line comments
 * start with # or ;, an inline comment is ';' after whitespace, keys are lowercased, [DEFAULT] applies
 * to every section, a duplicate section or key and a line outside any section are errors.
 */
import { UsageError } from '../errors.ts'

export type IniSections = Map<string, Map<string, string>>

export function parseConfigIni(text: string, file: string): IniSections {
  const sections: IniSections = new Map()
  const fail = (line: number, msg: string): never => {
    throw new UsageError(`${file}:${line}: error reading config file: ${msg}`)
  }
  let cur: Map<string, string> | undefined
  let curName = ''
  let last: { key: string; indent: number; lines: string[] } | undefined
  const flush = () => {
    if (last && cur) {
      while (last.lines.length > 1 && last.lines[last.lines.length - 1] === '') last.lines.pop()
      cur.set(last.key, last.lines.join('\n'))
    }
    last = undefined
  }
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/)
  lines.forEach((raw, i) => {
    const n = i + 1
    const indent = raw.length - raw.trimStart().length
    const stripped = raw.trim()
    if (stripped.startsWith('#') || stripped.startsWith(';')) return
    // Inline comments: ';' at the start of a word (configparser: preceded by whitespace).
    const m = /\s;/.exec(raw)
    const value = (m ? raw.slice(0, m.index) : raw).trim()
    if (!value) {
      // An empty line inside a multi-line value is kept (empty_lines_in_values), trailing ones dropped.
      if (last) last.lines.push('')
      return
    }
    if (last && indent > last.indent) {
      last.lines.push(value)
      return
    }
    flush()
    const sec = /^\[([^\]]+)\]/.exec(value)
    if (sec) {
      curName = sec[1]
      if (sections.has(curName)) fail(n, `section '${curName}' already exists`)
      cur = new Map()
      sections.set(curName, cur)
      return
    }
    if (!cur) fail(n, `no [section] header before '${value.slice(0, 40)}'`)
    const d = /[=:]/.exec(value)
    if (!d) fail(n, `expected 'key = value' in [${curName}], got '${value.slice(0, 40)}'`)
    const key = value.slice(0, d!.index).trim().toLowerCase()
    if (!key) fail(n, `a key is missing before '${d![0]}'`)
    if (cur!.has(key)) fail(n, `key '${key}' in section '${curName}' already exists`)
    last = { key, indent, lines: [value.slice(d!.index + 1).trim()] }
  })
  flush()
  return sections
}

/** A key of a section, falling back to [DEFAULT] as configparser's get does. */
export function iniGet(s: IniSections, section: string, key: string): string | undefined {
  if (section !== 'DEFAULT' && !s.has(section)) return undefined
  return s.get(section)?.get(key) ?? s.get('DEFAULT')?.get(key)
}
