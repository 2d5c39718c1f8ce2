/**
 * Host patterns, for `--limit` and a play's `hosts:`, evaluated like Ansible's InventoryManager
 * (ansible/inventory/manager.py, 2.14):
 *
 *   all, *              every host
 *   web                 a group (its hosts and its children's) or a host
 *   web,db  web:db      union (',' is preferred; ':' is kept for compatibility)
 *   web:&prod           intersection
 *   web:!db1            exclusion
 *   web*  db?  n[12]    shell wildcards on group and host names
 *   ~^(web|db)\d+       a regex (matched from the start of the name, like Python's re.match)
 *   web[0]  web[1:3]    a subscript: the first / second to fourth host of what `web` matched
 *   @file               (--limit only) the patterns in a file, each line one pattern (a .retry file)
 *
 * Order, as Ansible's: all plain terms first (in the order written), then the `&` terms, then the
 * `!` terms; only `&`/`!` terms means "all" first. A term's hosts come in Ansible's group walk order
 * (see groupHosts); a union appends the hosts not yet selected. So `db:web` lists db's hosts before
 * web's, and `serial` batches and `web[0]` pick the hosts Ansible picks. --limit only filters.
 *
 *   localhost           also when the inventory has no such host: Ansible's implicit localhost
 *                       (connection local; 127.0.0.1 and ::1 too), never part of 'all'
 *
 * A term that matches nothing is a warning (Ansible's text); an empty result is a NoHostsMatchedError
 * and a subscript out of range a HostPatternError (both exit 1, as ansible-playbook).
 */
import { readFileSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseAddress } from './hostpattern.ts'
import { HostPatternError, NoHostsMatchedError } from '../errors.ts'
import type { Host, Inventory } from './types.ts'
import { IMPLICIT_LOCALHOST } from './vars.ts'

export { HostPatternError, NoHostsMatchedError }

export interface SelectOptions {
  /** Also restrict to this pattern (--limit): the result is the pattern's hosts that the limit selects too. */
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
    throw new HostPatternError(`Invalid host list pattern: ${term} (${(e as Error).message})`)
  }
}

/**
 * Every host of `group` and its descendants, as Ansible's Group.get_hosts: the group's own hosts,
 * then its children's in order, then the grandchildren's (level by level), each host once.
 * (Ansible walks the levels below the children through a Python set, so where several groups of one
 * level have children its order there is arbitrary; orch keeps the order of the level above.)
 */
export function groupHosts(inv: Inventory, group: string): Host[] {
  const start = inv.groups.get(group)
  if (!start) return []
  const ordered = [start.name, ...start.children]
  const seen = new Set<string>([start.name, ...start.children])
  let level = start.children
  while (level.length) {
    const next: string[] = []
    for (const g of level) {
      for (const kid of inv.groups.get(g)?.children ?? []) {
        if (seen.has(kid)) continue
        seen.add(kid)
        ordered.push(kid)
        next.push(kid)
      }
    }
    level = next
  }
  const out: Host[] = []
  const taken = new Set<string>()
  for (const g of ordered) {
    for (const name of inv.groups.get(g)?.hosts ?? []) {
      const h = inv.hosts.get(name)
      if (h && !taken.has(name)) {
        taken.add(name)
        out.push(h)
      }
    }
  }
  return out
}

