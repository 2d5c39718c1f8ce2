/**
 * Vault decryption against files made by the real ansible-vault (Debian's ansible-core): 1.1 and 1.2
 * envelopes, several vault ids and Ansible's try order, password files / scripts / client scripts,
 * wrong passwords and corrupted files (errors name the file, never the plaintext, exit 5), inline
 * !vault in group_vars and in -e @file, and secrets kept out of what orch prints.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { parseExtraVars } from '../../src/cli/extraVars.ts'
import { exitCodeForError, VaultError } from '../../src/errors.ts'
import { loadInventory } from '../../src/inventory/index.ts'
import { clearSecrets, isSecret, redact } from '../../src/inventory/secret.ts'
import { decryptAes256, parseEnvelope } from '../../src/vault/format.ts'
import { candidates, decryptWith, setVault, type VaultSecret } from '../../src/vault/keyring.ts'
import { isClientScript, loadVaultSecrets, vaultSlugs } from '../../src/vault/sources.ts'
import { ansibleEnv, ansibleInventory, HAVE_ANSIBLE, SKIP_REASON } from '../helpers/ansible.ts'
import { fakeIo, runOrch } from '../helpers/cli.ts'

const dir = mkdtempSync(join(tmpdir(), 'orch-vault-test-'))
const put = (name: string, text: string, mode?: number) => {
  const p = join(dir, name)
  mkdirSync(join(p, '..'), { recursive: true })
  writeFileSync(p, text)
  if (mode) chmodSync(p, mode)
  return p
}
const SECRET_A = 'hunter2-"quoted"\\back'
const PLAIN_FILE = `db_password: ${JSON.stringify(SECRET_A)}\nport: 5432\nlist: [one-secret-item]\n`

/** ansible-vault ARGS in dir (no local config), its stdout. */
function vault(args: string[], input?: string): string {
  const { env } = ansibleEnv()
  return execFileSync('ansible-vault', args, { cwd: dir, env, input, encoding: 'utf8' })
}

const pw = (id: string, text: string): VaultSecret => ({ id, password: Buffer.from(text), source: 'test' })
const d = HAVE_ANSIBLE ? describe : describe.skip

const orch = (...args: string[]) => runOrch(dir, args)

afterEach(() => {
  setVault({ secrets: [] })
  clearSecrets()
})

