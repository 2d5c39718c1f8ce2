/**
 * Declared argument specs, in the way of an Ansible module's argument_spec: every argument of a task
 * (and every variable of a playbook) is declared once with its type, default, choices, aliases and
 * whether it is required; `parseArgs` turns raw arguments into typed values, collecting EVERY problem
 * (one ArgErrors, exit 5), refusing unknown arguments with a did-you-mean. The same declaration makes
 * the docs tables, the wizard's questions and `orch run --list-vars` (specRows), so they cannot drift.
 *
 * The typed value of a field is inferred from its declaration (Parsed<typeof SPEC>): a field with
 * `required: true` or a `default` is always present, the others are optional.
 */
import { ArgError, ArgErrors } from './errors.ts'
import type { Cidr4 } from './net/ip.ts'
import * as v from './net/validate.ts'

/** The value each type parses to. */
export interface FieldTypes {
  str: string
  int: number
  float: number
  bool: boolean
  /** A string, a number or a boolean (a sysctl value). */
  scalar: string | number | boolean
  /** Anything, checked by `check` (a Buffer, a RegExp). */
  raw: unknown
  list: unknown[]
  dict: Record<string, unknown>
  ipv4: string
  /** IPv4 or IPv6 address. */
  ip: string
  /** Any IPv4 CIDR (network or host address). */
  cidr4: Cidr4
  /** An IPv4 network: host bits zero. */
  network4: Cidr4
  /** An IPv4 host address with its prefix (not the network or broadcast address). */
  hostcidr4: Cidr4
  /** An IPv4 or IPv6 CIDR, as written. */
  cidr: string
  /** A Linux interface name. */
  ifname: string
  /** A docker container / network or OVS name. */
  name: string
  /** An absolute path without "..". */
  path: string
  mac: string
}
export type TypeName = keyof FieldTypes

export interface Field {
  type: TypeName
  required?: boolean
  /** Raw, as a user would write it: parsed like a given value (so a network4 default becomes a Cidr4). */
  default?: unknown
  choices?: readonly (string | number)[]
  aliases?: readonly string[]
  /** int / float: range; list: number of elements. */
  min?: number
  max?: number
  /** str: the pattern it must match. `expected`: what to say when the value is refused or missing. */
  pattern?: RegExp
  expected?: string
  /** list: each element's declaration. */
  elements?: Field
  /** dict: its keys' declarations (unknown keys refused), as Ansible's suboptions. */
  options?: Fields
  /** A further rule on the parsed value: returns what was expected when the value is refused. */
  check?: (value: any) => string | undefined
  /** Replaces the type's own conversion (throws ArgError naming `variable`). */
  parse?: (variable: string, raw: unknown) => unknown
  /** Docs: what the field means; the default as the docs say it when it is not a plain value. */
  desc?: string
  docDefault?: string
  /** Docs: the table / wizard page a playbook variable belongs to. */
  group?: string
}
export type Fields = Readonly<Record<string, Field>>

export interface SpecOptions {
  /** At most one of each list. */
  mutually_exclusive?: readonly (readonly string[])[]
  /** At least one of each list. */
  required_one_of?: readonly (readonly string[])[]
  /** All or none of each list. */
  required_together?: readonly (readonly string[])[]
  /** [field, value, fields required when field has that value, 'any': one of them is enough]. */
  required_if?: readonly (readonly [string, unknown, readonly string[]] | readonly [string, unknown, readonly string[], 'any'])[]
  /**
   * Playbook variables rather than task arguments: names not declared are ignored (an inventory holds
   * many), null and '' count as not set (an INI `x=` line), and a bool is any of Ansible's spellings
   * (yes/no, on/off, true/false, 1/0: an INI value is a string). Task arguments take true/false only.
   */
  variables?: boolean
}

export interface ArgSpec<F extends Fields = Fields> extends SpecOptions {
  /** The module ('route'): errors name `route.to`. '' for playbook variables (errors name `cluster_cidr`). */
  module: string
  fields: F
}

type Simplify<T> = { [K in keyof T]: T[K] } & {}
type Present<F> = F extends { required: true } ? true : F extends { default: {} } ? true : false
export type ValueOf<F> = F extends { parse: (...a: any[]) => infer R }
  ? R
  : F extends { choices: readonly (infer C)[] }
    ? C
    : F extends { type: 'list'; elements: infer E }
      ? ValueOf<E>[]
      : F extends { type: 'dict'; options: infer O extends Fields }
        ? Parsed<O>
        : F extends { type: infer T extends TypeName }
          ? FieldTypes[T]
          : never
