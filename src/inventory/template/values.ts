/**
 * Python's value model, as Jinja under Ansible sees inventory values: str, int, float, bool, None, list,
 * dict, and Jinja's Undefined. JS numbers that are integers are ints; a float that Python would print
 * with '.0' (4 / 2, '3' | float) is a PyFloat, so it renders as Python renders it.
 */
import { isSecret, markSecret } from '../secret.ts'
import { TemplateRuntimeError, UndefinedError, UnsupportedError } from './errors.ts'

export class PyFloat {
  constructor(readonly v: number) {}
}

/**
 * Jinja's (Ansible's) Undefined: attribute and item access give itself; any other use fails. A `soft` one
 * (Jinja's plain Undefined, from an inline if without else) renders as '' and is false.
 */
export class Undefined {
  constructor(
    readonly message: string,
    readonly name?: string,
    readonly soft = false,
  ) {}
  fail(): never {
    throw new UndefinedError(this.message)
  }
}

/** A callable: a global (lookup, range), a bound string/dict method. */
export class PyCallable {
  constructor(
    readonly name: string,
    readonly call: (args: unknown[], kwargs: Record<string, unknown>) => unknown,
  ) {}
}

/** A mapping rendered on demand (hostvars, hostvars[h]): read through . and [], never printed whole. */
export class LazyDict {
  constructor(
    readonly label: string,
    readonly get: (key: string) => unknown,
    readonly keys: () => string[],
  ) {}
}

export type Dict = Record<string, unknown>

/** A tuple: a list everywhere but in its repr, '(1, 2)'. */
export class Tuple extends Array<unknown> {}
export const tuple = (items: unknown[]): Tuple => {
  const t = new Tuple()
  t.push(...items)
  return t
}

export const isDict = (v: unknown): v is Dict =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof PyFloat) && !(v instanceof Undefined) && !(v instanceof PyCallable) && !(v instanceof LazyDict)

export const isNumber = (v: unknown): boolean => typeof v === 'number' || v instanceof PyFloat || typeof v === 'boolean'
export const isFloat = (v: unknown): boolean => v instanceof PyFloat || (typeof v === 'number' && !Number.isInteger(v))
export const isInt = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v)

/** The number behind an int, float or bool (Python's bools are ints). */
export function num(v: unknown): number {
  if (v instanceof PyFloat) return v.v
  if (typeof v === 'boolean') return v ? 1 : 0
  return v as number
}

/** A float result: a PyFloat when integral (so it prints 2.0), else a plain number. */
export const float = (n: number): unknown => (Number.isInteger(n) || !Number.isFinite(n) ? new PyFloat(n) : n)

/**
 * Whether a rendering read a secret (a vaulted value: secret.ts): its result is marked secret too, so a
 * value templated from a secret is redacted wherever orch prints it.
 */
export class Taint {
  secret = false
  /** Called with every variable value the template reads. */
  see(v: unknown): void {
    if (this.secret) return
    if (typeof v === 'string') this.secret = isSecret(v)
    else if (Array.isArray(v)) v.forEach((x) => this.see(x))
    else if (isDict(v)) Object.values(v).forEach((x) => this.see(x))
  }
  result<T>(v: T): T {
    if (!this.secret) return v
    if (typeof v === 'string') return markSecret(v) as T
    if (Array.isArray(v)) v.forEach((x) => this.result(x))
    else if (isDict(v)) Object.values(v).forEach((x) => this.result(x))
    return v
  }
}

export function typeName(v: unknown): string {
  if (v === null || v === undefined) return 'NoneType'
  if (typeof v === 'boolean') return 'bool'
  if (typeof v === 'string') return 'str'
  if (isFloat(v)) return 'float'
  if (typeof v === 'number') return 'int'
  if (Array.isArray(v)) return 'list'
  if (v instanceof Undefined) return 'AnsibleUndefined'
  if (v instanceof PyCallable) return 'function'
  if (v instanceof LazyDict) return 'HostVars'
  return 'dict'
}

/** Python's repr(float). */
export function floatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan'
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf'
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0'
  const [mant, e] = x.toExponential().split('e')
  const exp = Number(e)
  const neg = mant.startsWith('-')
  const digits = mant.replace('-', '').replace('.', '')
  let out: string
  if (exp >= -4 && exp < 16) {
    // Python's repr uses fixed notation for 1e-4 <= |x| < 1e16.
    if (exp < 0) out = '0.' + '0'.repeat(-exp - 1) + digits
    else if (digits.length <= exp + 1) out = digits + '0'.repeat(exp + 1 - digits.length) + '.0'
    else out = digits.slice(0, exp + 1) + '.' + digits.slice(exp + 1)
  } else {
    const m = digits.length > 1 ? digits[0] + '.' + digits.slice(1) : digits
    out = `${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`
  }
  return neg ? '-' + out : out
}

