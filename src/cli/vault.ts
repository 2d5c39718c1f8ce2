/**
 * The vault flags of every command that reads an inventory (--vault-id, --vault-password-file,
 * --ask-vault-pass) and setupVault(), which loads the passwords (with ansible.cfg's / the environment's
 * vault_password_file and vault_identity_list) before any vars file, inventory or -e @file is read.
 */
import type { Command } from 'commander'
import type { Io } from './io.ts'

export interface VaultCliOptions {
  vaultId?: string[]
  vaultPasswordFile?: string[]
  askVaultPass?: boolean
}

const collect = (v: string, prev: string[]) => [...prev, v]

export function vaultOptions(c: Command): Command {
  return c
    .option('--vault-id <[label@]source>', 'vault identity: a password file, an executable printing it, or "prompt" (repeatable)', collect, [])
    .option('--vault-pass-file, --vault-password-file <file>', 'vault password file, or an executable that prints it (repeatable)', collect, [])
    .option('--ask-vault-password, --ask-vault-pass', 'ask for the vault password')
}

// commander names an option by its last long flag: --vault-password-file, --ask-vault-pass.

/** Lines of a non-terminal stdin, one per prompt (Ansible's getpass reads stdin when there is no tty). */
let stdinLines: Promise<string[]> | undefined
function nextStdinLine(): Promise<string> {
  stdinLines ??= new Promise((resolve) => {
    let text = ''
    process.stdin.setEncoding('utf8')
    process.stdin.on('data', (d) => (text += d))
    process.stdin.on('end', () => resolve(text.split(/\r?\n/)))
    process.stdin.on('error', () => resolve(text.split(/\r?\n/)))
  })
  return stdinLines.then((lines) => lines.shift() ?? '')
}

async function prompt(io: Io, message: string): Promise<string> {
  if (process.stdin.isTTY) {
    const { password } = await import('@inquirer/prompts')
    return password({ message: message.trim(), mask: false })
  }
  io.stderr.write(message)
  const line = await nextStdinLine()
  io.stderr.write('\n')
  return line
}

/** Loads the vault passwords into the keyring. keepInline: inline !vault values stay envelopes (orch inventory). */
export async function setupVault(o: VaultCliOptions, io: Io, keepInline = false): Promise<void> {
  const { vaultConfig } = await import('../config/index.ts')
  const cfg = vaultConfig(io.cwd)
  const { loadVaultSecrets } = await import('../vault/sources.ts')
  const { setVault } = await import('../vault/keyring.ts')
  const secrets = await loadVaultSecrets(
    {
      identityList: cfg.identityList,
      vaultIds: o.vaultId ?? [],
      passwordFiles: o.vaultPasswordFile ?? [],
      defaultPasswordFile: cfg.passwordFile,
      askVaultPass: o.askVaultPass || cfg.askVaultPass,
    },
    { cwd: io.cwd, prompt: (m) => prompt(io, m), warn: (m) => io.stderr.write(`[WARNING]: ${m}\n`) },
  )
  setVault({ secrets, idMatch: cfg.idMatch, keepInline })
}
