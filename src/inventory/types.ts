/** An Ansible-compatible inventory, resolved: every host has its final variables. */

export type Vars = Record<string, unknown>

export interface Host {
  name: string
  /** Final variables after Ansible's precedence (see inventory/vars.ts), including connection vars. */
  vars: Vars
  /** Groups the host belongs to, directly or through :children, always including 'all'. 'all' first, then by name. */
  groups: string[]
  /** Ansible's implicit localhost (not in the inventory; see Inventory.localhost). */
  implicit?: boolean
  /** Where the host was first defined ("file:line"), for messages. */
  source?: string
}

export interface Group {
  name: string
  /** Hosts listed directly in the group. */
  hosts: string[]
  children: string[]
  /** Group vars from the inventory files, overlaid with group_vars/ files (as `ansible-inventory --export` shows them). */
  vars: Vars
  /** Direct parent groups ('all' for top-level groups; none for 'all'). */
  parents?: string[]
  /** Longest path from 'all' (all = 0, top-level groups = 1): deeper groups override shallower ones. */
  depth?: number
  /** ansible_group_priority (default 1): among groups of the same depth, higher priority wins. */
  priority?: number
}

export interface Inventory {
  /** Source files, for messages. */
  sources: string[]
  /** In inventory order: the order hosts were first seen. */
  hosts: Map<string, Host>
  groups: Map<string, Group>
  /**
   * Ansible's implicit localhost: the host a pattern naming localhost, 127.0.0.1 or ::1 gets when no
   * group or host matches it (see pattern.ts). Not in `hosts`, so never part of 'all'.
   */
  localhost?: LocalhostFactory
  /** Non-fatal findings (ignored files in an inventory directory, a host and a group with the same name...). */
  warnings?: string[]
}

export { InventoryError } from '../errors.ts'

/**
 * Makes (once, then returns the same host, as Ansible's InventoryData.localhost) the implicit localhost
 * for the name a pattern used: connection local, the 'all' group's vars and host_vars/NAME files.
 */
export type LocalhostFactory = (name: string) => Host
