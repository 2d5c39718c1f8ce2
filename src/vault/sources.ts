/**
 * Where vault passwords come from, as Ansible's CLI.setup_vault_secrets / get_file_vault_secret:
 *
 * - the slugs, in order: vault_identity_list (ansible.cfg / ANSIBLE_VAULT_IDENTITY_LIST), each
 *   --vault-id, each --vault-password-file then vault_password_file (cfg / ANSIBLE_VAULT_PASSWORD_FILE)
 *   as default@FILE, then --ask-vault-pass as default@prompt_ask_vault_pass;
 * - a slug is [label@]source; source `prompt` asks on the terminal; anything else is a file: an
 *   executable file is run (a name ending in -client, before its extension, is a client script and gets
 *   `--vault-id LABEL`; exit 2 means it has no secret for that label) and prints the password; a plain
 *   file holds it (stripped);
 * - a source that fails is a warning while another one works, else the error.
 */
import { execFile } from 'node:child_process'
import { accessSync, constants, readFileSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { basename, extname, resolve } from 'node:path'
import { VaultError } from '../errors.ts'
import type { VaultSecret } from './keyring.ts'

export interface VaultSourceOptions {
  /** --vault-id, each [label@]source. */
  vaultIds?: string[]
  /** --vault-password-file. */
  passwordFiles?: string[]
  askVaultPass?: boolean
  /** vault_identity_list (cfg or ANSIBLE_VAULT_IDENTITY_LIST), first. */
  identityList?: string[]
  /** vault_password_file (cfg or ANSIBLE_VAULT_PASSWORD_FILE), after --vault-password-file. */
  defaultPasswordFile?: string
}

export const DEFAULT_ID = 'default'

/** Ansible's build_vault_ids: the slugs in the order their secrets are tried. */
export function vaultSlugs(o: VaultSourceOptions): string[] {
  const files = [...(o.passwordFiles ?? []), ...(o.defaultPasswordFile ? [o.defaultPasswordFile] : [])]
  const slugs = [...(o.identityList ?? []), ...(o.vaultIds ?? []), ...files.map((f) => `${DEFAULT_ID}@${f}`)]
  if (o.askVaultPass) slugs.push(`${DEFAULT_ID}@prompt_ask_vault_pass`)
  return slugs
}

export function splitSlug(slug: string): { label?: string; source: string } {
  const at = slug.indexOf('@')
  return at < 0 ? { source: slug } : { label: slug.slice(0, at), source: slug.slice(at + 1) }
}

/** Ansible's script_is_client: the name without its extension ends with -client. */
export function isClientScript(file: string): boolean {
  const name = basename(file)
  const ext = extname(name)
  return (ext ? name.slice(0, -ext.length) : name).endsWith('-client')
}

const expand = (p: string, cwd: string): string => resolve(cwd, p.replace(/^~(?=$|\/)/, homedir()))

function isExecutableFile(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false
    accessSync(p, constants.X_OK)
    return true
  } catch {
    return false
  }
}

const stripCrLf = (b: Buffer): Buffer => {
  let s = 0
  let e = b.length
  while (s < e && (b[s] === 0x0d || b[s] === 0x0a)) s++
  while (e > s && (b[e - 1] === 0x0d || b[e - 1] === 0x0a)) e--
  return b.subarray(s, e)
}

function runScript(file: string, args: string[], client: boolean): Promise<{ out: Buffer; err: string; code: number }> {
  return new Promise((done, fail) => {
    // A plain script's stderr stays the terminal's (it may prompt there), as in Ansible.
    const p = execFile(file, args, { encoding: 'buffer', maxBuffer: 1 << 20 }, (e, stdout, stderr) => {
      // e.code: the exit status, or an errno string when it could not start.
      const code: unknown = e ? (e as { code?: unknown }).code : 0
      if (typeof code === 'string') {
        return fail(new VaultError(`cannot run vault password script ${file} (${code}); if it is not a script, remove its executable bit`))
      }
      done({ out: stdout as Buffer, err: client ? (stderr as Buffer).toString('utf8').trim() : '', code: typeof code === 'number' ? code : -1 })
    })
    if (!client) p.stderr?.pipe(process.stderr)
  })
}

/** One file source's password (Ansible's FileVaultSecret / ScriptVaultSecret / ClientScriptVaultSecret). */
export async function filePassword(source: string, label: string | undefined, cwd: string): Promise<Buffer> {
  const file = expand(source, cwd)
  let st
  try {
    st = statSync(file)
  } catch {
    throw new VaultError(`the vault password file ${file} was not found`)
  }
  let pw: Buffer
  if (st.isFile() && isExecutableFile(file)) {
    const client = isClientScript(file)
    const args = client && label ? ['--vault-id', label] : []
    const r = await runScript(file, args, client)
    if (client && r.code === 2) throw new VaultError(`vault password client script ${file} did not find a secret for vault-id=${label}: ${r.err}`)
    if (r.code !== 0) throw new VaultError(`vault password script ${file} returned non-zero (${r.code})${label ? ` for vault-id=${label}` : ''}${r.err ? `: ${r.err}` : ''}`)
    pw = stripCrLf(r.out)
    if (!pw.length) throw new VaultError(`invalid vault password: the script ${file} printed none`)
  } else {
    try {
      pw = stripCrLf(Buffer.from(readFileSync(file).toString('latin1').trim(), 'latin1'))
    } catch (e) {
      throw new VaultError(`could not read vault password file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
    }
    if (!pw.length) throw new VaultError(`invalid vault password: the file ${file} is empty`)
  }
  return pw
}

export interface SourceContext {
  cwd: string
  /** Asks for a password (never echoed); message as Ansible's: 'Vault password: ' / 'Vault password (LABEL): '. */
  prompt(message: string): Promise<string>
  warn(message: string): void
}

/** The secrets, in Ansible's try order. */
export async function loadVaultSecrets(o: VaultSourceOptions, ctx: SourceContext): Promise<VaultSecret[]> {
  const out: VaultSecret[] = []
  let lastError: unknown
  for (const slug of vaultSlugs(o)) {
    const { label, source } = splitSlug(slug)
    const id = label || DEFAULT_ID
    if (source === 'prompt' || source === 'prompt_ask_vault_pass') {
      const answer = (await ctx.prompt(source === 'prompt' ? `Vault password (${id}): ` : 'Vault password: ')).trim()
      if (!answer) throw new VaultError(`invalid vault password: empty answer at the prompt${label ? ` for vault id ${label}` : ''}`)
      out.push({ id, password: Buffer.from(answer, 'utf8'), source: 'prompt' })
      continue
    }
    try {
      out.push({ id, password: await filePassword(source, label, ctx.cwd), source })
    } catch (e) {
      if (!(e instanceof VaultError)) throw e
      ctx.warn(`Error getting vault password file (${label ?? id}): ${e.message}`)
      lastError = e
    }
  }
  if (lastError && !out.length) throw lastError
  return out
}
