/**
 * The filters, tests and str/dict methods orch implements, with Jinja 3.1's and Ansible 2.14's semantics
 * (jinja2/filters.py, jinja2/tests.py, ansible/plugins/filter/core.py). Anything else is refused.
 */
import { TemplateRuntimeError, UnsupportedError } from './errors.ts'
import { pyRegex, pyReplacement } from './regex.ts'
import { float, isDict, isFloat, isInt, isNumber, num, PyCallable, pyEq, pyIn, str, truthy, typeName, Undefined, type Dict } from './values.ts'

type Args = unknown[]
type Kw = Record<string, unknown>

/** Python's int(str, base): whitespace, sign, underscores between digits. */
function pyIntOfString(s: string, base: number): number | null {
  const t = s.trim()
  const digits = base === 16 ? '[0-9a-fA-F]' : base === 8 ? '[0-7]' : base === 2 ? '[01]' : '\\d'
  const prefix = base === 16 ? '(?:0[xX])?' : base === 8 ? '(?:0[oO])?' : base === 2 ? '(?:0[bB])?' : ''
  const m = new RegExp(`^([+-]?)${prefix}(${digits}(?:_?${digits})*)$`).exec(t)
  if (!m || base !== 10 && base !== 16 && base !== 8 && base !== 2) return null
  const n = parseInt(m[2].replace(/_/g, ''), base)
  return m[1] === '-' ? -n : n
}

/** Python's float(str). */
function pyFloatOfString(s: string): number | null {
  const t = s.trim().toLowerCase().replace(/(?<=\d)_(?=\d)/g, '')
  if (/^[+-]?(inf|infinity)$/.test(t)) return t.startsWith('-') ? -Infinity : Infinity
  if (/^[+-]?nan$/.test(t)) return NaN
  if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t)) return Number(t)
  return null
}

function len(v: unknown): number {
  if (typeof v === 'string') return [...v].length
  if (Array.isArray(v)) return v.length
  if (isDict(v)) return Object.keys(v).length
  if (v instanceof Undefined) return v.fail()
  throw new TemplateRuntimeError(`object of type '${typeName(v)}' has no len()`)
}

/** Python iteration: a str's characters, a list's items, a dict's keys. */
function iter(v: unknown): unknown[] {
  if (typeof v === 'string') return [...v]
  if (Array.isArray(v)) return v
  if (isDict(v)) return Object.keys(v)
  if (v instanceof Undefined) return v.fail()
  throw new TemplateRuntimeError(`'${typeName(v)}' object is not iterable`)
}

/** str.strip(chars) / lstrip / rstrip. */
function strip(s: string, chars: unknown, side: 'both' | 'left' | 'right'): string {
  const set = chars === undefined || chars === null ? null : str(chars)
  const drop = (c: string) => (set === null ? /\s/.test(c) : set.includes(c))
  const cs = [...s]
  let a = 0
  let b = cs.length
  if (side !== 'right') while (a < b && drop(cs[a])) a++
  if (side !== 'left') while (b > a && drop(cs[b - 1])) b--
  return cs.slice(a, b).join('')
}

/** str.replace(old, new, count) with Python's rules (an empty `old` inserts between characters). */
function replace(s: string, old: string, neu: string, count: number): string {
  if (count < 0) count = Infinity
  if (old === '') {
    const cs = [...s]
    let out = ''
    let n = 0
    for (let i = 0; i <= cs.length; i++) {
      if (n < count) {
        out += neu
        n++
      }
      if (i < cs.length) out += cs[i]
    }
    return out
  }
  let out = ''
  let i = 0
  let n = 0
  for (;;) {
    const j = n < count ? s.indexOf(old, i) : -1
    if (j < 0) return out + s.slice(i)
    out += s.slice(i, j) + neu
    i = j + old.length
    n++
  }
}