/** Python's repr(str). */
export function strRepr(s: string): string {
  const q = s.includes("'") && !s.includes('"') ? '"' : "'"
  let out = q
  for (const ch of s) {
    const c = ch.codePointAt(0)!
    if (ch === '\\') out += '\\\\'
    else if (ch === q) out += '\\' + q
    else if (ch === '\n') out += '\\n'
    else if (ch === '\r') out += '\\r'
    else if (ch === '\t') out += '\\t'
    else if (c < 0x20 || (c >= 0x7f && c <= 0xa0) || c === 0xad) out += '\\x' + c.toString(16).padStart(2, '0')
    else if (c === 0x2028 || c === 0x2029) out += '\\u' + c.toString(16)
    else out += ch
  }
  return out + q
}

/** Python's repr(), as str() of a list or dict shows its items. */
export function repr(v: unknown): string {
  return typeof v === 'string' ? strRepr(v) : str(v)
}

/** Python's str() (Ansible's to_text), failing on Undefined as StrictUndefined does. */
export function str(v: unknown): string {
  if (typeof v === 'string') return v
  if (v === null || v === undefined) return 'None'
  if (typeof v === 'boolean') return v ? 'True' : 'False'
  if (v instanceof PyFloat) return floatRepr(v.v)
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : floatRepr(v)
  if (v instanceof Undefined) return v.soft ? '' : v.fail()
  if (v instanceof PyCallable) return `<built-in function ${v.name}>`
  if (v instanceof LazyDict) throw new UnsupportedError(`printing ${v.label} as a whole (use one of its variables)`)
  if (v instanceof Tuple) return '(' + v.map(repr).join(', ') + (v.length === 1 ? ',)' : ')')
  if (Array.isArray(v)) return '[' + v.map(repr).join(', ') + ']'
  return '{' + Object.entries(v as Dict).map(([k, x]) => `${strRepr(k)}: ${repr(x)}`).join(', ') + '}'
}

/** Python truthiness; Undefined fails. */
export function truthy(v: unknown): boolean {
  if (v instanceof Undefined) return v.soft ? false : v.fail()
  if (v === null || v === undefined) return false
  if (typeof v === 'boolean') return v
  if (typeof v === 'string') return v.length > 0
  if (isNumber(v)) return num(v) !== 0
  if (Array.isArray(v)) return v.length > 0
  if (v instanceof PyCallable || v instanceof LazyDict) return true
  return Object.keys(v as Dict).length > 0
}

/** Python ==. */
export function pyEq(a: unknown, b: unknown): boolean {
  if (a instanceof Undefined) return a.fail()
  if (b instanceof Undefined) return b.fail()
  if (isNumber(a) && isNumber(b)) return num(a) === num(b)
  if (typeof a === 'string' && typeof b === 'string') return a === b
  if ((a === null || a === undefined) && (b === null || b === undefined)) return true
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => pyEq(x, b[i]))
  if (isDict(a) && isDict(b)) {
    const ka = Object.keys(a)
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && pyEq(a[k], b[k]))
  }
  return false
}

/** Python's <, >, <=, >= (ints, floats, strs, lists); other pairs are a TypeError as in Python. */
export function pyCompare(op: string, a: unknown, b: unknown): boolean {
  const c = cmp(op, a, b)
  return op === '<' ? c < 0 : op === '<=' ? c <= 0 : op === '>' ? c > 0 : c >= 0
}

function cmp(op: string, a: unknown, b: unknown): number {
  if (a instanceof Undefined) return a.fail()
  if (b instanceof Undefined) return b.fail()
  if (isNumber(a) && isNumber(b)) return num(a) - num(b)
  if (typeof a === 'string' && typeof b === 'string') {
    // Python compares code points; JS < compares UTF-16 units (same order outside astral planes).
    return a < b ? -1 : a > b ? 1 : 0
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (!pyEq(a[i], b[i])) return cmp(op, a[i], b[i])
    return a.length - b.length
  }
  throw new TemplateRuntimeError(`'${op}' not supported between instances of '${typeName(a)}' and '${typeName(b)}'`)
}

/** Python's `in`. */
export function pyIn(item: unknown, container: unknown): boolean {
  if (container instanceof Undefined) return container.fail()
  if (typeof container === 'string') {
    if (typeof item !== 'string') throw new TemplateRuntimeError(`'in <string>' requires string as left operand, not ${typeName(item)}`)
    return container.includes(item)
  }
  if (Array.isArray(container)) return container.some((x) => pyEq(x, item))
  if (container instanceof LazyDict) return typeof item === 'string' && container.keys().includes(item)
  if (isDict(container)) return typeof item === 'string' ? item in container : isNumber(item) ? String(num(item)) in container : false
  throw new TemplateRuntimeError(`argument of type '${typeName(container)}' is not iterable`)
}
