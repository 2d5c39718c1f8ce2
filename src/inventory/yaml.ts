/**
 * Ansible's YAML inventory format, and YAML/JSON vars files (group_vars/, host_vars/).
 *
 *     all:
 *       vars: { ntp: pool.ntp.org }
 *       hosts: { gw: { ansible_host: 198.18.0.1 } }
 *       children:
 *         docker_hosts:
 *           hosts:
 *             node[01:03]:          # ranges work in host names
 *             edge:2222:            # so does host:port
 *           vars: { bridge: br0 }
 *           children: { ... }
 *
 * Top-level keys are groups ('all' or any other). A group is a mapping with only `hosts`, `vars`
 * and `children` (a string is accepted for hosts/children, as in Ansible). YAML is read as
 * YAML 1.1 like Ansible's PyYAML does, so `yes`/`no`/`on`/`off` are booleans.
 *
 * Stricter than Ansible, which warns and skips: a group or section of the wrong type and an unknown
 * key in a group are errors that name the key path (`all.children.web.hosts`) and line.
 */
import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  stringify,
  visit,
  type Document,
  type DocumentOptions,
  type Node,
  type ParseOptions,
  type ParsedNode,
  type SchemaOptions,
} from 'yaml'
import { expandHostPattern, HostRangeError } from './hostpattern.ts'
import type { InventoryBuilder } from './model.ts'
import { wasVaulted } from './read.ts'
import { markSecret, markSecretsIn } from './secret.ts'
import { inlineVault } from '../vault/keyring.ts'
import { InventoryError, type Vars } from './types.ts'

type Tags = Extract<NonNullable<DocumentOptions & ParseOptions & SchemaOptions>['customTags'], unknown[]>
type Tag = Tags[number]

