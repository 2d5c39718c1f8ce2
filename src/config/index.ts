/**
 * ansible.cfg, found and read as Ansible 2.14 does (ansible/config/manager.py):
 *
 * - the file: $ANSIBLE_CONFIG (a directory means DIR/ansible.cfg), ./ansible.cfg unless the current
 *   directory is world-writable (then a warning), ~/.ansible.cfg, /etc/ansible/ansible.cfg; the first
 *   that exists and is readable wins, the others are not read;
 * - a setting's value: the environment (ANSIBLE_*), else the file, else the default; command-line
 *   flags beat both (the callers apply them first); typed as Ansible types them (booleans y/yes/on/1/true/t,
 *   paths relative to the file's directory, lists split at commas, quotes around a value removed).
 */
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { UsageError } from '../errors.ts'
import { SETTING, SETTINGS, type SettingDef } from './defs.ts'
import { iniGet, parseConfigIni } from './ini.ts'

export { SETTINGS, type SettingDef } from './defs.ts'

export interface Effective {
  def: SettingDef
  value: unknown
  /** 'default', the config file's path, or 'env: NAME' (Ansible's origin strings). */
  origin: string
}

export interface LoadedConfig {
  file?: string
  settings: Map<string, Effective>
  warnings: string[]
}

type Env = Record<string, string | undefined>

/** Python's os.path.expandvars + expanduser. */
function expandPath(p: string, env: Env): string {
  const vars = p.replace(/\$(\w+)|\$\{([^}]+)\}/g, (m, a: string | undefined, b: string | undefined) => env[a ?? b!] ?? m)
  return vars.replace(/^~(?=$|\/)/, env.HOME || homedir())
}

const readable = (p: string): boolean => {
  try {
    accessSync(p, constants.R_OK)
    return existsSync(p)
  } catch {
    return false
  }
}

export function findConfigFile(env: Env, cwd: string, warnings: string[] = []): string | undefined {
  const candidates: string[] = []
  let fromEnv: string | undefined
  if (env.ANSIBLE_CONFIG !== undefined) {
    fromEnv = resolve(cwd, expandPath(env.ANSIBLE_CONFIG, env))
    try {
      if (statSync(fromEnv).isDirectory()) fromEnv = join(fromEnv, 'ansible.cfg')
    } catch {
      // not there: the next candidate is tried
    }
    candidates.push(fromEnv)
  }
  let skippedCwd = false
  try {
    const cwdCfg = join(cwd, 'ansible.cfg')
    if (statSync(cwd).mode & 0o002) skippedCwd = existsSync(cwdCfg)
    else candidates.push(cwdCfg)
  } catch {
    // an unreadable cwd is no source
  }
  candidates.push(join(env.HOME || homedir(), '.ansible.cfg'), '/etc/ansible/ansible.cfg')
  const found = candidates.find(readable)
  if (skippedCwd && found !== fromEnv) {
    warnings.push(`Ansible is being run in a world writable directory (${cwd}), ignoring it as an ansible.cfg source.`)
  }
  return found
}

const TRUE = new Set(['y', 'yes', 'on', '1', 'true', 't'])

/** Ansible's unquote: one pair of matching outer quotes removed. */
const unquote = (s: string): string => (s.length > 1 && s[0] === s[s.length - 1] && (s[0] === '"' || s[0] === "'") && s[s.length - 2] !== '\\' ? s.slice(1, -1) : s)

/** Ansible's ensure_type; basedir: the config file's directory for values read from it, else cwd. */
export function typed(def: SettingDef, raw: unknown, basedir: string, env: Env): unknown {
  if (raw === null || raw === undefined) return null
  const path = (p: string) => resolve(basedir, expandPath(p, env))
  if (typeof raw !== 'string') return def.type === 'pathlist' ? (raw as string[]).map(path) : raw
  switch (def.type) {
    case 'boolean':
      return TRUE.has(raw.trim().toLowerCase())
    case 'integer':
      if (!/^\s*[-+]?\d[\d_]*\s*$/.test(raw)) throw new Error(`expected an integer, got '${raw}'`)
      return Number(raw.replace(/_/g, ''))
    case 'list':
      return raw.split(',').map((x) => unquote(x.trim()))
    case 'pathlist':
      return raw.split(',').map((x) => path(x.trim()))
    case 'path':
      return path(raw)
    default:
      return unquote(raw)
  }
}

