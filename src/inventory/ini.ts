/**
 * Ansible's INI inventory format.
 *
 * Why not a generic INI library: Ansible's "INI" only borrows the [section] headers. A section is a
 * group plus a type (`[web]`, `[web:children]`, `[web:vars]`), lines before any section are hosts of
 * 'ungrouped', and a host line is not key=value at all: it is a host name or range
 * (`node[01:20]:2222`) followed by shell-quoted `key=value` words (`foo="a b"`, split like Python's
 * shlex, `#` comments even mid-line). Values are Python literals, not strings, duplicate "keys"
 * (hosts) are normal, and errors must name the file and line. An INI library would reject or
 * mangle most of that, so this is a small line parser that follows Ansible's plugins/inventory/ini.py.
 *
 * Value typing (what Ansible really does, checked against ansible-inventory): every value, inline
 * host var or `[g:vars]` line, goes through Python's ast.literal_eval (see literal.ts) and stays a
 * string when that fails. So `port=2222` → 2222, `on=True` → true, `on=yes` → "yes",
 * `mode=0644` → "0644", `x="22"` on a host line → 22 (shlex removed the quotes: quote twice,
 * `x="'22'"`, to get a string), and in `[g:vars]` the whole rest of the line is the value:
 * `motd=hello world` → "hello world", `port=8080 # web` → 8080 (a Python comment),
 * `name=web # x` → "web # x". (Ansible's documentation says :vars values are strings; its code
 * literal-evaluates them too, and we follow the code.)
 */
import { iniValue } from './literal.ts'
import { expandHostPattern, HostRangeError } from './hostpattern.ts'
import type { InventoryBuilder } from './model.ts'
import { ShlexError, shlexSplit } from './shlex.ts'
import { InventoryError } from './types.ts'

const SECTION = /^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$/
const GROUP_NAME = /^([^:\]\s]+)\s*(?:[#;].*)?$/

interface Pending {
  line: number
  state: 'vars' | 'children'
  parents: string[]
}

export function parseIni(text: string, file: string, inv: InventoryBuilder): void {
  const lines = text.split(/\r\n|\r|\n/)
  let group = 'ungrouped'
  let state: 'hosts' | 'vars' | 'children' = 'hosts'
  const pending = new Map<string, Pending>()
  const err = (msg: string, line: number): InventoryError => new InventoryError(msg, file, line)

  const declareChildren = (name: string): void => {
    const p = pending.get(name)
    if (!p || p.state !== 'children') return
    pending.delete(name)
    for (const parent of p.parents) {
      inv.addChild(parent, name, { file, line: p.line })
      declareChildren(parent)
    }
  }

  lines.forEach((raw, idx) => {
    const lineNo = idx + 1
    const line = raw.trim()
    if (!line || line[0] === '#' || line[0] === ';') return

    const sec = SECTION.exec(line)
    if (sec) {
      group = sec[1]
      const type = sec[2] ?? 'hosts'
      if (type !== 'hosts' && type !== 'children' && type !== 'vars') {
        throw err(`section [${sec[1]}:${type}] has unknown type '${type}' (expected hosts, children or vars)`, lineNo)
      }
      state = type
      // [g:vars] alone does not declare a group: it must be declared somewhere in the file.
      if (!inv.groups.has(group) && type === 'vars' && !pending.has(group)) {
        pending.set(group, { line: lineNo, state: 'vars', parents: [] })
      }
      inv.addGroup(group, { file, line: lineNo })
      if (type !== 'vars') {
        const p = pending.get(group)
        if (p?.state === 'children') declareChildren(group)
        else if (p?.state === 'vars') pending.delete(group)
      }
      return
    }
    if (line.startsWith('[') && line.endsWith(']')) {
      throw err(`invalid section header '${line}' (no spaces allowed; [group] or [group:children|vars])`, lineNo)
    }

    if (state === 'hosts') {
      let tokens: string[]
      try {
        tokens = shlexSplit(line)
      } catch (e) {
        if (e instanceof ShlexError) throw err(`cannot parse host line: ${e.message.toLowerCase()} in: ${line}`, lineNo)
        throw e
      }
      if (tokens.length === 0) return
      const pattern = tokens[0]
      let names: string[]
      let port: number | undefined
      try {
        ;({ names, port } = expandHostPattern(pattern))
      } catch (e) {
        if (e instanceof HostRangeError) throw err(e.message, lineNo)
        throw e
      }
      if (pattern.trim().endsWith(':') && port === undefined) {
        throw err(`invalid host '${pattern}': a trailing ':' must be followed by a port`, lineNo)
      }
      if (names.some((n) => n.trim() === '---')) throw err(`invalid host '---' (is this a YAML file?)`, lineNo)
      const vars: Array<[string, unknown]> = []
      for (const t of tokens.slice(1)) {
        const eq = t.indexOf('=')
        if (eq < 0) throw err(`expected key=value host variable, got '${t}'`, lineNo)
        vars.push([t.slice(0, eq), iniValue(t.slice(eq + 1))])
      }
      for (const name of names) {
        inv.addHost(name, group, { file, line: lineNo })
        if (port !== undefined) inv.setHostVar(name, 'ansible_port', port)
        for (const [k, v] of vars) inv.setHostVar(name, k, v)
      }
      return
    }

    if (state === 'vars') {
      const eq = line.indexOf('=')
      if (eq < 0) throw err(`expected key=value in [${group}:vars], got '${line}'`, lineNo)
      const key = line.slice(0, eq).trim()
      if (!key) throw err(`empty variable name in [${group}:vars]`, lineNo)
      inv.setGroupVar(group, key, iniValue(line.slice(eq + 1).trim()), { file, line: lineNo })
      return
    }

    // state === 'children'
    const m = GROUP_NAME.exec(line)
    if (!m) throw err(`expected a group name in [${group}:children], got '${line}'`, lineNo)
    const child = m[1]
    if (inv.groups.has(child)) {
      inv.addChild(group, child, { file, line: lineNo })
      return
    }
    if (inv.hosts.has(child)) {
      throw err(`[${group}:children] names '${child}', which is a host, not a group`, lineNo)
    }
    addPendingChild(pending, child, group, lineNo)
  })

  for (const [name, p] of pending) {
    if (p.state === 'vars') {
      throw err(`section [${name}:vars] is for group '${name}', which is never declared ([${name}] or [${name}:children])`, p.line)
    }
    const parent = p.parents[p.parents.length - 1]
    if (inv.hosts.has(name)) {
      throw err(`[${parent}:children] names '${name}', which is a host, not a group`, p.line)
    }
    throw err(`[${parent}:children] includes undefined group '${name}'`, p.line)
  }
}

function addPendingChild(pending: Map<string, Pending>, child: string, parent: string, line: number): void {
  const p = pending.get(child)
  if (p && p.state === 'children') p.parents.push(parent)
  else pending.set(child, { line, state: 'children', parents: [parent] })
}