/** The typed arguments a spec parses to. */
export type Parsed<F extends Fields> = Simplify<
  { -readonly [K in keyof F as Present<F[K]> extends true ? K : never]: ValueOf<F[K]> } & {
    -readonly [K in keyof F as Present<F[K]> extends true ? never : K]?: ValueOf<F[K]>
  }
>

/** Declares a spec (the `const` keeps the literals, so Parsed<> knows the choices). */
export function argSpec<const F extends Fields>(module: string, fields: F, opts: SpecOptions = {}): ArgSpec<F> {
  return { module, fields, ...opts }
}

const BOOL_TRUE = new Set(['y', 'yes', 'on', '1', 'true', 't'])
const BOOL_FALSE = new Set(['n', 'no', 'off', '0', 'false', 'f'])

/** The type's own conversion: throws ArgError naming `variable`. */
function convert(f: Field, variable: string, x: unknown, errors: ArgError[], vars: boolean): unknown {
  if (f.parse) return f.parse(variable, x)
  const bad = (expected: string) => new ArgError(variable, expected, x)
  switch (f.type) {
    case 'str':
      if (typeof x !== 'string') throw bad(f.expected ?? 'a string')
      if (f.pattern && !f.pattern.test(x)) throw bad(f.expected ?? `a string matching ${f.pattern}`)
      return x
    case 'int':
      return v.int(variable, x, f.min ?? Number.MIN_SAFE_INTEGER, f.max ?? Number.MAX_SAFE_INTEGER)
    case 'float': {
      const n = typeof x === 'string' && x.trim() !== '' ? Number(x) : x
      if (typeof n !== 'number' || !Number.isFinite(n) || (f.min !== undefined && n < f.min) || (f.max !== undefined && n > f.max)) throw bad(`a number${range(f)}`)
      return n
    }
    case 'bool':
      // Ansible's booleans: yes/no, on/off, true/false, 1/0 (an INI value is a string).
      if (typeof x === 'boolean') return x
      if (vars && typeof x === 'number' && (x === 0 || x === 1)) return x === 1
      if (vars && typeof x === 'string' && BOOL_TRUE.has(x.toLowerCase())) return true
      if (vars && typeof x === 'string' && BOOL_FALSE.has(x.toLowerCase())) return false
      throw bad(vars ? 'a boolean (true/false, yes/no, on/off, 1/0)' : 'true or false')
    case 'scalar':
      if (typeof x === 'boolean' || (typeof x === 'number' && Number.isFinite(x)) || typeof x === 'string') return x
      throw bad(f.expected ?? 'a string, a number or a boolean')
    case 'raw':
      return x
    case 'list': {
      if (!Array.isArray(x)) throw bad(f.elements ? `a list of ${typeText(f.elements)}` : 'a list')
      if ((f.min !== undefined && x.length < f.min) || (f.max !== undefined && x.length > f.max)) throw bad(`a list of ${countText(f)} elements`)
      if (!f.elements) return [...x]
      const out: unknown[] = []
      x.forEach((e, i) => {
        const r = field(f.elements!, `${variable}[${i}]`, e, errors, vars)
        if (r.ok) out.push(r.value)
      })
      return out
    }
    case 'dict':
      if (typeof x !== 'object' || x === null || Array.isArray(x) || Buffer.isBuffer(x)) throw bad('a mapping { key: value }')
      if (!f.options) return { ...(x as object) }
      return parseInto({ module: variable, fields: f.options, variables: vars }, x as Record<string, unknown>, errors, `${variable}.`)
    case 'ipv4':
      return v.ipv4(variable, x)
    case 'ip':
      return v.ip(variable, x)
    case 'cidr4':
      return v.cidr4(variable, x)
    case 'network4':
      return v.network4(variable, x)
    case 'hostcidr4':
      return v.hostCidr4(variable, x)
    case 'cidr':
      return v.cidrAny(variable, x)
    case 'ifname':
      return v.ifname(variable, x)
    case 'name':
      return v.name(variable, x, f.expected)
    case 'path':
      return v.absPath(variable, x)
    case 'mac':
      return v.mac(variable, x)
  }
}

