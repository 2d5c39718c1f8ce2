/**
 * Jinja's expression grammar (jinja2/parser.py, same precedence: conditional, or, and, not, comparisons,
 * + -, ~, * / // %, **, unary - +, then postfix . [] () and filters | / tests `is`), and the
 * statements inventories use in values: {% if %} {% elif %} {% else %} {% endif %}.
 */
import { TemplateSyntaxError, UnsupportedError } from './errors.ts'
import { lex, type Token } from './lexer.ts'
import { float } from './values.ts'

export type Expr =
  | { k: 'const'; v: unknown }
  | { k: 'name'; n: string }
  | { k: 'list'; items: Expr[] }
  | { k: 'tuple'; items: Expr[] }
  | { k: 'dict'; pairs: Array<[Expr, Expr]> }
  | { k: 'getattr'; obj: Expr; attr: string }
  | { k: 'getitem'; obj: Expr; key: Expr }
  | { k: 'slice'; obj: Expr; start?: Expr; stop?: Expr; step?: Expr }
  | { k: 'call'; fn: Expr; args: Expr[]; kwargs: Array<[string, Expr]> }
  | { k: 'filter'; name: string; obj: Expr; args: Expr[]; kwargs: Array<[string, Expr]> }
  | { k: 'test'; name: string; obj: Expr; args: Expr[]; kwargs: Array<[string, Expr]>; neg: boolean }
  | { k: 'neg' | 'pos' | 'not'; e: Expr }
  | { k: 'bin'; op: string; l: Expr; r: Expr }
  | { k: 'concat'; items: Expr[] }
  | { k: 'compare'; first: Expr; ops: Array<[string, Expr]> }
  | { k: 'and' | 'or'; l: Expr; r: Expr }
  | { k: 'cond'; test: Expr; then: Expr; else?: Expr }

export type Node =
  | { k: 'text'; s: string }
  | { k: 'out'; e: Expr; src: string }
  | { k: 'if'; branches: Array<{ test: Expr; body: Node[] }>; else?: Node[] }

const LITERALS: Record<string, unknown> = { true: true, false: false, none: null, True: true, False: false, None: null }
const COMPARE = new Set(['==', '!=', '<', '<=', '>', '>='])

class ExprParser {
  private i = 0
  constructor(private readonly toks: Token[]) {}

  private peek(o = 0): Token | undefined {
    return this.toks[this.i + o]
  }
  private isOp(v: string, o = 0): boolean {
    const t = this.peek(o)
    return t?.t === 'op' && t.v === v
  }
  private isName(v: string, o = 0): boolean {
    const t = this.peek(o)
    return t?.t === 'name' && t.v === v
  }
  private expectOp(v: string): void {
    if (!this.isOp(v)) throw new TemplateSyntaxError(`expected '${v}', got ${this.describe()}`)
    this.i++
  }
  private describe(): string {
    const t = this.peek()
    return t ? `'${String(t.v)}'` : 'end of expression'
  }
  atEnd(): boolean {
    return this.i >= this.toks.length
  }
  end(): void {
    if (!this.atEnd()) throw new TemplateSyntaxError(`unexpected ${this.describe()}`)
  }
  name(): string {
    const t = this.peek()
    if (t?.t !== 'name') throw new TemplateSyntaxError(`expected a name, got ${this.describe()}`)
    this.i++
    return t.v
  }

