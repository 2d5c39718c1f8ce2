/**
 * Shared by the commands that act on hosts (run, facts, rollback, status): inventory variables become
 * ssh2 connection settings here, and one ConnectionPool per command holds one connection per host.
 */
import { resolve } from 'node:path'
import type { Host, Inventory } from '../inventory/types.ts'
import type { ConnectionVars } from '../inventory/index.ts'
import type { ConnectOptions, ConnectionPool } from '../transport/index.ts'
import { UnreachableError } from '../transport/types.ts'
import { ArgError } from '../engine/types.ts'
import { UsageError } from '../errors.ts'
import { parseExtraVars } from './extraVars.ts'
import type { Io } from './io.ts'
import { setupVault, type VaultCliOptions } from './vault.ts'

export type HostKeyMode = 'strict' | 'accept-new' | 'off'

export interface TargetOptions extends VaultCliOptions {
  inventory: string[]
  limit?: string
  extraVars?: string[]
  forks?: number
  hostKeyChecking?: HostKeyMode
}

export interface Targets {
  inventory: Inventory
  /** Hosts of `all` after --limit, in inventory order. */
  hosts: Host[]
  extraVars: Record<string, unknown>
}

/** Inventory + --limit + -e, validated (throws errors the CLI maps to exit 5). */
export async function loadTargets(o: TargetOptions, io: Io, playbookDir?: string): Promise<Targets> {
  if (!o.inventory.length) throw new UsageError('no inventory: pass -i <file|dir|host1,host2,>')
  if (o.forks !== undefined && !(Number.isInteger(o.forks) && o.forks >= 1)) throw new UsageError(`--forks: expected an integer >= 1, got ${o.forks}`)
  const inv = await import('../inventory/index.ts')
  await setupVault(o, io)
  const extraVars = await parseExtraVars(o.extraVars ?? [], io.cwd)
  const raw = await inv.loadInventory(o.inventory, { extraVars, playbookDir })
  for (const w of raw.warnings ?? []) io.stderr.write(`[WARNING]: ${w}\n`)
  // Templated variables rendered before any host is touched (lookup('file') from the playbook's dir, else cwd).
  const searchDir = playbookDir ? resolve(io.cwd, playbookDir) : io.cwd
  const inventory = (await import('../inventory/template/index.ts')).renderInventory(raw, { searchDir, playbookDir: playbookDir && searchDir })
  const hosts = inv.selectHosts(inventory, 'all', { limit: o.limit, cwd: io.cwd, warn: (m) => io.stderr.write(`[WARNING]: ${m}\n`) })
  return { inventory, hosts, extraVars }
}

/**
 * `orch run` flags that set connection defaults (-u, --private-key, --ssh-common-args, --ssh-extra-args,
 * -T, -b, --become-user, --become-method). As in Ansible, a host's inventory variables win over -u / --private-key / --ssh-common-args;
 * --ssh-extra-args is added after the common args; -T is the connect timeout.
 */
export interface ConnectionDefaults {
  /** -b / --become, --become-user, --become-method (for hosts without ansible_become*). */
  become?: boolean
  becomeUser?: string
  becomeMethod?: string
  /** Only tasks run (orch run --check: no transaction): a non-root become user is allowed. */
  tasksOnly?: boolean
  user?: string
  privateKeyFile?: string
  sshCommonArgs?: string
  sshExtraArgs?: string
  timeoutSec?: number
  /** ansible.cfg [ssh_connection] ssh_args: before the common args (Ansible: ssh_args + common + extra). */
  sshArgs?: string
  /** -k / --ask-pass: the SSH password for hosts without ansible_password. */
  password?: string
}

