/**
 * Host keys for the wizard: the server's key is fetched *before* any authentication (a handshake that
 * refuses the key as soon as it has seen it), shown as OpenSSH shows it, and only added to the chosen
 * known_hosts after the user confirmed it.
 *
 * While the wizard runs, accepted keys live in a staging copy of that known_hosts (a private temp
 * directory): connections made by the wizard use it, and the real file is written with the other files
 * at the very end, so a wizard cancelled halfway leaves the user's known_hosts untouched.
 */
import { copyFileSync, existsSync, readFileSync } from 'node:fs'
import ssh2 from 'ssh2'
import {
  algorithmsForKeyType,
  appendKnownHost,
  checkHostKey,
  fingerprint,
  keyTypeLabel,
  keyTypeOf,
  knownHostsName,
  knownKeyTypes,
  type Verdict,
} from '../transport/known-hosts.ts'
import type { ResolvedHop } from '../transport/index.ts'

const { Client } = ssh2

const HOST_KEY_ALGOS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
]

export interface ScannedKey {
  key: Buffer
  /** ssh-ed25519, ... */
  type: string
  /** ED25519, RSA, ... as OpenSSH prints it. */
  label: string
  /** SHA256:... */
  fingerprint: string
}

export function describeKey(key: Buffer): ScannedKey {
  const type = keyTypeOf(key)
  return { key, type, label: keyTypeLabel(type), fingerprint: fingerprint(key) }
}

/**
 * The host key a server presents, without authenticating: the handshake is refused right after the
 * key arrived. Key types already known for the host are negotiated first (as OpenSSH and the transport
 * do), so the key shown is the one later connections will be checked against.
 */
export function scanHostKey(host: string, port: number, opts: { timeoutMs?: number; knownFiles?: string[]; name?: string } = {}): Promise<ScannedKey> {
  const name = opts.name ?? knownHostsName(host, port)
  const known = knownKeyTypes(opts.knownFiles ?? [], [name])
  const preferred = known.flatMap(algorithmsForKeyType).filter((a) => HOST_KEY_ALGOS.includes(a))
  const serverHostKey = [...new Set([...preferred, ...HOST_KEY_ALGOS])]
  return new Promise((resolve, reject) => {
    const c = new Client()
    let key: Buffer | null = null
    let settled = false
    const finish = (err?: Error) => {
      if (settled) return
      settled = true
      c.end()
      if (key) resolve(describeKey(key))
      else reject(err ?? new Error(`${host}:${port}: the connection closed before the server sent its host key`))
    }
    c.on('error', (e) => finish(e))
    c.on('close', () => finish())
    c.on('ready', () => finish())
    try {
      c.connect({
        host,
        port,
        username: 'orch-wizard-keyscan',
        readyTimeout: opts.timeoutMs ?? 10_000,
        algorithms: { serverHostKey: serverHostKey as never },
        hostVerifier: (k: Buffer, verify: (ok: boolean) => void) => {
          key = Buffer.from(k)
          verify(false)
        },
      })
    } catch (e) {
      finish(e as Error)
    }
  })
}

/** The known_hosts files the wizard checks against and the one it stages new keys in. */
export class StagedKnownHosts {
  /** Lines added during this wizard, to append to the real file at the end. */
  readonly added: string[] = []

  constructor(
    /** The user's file (--known-hosts, default ~/.ssh/known_hosts): written only by commit. */
    readonly target: string,
    /** The staging copy (private temp dir): what the wizard's connections use. */
    readonly staging: string,
    /** Read-only global files (/etc/ssh/ssh_known_hosts). */
    readonly global: string[] = ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'],
  ) {
    if (existsSync(target)) copyFileSync(target, staging)
  }

  get files(): string[] {
    return [this.staging, ...this.global]
  }

  /** Where a key stands: ok (known), unknown, changed/other-type/revoked (refused). */
  verdict(name: string, key: Buffer): Verdict {
    return checkHostKey(this.files, [name], key)
  }

  /** Trust a key: into the staging file now, into the real file at commit. */
  accept(name: string, key: Buffer, hashed = false): void {
    const before = existsSync(this.staging) ? readFileSync(this.staging, 'utf8') : ''
    appendKnownHost(this.staging, name, key, hashed)
    const after = readFileSync(this.staging, 'utf8')
    this.added.push(after.slice(before.length).replace(/^\n/, '').replace(/\n$/, ''))
  }

  /**
   * The real file's new content: as it is now (re-read: something else may have appended meanwhile)
   * plus the accepted lines it does not hold yet. null when there is nothing to add.
   */
  finalContent(): string | null {
    if (!this.added.length) return null
    const current = existsSync(this.target) ? readFileSync(this.target, 'utf8') : ''
    const have = new Set(current.split('\n').map((l) => l.trim()))
    const lines = this.added.filter((l) => !have.has(l.trim()))
    if (!lines.length) return null
    const sep = current && !current.endsWith('\n') ? '\n' : ''
    return current + sep + lines.join('\n') + '\n'
  }
}

/** The name a hop's key is filed under (HostKeyAlias, else host / [host]:port). */
export function knownName(hop: Pick<ResolvedHop, 'host' | 'port' | 'hostKeyAlias'>): string {
  return hop.hostKeyAlias ?? knownHostsName(hop.host, hop.port)
}
