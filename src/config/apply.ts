/**
 * ansible.cfg (and ANSIBLE_*) settings as orch's defaults, below the command line, as Ansible's
 * precedence: CLI > environment > ansible.cfg > defaults. Two hooks: cliDefaults() fills the flags a
 * command was not given (-i, -f, --host-key-checking, -K); connectionDefaults()/becomeDefaults() feed
 * the connection settings of every host (inventory variables and flags still win).
 */
import { config, setValue, type LoadedConfig } from './index.ts'

export interface ConfigConnectionDefaults {
  user?: string
  privateKeyFile?: string
  timeoutSec?: number
  /** [ssh_connection] ssh_args: before every host's ansible_ssh_common_args. */
  sshArgs?: string
}

/** Values for command-line options (by commander attribute name) the user did not give. */
export function cliDefaults(c: LoadedConfig = config()): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const inv = setValue<string[]>(c, 'DEFAULT_HOST_LIST')
  if (inv?.length) out.inventory = inv
  const forks = setValue<number>(c, 'DEFAULT_FORKS')
  if (forks !== undefined) out.forks = forks
  if (setValue<boolean>(c, 'HOST_KEY_CHECKING') === false) out.hostKeyChecking = 'off'
  if (setValue<boolean>(c, 'DEFAULT_BECOME_ASK_PASS')) out.askBecomePass = true
  return out
}

export function connectionDefaults(c: LoadedConfig = config()): ConfigConnectionDefaults {
  const out: ConfigConnectionDefaults = {}
  const user = setValue<string>(c, 'DEFAULT_REMOTE_USER')
  if (user) out.user = user
  const key = setValue<string>(c, 'DEFAULT_PRIVATE_KEY_FILE')
  if (key) out.privateKeyFile = key
  const t = setValue<number>(c, 'DEFAULT_TIMEOUT')
  if (t !== undefined) out.timeoutSec = t
  const args = setValue<string>(c, 'ssh_args')
  if (args) out.sshArgs = args
  return out
}

/** [privilege_escalation] become*: host variables for hosts that do not set them. */
export function becomeDefaults(c: LoadedConfig = config()): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const become = setValue<boolean>(c, 'DEFAULT_BECOME')
  if (become !== undefined) out.ansible_become = become
  const user = setValue<string>(c, 'DEFAULT_BECOME_USER')
  if (user !== undefined) out.ansible_become_user = user
  const method = setValue<string>(c, 'DEFAULT_BECOME_METHOD')
  if (method !== undefined) out.ansible_become_method = method
  return out
}
