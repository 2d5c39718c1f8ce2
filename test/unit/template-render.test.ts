/** renderInventory: secrets stay secret through templates, cycles and bad templates are TemplateErrors naming host and variable. */
import { describe, expect, it } from 'vitest'
import { clearSecrets, isSecret, markSecret } from '../../src/inventory/secret.ts'
import { renderInventory, TemplateError } from '../../src/inventory/template/index.ts'
import type { Inventory } from '../../src/inventory/types.ts'

const inv = (vars: Record<string, unknown>): Inventory => ({
  sources: [],
  hosts: new Map([['h1', { name: 'h1', vars, groups: ['all', 'ungrouped'] }]]),
  groups: new Map([
    ['all', { name: 'all', hosts: [], children: ['ungrouped'], vars: {} }],
    ['ungrouped', { name: 'ungrouped', hosts: ['h1'], children: [], vars: {} }],
  ]),
})
const render = (vars: Record<string, unknown>) => renderInventory(inv(vars), { searchDir: '/nonexistent' }).hosts.get('h1')!.vars

describe('renderInventory', () => {
  it('a value templated from a secret is secret, also after a filter changed it', () => {
    const pw = markSecret(`pw-${Math.random().toString(36).slice(2)}`)
    try {
      const v = render({ vault_pw: pw, ansible_become_password: '{{ vault_pw | upper }}', other: '{{ "plain" }}', list: '{{ [vault_pw ~ "x"] }}' })
      expect(v.ansible_become_password).toBe(pw.toUpperCase())
      expect(isSecret(v.ansible_become_password)).toBe(true)
      expect(isSecret((v.list as string[])[0])).toBe(true)
      expect(isSecret(v.other)).toBe(false)
    } finally {
      clearSecrets()
    }
  })

  it('a cycle is an error naming the variables', () => {
    expect(() => render({ a: '{{ b }}', b: 'x{{ a }}' })).toThrow(TemplateError)
    expect(() => render({ a: '{{ b }}', b: 'x{{ a }}' })).toThrow(/host h1: variable a: recursive loop detected in template: a -> b -> a/)
    expect(() => render({ self: '{{ self }}' })).toThrow(/self -> self/)
  })

  it('names host, variable and template; leaves the raw inventory untouched', () => {
    const raw = inv({ ntp: '{{ region }}.pool', region: 'eu', bad: '{{ 1 +* 2 }}' })
    expect(() => renderInventory(raw, { searchDir: '/' })).toThrow(/host h1: variable bad: template syntax error: .* \(in template "\{\{ 1 \+\* 2 \}\}"\)/)
    delete raw.hosts.get('h1')!.vars.bad
    const out = renderInventory(raw, { searchDir: '/' })
    expect(out.hosts.get('h1')!.vars.ntp).toBe('eu.pool')
    expect(raw.hosts.get('h1')!.vars.ntp).toBe('{{ region }}.pool')
  })

  it('an inventory without templates is returned as it is', () => {
    const raw = inv({ a: 1, b: 'text' })
    expect(renderInventory(raw, { searchDir: '/' })).toBe(raw)
  })
})
