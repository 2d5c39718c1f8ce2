/** Evaluates parsed templates with Python's semantics for operators, attribute and item access. */
import { TemplateRuntimeError, UnsupportedError } from './errors.ts'
import { applyFilter, applyTest, method } from './filters.ts'
import type { Expr, Node } from './parser.ts'
import { float, isDict, LazyDict, tuple, isFloat, isInt, isNumber, num, PyCallable, pyCompare, pyEq, pyIn, str, truthy, typeName, Undefined, type Dict } from './values.ts'

/** What a template can see: variables (resolved lazily by the renderer). */
export interface Scope {
  /** The variable's value, or an Undefined. */
  resolve(name: string): unknown
}

const noAttr = (obj: unknown, attr: string | number) => new Undefined(`'${typeName(obj)} object' has no attribute '${attr}'`)

/** Jinja's environment.getattr: an attribute (a method) first, then the item. */
function getattr(obj: unknown, attr: string): unknown {
  if (obj instanceof Undefined) return obj
  if (obj instanceof LazyDict) return obj.get(attr)
  const m = method(obj, attr)
  if (m) return m
  if (isDict(obj)) return attr in obj ? obj[attr] : noAttr(obj, attr)
  return noAttr(obj, attr)
}

/** Jinja's environment.getitem: the item first, then an attribute. */
function getitem(obj: unknown, key: unknown): unknown {
  if (obj instanceof Undefined) return obj
  if (key instanceof Undefined) return key.fail()
  if (obj instanceof LazyDict) return obj.get(str(key))
  if (isDict(obj)) {
    const k = typeof key === 'string' ? key : isNumber(key) || key === null ? str(key) : undefined
    if (k !== undefined && k in obj) return obj[k]
    return typeof key === 'string' ? getattr(obj, key) : noAttr(obj, str(key))
  }
  if (Array.isArray(obj) || typeof obj === 'string') {
    if (isInt(key) || typeof key === 'boolean') {
      const items = typeof obj === 'string' ? [...obj] : obj
      let i = num(key)
      if (i < 0) i += items.length
      if (i >= 0 && i < items.length) return items[i]
      return new Undefined(`${typeName(obj)} object has no element ${str(key)}`)
    }
    if (typeof key === 'string') return getattr(obj, key)
    throw new TemplateRuntimeError(`${typeName(obj)} indices must be integers or slices, not ${typeName(key)}`)
  }
  return typeof key === 'string' ? getattr(obj, key) : noAttr(obj, str(key))
}

function slice(obj: unknown, start: unknown, stop: unknown, step: unknown): unknown {
  if (obj instanceof Undefined) return obj
  if (!Array.isArray(obj) && typeof obj !== 'string') throw new TemplateRuntimeError(`'${typeName(obj)}' object is not subscriptable`)
  const items = typeof obj === 'string' ? [...obj] : obj
  const n = items.length
  const st = step === undefined || step === null ? 1 : num(step)
  if (st === 0) throw new TemplateRuntimeError('slice step cannot be zero')
  const norm = (v: unknown, dflt: number, lo: number, hi: number) => {
    if (v === undefined || v === null) return dflt
    let i = num(v)
    if (i < 0) i += n
    return Math.min(Math.max(i, lo), hi)
  }
  const out: unknown[] = []
  if (st > 0) for (let i = norm(start, 0, 0, n); i < norm(stop, n, 0, n); i += st) out.push(items[i])
  else for (let i = norm(start, n - 1, -1, n - 1); i > norm(stop, -1, -1, n - 1); i += st) out.push(items[i])
  return typeof obj === 'string' ? out.join('') : out
}

function arith(op: string, a: unknown, b: unknown): unknown {
  if (a instanceof Undefined) return a.fail()
  if (b instanceof Undefined) return b.fail()
  const bad = () => new TemplateRuntimeError(`unsupported operand type(s) for ${op}: '${typeName(a)}' and '${typeName(b)}'`)
  if (isNumber(a) && isNumber(b)) {
    const x = num(a)
    const y = num(b)
    const fl = isFloat(a) || isFloat(b)
    const res = (n: number) => (fl ? float(n) : n)
    switch (op) {
      case '+': return res(x + y)
      case '-': return res(x - y)
      case '*': return res(x * y)
      case '/':
        if (y === 0) throw new TemplateRuntimeError('division by zero')
        return float(x / y)
      case '//':
        if (y === 0) throw new TemplateRuntimeError('integer division or modulo by zero')
        return res(Math.floor(x / y))
      case '%':
        if (y === 0) throw new TemplateRuntimeError('integer division or modulo by zero')
        return res(((x % y) + y) % y)
      case '**':
        if (!fl && y < 0) return float(x ** y)
        return res(x ** y)
    }
  }
  if (op === '+' && typeof a === 'string' && typeof b === 'string') return a + b
  if (op === '+' && Array.isArray(a) && Array.isArray(b)) return [...a, ...b]
  if (op === '*' && (isInt(a) || isInt(b)) && (typeof a === 'string' || typeof b === 'string' || Array.isArray(a) || Array.isArray(b))) {
    const [seq, n] = isInt(a) ? [b, num(a)] : [a, num(b)]
    if (typeof seq === 'string') return seq.repeat(Math.max(0, n))
    if (Array.isArray(seq)) return Array.from({ length: Math.max(0, n) }, () => seq).flat()
  }
  if (op === '%' && typeof a === 'string') throw new UnsupportedError("string formatting with '%' (use ~ or + to concatenate)")
  if (op === '+' && typeof a === 'string') throw new TemplateRuntimeError(`can only concatenate str (not "${typeName(b)}") to str`)
  throw bad()
}