/** Where an inventory host's connection variables turn into the transport's settings. */
export function connectOptions(
  name: string,
  cv: ConnectionVars,
  hostKeyChecking?: HostKeyMode,
  askedBecomePassword?: string,
  d: ConnectionDefaults = {},
): ConnectOptions {
  // As Ansible: inventory variables win over -b / --become-user / --become-method.
  const becomeUser = cv.becomeUser ?? d.becomeUser
  const method = cv.becomeMethod ?? d.becomeMethod
  const methodVar = cv.becomeMethod !== undefined ? 'ansible_become_method' : '--become-method'
  if (method !== undefined && method !== 'sudo' && method !== 'su') {
    throw new ArgError(methodVar, "'sudo' or 'su' (orch has no other become method; use sudo)", method, name)
  }
  if (becomeUser !== undefined && becomeUser !== 'root' && !d.tasksOnly) {
    // The lock, the undo journal and the snapshots are root's files, written through the become shell.
    throw new ArgError(
      cv.becomeUser !== undefined ? 'ansible_become_user' : '--become-user',
      "'root' here: orch's transaction (lock, undo journal, snapshots) needs root; only 'orch run --check' runs tasks as another user (-e ansible_become_user=root to override)",
      becomeUser,
      name,
    )
  }
  const co: ConnectOptions = { hostName: name, address: cv.address, become: cv.becomeSet ? cv.become : d.become ?? cv.become }
  if (becomeUser !== undefined) co.becomeUser = becomeUser
  if (method !== undefined) co.becomeMethod = method as 'sudo' | 'su'
  if (cv.portSet) co.port = cv.port
  const user = cv.user ?? d.user
  if (user !== undefined) co.user = user
  const key = cv.privateKeyFile ?? d.privateKeyFile
  if (key !== undefined) co.privateKeyFile = key
  const password = cv.password ?? d.password
  if (password !== undefined) co.password = password
  // As Ansible's ssh plugin: ssh_args, then ssh_common_args, then ssh_extra_args (the first value of an option wins).
  const args = [cv.sshArgs ?? d.sshArgs, cv.sshCommonArgs ?? d.sshCommonArgs, cv.sshExtraArgs ?? d.sshExtraArgs].filter((a) => a !== undefined && a !== '')
  if (args.length) co.sshCommonArgs = args.join(' ')
  if (d.timeoutSec !== undefined) co.connectTimeoutMs = d.timeoutSec * 1000
  if (cv.becomePassword !== undefined) co.becomePassword = cv.becomePassword
  else if (askedBecomePassword !== undefined) co.becomePassword = askedBecomePassword
  if (hostKeyChecking) co.hostKeyChecking = hostKeyChecking
  if (cv.connection === 'local') co.connection = 'local'
  return co
}

/**
 * A pool for hosts whose connection settings are registered with `prepare` (which validates the host's
 * connection variables: a bad one throws before anything connects).
 */
export async function hostPool(
  forks: number,
  hostKeyChecking?: HostKeyMode,
  askedBecomePassword?: string,
  defaults: ConnectionDefaults = {},
): Promise<{ pool: ConnectionPool; prepare(h: Host): void }> {
  const { connectionVars } = await import('../inventory/index.ts')
  const transport = await import('../transport/index.ts')
  // ansible.cfg / ANSIBLE_* below the flags; its become* below each host's own variables.
  const cfg = await import('../config/apply.ts')
  const undef = (o: object) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined))
  // [privilege_escalation] become* sit below -b/--become-user/--become-method, which sit below host vars.
  const b = cfg.becomeDefaults()
  const fromCfg: ConnectionDefaults = undef({
    become: b.ansible_become as boolean | undefined,
    becomeUser: b.ansible_become_user as string | undefined,
    becomeMethod: b.ansible_become_method as string | undefined,
  })
  defaults = { ...cfg.connectionDefaults(), ...fromCfg, ...undef(defaults) }
  const settings = new Map<string, ConnectOptions>()
  const pool = new transport.ConnectionPool({
    forks,
    resolve: (name) => {
      const co = settings.get(name)
      if (!co) throw new UnreachableError(name, `${name}: no connection settings (host not in the plan)`)
      return co
    },
  })
  return {
    pool,
    prepare(h: Host) {
      if (settings.has(h.name)) return
      const co = connectOptions(h.name, connectionVars(h), hostKeyChecking, askedBecomePassword, defaults)
      // ssh args and ~/.ssh/config are resolved now: a bad one stops the run (exit 5) before any host is touched.
      // (a local connection has no ssh settings, as Ansible's local plugin)
      if (co.connection !== 'local') {
        try {
          transport.resolveTarget(co)
        } catch (e) {
          if (e instanceof transport.SshArgsError) throw new ArgError('ansible_ssh_args / ansible_ssh_common_args / ansible_ssh_extra_args', `ssh options orch can honour: ${e.message}`, co.sshCommonArgs, h.name)
          if (e instanceof transport.SshConfigError) throw new UsageError(e.message)
          throw e
        }
      }
      settings.set(h.name, co)
    },
  }
}

/** -K / --ask-become-pass: the sudo password, asked once on the terminal (never echoed, never logged). */
export async function askBecomePassword(io: Io): Promise<string> {
  return askOnce(io, '--ask-become-pass', 'ansible_become_password', 'BECOME password:')
}

/** -k / --ask-pass: the SSH login password, asked once, as Ansible's "SSH password:". */
export async function askSshPassword(io: Io): Promise<string> {
  return askOnce(io, '--ask-pass', 'ansible_password', 'SSH password:')
}

async function askOnce(io: Io, flag: string, variable: string, message: string): Promise<string> {
  if (!process.stdin.isTTY) throw new UsageError(`${flag} needs a terminal; set ${variable} (e.g. in a vaulted vars file) instead`)
  const { password } = await import('@inquirer/prompts')
  void io
  return password({ message, mask: false })
}
