/**
 * Host variables rendered as Ansible's Templar renders them (ansible/template/__init__.py, vars.py):
 * a value is templated only if it contains {{, {% or {#; a reference to another variable templates that
 * one first, in the same host's context (lazily, each once; a cycle is an error); an undefined inner
 * reference stays undefined until used, so `x | default(...)` still works. The output follows Ansible's
 * non-native concat: text, and a result that looks like a list, dict or bool becomes one.
 *
 *     const rendered = renderInventory(inv, { searchDir: playbookDir ?? cwd })
 *
 * Every variable of every host is rendered before any host is touched: one that cannot be rendered is a
 * TemplateError (exit 5) naming host, variable and the problem. Ansible fails only where a task uses it.
 */
import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, join } from 'node:path'
import { literalEval } from '../literal.ts'
import { groupHosts } from '../pattern.ts'
import type { Host, Inventory, LocalhostFactory, Vars } from '../types.ts'
import { TemplateError, TemplateRuntimeError, TemplateSyntaxError, UndefinedError, UnsupportedError } from './errors.ts'
import { NativeText, outputs, type Scope } from './evaluate.ts'
import { isPossiblyTemplate } from './lexer.ts'
import { parseTemplate, type Node } from './parser.ts'
import { isDict, LazyDict, PyCallable, str, Taint, Undefined } from './values.ts'

export { TemplateError } from './errors.ts'
export { isPossiblyTemplate } from './lexer.ts'

export interface RenderOptions {
  /** Where lookup('file', relative) looks: DIR/files/NAME, then DIR/NAME (Ansible's search path: the playbook's directory). */
  searchDir: string
  /** For lookup('env'); default process.env. */
  env?: Record<string, string | undefined>
  /** The playbook_dir magic variable, when there is a playbook. */
  playbookDir?: string
}

const parsed = new Map<string, Node[]>()
function parse(src: string): Node[] {
  let p = parsed.get(src)
  if (!p) parsed.set(src, (p = parseTemplate(src)))
  return p
}

const SINGLE_VAR = /^\{\{\s*(\w*)\s*\}\}$/

/** A problem while rendering a variable, kept for the error message of the variable that used it. */
class Failure extends Error {}

/** One host's variables, rendered on demand. */
class HostContext {
  private readonly cache = new Map<string, { v: unknown } | { err: Error }>()
  private readonly stack: string[] = []
  private magic?: Vars

  constructor(
    readonly host: Host,
    private readonly all: Renderer,
  ) {}

  private magicVars(): Vars {
    if (this.magic) return this.magic
    const h = this.host
    const m: Vars = {
      inventory_hostname: h.name,
      inventory_hostname_short: h.name.split('.')[0],
      group_names: h.groups.filter((g) => g !== 'all').sort(),
      groups: this.all.groups(),
      hostvars: this.all.hostvars(),
    }
    const file = h.source?.replace(/:\d+$/, '')
    if (file && isAbsolute(file)) {
      m.inventory_file = file
      m.inventory_dir = dirname(file)
    }
    if (this.all.opts.playbookDir) m.playbook_dir = this.all.opts.playbookDir
    return (this.magic = m)
  }

  private available(name: string): { found: boolean; raw?: unknown } {
    const m = this.magicVars()
    if (name in m) return { found: true, raw: m[name] }
    if (Object.hasOwn(this.host.vars, name)) return { found: true, raw: this.host.vars[name] }
    return { found: false }
  }

  /** A variable as a template sees it (AnsibleJ2Vars.__getitem__): rendered, or an Undefined. */
  resolve(name: string, taint: Taint): unknown {
    const a = this.available(name)
    if (!a.found) {
      if (name === 'vars' || name === 'omit') throw new UnsupportedError(`the variable '${name}'`)
      const g = this.all.globals.get(name)
      return g ?? new Undefined(`'${name}' is undefined`, name)
    }
    if (name in this.magicVars()) return a.raw
    const r = this.variable(name)
    if ('err' in r) {
      if (r.err instanceof UndefinedError) return new Undefined(`${r.err.message} (in ${name} = ${JSON.stringify(this.host.vars[name])})`, name)
      throw r.err
    }
    taint.see(r.v)
    return r.v
  }

  /** The rendered value of one of the host's variables (cached; a cycle is an error). */
  variable(name: string): { v: unknown } | { err: Error } {
    const known = this.cache.get(name)
    if (known) return known
    if (this.stack.includes(name)) {
      return { err: new Failure(`recursive loop detected in template: ${[...this.stack.slice(this.stack.indexOf(name)), name].join(' -> ')}`) }
    }
    this.stack.push(name)
    let r: { v: unknown } | { err: Error }
    try {
      const taint = new Taint()
      taint.see(this.host.vars[name])
      r = { v: taint.result(this.template(this.host.vars[name], taint)) }
    } catch (e) {
      if (!(e instanceof Error)) throw e
      r = { err: e }
    } finally {
      this.stack.pop()
    }
    this.cache.set(name, r)
    return r
  }

