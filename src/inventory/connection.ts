/**
 * A host's connection settings, typed and checked, from its Ansible variables.
 *
 * Aliases are Ansible's, and as in Ansible, when several are set the *last* in each list wins
 * (the ssh plugin's option lookup order): address ← ansible_host, ansible_ssh_host;
 * port ← ansible_port, ansible_ssh_port; user ← ansible_user, ansible_ssh_user;
 * password ← ansible_password, ansible_ssh_pass, ansible_ssh_password;
 * privateKeyFile ← ansible_private_key_file, ansible_ssh_private_key_file;
 * becomePassword ← ansible_become_password, ansible_become_pass.
 */
import { InventoryError, type Host, type Vars } from './types.ts'

export interface ConnectionVars {
  /** ansible_host, else the inventory name. */
  address: string
  /** ansible_port, default 22 (the transport may still apply ~/.ssh/config when it was not set). */
  port: number
  /** Whether the port came from the inventory (false: the default 22). */
  portSet: boolean
  user?: string
  privateKeyFile?: string
  password?: string
  /** ansible_ssh_common_args, as one string (split by the transport). */
  sshCommonArgs?: string
  /** ansible_ssh_args (before the common args, as Ansible's ssh plugin puts them) and ansible_ssh_extra_args (after). */
  sshArgs?: string
  sshExtraArgs?: string
  /** ansible_connection: ssh (also 'smart', 'paramiko', 'paramiko_ssh') or local; anything else is refused. */
  connection: 'ssh' | 'local'
  become: boolean
  /** Whether ansible_become was set (else -b may decide). */
  becomeSet: boolean
  becomeUser?: string
  becomePassword?: string
  becomeMethod?: string
}

/** A host variable of the wrong type: names the host and the variable. */
export class HostVarError extends InventoryError {
  constructor(
    readonly host: string,
    readonly variable: string,
    readonly expected: string,
    readonly got: unknown,
  ) {
    super(`host ${host}: ${variable}: expected ${expected}, got ${JSON.stringify(got)}`)
    this.name = 'HostVarError'
  }
}

/** The last variable of `names` that is set (not undefined/null): [name, value]. */
function pick(vars: Vars, names: string[]): [string, unknown] | undefined {
  let found: [string, unknown] | undefined
  for (const n of names) if (vars[n] !== undefined && vars[n] !== null) found = [n, vars[n]]
  return found
}

const TRUE = new Set(['y', 'yes', 'on', '1', 'true', 't'])
const FALSE = new Set(['n', 'no', 'off', '0', 'false', 'f', ''])

/** Ansible's boolean(): true/false, 1/0, and the strings yes/no/on/off/true/false/1/0/y/n/t/f. */
export function toBool(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value
  if (typeof value === 'number') return value === 1 ? true : value === 0 ? false : undefined
  if (typeof value === 'string') {
    const v = value.trim().toLowerCase()
    if (TRUE.has(v)) return true
    if (FALSE.has(v)) return false
  }
  return undefined
}

export function connectionVars(host: Host): ConnectionVars {
  const v = host.vars
  const str = (names: string[], allowEmpty = false): string | undefined => {
    const f = pick(v, names)
    if (!f) return undefined
    const [name, value] = f
    if (typeof value === 'number') return String(value)
    if (typeof value !== 'string' || (value === '' && !allowEmpty)) {
      throw new HostVarError(host.name, name, allowEmpty ? 'a string' : 'a non-empty string', value)
    }
    // Templates are rendered when the inventory is loaded (inventory/template); one never reaches a connection.
    if (/\{\{|\{%/.test(value)) throw new HostVarError(host.name, name, 'a rendered value, not a template (orch renders templates when it loads the inventory)', value)
    return value
  }

  const address = str(['ansible_host', 'ansible_ssh_host']) ?? host.name

  let port = 22
  const p = pick(v, ['ansible_port', 'ansible_ssh_port'])
  if (p) {
    const [name, value] = p
    const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new HostVarError(host.name, name, 'an integer 1-65535', value)
    port = n
  }

  let become = false
  const b = pick(v, ['ansible_become'])
  if (b) {
    const bool = toBool(b[1])
    if (bool === undefined) throw new HostVarError(host.name, b[0], 'a boolean (true/false, yes/no)', b[1])
    become = bool
  }

  let connection: ConnectionVars['connection'] = 'ssh'
  const c = str(['ansible_connection'])
  if (c !== undefined) {
    const name = c.replace(/^ansible\.builtin\./, '')
    if (name === 'local') connection = 'local'
    else if (!['ssh', 'smart', 'paramiko', 'paramiko_ssh'].includes(name)) {
      const instead = /docker|podman|lxc|lxd|chroot|nspawn|jail|zone|buildah/.test(name)
        ? 'run sshd in the container, or manage the host it runs on over ssh'
        : /winrm|psrp/.test(name)
          ? 'orch manages Linux hosts over ssh only'
          : 'ssh (the default) or local'
      throw new HostVarError(host.name, 'ansible_connection', `ssh or local (orch has no '${c}' connection: ${instead})`, c)
    }
  }

  const out: ConnectionVars = { address, port, portSet: p !== undefined, become, becomeSet: b !== undefined, connection }
  const user = str(['ansible_user', 'ansible_ssh_user'])
  const privateKeyFile = str(['ansible_private_key_file', 'ansible_ssh_private_key_file'])
  const password = str(['ansible_password', 'ansible_ssh_pass', 'ansible_ssh_password'], true)
  const sshCommonArgs = str(['ansible_ssh_common_args'], true)
  const sshArgs = str(['ansible_ssh_args'], true)
  const sshExtraArgs = str(['ansible_ssh_extra_args'], true)
  if (sshArgs !== undefined) out.sshArgs = sshArgs
  if (sshExtraArgs !== undefined) out.sshExtraArgs = sshExtraArgs
  const becomeUser = str(['ansible_become_user'])
  const becomePassword = str(['ansible_become_password', 'ansible_become_pass'], true)
  const becomeMethod = str(['ansible_become_method'])
  if (user !== undefined) out.user = user
  if (privateKeyFile !== undefined) out.privateKeyFile = privateKeyFile
  if (password !== undefined) out.password = password
  if (sshCommonArgs !== undefined) out.sshCommonArgs = sshCommonArgs
  if (becomeUser !== undefined) out.becomeUser = becomeUser
  if (becomePassword !== undefined) out.becomePassword = becomePassword
  if (becomeMethod !== undefined) out.becomeMethod = becomeMethod
  return out
}