/** One field: converted, in its choices, through its check. Problems go to `errors`. */
function field(f: Field, variable: string, x: unknown, errors: ArgError[], vars = false): { ok: true; value: unknown } | { ok: false } {
  const before = errors.length
  let value: unknown
  try {
    value = convert(f, variable, x, errors, vars)
  } catch (e) {
    if (!(e instanceof ArgError)) throw e
    errors.push(...(e instanceof ArgErrors ? e.errors : [e]))
    return { ok: false }
  }
  if (errors.length > before) return { ok: false }
  if (f.choices && !f.choices.includes(value as string | number)) {
    errors.push(new ArgError(variable, `one of ${f.choices.map((c) => (typeof c === 'string' ? `'${c}'` : c)).join(', ')}`, x))
    return { ok: false }
  }
  const problem = f.check?.(value)
  if (problem) {
    errors.push(new ArgError(variable, problem, x))
    return { ok: false }
  }
  return { ok: true, value }
}

/** Edit distance with adjacent transpositions (optimal string alignment), case-insensitive, for did-you-mean. */
function distance(a: string, b: string): number {
  a = a.toLowerCase()
  b = b.toLowerCase()
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
    }
  return d[a.length][b.length]
}

/** The known name closest to `name`, if it is close enough to be a typo (1 edit for short names, else up to a third). */
export function didYouMean(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestD = Infinity
  for (const k of known) {
    const dd = distance(name, k)
    if (dd < bestD) [best, bestD] = [k, dd]
  }
  return best !== undefined && bestD <= (name.length <= 4 ? 1 : Math.max(2, Math.floor(name.length / 3))) ? best : undefined
}

const isUnset = (x: unknown, blank: boolean | undefined) => x === undefined || (blank && (x === null || x === ''))

function parseInto(spec: ArgSpec, raw: Record<string, unknown>, errors: ArgError[], prefix: string): Record<string, unknown> {
  const { fields } = spec
  const names = Object.keys(fields)
  const aliasOf = new Map<string, string>()
  for (const [n, f] of Object.entries(fields)) for (const a of f.aliases ?? []) aliasOf.set(a, n)
  // Canonical name → [the name it was given as, value].
  const given = new Map<string, [string, unknown]>()
  for (const [k, x] of Object.entries(raw)) {
    if (x === undefined) continue // `{ via: undefined }` from TypeScript is an argument not given
    const canon = k in fields ? k : aliasOf.get(k)
    if (canon === undefined) {
      if (spec.variables) continue
      const dym = didYouMean(k, [...names, ...aliasOf.keys()])
      errors.push(new ArgError(`${prefix}${k}`, `a known argument${dym ? ` (did you mean ${dym}?)` : ''}: one of ${names.join(', ')}`, x))
      continue
    }
    const other = given.get(canon)
    if (other) {
      errors.push(new ArgError(`${prefix}${k}`, `only one of ${other[0]} and ${k} (${k === canon ? `${other[0]} is an alias of it` : `an alias of ${canon}`})`, x))
      continue
    }
    given.set(canon, [k, x])
  }
  const out: Record<string, unknown> = {}
  const present = new Set<string>()
  for (const [n, f] of Object.entries(fields)) {
    const g = given.get(n)
    const x = g && !isUnset(g[1], spec.variables) ? g[1] : undefined
    if (x === undefined) {
      if (f.required) errors.push(new ArgError(`${prefix}${n}`, f.expected ?? `a value (required${f.desc ? `: ${f.desc}` : ''})`, g?.[1]))
      else if (f.default !== undefined) {
        const r = field(f, `${prefix}${n}`, f.default, errors, !!spec.variables)
        if (r.ok) out[n] = r.value
      }
      continue
    }
    present.add(n)
    const r = field(f, `${prefix}${n}`, x, errors, !!spec.variables)
    if (r.ok) out[n] = r.value
  }
  const nameOf = (n: string) => `${prefix}${n}`
  for (const group of spec.mutually_exclusive ?? []) {
    const set = group.filter((n) => present.has(n))
    if (set.length > 1) errors.push(new ArgError(nameOf(set[1]), `not together with ${set.filter((_, i) => i !== 1).join(', ')} (only one of ${group.join(', ')})`, raw[given.get(set[1])![0]]))
  }
  for (const group of spec.required_one_of ?? [])
    if (!group.some((n) => present.has(n))) errors.push(new ArgError(nameOf(group[0]), `one of ${group.join(', ')} (at least one is required)`, undefined))
  for (const group of spec.required_together ?? []) {
    const set = group.filter((n) => present.has(n))
    if (set.length && set.length < group.length)
      for (const n of group) if (!present.has(n)) errors.push(new ArgError(nameOf(n), `a value (${group.join(', ')} go together; ${set.join(', ')} given)`, undefined))
  }
  for (const [n, value, needs, any] of spec.required_if ?? []) {
    if (out[n] !== value) continue
    const when = `required when ${n} is ${JSON.stringify(value)}`
    if (any && !needs.some((m) => present.has(m))) errors.push(new ArgError(nameOf(needs[0]), `one of ${needs.join(', ')} (${when})`, undefined))
    if (!any) for (const m of needs) if (!present.has(m)) errors.push(new ArgError(nameOf(m), `a value (${when})`, undefined))
  }
  return out
}