d(`vault files made by ansible-vault${SKIP_REASON}`, () => {
  beforeAll(() => {
    put('pw-dev', 'dev-pass\n')
    put('pw-prod', '  prod-pass  \n\n')
    put('pw-wrong', 'nope\n')
    // 1.1 (no vault id), 1.2 with ids dev and prod.
    put('v11.yml', PLAIN_FILE)
    vault(['encrypt', '--vault-password-file', 'pw-dev', 'v11.yml'])
    put('v12-prod.yml', 'role: prod-only-value\n')
    vault(['encrypt', '--vault-id', 'prod@pw-prod', 'v12-prod.yml'])
    const inline = vault(['encrypt_string', '--vault-id', 'dev@pw-dev', '--name', 'api_token', 'tok-9f8e7d'])
    put('inv/hosts', '[web]\nw1\nw2\n')
    put('inv/group_vars/web.yml', `plain: visible\n${inline}\n`)
    put('inv/host_vars/w1.yml', readFileSync(join(dir, 'v12-prod.yml'), 'utf8'))
    put('extra-inline.yml', `${vault(['encrypt_string', '--vault-id', 'prod@pw-prod', '--name', 'x_secret', 'xs-55'])}\nx_plain: 1\n`)
  }, 60_000)

  it('parses both envelope versions and decrypts AES256 with the right password only', () => {
    const v11 = readFileSync(join(dir, 'v11.yml'), 'utf8')
    const v12 = readFileSync(join(dir, 'v12-prod.yml'), 'utf8')
    expect(parseEnvelope(v11)).toMatchObject({ version: '1.1', cipher: 'AES256' })
    expect(parseEnvelope(v11).vaultId).toBeUndefined()
    expect(parseEnvelope(v12)).toMatchObject({ version: '1.2', cipher: 'AES256', vaultId: 'prod' })
    expect(decryptAes256(parseEnvelope(v11).body, Buffer.from('dev-pass'))!.toString()).toBe(PLAIN_FILE)
    expect(decryptAes256(parseEnvelope(v11).body, Buffer.from('dev-pas'))).toBeNull()
    // The prod file's password was stripped of its surrounding whitespace, as Ansible reads password files.
    expect(decryptAes256(parseEnvelope(v12).body, Buffer.from('prod-pass'))!.toString()).toBe('role: prod-only-value\n')
  })

  it("tries the envelope's vault id first, then the others; vault_id_match only the matching one", () => {
    const secrets = [pw('dev', 'dev-pass'), pw('other', 'x'), pw('prod', 'prod-pass')]
    expect(candidates(secrets, 'prod').map((s) => s.id)).toEqual(['prod', 'dev', 'other'])
    expect(candidates(secrets, 'default').map((s) => s.id)).toEqual(['dev', 'other', 'prod'])
    expect(candidates(secrets, 'prod', true).map((s) => s.id)).toEqual(['prod'])
    const v12 = readFileSync(join(dir, 'v12-prod.yml'), 'utf8')
    // A label that does not match still works (Ansible's default), unless vault_id_match is set.
    expect(decryptWith(v12, [pw('dev', 'prod-pass')]).id).toBe('dev')
    expect(() => decryptWith(v12, [pw('dev', 'prod-pass')], { idMatch: true })).toThrow(/vault id 'prod' has no password/)
  })

  it('a wrong password or a corrupted file is a VaultError (exit 5) naming the file, never the plaintext', () => {
    const file = join(dir, 'v11.yml')
    const text = readFileSync(file, 'utf8')
    let err: unknown
    try {
      decryptWith(text, [pw('default', 'nope')], { file })
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(VaultError)
    expect(exitCodeForError(err)).toBe(5)
    expect((err as Error).message).toMatch(new RegExp(`^${file}: decryption failed`))
    expect((err as Error).message).not.toContain('hunter2')
    // One hex digit of the ciphertext changed: the HMAC no longer matches.
    const inner = Buffer.from(parseEnvelope(text).body, 'hex').toString('latin1')
    const flipped = inner.slice(0, -1) + (inner.endsWith('0') ? '1' : '0')
    const corrupted = `${text.split('\n')[0]}\n${Buffer.from(flipped, 'latin1').toString('hex')}\n`
    expect(() => decryptWith(corrupted, [pw('default', 'dev-pass')], { file })).toThrow(/decryption failed: .*corrupted file/)
    // Not hex at all, or cut short.
    expect(() => decryptWith(text.replace(/[0-9a-f]{8}\n/, 'zzzzzzzz\n'), [pw('default', 'dev-pass')], { file })).toThrow(/vault format error/)
    expect(() => decryptWith(text.split('\n').slice(0, 2).join('\n'), [pw('default', 'dev-pass')], { file })).toThrow(/vault format error/)
    expect(() => decryptWith(text, [], { file })).toThrow(/no vault password was given: pass --vault-password-file/)
  })

  it('inline !vault in group_vars and a vaulted host_vars file: decrypted, marked secret', async () => {
    setVault({ secrets: [pw('dev', 'dev-pass'), pw('prod', 'prod-pass')] })
    const inv = await loadInventory([join(dir, 'inv/hosts')])
    expect(inv.hosts.get('w1')!.vars).toMatchObject({ api_token: 'tok-9f8e7d', plain: 'visible', role: 'prod-only-value' })
    expect(inv.hosts.get('w2')!.vars.role).toBeUndefined()
    expect(isSecret('tok-9f8e7d')).toBe(true)
    expect(isSecret('prod-only-value')).toBe(true)
    expect(isSecret('visible')).toBe(false)
    expect(redact('token=tok-9f8e7d.')).toBe('token=********.')
  })

  it('an inline !vault with a wrong password names the file and line', async () => {
    setVault({ secrets: [pw('dev', 'wrong'), pw('prod', 'prod-pass')] })
    await expect(loadInventory([join(dir, 'inv/hosts')])).rejects.toThrow(new RegExp(`group_vars/web\\.yml:2: decryption failed`))
  })

  it('-e @file: a vaulted file and inline !vault values', async () => {
    setVault({ secrets: [pw('default', 'dev-pass'), pw('prod', 'prod-pass')] })
    expect(await parseExtraVars(['@v11.yml', '@extra-inline.yml'], dir)).toEqual({ db_password: SECRET_A, port: 5432, list: ['one-secret-item'], x_secret: 'xs-55', x_plain: 1 })
    expect(isSecret(SECRET_A) && isSecret('one-secret-item') && isSecret('xs-55')).toBe(true)
    // The JSON-escaped form is masked too (--json).
    expect(redact(JSON.stringify({ p: SECRET_A }))).toBe('{"p":"********"}')
  })

  it('password files, scripts and client scripts (--vault-id label passed), in Ansible order', async () => {
    put('get-pw.sh', '#!/bin/sh\necho prod-pass\n', 0o755)
    put('keys-client.sh', '#!/bin/sh\n[ "$1" = --vault-id ] || exit 9\ncase "$2" in dev) echo dev-pass ;; *) echo "no $2" >&2; exit 2 ;; esac\n', 0o755)
    expect(isClientScript('/x/keys-client.sh') && isClientScript('keys-client') && !isClientScript('client.sh')).toBe(true)
    const warnings: string[] = []
    const ctx = { cwd: dir, prompt: async () => 'asked-pass', warn: (m: string) => warnings.push(m) }
    const s = await loadVaultSecrets(
      { identityList: ['prod@get-pw.sh'], vaultIds: ['dev@keys-client.sh', 'missing@nope'], passwordFiles: ['pw-prod'], defaultPasswordFile: join(dir, 'pw-dev'), askVaultPass: true },
      ctx,
    )
    expect(s.map((x) => [x.id, x.password.toString()])).toEqual([
      ['prod', 'prod-pass'],
      ['dev', 'dev-pass'],
      ['default', 'prod-pass'],
      ['default', 'dev-pass'],
      ['default', 'asked-pass'],
    ])
    expect(warnings.join('\n')).toMatch(/vault password file .*nope was not found/)
    await expect(loadVaultSecrets({ vaultIds: ['prod@keys-client.sh'] }, ctx)).rejects.toThrow(/did not find a secret for vault-id=prod: no prod/)
    expect(vaultSlugs({ vaultIds: ['a@x'], passwordFiles: ['f'], identityList: ['c@y'], askVaultPass: true })).toEqual(['c@y', 'a@x', 'default@f', 'default@prompt_ask_vault_pass'])
  })

  it('orch inventory --list prints what ansible-inventory prints (inline values stay envelopes)', async () => {
    const args = ['-i', join(dir, 'inv/hosts'), '--list', '--vault-id', `dev@${join(dir, 'pw-dev')}`, '--vault-id', `prod@${join(dir, 'pw-prod')}`]
    const mine = await orch('inventory', ...args)
    const theirs = await ansibleInventory(args)
    expect(mine.code).toBe(0)
    expect(theirs.code).toBe(0)
    expect(JSON.parse(mine.out)).toEqual(JSON.parse(theirs.out))
  })

  it('the CLI: wrong password exit 5 naming the file; ANSIBLE_VAULT_PASSWORD_FILE; a secret in an error is masked', async () => {
    const bad = await orch('inventory', '-i', join(dir, 'inv/hosts'), '--list', '--vault-password-file', join(dir, 'pw-wrong'))
    expect(bad.code).toBe(5)
    expect(bad.err).toMatch(/host_vars\/w1\.yml: decryption failed/)
    expect(bad.err + bad.out).not.toContain('prod-only-value')

    put('book.ts', `import { playbook } from ${JSON.stringify(join(process.cwd(), 'src/index.ts'))}\nexport default playbook({ name: 'p', hosts: 'web', tasks: ({ need }) => { need('db_password', (v) => v === 'x', 'the letter x'); return [] } })\n`)
    process.env.ANSIBLE_VAULT_PASSWORD_FILE = join(dir, 'pw-dev')
    try {
      const r = await orch('run', join(dir, 'book.ts'), '-i', join(dir, 'inv/hosts'), '-e', '@v11.yml', '--vault-id', `prod@${join(dir, 'pw-prod')}`, '--json')
      expect(r.code).toBe(5)
      expect(r.err).toMatch(/db_password/)
      expect(r.err + r.out).not.toContain('hunter2')
      expect(r.err).toContain('********')
      expect(JSON.parse(r.out)).toBeTruthy()
    } finally {
      delete process.env.ANSIBLE_VAULT_PASSWORD_FILE
    }
  })
})

describe('what orch writes is redacted', () => {
  it('redactingIo masks every registered secret on stdout and stderr, keeps the stream otherwise', async () => {
    const { redactingIo } = await import('../../src/cli/redact.ts')
    const { markSecret } = await import('../../src/inventory/secret.ts')
    const io = fakeIo(dir)
    ;(io.stdout as unknown as { columns: number }).columns = 80
    const r = redactingIo(io)
    markSecret('s3cr3t-pw')
    markSecret('s3cr3t')
    r.stdout.write('--- before\n+++ after password=s3cr3t-pw and s3cr3t\n')
    r.stderr.write(`${JSON.stringify({ msg: 'got "s3cr3t-pw"' })}\n`)
    expect(io.out).toBe('--- before\n+++ after password=******** and ********\n')
    expect(io.err).not.toContain('s3cr3t')
    expect(r.stdout.isTTY).toBe(false)
    expect((r.stdout as unknown as { columns: number }).columns).toBe(80)
  })
})