  expr(): Expr {
    let e = this.or()
    while (this.isName('if')) {
      this.i++
      const test = this.or()
      let other: Expr | undefined
      if (this.isName('else')) {
        this.i++
        other = this.expr()
      }
      e = { k: 'cond', test, then: e, else: other }
    }
    return e
  }
  private or(): Expr {
    let l = this.and()
    while (this.isName('or')) {
      this.i++
      l = { k: 'or', l, r: this.and() }
    }
    return l
  }
  private and(): Expr {
    let l = this.not()
    while (this.isName('and')) {
      this.i++
      l = { k: 'and', l, r: this.not() }
    }
    return l
  }
  private not(): Expr {
    if (this.isName('not')) {
      this.i++
      return { k: 'not', e: this.not() }
    }
    return this.compare()
  }
  private compare(): Expr {
    const first = this.math1()
    const ops: Array<[string, Expr]> = []
    for (;;) {
      const t = this.peek()
      if (t?.t === 'op' && COMPARE.has(t.v)) {
        this.i++
        ops.push([t.v, this.math1()])
      } else if (this.isName('in')) {
        this.i++
        ops.push(['in', this.math1()])
      } else if (this.isName('not') && this.isName('in', 1)) {
        this.i += 2
        ops.push(['notin', this.math1()])
      } else break
    }
    return ops.length ? { k: 'compare', first, ops } : first
  }
  private math1(): Expr {
    let l = this.concat()
    while (this.isOp('+') || this.isOp('-')) {
      const op = (this.peek() as { v: string }).v
      this.i++
      l = { k: 'bin', op, l, r: this.concat() }
    }
    return l
  }
  private concat(): Expr {
    const items = [this.math2()]
    while (this.isOp('~')) {
      this.i++
      items.push(this.math2())
    }
    return items.length === 1 ? items[0] : { k: 'concat', items }
  }
  private math2(): Expr {
    let l = this.pow()
    while (['*', '/', '//', '%'].some((o) => this.isOp(o))) {
      const op = (this.peek() as { v: string }).v
      this.i++
      l = { k: 'bin', op, l, r: this.pow() }
    }
    return l
  }
  private pow(): Expr {
    let l = this.unary(true)
    while (this.isOp('**')) {
      this.i++
      l = { k: 'bin', op: '**', l, r: this.unary(true) }
    }
    return l
  }
  private unary(withFilter: boolean): Expr {
    let e: Expr
    if (this.isOp('-')) {
      this.i++
      e = { k: 'neg', e: this.unary(false) }
    } else if (this.isOp('+')) {
      this.i++
      e = { k: 'pos', e: this.unary(false) }
    } else e = this.postfix(this.primary())
    return withFilter ? this.filterExpr(e) : e
  }
  private primary(): Expr {
    const t = this.peek()
    if (!t) throw new TemplateSyntaxError('expected an expression, got end of expression')
    if (t.t === 'name') {
      this.i++
      return t.v in LITERALS ? { k: 'const', v: LITERALS[t.v] } : { k: 'name', n: t.v }
    }
    if (t.t === 'str') {
      let s = ''
      while (this.peek()?.t === 'str') s += (this.toks[this.i++] as { v: string }).v
      return { k: 'const', v: s }
    }
    if (t.t === 'num') {
      this.i++
      return { k: 'const', v: t.float ? float(t.v) : t.v }
    }
    if (this.isOp('(')) {
      this.i++
      if (this.isOp(')')) {
        this.i++
        return { k: 'tuple', items: [] }
      }
      const first = this.expr()
      if (this.isOp(')')) {
        this.i++
        return first
      }
      const items = [first]
      while (this.isOp(',')) {
        this.i++
        if (this.isOp(')')) break
        items.push(this.expr())
      }
      this.expectOp(')')
      return { k: 'tuple', items }
    }
    if (this.isOp('[')) {
      this.i++
      const items: Expr[] = []
      while (!this.isOp(']')) {
        if (items.length) this.expectOp(',')
        if (this.isOp(']')) break
        items.push(this.expr())
      }
      this.i++
      return { k: 'list', items }
    }
    if (this.isOp('{')) {
      this.i++
      const pairs: Array<[Expr, Expr]> = []
      while (!this.isOp('}')) {
        if (pairs.length) this.expectOp(',')
        if (this.isOp('}')) break
        const key = this.expr()
        this.expectOp(':')
        pairs.push([key, this.expr()])
      }
      this.i++
      return { k: 'dict', pairs }
    }
    throw new TemplateSyntaxError(`unexpected ${this.describe()}`)
  }
  private postfix(e: Expr): Expr {
    for (;;) {
      if (this.isOp('.')) {
        this.i++
        const t = this.peek()
        if (t?.t === 'name') {
          this.i++
          e = { k: 'getattr', obj: e, attr: t.v }
        } else if (t?.t === 'num' && !t.float) {
          this.i++
          e = { k: 'getitem', obj: e, key: { k: 'const', v: t.v } }
        } else throw new TemplateSyntaxError(`expected a name after '.', got ${this.describe()}`)
      } else if (this.isOp('[')) {
        this.i++
        e = this.subscript(e)
        this.expectOp(']')
      } else if (this.isOp('(')) e = this.call(e)
      else return e
    }
  }
  private subscript(obj: Expr): Expr {
    const part = (): Expr | undefined => (this.isOp(':') || this.isOp(']') ? undefined : this.expr())
    const start = part()
    if (!this.isOp(':')) {
      if (!start) throw new TemplateSyntaxError('expected a subscript')
      if (this.isOp(',')) throw new UnsupportedError('tuple subscripts')
      return { k: 'getitem', obj, key: start }
    }
    this.i++
    const stop = part()
    let step: Expr | undefined
    if (this.isOp(':')) {
      this.i++
      step = part()
    }
    return { k: 'slice', obj, start, stop, step }
  }
  private args(): { args: Expr[]; kwargs: Array<[string, Expr]> } {
    this.expectOp('(')
    const args: Expr[] = []
    const kwargs: Array<[string, Expr]> = []
    while (!this.isOp(')')) {
      if (args.length || kwargs.length) this.expectOp(',')
      if (this.isOp(')')) break
      if (this.isOp('*') || this.isOp('**')) throw new UnsupportedError("'*args' / '**kwargs' in calls")
      if (this.peek()?.t === 'name' && this.isOp('=', 1)) {
        const n = this.name()
        this.i++
        kwargs.push([n, this.expr()])
      } else {
        if (kwargs.length) throw new TemplateSyntaxError('positional argument after a keyword argument')
        args.push(this.expr())
      }
    }
    this.i++
    return { args, kwargs }
  }
  private call(fn: Expr): Expr {
    return { k: 'call', fn, ...this.args() }
  }
  private filterExpr(e: Expr): Expr {
    for (;;) {
      if (this.isOp('|')) {
        this.i++
        let name = this.name()
        while (this.isOp('.')) {
          // Fully qualified names: ansible.builtin.default.
          this.i++
          name += '.' + this.name()
        }
        const a = this.isOp('(') ? this.args() : { args: [], kwargs: [] }
        e = { k: 'filter', name, obj: e, ...a }
      } else if (this.isName('is')) {
        this.i++
        let neg = false
        if (this.isName('not')) {
          this.i++
          neg = true
        }
        let name = this.name()
        while (this.isOp('.')) {
          this.i++
          name += '.' + this.name()
        }
        let a: { args: Expr[]; kwargs: Array<[string, Expr]> } = { args: [], kwargs: [] }
        const t = this.peek()
        if (this.isOp('(')) a = this.args()
        else if (t && (t.t === 'str' || t.t === 'num' || (t.t === 'name' && !['else', 'or', 'and', 'if', 'in', 'not', 'is'].includes(t.v)) || this.isOp('[') || this.isOp('{'))) {
          a = { args: [this.postfix(this.primary())], kwargs: [] }
        }
        e = { k: 'test', name, obj: e, ...a, neg }
      } else if (this.isOp('(')) e = this.call(e)
      else return e
    }
  }
}