  /** Templar.template: strings that may be templates, recursively into lists and dict values. */
  template(v: unknown, taint: Taint): unknown {
    if (typeof v === 'string') {
      if (!isPossiblyTemplate(v)) return v
      const one = SINGLE_VAR.exec(v)
      if (one) {
        const a = this.available(one[1])
        // A lone reference to a number or bool keeps its type (Templar's SINGLE_VAR shortcut).
        if (a.found && (typeof a.raw === 'number' || typeof a.raw === 'boolean' || a.raw === null)) return a.raw
      }
      return this.render(v, taint)
    }
    if (Array.isArray(v)) return v.map((x) => this.template(x, taint))
    if (isDict(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.template(x, taint)]))
    return v
  }

  private render(src: string, taint: Taint): unknown {
    const scope: Scope = { resolve: (n) => this.resolve(n, taint) }
    const out = outputs(parse(src), scope)
    if (!out.length) return ''
    if (out.length === 1 && out[0] instanceof NativeText) return out[0].s
    let s = out.map((x) => {
      if (x instanceof NativeText) return x.s
      if (x instanceof LazyDict) throw new UnsupportedError(`printing ${x.label} as a whole (use one of its variables)`)
      return str(x)
    }).join('')
    // Ansible keeps the trailing newlines Jinja drops.
    const want = /\n*$/.exec(src)![0].length
    const have = /\n*$/.exec(s)![0].length
    if (want > have) s += '\n'.repeat(want - have)
    if (s.startsWith('{') || s.startsWith('[') || s === 'True' || s === 'False') {
      const lit = literalEval(s, { jsonNames: true })
      if (lit.ok) return lit.value
    }
    return s
  }
}

/** Every host's context, the magic variables shared by all, and the globals (lookup, query, range). */
class Renderer {
  readonly contexts = new Map<string, HostContext>()
  readonly globals = new Map<string, PyCallable>()
  private groupsVar?: Vars
  private hostvarsVar?: LazyDict

  constructor(
    private readonly inv: Inventory,
    readonly opts: RenderOptions,
  ) {
    for (const h of inv.hosts.values()) this.contexts.set(h.name, new HostContext(h, this))
    const lookup = (wantlist: boolean) => (args: unknown[], kw: Record<string, unknown>) => this.lookup(args, kw, wantlist)
    this.globals.set('lookup', new PyCallable('lookup', lookup(false)))
    this.globals.set('query', new PyCallable('query', lookup(true)))
    this.globals.set('q', new PyCallable('q', lookup(true)))
    this.globals.set('range', new PyCallable('range', (a) => {
      const n = a.map((x) => Number(str(x)))
      const [start, stop, step] = n.length === 1 ? [0, n[0], 1] : [n[0], n[1], n[2] ?? 1]
      if (!step) throw new TemplateRuntimeError('range() arg 3 must not be zero')
      const out: number[] = []
      for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i)
      return out
    }))
  }

  groups(): Vars {
    if (!this.groupsVar) {
      this.groupsVar = Object.fromEntries([...this.inv.groups.keys()].map((g) => [g, groupHosts(this.inv, g).map((h) => h.name)]))
    }
    return this.groupsVar
  }

  hostvars(): LazyDict {
    if (!this.hostvarsVar) {
      this.hostvarsVar = new LazyDict('hostvars', (name) => {
        const c = this.contexts.get(name)
        if (!c) return new Undefined(`hostvars['${name}'] is undefined`)
        return new LazyDict(`hostvars['${name}']`, (v) => c.resolve(v, new Taint()), () => Object.keys(c.host.vars))
      }, () => [...this.contexts.keys()])
    }
    return this.hostvarsVar
  }

  private lookup(args: unknown[], kw: Record<string, unknown>, wantlist: boolean): unknown {
    const [name, ...rawTerms] = args
    const plugin = str(name).replace(/^ansible\.builtin\./, '')
    const terms = rawTerms.flatMap((t) => (Array.isArray(t) ? t : [t])).map((t) => {
      if (t instanceof Undefined) return t.fail()
      return str(t)
    })
    const { wantlist: wl, errors, ...options } = kw
    const want = wantlist || (wl !== undefined && wl !== false && wl !== null)
    if (errors !== undefined) throw new UnsupportedError(`lookup(..., errors=...)`)
    let ran: string[]
    if (plugin === 'env') {
      for (const k of Object.keys(options)) if (k !== 'default') throw new UnsupportedError(`the env lookup option '${k}'`)
      const env = this.opts.env ?? process.env
      ran = terms.map((t) => {
        const v = env[t.split(/\s+/)[0]]
        if (v !== undefined) return v
        const d = 'default' in options ? options.default : ''
        if (d instanceof Undefined) throw new UndefinedError(`The "env" lookup, found an undefined variable: ${t}`)
        return d as string
      })
    } else if (plugin === 'file') {
      for (const k of Object.keys(options)) if (k !== 'lstrip' && k !== 'rstrip') throw new UnsupportedError(`the file lookup option '${k}'`)
      ran = terms.map((t) => this.readFile(t, options.lstrip === true, options.rstrip !== false))
    } else throw new UnsupportedError(`lookup('${plugin}') (orch implements the env and file lookups)`)
    if (want) return ran
    return ran.join(',')
  }

  private readFile(term: string, lstrip: boolean, rstrip: boolean): string {
    const dir = this.opts.searchDir
    const candidates = isAbsolute(term) ? [term] : [join(dir, 'files', term), join(dir, term)]
    for (const path of candidates) {
      let text: string
      try {
        text = readFileSync(path, 'utf8')
      } catch {
        continue
      }
      if (text.startsWith('$ANSIBLE_VAULT;')) throw new UnsupportedError(`lookup('file') of a vaulted file (${path})`)
      if (lstrip) text = text.replace(/^\s+/, '')
      if (rstrip) text = text.replace(/\s+$/, '')
      return text
    }
    throw new TemplateRuntimeError(`could not locate file in lookup: ${term} (looked in ${candidates.join(', ')})`)
  }
}