/** str.split(sep, maxsplit). */
function split(s: string, sep: unknown, maxsplit: unknown): string[] {
  const max = maxsplit === undefined || maxsplit === null ? -1 : num(maxsplit)
  if (sep === undefined || sep === null) {
    const out: string[] = []
    let rest = s.replace(/^\s+/, '')
    while (rest) {
      if (max >= 0 && out.length >= max) {
        out.push(rest.replace(/\s+$/, ''))
        break
      }
      const m = /\s+/.exec(rest)
      if (!m) {
        out.push(rest)
        break
      }
      out.push(rest.slice(0, m.index))
      rest = rest.slice(m.index + m[0].length)
    }
    return out
  }
  const d = str(sep)
  if (d === '') throw new TemplateRuntimeError('empty separator')
  const parts = s.split(d)
  if (max < 0 || parts.length <= max + 1) return parts
  return [...parts.slice(0, max), parts.slice(max).join(d)]
}

const arg = (args: Args, kw: Kw, i: number, name: string, dflt?: unknown): unknown => (i < args.length ? args[i] : name in kw ? kw[name] : dflt)

/** Ansible's to_bool (the `bool` filter). */
function toBool(a: unknown): unknown {
  if (a === null || typeof a === 'boolean') return a
  const v = typeof a === 'string' ? a.toLowerCase() : a
  return ['yes', 'on', '1', 'true'].includes(v as string) || (isNumber(v) && num(v) === 1 && typeof v !== 'boolean') ? true : false
}

function doInt(v: unknown, dflt: unknown, base: number): unknown {
  if (typeof v === 'string') {
    const n = pyIntOfString(v, base)
    if (n !== null) return n
    const f = pyFloatOfString(v)
    if (f !== null && Number.isFinite(f)) return Math.trunc(f)
    if (f !== null && !Number.isNaN(f)) throw new TemplateRuntimeError('cannot convert float infinity to integer')
    return dflt
  }
  if (isNumber(v)) return Math.trunc(num(v))
  return dflt
}

/** Python's round(x, p): the nearest decimal, an exact tie to the even digit. */
function pyRound(x: number, p: number): number {
  if (!Number.isFinite(x) || p < 0 || p > 20) return Math.round(x * 10 ** p) / 10 ** p
  const exact = Math.abs(x).toFixed(Math.min(100, p + 30))
  const tail = exact.slice(exact.length - 30)
  let r = Number(Math.abs(x).toFixed(p))
  if (/^50*$/.test(tail)) {
    // A tie: toFixed rounded up; step back when that made the last digit odd.
    const scaled = Math.round(r * 10 ** p)
    if (scaled % 2 === 1) r = (scaled - 1) / 10 ** p
  }
  return x < 0 ? -r : r
}