/** Parses one expression from tokens (all of them). */
export function parseExpr(tokens: Token[]): Expr {
  const p = new ExprParser(tokens)
  const e = p.expr()
  p.end()
  return e
}

/** Parses a template into nodes; a statement other than if/elif/else/endif is refused. */
export function parseTemplate(src: string): Node[] {
  const segs = lex(src)
  let i = 0
  const body = (ends: string[]): { nodes: Node[]; end?: string; p?: ExprParser } => {
    const nodes: Node[] = []
    while (i < segs.length) {
      const s = segs[i++]
      if (s.k === 'text') nodes.push({ k: 'text', s: s.s })
      else if (s.k === 'var') {
        if (!s.tokens.length) throw new TemplateSyntaxError('expected an expression in {{ }}')
        nodes.push({ k: 'out', e: parseExpr(s.tokens), src: s.src })
      } else {
        const p = new ExprParser(s.tokens)
        if (p.atEnd()) throw new TemplateSyntaxError('empty {% %} tag')
        const word = p.name()
        if (ends.includes(word)) return { nodes, end: word, p }
        if (word !== 'if') {
          if (['elif', 'else', 'endif'].includes(word)) throw new TemplateSyntaxError(`unexpected '{% ${word} %}'`)
          throw new UnsupportedError(`the statement {% ${word} %} (only {% if %}/{% elif %}/{% else %}/{% endif %} and {% raw %} are supported in variables)`)
        }
        const branches: Array<{ test: Expr; body: Node[] }> = []
        let other: Node[] | undefined
        let test = p.expr()
        p.end()
        for (;;) {
          const b = body(['elif', 'else', 'endif'])
          if (!b.end) throw new TemplateSyntaxError("missing '{% endif %}'")
          branches.push({ test, body: b.nodes })
          if (b.end === 'elif') {
            test = b.p!.expr()
            b.p!.end()
            continue
          }
          b.p!.end()
          if (b.end === 'else') {
            const e = body(['endif'])
            if (!e.end) throw new TemplateSyntaxError("missing '{% endif %}'")
            e.p!.end()
            other = e.nodes
          }
          break
        }
        nodes.push({ k: 'if', branches, else: other })
      }
    }
    return { nodes }
  }
  const top = body([])
  return top.nodes
}
