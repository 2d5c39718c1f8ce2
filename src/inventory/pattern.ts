/**
 * Host patterns, for `--limit` and a play's `hosts:`, evaluated like Ansible's InventoryManager:
 *
 *   all, *              every host
 *   web                 a group (its hosts and its children's) or a host
 *   web,db  web:db      union (',' is preferred; ':' is kept for compatibility)
 *   web:&prod           intersection
 *   web:!db1            exclusion
 *   web*  db?  n[12]    shell wildcards on group and host names
 *   ~^(web|db)\d+       a regex (matched from the start of the name, like Python's re.match)
 *   web[0]  web[1:3]    a subscript: the first / second to fourth host of what `web` matched
 *   @file               (limit) the patterns listed in a file, one per line (e.g. a .retry file)
 *
 * All plain terms are unioned first (in the order given), then the `&` terms intersect, then the
 * `!` terms exclude, whatever order they were written in; only `&`/`!` terms means "all" first.
 * The result is in inventory order (the order hosts were first defined), without duplicates; a
 * subscript indexes its term's matches in inventory order too.
 *
 * A term that matches nothing is a warning (like Ansible); an empty final result is a
 * NoHostsMatchedError (an InventoryError: exit code 5).
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseAddress } from './hostpattern.ts'
import { InventoryError, type Host, type Inventory } from './types.ts'

export class NoHostsMatchedError extends InventoryError {
  constructor(
    message: string,
    readonly pattern: string,
  ) {
    super(message)
    this.name = 'NoHostsMatchedError'
  }
}

export interface SelectOptions {
  /** Also restrict to this pattern (--limit): the result is pattern ∩ limit. */
  limit?: string | string[]
  /** Called for each term that matches nothing. */
  warn?: (message: string) => void
  /** Base directory for relative @file paths (default: process.cwd()). */
  cwd?: string
}

/** Ansible's split_host_pattern: terms of a pattern, e.g. 'a,b[1], c[2:3] , d' → ['a','b[1]','c[2:3]','d']. */
export function splitPattern(pattern: string | string[]): string[] {
  if (Array.isArray(pattern)) return pattern.flatMap(splitPattern)
  let terms: string[]
  if (pattern.includes(',')) terms = pattern.split(',')
  else if (parseAddress(pattern.trim())) terms = [pattern] // a host name, an IPv6 address, a host range
  else terms = pattern.match(/(?:[^\s:[\]]|\[[^\]]*\])+/g) ?? []
  return terms.map((t) => t.trim()).filter(Boolean)
}

/** Python's fnmatch.translate, anchored: * ? [seq] [!seq]. */
export function globToRegExp(glob: string): RegExp {
  let re = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]
    if (c === '*') re += '.*'
    else if (c === '?') re += '.'
    else if (c === '[') {
      let j = i + 1
      if (glob[j] === '!') j++
      if (glob[j] === ']') j++
      while (j < glob.length && glob[j] !== ']') j++
      if (j >= glob.length) re += '\\['
      else {
        let body = glob.slice(i + 1, j).replace(/\\/g, '\\\\')
        if (body[0] === '!') body = '^' + body.slice(1)
        else if (body[0] === '^') body = '\\' + body
        re += `[${body}]`
        i = j
      }
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
  }
  return new RegExp(`^(?:${re})$`, 's')
}

const SUBSCRIPT = /^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$/

function compile(term: string): RegExp {
  try {
    return term.startsWith('~') ? new RegExp(`^(?:${term.slice(1)})`) : globToRegExp(term)
  } catch (e) {
    throw new InventoryError(`invalid host pattern '${term}': ${(e as Error).message}`)
  }
}

/** Every host in `group` and its descendants, in inventory order. */
export function groupHosts(inv: Inventory, group: string): Host[] {
  const names = new Set<string>()
  const seen = new Set<string>()
  const walk = (g: string): void => {
    if (seen.has(g)) return
    seen.add(g)
    const grp = inv.groups.get(g)
    if (!grp) return
    grp.hosts.forEach((h) => names.add(h))
    grp.children.forEach(walk)
  }
  if (group === 'all') return [...inv.hosts.values()]
  walk(group)
  return [...inv.hosts.values()].filter((h) => names.has(h.name))
}