const FILTERS: Record<string, (v: unknown, a: Args, kw: Kw) => unknown> = {
  default: (v, a, kw) => {
    const d = arg(a, kw, 0, 'default_value', '')
    const boolean = truthy(arg(a, kw, 1, 'boolean', false))
    return v instanceof Undefined || (boolean && !truthy(v)) ? d : v
  },
  lower: (v) => str(v).toLowerCase(),
  upper: (v) => str(v).toUpperCase(),
  capitalize: (v) => {
    const s = str(v)
    return s.slice(0, 1).toUpperCase() + s.slice(1).toLowerCase()
  },
  int: (v, a, kw) => doInt(v, arg(a, kw, 0, 'default', 0), num(arg(a, kw, 1, 'base', 10))),
  float: (v, a, kw) => {
    const d = arg(a, kw, 0, 'default', float(0))
    if (typeof v === 'string') {
      const f = pyFloatOfString(v)
      return f === null ? d : float(f)
    }
    return isNumber(v) ? float(num(v)) : d
  },
  bool: (v) => (v instanceof Undefined ? v.fail() : toBool(v)),
  string: (v) => str(v),
  length: (v) => len(v),
  join: (v, a, kw) => {
    if (arg(a, kw, 1, 'attribute') !== undefined) throw new UnsupportedError("join(attribute=...)")
    return iter(v).map((x) => str(x)).join(str(arg(a, kw, 0, 'd', '')))
  },
  replace: (v, a, kw) => {
    const count = arg(a, kw, 2, 'count', null)
    return replace(str(v), str(arg(a, kw, 0, 'old')), str(arg(a, kw, 1, 'new')), count === null ? -1 : num(count))
  },
  regex_replace: (v, a, kw) => {
    const re = pyRegex(str(arg(a, kw, 0, 'pattern', '')), {
      global: true,
      ignorecase: truthy(arg(a, kw, 2, 'ignorecase', false)),
      multiline: truthy(arg(a, kw, 3, 'multiline', false)),
    })
    return str(v).replace(re, pyReplacement(str(arg(a, kw, 1, 'replacement', ''))))
  },
  regex_search: (v, a, kw) => {
    if (a.length > 1) throw new UnsupportedError('regex_search with group arguments')
    const re = pyRegex(str(arg(a, kw, 0, 'regex', '')), { ignorecase: truthy(kw.ignorecase ?? false), multiline: truthy(kw.multiline ?? false) })
    const m = re.exec(str(v))
    return m ? m[0] : null
  },
  trim: (v, a, kw) => strip(str(v), arg(a, kw, 0, 'chars', null), 'both'),
  first: (v) => {
    const items = iter(v)
    return items.length ? (isDict(v) ? items[0] : items[0]) : new Undefined('No first item, sequence was empty.')
  },
  last: (v) => {
    const items = iter(v)
    return items.length ? items[items.length - 1] : new Undefined('No last item, sequence was empty.')
  },
  abs: (v) => {
    if (!isNumber(v)) throw new TemplateRuntimeError(`bad operand type for abs(): '${typeName(v)}'`)
    return isFloat(v) ? float(Math.abs(num(v))) : Math.abs(num(v))
  },
  round: (v, a, kw) => {
    const p = num(arg(a, kw, 0, 'precision', 0))
    const method = str(arg(a, kw, 1, 'method', 'common'))
    if (!['common', 'ceil', 'floor'].includes(method)) throw new TemplateRuntimeError('method must be common, ceil or floor')
    const x = num(v)
    if (method === 'common' && isInt(v)) return x
    if (method !== 'common') return float((method === 'ceil' ? Math.ceil(x * 10 ** p) : Math.floor(x * 10 ** p)) / 10 ** p)
    return float(pyRound(x, p))
  },
  list: (v) => [...iter(v)],
  split: (v, a, kw) => split(str(v), arg(a, kw, 0, 'seperator', null), arg(a, kw, 1, 'maxsplit', -1)),
  mandatory: (v, a, kw) => {
    if (v instanceof Undefined) {
      const msg = arg(a, kw, 0, 'msg', null)
      throw new TemplateRuntimeError(msg === null ? `Mandatory variable ${v.name ? `'${v.name}' ` : ''}not defined.` : str(msg))
    }
    return v
  },
}
FILTERS.d = FILTERS.default
FILTERS.count = FILTERS.length

export function applyFilter(name: string, v: unknown, args: Args, kw: Kw): unknown {
  const f = FILTERS[name.replace(/^ansible\.builtin\./, '')]
  if (!f) throw new UnsupportedError(`the filter '${name}'`)
  // Only default/d/mandatory take an undefined value; any other filter fails on it, as under StrictUndefined.
  if (v instanceof Undefined && !['default', 'd', 'mandatory', 'ansible.builtin.default', 'ansible.builtin.mandatory'].includes(name)) return v.fail()
  return f(v, args, kw)
}