function describe(e: Error): string {
  if (e instanceof UnsupportedError) return `not supported by orch: ${e.message}`
  if (e instanceof TemplateSyntaxError) return `template syntax error: ${e.message}`
  return e.message
}

/** Every variable of every host, rendered or the reason it cannot be (for tests and for renderInventory). */
export function renderEach(inv: Inventory, opts: RenderOptions): Map<string, Map<string, { v: unknown } | { err: string }>> {
  const r = new Renderer(inv, opts)
  const out = new Map<string, Map<string, { v: unknown } | { err: string }>>()
  for (const [name, h] of inv.hosts) {
    const c = r.contexts.get(name)!
    const m = new Map<string, { v: unknown } | { err: string }>()
    for (const k of Object.keys(h.vars)) {
      const res = c.variable(k)
      m.set(k, 'err' in res ? { err: describe(res.err) } : res)
    }
    out.set(name, m)
  }
  return out
}

/**
 * The inventory with every host's variables rendered (groups keep their raw vars, as `orch inventory`
 * shows them). Throws TemplateError for the first variable that cannot be rendered.
 */
export function renderInventory(inv: Inventory, opts: RenderOptions): Inventory {
  const localhost = inv.localhost && renderedLocalhost(inv, inv.localhost, opts)
  if (!hasTemplates(inv)) return localhost ? { ...inv, localhost } : inv
  const hosts = new Map<string, Host>()
  for (const [name, vars] of renderEach(inv, opts)) hosts.set(name, { ...inv.hosts.get(name)!, vars: checked(inv.hosts.get(name)!, vars) })
  const out: Inventory = { ...inv, hosts }
  // An inventory's own localhost host comes back rendered like the others.
  if (localhost) out.localhost = (name) => hosts.get(localhost(name).name) ?? localhost(name)
  return out
}

function checked(h: Host, vars: Map<string, { v: unknown } | { err: string }>): Vars {
  const out: Vars = {}
  for (const [k, res] of vars) {
    if ('err' in res) throw new TemplateError(h.name, k, typeof h.vars[k] === 'string' ? (h.vars[k] as string) : JSON.stringify(h.vars[k]), res.err)
    out[k] = res.v
  }
  return out
}

/** The implicit localhost, its variables rendered when a pattern first asks for it (a bad one is exit 5 then, before any host is touched). */
function renderedLocalhost(inv: Inventory, base: LocalhostFactory, opts: RenderOptions): LocalhostFactory {
  let rendered: Host | undefined
  return (name) => {
    const h = base(name)
    if (!h.implicit) return h
    if (!rendered) {
      const c = new Renderer({ ...inv, hosts: new Map([...inv.hosts, [h.name, h]]) }, opts).contexts.get(h.name)!
      const vars = new Map<string, { v: unknown } | { err: string }>()
      for (const k of Object.keys(h.vars)) {
        const res = c.variable(k)
        vars.set(k, 'err' in res ? { err: describe(res.err) } : res)
      }
      rendered = { ...h, vars: checked(h, vars) }
    }
    return rendered
  }
}

/** Whether any host variable holds a template (cheap: lets callers skip rendering). */
export function hasTemplates(inv: Inventory): boolean {
  const any = (v: unknown): boolean =>
    typeof v === 'string' ? isPossiblyTemplate(v) : Array.isArray(v) ? v.some(any) : isDict(v) ? Object.values(v).some(any) : false
  for (const h of inv.hosts.values()) if (Object.values(h.vars).some(any)) return true
  return false
}