/** The hosts one term (without & or !) names, in inventory order. */
function matchTerm(inv: Inventory, term: string, warn: (m: string) => void): Host[] {
  let expr = term
  let sub: [number, number | undefined] | undefined
  const m = term.startsWith('~') ? null : SUBSCRIPT.exec(term)
  if (m) {
    expr = m[1]
    sub = m[2] !== undefined ? [Number(m[2]), undefined] : [Number(m[3]), m[5] ? Number(m[5]) : -1]
  }
  const re = compile(expr)
  const names = new Set<string>()
  const groups = [...inv.groups.keys()].filter((g) => re.test(g))
  for (const g of groups) groupHosts(inv, g).forEach((h) => names.add(h.name))
  if (groups.length === 0 || expr.startsWith('~') || /[.?*[]/.test(expr)) {
    for (const h of inv.hosts.keys()) if (re.test(h)) names.add(h)
  }
  let hosts = [...inv.hosts.values()].filter((h) => names.has(h.name))
  if (hosts.length === 0 && groups.length === 0 && expr !== 'all') {
    warn(`could not match supplied host pattern, ignoring: ${term}`)
  }
  if (sub && hosts.length) {
    const [start, end] = sub
    if (end === undefined || end === 0) {
      const i = start < 0 ? hosts.length + start : start
      if (i < 0 || i >= hosts.length) throw new NoHostsMatchedError(`no hosts matched the subscripted pattern '${term}'`, term)
      hosts = [hosts[i]]
    } else {
      hosts = hosts.slice(start, (end === -1 ? hosts.length - 1 : end) + 1)
    }
  }
  return hosts
}

function expandFiles(terms: string[], cwd: string): string[] {
  return terms.flatMap((t) => {
    if (!t.startsWith('@')) return [t]
    const path = resolve(cwd, t.slice(1))
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch (e) {
      throw new InventoryError(`cannot read host list ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
    }
    return splitPattern(text.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#')))
  })
}

function evaluate(inv: Inventory, terms: string[], warn: (m: string) => void): Host[] {
  if (terms.length === 0) return [] // e.g. an empty @file: nothing, not "all"
  const plain = terms.filter((t) => t[0] !== '&' && t[0] !== '!')
  const and = terms.filter((t) => t[0] === '&')
  const not = terms.filter((t) => t[0] === '!')
  let names = new Set<string>()
  for (const t of plain.length ? plain : ['all']) {
    if (inv.hosts.has(t)) names.add(t)
    else for (const h of matchTerm(inv, t, warn)) names.add(h.name)
  }
  for (const t of and) {
    const that = new Set(matchTerm(inv, t.slice(1), warn).map((h) => h.name))
    names = new Set([...names].filter((n) => that.has(n)))
  }
  for (const t of not) {
    for (const h of matchTerm(inv, t.slice(1), warn)) names.delete(h.name)
  }
  return [...inv.hosts.values()].filter((h) => names.has(h.name))
}

/** The hosts a pattern (and optional limit) select, in inventory order; NoHostsMatchedError when none. */
export function selectHosts(inv: Inventory, pattern: string | string[], opts: SelectOptions = {}): Host[] {
  const warn = opts.warn ?? (() => {})
  const cwd = opts.cwd ?? process.cwd()
  const shown = Array.isArray(pattern) ? pattern.join(',') : pattern
  const terms = expandFiles(splitPattern(pattern), cwd)
  let hosts = evaluate(inv, terms, warn)
  let limitShown = ''
  const limitTerms = opts.limit === undefined ? [] : splitPattern(opts.limit)
  if (limitTerms.length) {
    limitShown = limitTerms.join(',')
    const allowed = new Set(evaluate(inv, expandFiles(limitTerms, cwd), warn).map((h) => h.name))
    hosts = hosts.filter((h) => allowed.has(h.name))
  }
  if (hosts.length === 0) {
    const what = limitShown ? `pattern '${shown}' with --limit '${limitShown}'` : `pattern '${shown}'`
    const known = [...inv.groups.keys()].filter((g) => g !== 'all' && g !== 'ungrouped')
    throw new NoHostsMatchedError(
      `no hosts matched ${what} (inventory: ${inv.hosts.size} hosts; groups: ${known.join(', ') || 'none'})`,
      shown,
    )
  }
  return hosts
}
