/**
 * The ansible.cfg settings orch honours, with Ansible 2.14's names, ini keys, environment variables,
 * types and defaults (ansible/config/base.yml and the ssh connection plugin's options). Every other
 * key is ignored, as Ansible ignores keys it does not know.
 */
export type SettingType = 'boolean' | 'integer' | 'string' | 'path' | 'pathlist' | 'list'

export interface SettingDef {
  name: string
  type: SettingType
  default: unknown
  env: string[]
  ini: Array<[section: string, key: string]>
  /** Where it belongs in `ansible-config dump`: the base settings, or the ssh connection plugin's. */
  plugin?: 'ssh'
  /** What orch does with it (for `orch config dump` and the docs). */
  use: string
}

export const SETTINGS: SettingDef[] = [
  { name: 'DEFAULT_HOST_LIST', type: 'pathlist', default: ['/etc/ansible/hosts'], env: ['ANSIBLE_INVENTORY'], ini: [['defaults', 'inventory']], use: '-i when none is given' },
  { name: 'DEFAULT_FORKS', type: 'integer', default: 5, env: ['ANSIBLE_FORKS'], ini: [['defaults', 'forks']], use: '-f when not given (orch: 20 when not set anywhere)' },
  { name: 'DEFAULT_REMOTE_USER', type: 'string', default: null, env: ['ANSIBLE_REMOTE_USER'], ini: [['defaults', 'remote_user']], use: '-u when not given' },
  { name: 'DEFAULT_PRIVATE_KEY_FILE', type: 'path', default: null, env: ['ANSIBLE_PRIVATE_KEY_FILE'], ini: [['defaults', 'private_key_file']], use: '--private-key when not given' },
  { name: 'HOST_KEY_CHECKING', type: 'boolean', default: true, env: ['ANSIBLE_HOST_KEY_CHECKING'], ini: [['defaults', 'host_key_checking']], use: 'False = --host-key-checking off when not given' },
  { name: 'DEFAULT_TIMEOUT', type: 'integer', default: 10, env: ['ANSIBLE_TIMEOUT'], ini: [['defaults', 'timeout']], use: '-T when not given' },
  { name: 'DEFAULT_VAULT_PASSWORD_FILE', type: 'path', default: null, env: ['ANSIBLE_VAULT_PASSWORD_FILE'], ini: [['defaults', 'vault_password_file']], use: 'tried after --vault-password-file' },
  { name: 'DEFAULT_VAULT_IDENTITY_LIST', type: 'list', default: [], env: ['ANSIBLE_VAULT_IDENTITY_LIST'], ini: [['defaults', 'vault_identity_list']], use: 'tried before --vault-id' },
  { name: 'DEFAULT_VAULT_ID_MATCH', type: 'boolean', default: false, env: ['ANSIBLE_VAULT_ID_MATCH'], ini: [['defaults', 'vault_id_match']], use: 'only the vault id of the envelope is tried' },
  { name: 'DEFAULT_ASK_VAULT_PASS', type: 'boolean', default: false, env: ['ANSIBLE_ASK_VAULT_PASS'], ini: [['defaults', 'ask_vault_pass']], use: '--ask-vault-pass' },
  { name: 'DEFAULT_BECOME', type: 'boolean', default: false, env: ['ANSIBLE_BECOME'], ini: [['privilege_escalation', 'become']], use: 'ansible_become for hosts without it' },
  { name: 'DEFAULT_BECOME_METHOD', type: 'string', default: 'sudo', env: ['ANSIBLE_BECOME_METHOD'], ini: [['privilege_escalation', 'become_method']], use: 'ansible_become_method for hosts without it' },
  { name: 'DEFAULT_BECOME_USER', type: 'string', default: 'root', env: ['ANSIBLE_BECOME_USER'], ini: [['privilege_escalation', 'become_user']], use: 'ansible_become_user for hosts without it' },
  { name: 'DEFAULT_BECOME_ASK_PASS', type: 'boolean', default: false, env: ['ANSIBLE_BECOME_ASK_PASS'], ini: [['privilege_escalation', 'become_ask_pass']], use: '-K' },
  { name: 'ssh_args', plugin: 'ssh', type: 'string', default: '-C -o ControlMaster=auto -o ControlPersist=60s', env: ['ANSIBLE_SSH_ARGS'], ini: [['ssh_connection', 'ssh_args']], use: 'ssh options of every host, before ansible_ssh_common_args (only when set: the default\'s ControlMaster/ControlPersist mean nothing to orch, which keeps one connection per host anyway)' },
  { name: 'pipelining', plugin: 'ssh', type: 'boolean', default: false, env: ['ANSIBLE_PIPELINING', 'ANSIBLE_SSH_PIPELINING'], ini: [['defaults', 'pipelining'], ['connection', 'pipelining'], ['ssh_connection', 'pipelining']], use: 'accepted, no effect: orch always sends commands over one persistent shell and never copies module files' },
]

export const SETTING = new Map(SETTINGS.map((s) => [s.name, s]))