/** PyYAML's timestamp pattern (its resolver's, not the `yaml` package's looser one). */
const TIMESTAMP =
  /^(?:([0-9]{4})-([0-9]{2})-([0-9]{2})|([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:[Tt]|[ \t]+)([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]*))?(?:[ \t]*(Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$/

const pad = (n: string | number, w = 2): string => String(n).padStart(w, '0')

/**
 * A timestamp as Ansible shows it: PyYAML builds a date/datetime, Ansible's JSON writes isoformat()
 * (2001-12-14T21:59:43.100000-05:00); orch keeps that string. An impossible date is an error, as in PyYAML.
 */
function timestampText(text: string): string {
  const m = TIMESTAMP.exec(text)!
  if (m[1]) {
    checkDate(+m[1], +m[2], +m[3])
    return text
  }
  const [y, mo, d, h, mi, sec] = [m[4], m[5], m[6], m[7], m[8], m[9]].map(Number)
  checkDate(y, mo, d)
  if (h > 23 || mi > 59 || sec > 59) throw new Error(`invalid time in timestamp ${text}`)
  let out = `${pad(y, 4)}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(sec)}`
  const frac = (m[10] ?? '').slice(0, 6).padEnd(6, '0')
  if (Number(frac) !== 0) out += '.' + frac
  const tz = m[11]
  if (tz === 'Z') out += '+00:00'
  else if (tz) {
    const [th, tm = '0'] = tz.slice(1).split(':')
    out += `${tz[0]}${pad(Number(th))}:${pad(Number(tm))}`
  }
  return out
}

function checkDate(y: number, m: number, d: number): void {
  const dt = new Date(Date.UTC(y, m - 1, d))
  if (y < 1 || dt.getUTCMonth() !== m - 1 || dt.getUTCDate() !== d) throw new Error(`invalid date ${y}-${m}-${d}`)
}

/** An explicit `!!float` (any of PyYAML's float forms, or an int: !!float 1 is 1.0). */
function explicitFloat(text: string): number {
  const s = text.replace(/_/g, '').toLowerCase()
  const sign = s.startsWith('-') ? -1 : 1
  const body = s.replace(/^[-+]/, '')
  if (body === '.inf') return sign * Infinity
  if (body === '.nan') return NaN
  if (body.includes(':')) return sign * body.split(':').reduce((acc, p) => acc * 60 + Number(p), 0)
  const n = Number(s)
  if (Number.isNaN(n)) throw new Error(`invalid float ${text}`)
  return n
}

/**
 * The YAML 1.1 scalars of PyYAML (which Ansible uses), where the `yaml` package's 1.1 schema differs:
 * only yes/no/true/false/on/off are booleans (not y/n); 08 and 1e3 are strings; sexagesimal
 * numbers must not start with 0, so a MAC address like 02:42:10:00:00:02 stays a string; timestamps
 * are strings as Ansible's JSON shows them (timestampText); a plain `=` is an error (PyYAML's
 * !!value). test/unit/yaml11-pyyaml.test.ts checks all of it against PyYAML.
 */
function pyyamlTags(tags: Tags): Tags {
  const BOOL = 'tag:yaml.org,2002:bool'
  const INT = 'tag:yaml.org,2002:int'
  const FLOAT = 'tag:yaml.org,2002:float'
  const mapped = tags
    .filter((t) => typeof t === 'string' || t.tag !== 'tag:yaml.org,2002:timestamp')
    .map((t): Tag => {
      if (typeof t === 'string' || !('test' in t) || !t.test) return t
      const is = (tag: string, format?: string): boolean => t.tag === tag && t.format === format
      if (t.tag === BOOL) {
        const truthy = t.identify?.(true)
        return { ...t, test: truthy ? /^(?:[Yy]es|YES|[Tt]rue|TRUE|[Oo]n|ON)$/ : /^(?:[Nn]o|NO|[Ff]alse|FALSE|[Oo]ff|OFF)$/ }
      }
      // Python has no -0 integer.
      if (is(INT)) return { ...t, test: /^[-+]?(?:0|[1-9][0-9_]*)$/, resolve: (str: string) => +(t.resolve!(str, () => {}, {} as never) as number) || 0 }
      if (is(INT, 'TIME')) return { ...t, test: /^[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+$/ }
      if (is(FLOAT, 'EXP')) return { ...t, test: /^(?:[-+]?[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)[eE][-+][0-9]+$/ }
      if (is(FLOAT) && !t.test.source.includes('inf')) return { ...t, test: /^(?:[-+]?[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)$/ }
      return t
    })
  const timestamp: Tag = {
    tag: 'tag:yaml.org,2002:timestamp',
    default: true,
    test: TIMESTAMP,
    resolve: (s: string, onError: (m: string) => void) => {
      try {
        return timestampText(s)
      } catch (e) {
        onError((e as Error).message)
        return s
      }
    },
  }
  const value: Tag = {
    tag: 'tag:yaml.org,2002:value',
    default: true,
    test: /^=$/,
    resolve: (s: string, onError: (m: string) => void) => {
      onError("a plain '=' is YAML 1.1's !!value, which PyYAML (Ansible) refuses: quote it")
      return s
    },
  }
  // Only for an explicit !!float tag: not default, no test, so plain scalars never reach it.
  const floatTag: Tag = { tag: FLOAT, resolve: (s: string, onError: (m: string) => void) => {
    try {
      return explicitFloat(s)
    } catch (e) {
      onError((e as Error).message)
      return s
    }
  } }
  // Ansible's inline vault value: kept as text here, decrypted in parseYaml (which knows the line).
  const vault: Tag = { tag: '!vault', resolve: (s: string) => s }
  return [...mapped, timestamp, value, floatTag, vault]
}

export interface ParsedYaml {
  doc: Document.Parsed
  lines: LineCounter
}

/**
 * Parses YAML 1.1 (as Ansible does); syntax errors become InventoryError with file and line. `!vault`
 * values are decrypted here (VaultError naming file and line); every string value of a vaulted file
 * (readText decrypted it) and every `!vault` value is marked secret.
 */
export function parseYaml(text: string, file: string): ParsedYaml {
  const lines = new LineCounter()
  const doc = parseDocument(text, { version: '1.1', customTags: pyyamlTags, lineCounter: lines, prettyErrors: true })
  const e = doc.errors[0]
  if (e) throw new InventoryError(`invalid YAML: ${e.message.split('\n')[0]}`, file, e.linePos?.[0].line)
  // A null key is Python's None, which Ansible's JSON writes as "null" (the yaml package would make it "").
  const secretFile = wasVaulted(file)
  const endsInBreak = /[\r\n]$/.test(text)
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.value === null) pair.key.value = 'null'
    },
    Scalar(key, node) {
      // PyYAML: a block scalar that ends the file without a line break has none (the yaml package adds one).
      if ((node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED') && !endsInBreak && node.range?.[1] === text.length && typeof node.value === 'string') {
        node.value = node.value.replace(/\n$/, '')
      }
      if (node.tag === '!vault') {
        node.value = inlineVault(String(node.value), file, lineOf(node, lines))
      } else if (secretFile && key !== 'key' && typeof node.value === 'string') markSecret(node.value)
    },
  })
  return { doc, lines }
}

const kind = (n: unknown): string =>
  n == null ? 'nothing' : isMap(n) ? 'a mapping' : isSeq(n) ? 'a list' : isScalar(n) ? `${typeof n.value} ${JSON.stringify(n.value)}` : 'something else'

const isNull = (n: unknown): boolean => n == null || (isScalar(n) && n.value == null)

/** A vars file: a mapping (or empty). */
export function parseVarsFile(text: string, file: string): Vars {
  if (file.endsWith('.json')) {
    try {
      const v: unknown = JSON.parse(text)
      if (wasVaulted(file)) markSecretsIn(v)
      if (v === null) return {}
      if (typeof v !== 'object' || Array.isArray(v)) throw new InventoryError('a vars file must contain a mapping', file)
      return v as Vars
    } catch (e) {
      if (e instanceof InventoryError) throw e
      // Not strict JSON: Ansible falls back to YAML, so do we.
    }
  }
  const { doc, lines } = parseYaml(text, file)
  const root = doc.contents
  if (isNull(root)) return {}
  if (!isMap(root)) {
    throw new InventoryError(`a vars file must contain a mapping, got ${kind(root)}`, file, lineOf(root, lines))
  }
  return (root.toJS(doc) ?? {}) as Vars
}

function lineOf(node: unknown, lines: LineCounter): number | undefined {
  const range = (node as ParsedNode | undefined)?.range
  return range ? lines.linePos(range[0]).line : undefined
}

export function parseYamlInventory(text: string, file: string, inv: InventoryBuilder): void {
  const { doc, lines } = parseYaml(text, file)
  const fail = (msg: string, node?: unknown): never => {
    throw new InventoryError(msg, file, lineOf(node, lines))
  }
  const resolve = (n: unknown): unknown => (isAlias(n) ? n.resolve(doc) : n)
  const keyOf = (k: unknown, path: string): string => {
    const key = resolve(k)
    if (isScalar(key) && typeof key.value === 'string') return key.value
    return fail(`${path}: keys must be strings, got ${kind(key)} (quote it)`, key)
  }
  /** A section value: a mapping's pairs; a string means { string: null }; null means nothing. */
  const entries = (n: unknown, path: string, what: string): Array<[string, unknown, unknown]> => {
    const node = resolve(n)
    if (isNull(node)) return []
    if (isScalar(node) && typeof node.value === 'string') return [[node.value, null, node]]
    if (!isMap(node)) return fail(`${path}: ${what} must be a mapping, got ${kind(node)}`, node)
    return node.items.map((p) => [keyOf(p.key, path), resolve(p.value), p.key] as [string, unknown, unknown])
  }
  const toJS = (n: unknown): unknown => (n == null ? null : (n as Node).toJS(doc))

  const parseGroup = (name: string, node: unknown, path: string, keyNode: unknown): void => {
    inv.addGroup(name, { file, line: lineOf(keyNode, lines) })
    node = resolve(node)
    if (isNull(node)) return
    if (!isMap(node)) return fail(`${path}: a group must be a mapping of hosts, vars and children, got ${kind(node)}`, node)
    for (const pair of node.items) {
      const key = keyOf(pair.key, path)
      const value = resolve(pair.value)
      const here = `${path}.${key}`
      if (key === 'vars') {
        for (const [k, v, kn] of entries(value, here, 'vars')) {
          if (kn === value) fail(`${here}: vars must be a mapping, got ${kind(value)}`, value)
          inv.setGroupVar(name, k, toJS(v), { file, line: lineOf(kn, lines) })
        }
      } else if (key === 'children') {
        for (const [child, v, kn] of entries(value, here, 'children')) {
          parseGroup(child, v, `${here}.${child}`, kn)
          inv.addChild(name, child, { file, line: lineOf(kn, lines) })
        }
      } else if (key === 'hosts') {
        if (isSeq(value)) fail(`${here}: hosts must be a mapping of host names (write "name:" per host), got a list`, value)
        for (const [pattern, v, kn] of entries(value, here, 'hosts')) {
          const where = { file, line: lineOf(kn, lines) }
          let names: string[]
          let port: number | undefined
          try {
            ;({ names, port } = expandHostPattern(pattern))
          } catch (e) {
            if (e instanceof HostRangeError) fail(`${here}: ${e.message}`, kn)
            throw e
          }
          if (!isNull(v) && !isMap(v)) fail(`${here}.${pattern}: host vars must be a mapping, got ${kind(v)}`, v)
          const vars = (isNull(v) ? {} : toJS(v)) as Vars
          for (const h of names) {
            inv.addHost(h, name, where)
            if (port !== undefined) inv.setHostVar(h, 'ansible_port', port)
            for (const [k, val] of Object.entries(vars)) inv.setHostVar(h, k, val)
          }
        }
      } else {
        fail(`${here}: unknown key in group '${name}' (a group has hosts, vars and children)`, pair.key)
      }
    }
  }

  const root = resolve(doc.contents)
  if (isNull(root)) return // an empty file: no hosts (Ansible's INI plugin accepts it too)
  if (!isMap(root)) return fail(`a YAML inventory must be a mapping of groups, got ${kind(root)}`, root)
  if (root.has('plugin')) fail('inventory plugin configuration files (plugin:) are not supported', root)
  for (const pair of root.items) {
    const name = keyOf(pair.key, '(top)')
    parseGroup(name, pair.value, name, pair.key)
  }
}

/** Any YAML document read the one way (PyYAML's YAML 1.1), as plain JS: -e @file, inline -e. */
export function parseYamlValue(text: string, file: string): unknown {
  const { doc } = parseYaml(text, file)
  return doc.toJS() ?? null
}

/**
 * A value as PyYAML's yaml.dump writes it (ansible-inventory --yaml): keys as given (sort first), block
 * style, sequences not indented, strings quoted only where PyYAML's resolver would read another type;
 * an object met twice is an anchor and aliases, named id001, id002... in order of first appearance.
 */
export function dumpPyYaml(value: unknown): string {
  const text = stringify(value, { version: '1.1', customTags: pyyamlTags, indentSeq: false, lineWidth: 0, nullStr: 'null', singleQuote: true, aliasDuplicateObjects: true, anchorPrefix: 'orchanchor' })
  const names = new Map<string, string>()
  return text.replace(/([&*])orchanchor(\d+)\b/g, (_, sigil: string, n: string) => {
    if (!names.has(n)) names.set(n, `id${String(names.size + 1).padStart(3, '0')}`)
    return sigil + names.get(n)
  })
}