/** Fails when a value holds an Undefined anywhere (Ansible's _fail_on_undefined on the output). */
export function checkDefined(v: unknown): unknown {
  if (v instanceof Undefined) return v.soft ? v : v.fail()
  if (Array.isArray(v)) v.forEach(checkDefined)
  else if (isDict(v)) Object.values(v).forEach(checkDefined)
  return v
}

export function evaluate(e: Expr, scope: Scope): unknown {
  const ev = (x: Expr) => evaluate(x, scope)
  switch (e.k) {
    case 'const':
      return e.v
    case 'name':
      return scope.resolve(e.n)
    case 'list':
      return e.items.map(ev)
    case 'tuple':
      return tuple(e.items.map(ev))
    case 'dict': {
      const d: Dict = {}
      for (const [k, v] of e.pairs) {
        const key = ev(k)
        if (key instanceof Undefined) key.fail()
        if (typeof key === 'object' && key !== null) throw new TemplateRuntimeError(`unhashable type: '${typeName(key)}'`)
        d[str(key)] = ev(v)
      }
      return d
    }
    case 'getattr':
      return getattr(ev(e.obj), e.attr)
    case 'getitem':
      return getitem(ev(e.obj), ev(e.key))
    case 'slice':
      return slice(ev(e.obj), e.start && ev(e.start), e.stop && ev(e.stop), e.step && ev(e.step))
    case 'call': {
      const fn = ev(e.fn)
      if (fn instanceof Undefined) return fn.fail()
      if (!(fn instanceof PyCallable)) throw new TemplateRuntimeError(`'${typeName(fn)}' object is not callable`)
      return fn.call(e.args.map(ev), Object.fromEntries(e.kwargs.map(([k, v]) => [k, ev(v)])))
    }
    case 'filter':
      return applyFilter(e.name, ev(e.obj), e.args.map(ev), Object.fromEntries(e.kwargs.map(([k, v]) => [k, ev(v)])))
    case 'test': {
      const r = applyTest(e.name, ev(e.obj), e.args.map(ev))
      return e.neg ? !r : r
    }
    case 'neg':
    case 'pos': {
      const v = ev(e.e)
      if (v instanceof Undefined) return v.fail()
      if (!isNumber(v)) throw new TemplateRuntimeError(`bad operand type for unary ${e.k === 'neg' ? '-' : '+'}: '${typeName(v)}'`)
      const n = e.k === 'neg' ? -num(v) : num(v)
      return isFloat(v) ? float(n) : n
    }
    case 'not':
      return !truthy(ev(e.e))
    case 'bin':
      return arith(e.op, ev(e.l), ev(e.r))
    case 'concat':
      return e.items.map((x) => str(ev(x))).join('')
    case 'compare': {
      let left = ev(e.first)
      for (const [op, x] of e.ops) {
        const right = ev(x)
        const ok =
          op === '==' ? pyEq(left, right)
          : op === '!=' ? !pyEq(left, right)
          : op === 'in' ? pyIn(left, right)
          : op === 'notin' ? !pyIn(left, right)
          : pyCompare(op, left, right)
        if (!ok) return false
        left = right
      }
      return true
    }
    case 'and': {
      const l = ev(e.l)
      return truthy(l) ? ev(e.r) : l
    }
    case 'or': {
      const l = ev(e.l)
      return truthy(l) ? l : ev(e.r)
    }
    case 'cond':
      if (truthy(ev(e.test))) return ev(e.then)
      return e.else ? ev(e.else) : new Undefined('the inline if-expression evaluated to false and no else section was defined.', undefined, true)
  }
}

/** A `| string` result: output as it is (Ansible's NativeJinjaText). */
export class NativeText {
  constructor(readonly s: string) {}
}

/** The values a template outputs, in order (Jinja's root render function): text, and each {{ }} finalized. */
export function outputs(nodes: Node[], scope: Scope, out: unknown[] = []): unknown[] {
  for (const n of nodes) {
    if (n.k === 'text') out.push(n.s)
    else if (n.k === 'out') {
      const v = checkDefined(evaluate(n.e, scope))
      // Ansible's finalize: None renders as ''. `| string` gives NativeJinjaText, never read back as a list or dict.
      if (v === null || v === undefined) out.push('')
      else if (typeof v === 'string' && n.e.k === 'filter' && n.e.name.replace(/^ansible\.builtin\./, '') === 'string') out.push(new NativeText(v))
      else out.push(v)
    } else {
      const b = n.branches.find((br) => truthy(evaluate(br.test, scope)))
      if (b) outputs(b.body, scope, out)
      else if (n.else) outputs(n.else, scope, out)
    }
  }
  return out
}