/** Ansible's _match_one_pattern: the hosts one term (without & or !) names, duplicates kept as Ansible keeps them. */
function matchTerm(inv: Inventory, term: string, warn: (m: string) => void): Host[] {
  let expr = term
  let sub: [number, number | undefined] | undefined
  const m = term.startsWith('~') ? null : SUBSCRIPT.exec(term)
  if (m) {
    expr = m[1]
    sub = m[2] !== undefined ? [Number(m[2]), undefined] : [Number(m[3]), m[5] ? Number(m[5]) : -1]
  }
  const re = compile(expr)
  let hosts: Host[] = []
  const groups = [...inv.groups.keys()].filter((g) => re.test(g))
  for (const g of groups) hosts.push(...groupHosts(inv, g))
  if (groups.length === 0 || expr.startsWith('~') || /[.?*[]/.test(expr)) {
    for (const h of inv.hosts.values()) if (re.test(h.name)) hosts.push(h)
  }
  // Ansible's _enumerate_matches: a localhost name nothing matched gets the implicit localhost.
  if (hosts.length === 0 && IMPLICIT_LOCALHOST.includes(expr) && inv.localhost) hosts.push(inv.localhost(expr))
  if (hosts.length === 0 && groups.length === 0 && expr !== 'all') {
    warn(`Could not match supplied host pattern, ignoring: ${term}`)
  }
  if (sub && hosts.length) {
    const [start, end] = sub
    if (end === undefined || end === 0) {
      const i = start < 0 ? hosts.length + start : start
      if (i < 0 || i >= hosts.length) throw new HostPatternError(`No hosts matched the subscripted pattern '${term}'`)
      hosts = [hosts[i]]
    } else {
      // Python's hosts[start:end + 1] (a negative end never reaches here: the regex has none).
      hosts = hosts.slice(start, (end === -1 ? hosts.length - 1 : end) + 1)
    }
  }
  return hosts
}

/** Ansible's InventoryManager.subset: --limit terms, @file expanded to one pattern per line (empty lines kept; they select nothing). */
function limitTerms(limit: string | string[], cwd: string): string[] {
  return splitPattern(limit).flatMap((t) => {
    if (!t.startsWith('@')) return [t]
    const path = resolve(cwd, t.slice(1))
    let text: string
    try {
      if (statSync(path).isDirectory()) throw new HostPatternError(`Limit starting with "@" must be a file, not a directory: ${path}`)
      text = readFileSync(path, 'utf8')
    } catch (e) {
      if (e instanceof HostPatternError) throw e
      throw new HostPatternError(`Unable to find limit file ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
    }
    return text.split('\n').map((l) => l.trim())
  })
}

/** Ansible's _evaluate_patterns over already split terms; duplicates removed at the end, first place kept. */
function evaluate(inv: Inventory, terms: string[], warn: (m: string) => void): Host[] {
  const given = terms.filter(Boolean)
  let plain = given.filter((t) => t[0] !== '&' && t[0] !== '!')
  if (plain.length === 0) plain = ['all']
  const ordered = [...plain, ...given.filter((t) => t[0] === '&'), ...given.filter((t) => t[0] === '!')]
  let hosts: Host[] = []
  for (const t of ordered) {
    const exact = inv.hosts.get(t)
    if (exact) {
      hosts.push(exact)
      continue
    }
    const that = matchTerm(inv, t[0] === '&' || t[0] === '!' ? t.slice(1) : t, warn)
    if (t[0] === '!' || t[0] === '&') {
      const names = new Set(that.map((h) => h.name))
      hosts = hosts.filter((h) => names.has(h.name) === (t[0] === '&'))
    } else {
      const existing = new Set(hosts.map((h) => h.name))
      hosts.push(...that.filter((h) => !existing.has(h.name)))
    }
  }
  const seen = new Set<string>()
  return hosts.filter((h) => !seen.has(h.name) && seen.add(h.name))
}

/** The hosts a pattern (and optional limit) select, in Ansible's order; NoHostsMatchedError when none. */
export function selectHosts(inv: Inventory, pattern: string | string[], opts: SelectOptions = {}): Host[] {
  const hosts = matchHosts(inv, pattern, opts)
  // Ansible's CLI.get_host_list: an empty inventory is a warning (the implicit localhost is still there), not an error.
  if (inv.hosts.size === 0) {
    opts.warn?.("provided hosts list is empty, only localhost is available. Note that the implicit localhost does not match 'all'")
    return hosts
  }
  if (hosts.length === 0) {
    const shown = Array.isArray(pattern) ? pattern.join(',') : pattern
    const limit = opts.limit === undefined ? [] : splitPattern(opts.limit)
    const what = limit.length ? `pattern '${shown}' with --limit '${limit.join(',')}'` : `pattern '${shown}'`
    const known = [...inv.groups.keys()].filter((g) => g !== 'all' && g !== 'ungrouped')
    throw new NoHostsMatchedError(
      `Specified inventory, host pattern and/or --limit leaves us with no hosts to target: ${what} (inventory: ${inv.hosts.size} hosts; groups: ${known.join(', ') || 'none'})`,
      shown,
    )
  }
  return hosts
}

/** selectHosts without the error: [] when nothing matches (a play whose hosts match nothing is skipped). */
export function matchHosts(inv: Inventory, pattern: string | string[], opts: SelectOptions = {}): Host[] {
  const warned = new Set<string>()
  const warn = (m: string): void => {
    if (!warned.has(m)) opts.warn?.(m)
    warned.add(m)
  }
  // The limit file is read first, as Ansible's subset() does before any pattern is evaluated.
  const terms = opts.limit === undefined ? [] : limitTerms(opts.limit, opts.cwd ?? process.cwd())
  let hosts = evaluate(inv, splitPattern(pattern), warn)
  {
    // An empty --limit (no terms) is no limit; an empty @file gives [''], which Ansible evaluates as 'all'.
    if (terms.length) {
      const allowed = new Set(evaluate(inv, terms, warn).map((h) => h.name))
      hosts = hosts.filter((h) => allowed.has(h.name))
    }
  }
  return hosts
}
