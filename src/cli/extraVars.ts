/**
 * -e / --extra-vars, as Ansible: `key=value key2='a b'` (strings), `@file.yml` / `@file.json`, or inline
 * JSON/YAML `{"a": 1}`. Several -e merge left to right (later wins, top-level keys replaced).
 * Files and inline values are JSON when they parse as JSON, else YAML read as PyYAML reads it
 * (YAML 1.1: yes/no booleans, 0644 octal, 1:30 sexagesimal), the one reading of inventory/yaml.ts.
 */
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Vars } from '../inventory/types.ts'
import { decryptIfVaulted, wasVaulted } from '../inventory/read.ts'
import { markSecretsIn } from '../inventory/secret.ts'
import { UsageError } from '../errors.ts'

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/

/** yaml.ts (and the yaml package, ~20 ms to load) only when a -e needs it. */
const parseYaml = async (text: string, file: string): Promise<unknown> => (await import('../inventory/yaml.ts')).parseYamlValue(text, file)

/** Split like a POSIX shell (quotes and backslashes), for key=value lists. */
export function splitWords(s: string): string[] {
  const out: string[] = []
  let cur = ''
  let inWord = false
  for (let i = 0; i < s.length; i++) {
    const c = s[i]
    if (c === "'") {
      const j = s.indexOf("'", i + 1)
      if (j < 0) throw new UsageError(`-e ${JSON.stringify(s)}: unterminated single quote`)
      cur += s.slice(i + 1, j)
      i = j
      inWord = true
    } else if (c === '"') {
      let j = i + 1
      for (; j < s.length && s[j] !== '"'; j++) {
        if (s[j] === '\\' && j + 1 < s.length && '"\\$`'.includes(s[j + 1])) j++
        cur += s[j]
      }
      if (j >= s.length) throw new UsageError(`-e ${JSON.stringify(s)}: unterminated double quote`)
      i = j
      inWord = true
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i]
      inWord = true
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur)
      cur = ''
      inWord = false
    } else {
      cur += c
      inWord = true
    }
  }
  if (inWord) out.push(cur)
  return out
}

function asMapping(v: unknown, what: string): Vars {
  // An empty file is refused too, as Ansible does ("could not be made into a dictionary").
  if (v === null || v === undefined || typeof v !== 'object' || Array.isArray(v)) {
    throw new UsageError(`${what}: expected a mapping of variables (key: value), got ${v == null ? 'nothing' : Array.isArray(v) ? 'a list' : typeof v}`)
  }
  for (const k of Object.keys(v)) if (!KEY.test(k)) throw new UsageError(`${what}: ${JSON.stringify(k)} is not a valid variable name`)
  return v as Vars
}

export async function parseExtraVar(value: string, cwd = process.cwd()): Promise<Vars> {
  const v = value.trim()
  if (v === '') throw new UsageError('-e: empty value (expected key=value, @file or {json})')
  if (v.startsWith('@')) {
    const file = resolve(cwd, v.slice(1))
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (e) {
      throw new UsageError(`-e ${v}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
    }
    // A vault file (ansible-vault encrypt vars.yml), as Ansible's loader reads it.
    text = decryptIfVaulted(text, file)
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
      if (wasVaulted(file)) markSecretsIn(parsed)
    } catch {
      try {
        parsed = await parseYaml(text, file)
      } catch (e) {
        if ((e as Error).name === 'VaultError') throw e
        throw new UsageError(`-e ${v}: not valid YAML/JSON: ${(e as Error).message.split('\n')[0]}`)
      }
    }
    return asMapping(parsed, `-e ${v}`)
  }
  if (v.startsWith('{') || v.startsWith('[')) {
    let parsed: unknown
    try {
      parsed = JSON.parse(v)
    } catch {
      try {
        parsed = await parseYaml(v, '-e')
      } catch (e) {
        throw new UsageError(`-e ${value}: not valid YAML/JSON: ${(e as Error).message.split('\n')[0]}`)
      }
    }
    return asMapping(parsed, `-e ${value}`)
  }
  if (v.startsWith('/') || v.startsWith('.')) throw new UsageError(`-e ${v}: a vars file is written @${v} (as in Ansible)`)
  const out: Vars = {}
  for (const word of splitWords(v)) {
    const eq = word.indexOf('=')
    if (eq <= 0) throw new UsageError(`-e ${JSON.stringify(value)}: expected key=value, @file or {json}, got ${JSON.stringify(word)}`)
    const key = word.slice(0, eq)
    if (!KEY.test(key)) throw new UsageError(`-e ${JSON.stringify(value)}: ${JSON.stringify(key)} is not a valid variable name`)
    out[key] = word.slice(eq + 1)
  }
  return out
}

export async function parseExtraVars(values: string[] = [], cwd = process.cwd()): Promise<Vars> {
  let out: Vars = {}
  for (const v of values) out = { ...out, ...(await parseExtraVar(v, cwd)) }
  return out
}