/**
 * Raw arguments → typed ones. Throws ArgError (one problem) or ArgErrors (several): every problem of
 * every argument, each naming `module.argument` and what was expected. The engine adds the host.
 */
export function parseArgs<F extends Fields>(spec: ArgSpec<F>, raw: unknown): Parsed<F> {
  const errors: ArgError[] = []
  const prefix = spec.module ? `${spec.module}.` : ''
  if (raw === undefined || raw === null) raw = {}
  if (typeof raw !== 'object' || Array.isArray(raw) || Buffer.isBuffer(raw)) throw new ArgError(spec.module || 'vars', 'an object of arguments { name: value }', raw)
  const out = parseInto(spec, raw as Record<string, unknown>, errors, prefix)
  const err = ArgErrors.of(errors)
  if (err) throw err
  return out as Parsed<F>
}

/** The same, returning the problems instead of throwing (the wizard asks again; docs tests list them). */
export function checkArgs<F extends Fields>(spec: ArgSpec<F>, raw: unknown): { value: Parsed<F>; errors: [] } | { value?: undefined; errors: ArgError[] } {
  try {
    return { value: parseArgs(spec, raw), errors: [] }
  } catch (e) {
    if (e instanceof ArgErrors) return { errors: [...e.errors] }
    if (e instanceof ArgError) return { errors: [e] }
    throw e
  }
}

/** Parses one field alone (a wizard answer, a single variable). */
export function parseField<F extends Fields, K extends keyof F & string>(spec: ArgSpec<F>, name: K, raw: unknown): ValueOf<F[K]> {
  const errors: ArgError[] = []
  const r = field(spec.fields[name], `${spec.module ? `${spec.module}.` : ''}${name}`, raw, errors, !!spec.variables)
  const err = ArgErrors.of(errors)
  if (err || !r.ok) throw err ?? new ArgError(name, 'a valid value', raw)
  return r.value as ValueOf<F[K]>
}

const range = (f: Field) =>
  f.min !== undefined && f.max !== undefined ? ` from ${f.min} to ${f.max}` : f.min !== undefined ? ` >= ${f.min}` : f.max !== undefined ? ` <= ${f.max}` : ''
const countText = (f: Field) => (f.min !== undefined && f.max !== undefined ? `${f.min} to ${f.max}` : f.min !== undefined ? `at least ${f.min}` : `at most ${f.max}`)

/** The type as the docs and --list-vars show it: `int 1-65535`, `list of network4`, `str: a, b`. */
export function typeText(f: Field): string {
  if (f.choices) return `${f.type === 'int' ? 'int' : 'str'}: ${f.choices.join(', ')}`
  if (f.type === 'int' && (f.min !== undefined || f.max !== undefined))
    return `int ${f.min ?? ''}${f.max !== undefined ? `-${f.max}` : '+'}`
  if (f.type === 'list' && f.elements) return `list of ${typeText(f.elements)}`
  return f.type
}

export interface SpecRow {
  name: string
  aliases: string[]
  type: string
  required: boolean
  /** The default as the docs say it ('' when none). */
  default: string
  desc: string
  group?: string
}

/** One row per field, in declaration order: what the docs tables, the wizard and --list-vars show. */
export function specRows(spec: ArgSpec): SpecRow[] {
  return Object.entries(spec.fields).map(([name, f]) => ({
    name,
    aliases: [...(f.aliases ?? [])],
    type: typeText(f),
    required: !!f.required,
    default: f.docDefault ?? (f.default !== undefined ? `\`${String(f.default)}\`` : ''),
    desc: f.desc ?? '',
    ...(f.group ? { group: f.group } : {}),
  }))
}