export function loadConfig(o: { env?: Env; cwd?: string } = {}): LoadedConfig {
  const env = o.env ?? process.env
  const cwd = o.cwd ?? process.cwd()
  const warnings: string[] = []
  const file = findConfigFile(env, cwd, warnings)
  let ini
  if (file) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (e) {
      throw new UsageError(`${file}: cannot read config file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
    }
    ini = parseConfigIni(text, file)
  }
  const settings = new Map<string, Effective>()
  for (const def of SETTINGS) {
    let raw: unknown
    let origin = 'default'
    // Several names: the last one set wins, as in Ansible's _loop_entries.
    for (const name of def.env) if (env[name] !== undefined) [raw, origin] = [env[name], `env: ${name}`]
    if (origin === 'default' && ini) {
      for (const [section, key] of def.ini) {
        const v = iniGet(ini, section, key)
        if (v !== undefined) [raw, origin] = [v, file!]
      }
    }
    if (origin === 'default') raw = def.default
    let value: unknown
    try {
      value = typed(def, raw, origin === file ? dirname(file) : cwd, env)
    } catch (e) {
      throw new UsageError(`invalid value for ${def.name} (from ${origin}): ${(e as Error).message}`)
    }
    settings.set(def.name, { def, value, origin })
  }
  return { file, settings, warnings }
}

const cache = new Map<string, LoadedConfig>()
/** This process's configuration (read once per working directory and environment). */
export function config(cwd = process.cwd()): LoadedConfig {
  const key = JSON.stringify([cwd, Object.entries(process.env).filter(([k]) => k.startsWith('ANSIBLE_') || k === 'HOME')])
  let c = cache.get(key)
  if (!c) cache.set(key, (c = loadConfig({ cwd })))
  return c
}

/** A setting's value when it was set (environment or file), else undefined. */
export function setValue<T>(c: LoadedConfig, name: string): T | undefined {
  const e = c.settings.get(name)
  if (!SETTING.has(name)) throw new Error(`unknown setting ${name}`)
  return e && e.origin !== 'default' ? (e.value as T) : undefined
}

export function vaultConfig(cwd: string): { passwordFile?: string; identityList: string[]; idMatch: boolean; askVaultPass: boolean } {
  const c = config(cwd)
  return {
    passwordFile: setValue<string>(c, 'DEFAULT_VAULT_PASSWORD_FILE'),
    identityList: (setValue<string[]>(c, 'DEFAULT_VAULT_IDENTITY_LIST') ?? []).filter(Boolean),
    idMatch: setValue<boolean>(c, 'DEFAULT_VAULT_ID_MATCH') ?? false,
    askVaultPass: setValue<boolean>(c, 'DEFAULT_ASK_VAULT_PASS') ?? false,
  }
}

/** Python's repr, as ansible-config prints values. */
function pyRepr(v: unknown, top = true): string {
  if (v === null || v === undefined) return 'None'
  if (typeof v === 'boolean') return v ? 'True' : 'False'
  if (Array.isArray(v)) return `[${v.map((x) => pyRepr(x, false)).join(', ')}]`
  if (typeof v === 'string' && !top) return v.includes("'") && !v.includes('"') ? `"${v}"` : `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
  return String(v)
}

/** `ansible-config dump [--only-changed]`'s text: NAME(origin) = value; the ssh plugin's under `ssh:`. */
export function dumpConfig(c: LoadedConfig, onlyChanged = false): string {
  const line = (name: string, e: Effective) => `${name}(${e.origin}) = ${pyRepr(e.value)}`
  const pick = (plugin?: string) =>
    [...c.settings.entries()].filter(([, e]) => e.def.plugin === plugin && (!onlyChanged || e.origin !== 'default')).sort(([a], [b]) => (a < b ? -1 : 1))
  const base = pick(undefined).map(([n, e]) => line(n, e))
  base.push(`CONFIG_FILE() = ${c.file ?? 'None'}`)
  base.sort()
  const ssh = pick('ssh').map(([n, e]) => line(n, e))
  return [...base, ...(ssh.length ? ['', 'ssh:', '___', ...ssh] : [])].join('\n') + '\n'
}
