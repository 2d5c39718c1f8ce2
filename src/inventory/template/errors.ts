/** Errors of the template engine (a leaf). The renderer turns them into TemplateError naming host and variable. */
import { InventoryError } from '../../errors.ts'

/** A variable or attribute that is not defined (Jinja's UndefinedError). */
export class UndefinedError extends Error {
  override name = 'UndefinedError'
}
/** A construct orch does not implement (a filter, a statement, a lookup...): refused, never passed on. */
export class UnsupportedError extends Error {
  override name = 'UnsupportedError'
}
/** A template that does not parse. */
export class TemplateSyntaxError extends Error {
  override name = 'TemplateSyntaxError'
}
/** A type error and the like while evaluating. */
export class TemplateRuntimeError extends Error {
  override name = 'TemplateRuntimeError'
}

/** A host variable whose template cannot be rendered: exit 5 before any host is touched. */
export class TemplateError extends InventoryError {
  constructor(
    readonly host: string,
    readonly variable: string,
    readonly template: string,
    readonly problem: string,
  ) {
    super(`host ${host}: variable ${variable}: ${problem} (in template ${JSON.stringify(template)})`)
    this.name = 'TemplateError'
  }
}