const TESTS: Record<string, (v: unknown, a: Args) => boolean> = {
  defined: (v) => !(v instanceof Undefined),
  undefined: (v) => v instanceof Undefined,
  none: (v) => v === null,
  string: (v) => typeof v === 'string',
  number: (v) => isNumber(v),
  integer: (v) => isInt(v),
  float: (v) => isFloat(v),
  boolean: (v) => typeof v === 'boolean',
  true: (v) => v === true,
  false: (v) => v === false,
  mapping: (v) => isDict(v),
  sequence: (v) => typeof v === 'string' || Array.isArray(v) || isDict(v),
  iterable: (v) => typeof v === 'string' || Array.isArray(v) || isDict(v),
  even: (v) => num(v) % 2 === 0,
  odd: (v) => Math.abs(num(v) % 2) === 1,
  divisibleby: (v, a) => num(v) % num(a[0]) === 0,
  eq: (v, a) => pyEq(v, a[0]),
  ne: (v, a) => !pyEq(v, a[0]),
  in: (v, a) => pyIn(v, a[0]),
  lower: (v) => str(v) === str(v).toLowerCase() && /\p{Ll}/u.test(str(v)),
  upper: (v) => str(v) === str(v).toUpperCase() && /\p{Lu}/u.test(str(v)),
  match: (v, a) => pyRegex(str(a[0])).exec(str(v))?.index === 0,
  search: (v, a) => pyRegex(str(a[0])).test(str(v)),
  truthy: (v) => truthy(v),
  falsy: (v) => !truthy(v),
}
TESTS.equalto = TESTS.eq
TESTS['=='] = TESTS.eq
TESTS.regex = TESTS.search

export function applyTest(name: string, v: unknown, args: Args): boolean {
  const t = TESTS[name.replace(/^ansible\.builtin\./, '')]
  if (!t) throw new UnsupportedError(`the test 'is ${name}'`)
  if (v instanceof Undefined && name !== 'defined' && name !== 'undefined') return v.fail()
  return t(v, args)
}

const STR_METHODS = new Set(
  'capitalize casefold center count encode expandtabs find format format_map index isalnum isalpha isascii isdecimal isdigit isidentifier islower isnumeric isprintable isspace istitle isupper ljust maketrans partition removeprefix removesuffix rfind rindex rjust rpartition rsplit splitlines swapcase title translate zfill'.split(' '),
)

/** The str and dict methods a template may call (`name.split('.')[0]`, `d.get('k', 'x')`). */
export function method(obj: unknown, name: string): PyCallable | undefined {
  if (typeof obj === 'string') {
    const s = obj
    const m: Record<string, (a: Args, kw: Kw) => unknown> = {
      split: (a, kw) => split(s, arg(a, kw, 0, 'sep', null), arg(a, kw, 1, 'maxsplit', -1)),
      strip: (a) => strip(s, a[0], 'both'),
      lstrip: (a) => strip(s, a[0], 'left'),
      rstrip: (a) => strip(s, a[0], 'right'),
      lower: () => s.toLowerCase(),
      upper: () => s.toUpperCase(),
      startswith: (a) => (Array.isArray(a[0]) ? a[0] : [a[0]]).some((p) => s.startsWith(str(p))),
      endswith: (a) => (Array.isArray(a[0]) ? a[0] : [a[0]]).some((p) => s.endsWith(str(p))),
      replace: (a) => replace(s, str(a[0]), str(a[1]), a[2] === undefined ? -1 : num(a[2])),
      join: (a) => iter(a[0]).map((x) => {
        if (typeof x !== 'string') throw new TemplateRuntimeError(`sequence item: expected str instance, ${typeName(x)} found`)
        return x
      }).join(s),
    }
    if (m[name]) return new PyCallable(`str.${name}`, m[name])
    if (STR_METHODS.has(name)) throw new UnsupportedError(`the str method '${name}()'`)
    return undefined
  }
  if (isDict(obj) && name === 'get') {
    const d = obj as Dict
    return new PyCallable('dict.get', (a) => (str(a[0]) in d ? d[str(a[0])] : a.length > 1 ? a[1] : null))
  }
  return undefined
}
