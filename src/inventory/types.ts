/** An Ansible-compatible inventory, resolved: every host has its final variables. */

export type Vars = Record<string, unknown>

export interface Host {
  name: string
  /** Final variables after Ansible's precedence (see inventory/vars.ts), including connection vars. */
  vars: Vars
  /** Groups the host belongs to, directly or through :children, always including 'all'. */
  groups: string[]
}

export interface Group {
  name: string
  /** Hosts listed directly in the group. */
  hosts: string[]
  children: string[]
  vars: Vars
}

export interface Inventory {
  /** Source files, for messages. */
  sources: string[]
  hosts: Map<string, Host>
  groups: Map<string, Group>
}

/** A problem in an inventory file: names file and line. Exit code 5. */
export class InventoryError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    readonly line?: number,
  ) {
    super(file ? `${file}${line ? `:${line}` : ''}: ${message}` : message)
    this.name = 'InventoryError'
  }
}
