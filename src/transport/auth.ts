/**
 * Client authentication like OpenSSH.
 *
 * Public keys are offered in OpenSSH's order through one ssh2 "agent": the configured identity
 * files first (signed by ssh-agent when it holds the same key, so no passphrase is needed), then the
 * other ssh-agent keys (not with IdentitiesOnly), then the default ~/.ssh/id_{ed25519,ecdsa,rsa}
 * (only when no identity file is configured). A file's private key is decrypted only when the server
 * accepted its public key, so a passphrase (string or callback) is asked for at most once per file
 * and only for a key that is going to be used. Then password and keyboard-interactive.
 */
import { createPrivateKey, sign as cryptoSign, type KeyObject } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import ssh2 from 'ssh2'
import type { AnyAuthMethod, AuthHandlerMiddleware, IdentityCallback, ParsedKey, SignCallback, SigningRequestOptions } from 'ssh2'
import type { PassphraseSource, ResolvedHop } from './options.ts'

const { utils, OpenSSHAgent, BaseAgent } = ssh2

type ParseResult = ParsedKey | ParsedKey[] | Error

function firstKey(k: ParseResult): ParsedKey | Error {
  return Array.isArray(k) ? (k[0] ?? new Error('no key in file')) : k
}

function publicFromBlob(blob: Buffer): ParsedKey | Error {
  const len = blob.readUInt32BE(0)
  const type = blob.toString('latin1', 4, 4 + len)
  return firstKey(utils.parseKey(`${type} ${blob.toString('base64')}`) as ParseResult)
}

/** The public key blob stored in the clear in an (encrypted) "openssh-key-v1" private key. */
function opensshPublicBlob(text: string): Buffer | null {
  const m = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]+?)-----END OPENSSH PRIVATE KEY-----/.exec(text)
  if (!m) return null
  const b = Buffer.from(m[1].replace(/\s+/g, ''), 'base64')
  const magic = 'openssh-key-v1\0'
  if (b.toString('latin1', 0, magic.length) !== magic) return null
  let off = magic.length
  const str = () => {
    const n = b.readUInt32BE(off)
    const v = b.subarray(off + 4, off + 4 + n)
    off += 4 + n
    return v
  }
  try {
    str() // cipher
    str() // kdf
    str() // kdf options
    const n = b.readUInt32BE(off)
    off += 4
    return n >= 1 ? str() : null
  } catch {
    return null
  }
}

/** An identity file: its public key now, its private key when it is needed. */
export interface IdentityFile {
  file: string
  publicKey?: ParsedKey
  /** Why the file can't be offered at all. */
  problem?: string
  /** Decrypt (asking for the passphrase if needed); cached. */
  privateKey(): Promise<ParsedKey | Error>
}

/**
 * Key files as read and parsed (without a passphrase), per path, while the file (and its .pub) is
 * unchanged. Parsing an ed25519 key builds an OpenSSL key object (asn1): about 2 ms, paid for every
 * connection before this: 0.2 s of controller CPU for 100 hosts sharing one key (bench --cpu-prof).
 * Decrypting an encrypted key is never cached across connections: each one brings its own passphrase.
 */
interface KeyFileEntry {
  stamp: string
  data: Buffer
  /** Parsed without a passphrase (the key, or why not: encrypted, not a key). */
  plain?: ParsedKey | Error
  /** The public half, once worked out (null: none without decrypting). */
  pub?: ParsedKey | null
}
const keyFiles = new Map<string, KeyFileEntry>()

function fileStamp(file: string): string {
  try {
    const st = statSync(file)
    return `${st.ino}:${st.size}:${st.mtimeMs}`
  } catch {
    return '-'
  }
}

function keyFileEntry(file: string): KeyFileEntry {
  const stamp = `${fileStamp(file)}|${fileStamp(`${file}.pub`)}`
  const hit = keyFiles.get(file)
  if (hit && hit.stamp === stamp && !stamp.startsWith('-|')) return hit
  const entry: KeyFileEntry = { stamp, data: readFileSync(file) }
  keyFiles.set(file, entry)
  return entry
}

export function identityFile(file: string, passphrase: PassphraseSource | undefined): IdentityFile {
  let entry: KeyFileEntry
  try {
    entry = keyFileEntry(file)
  } catch (e) {
    const problem = `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`
    return { file, problem, privateKey: async () => new Error(problem) }
  }
  const data = entry.data
  const plain = () => (entry.plain ??= firstKey(utils.parseKey(data) as ParseResult))
  let cached: Promise<ParsedKey | Error> | null = null
  const privateKey = () =>
    (cached ??= (async () => {
      let key = plain()
      if (key instanceof Error && /passphrase|encrypted/i.test(key.message)) {
        const pp = typeof passphrase === 'function' ? await passphrase(file) : passphrase
        if (pp === undefined || pp === '') return new Error(`${file} is encrypted and no passphrase was given`)
        key = firstKey(utils.parseKey(data, pp) as ParseResult)
        if (key instanceof Error) return new Error(`${file}: wrong passphrase (${key.message})`)
      }
      if (key instanceof Error) return new Error(`${file}: ${key.message}`)
      if (!key.isPrivateKey()) return new Error(`${file} is not a private key`)
      return key
    })())

  // The public half: <file>.pub, the key itself when unencrypted, or the clear header of an
  // encrypted OpenSSH key. Only an encrypted PEM key without .pub needs decrypting up front.
  if (entry.pub === undefined) {
    let pub: ParsedKey | Error | null = null
    try {
      pub = firstKey(utils.parseKey(readFileSync(`${file}.pub`)) as ParseResult)
    } catch {
      /* no .pub */
    }
    if (!pub || pub instanceof Error) {
      const k = plain()
      if (!(k instanceof Error)) pub = publicFromBlob(k.getPublicSSH())
      else {
        const blob = opensshPublicBlob(data.toString('latin1'))
        pub = blob ? publicFromBlob(blob) : null
      }
    }
    entry.pub = pub && !(pub instanceof Error) ? pub : null
  }
  if (entry.pub) return { file, publicKey: entry.pub, privateKey }
  return { file, privateKey }
}

interface Offer {
  publicKey: ParsedKey
  blob: Buffer
  sign(data: Buffer, hash: string | undefined): Promise<Buffer>
}

/** The ordered public keys of one hop, as an ssh2 agent. */
class KeySource extends BaseAgent<ParsedKey> {
  private offers: Offer[] = []
  constructor(
    private readonly explicit: IdentityFile[],
    private readonly defaults: IdentityFile[],
    private readonly agentSocket: string | null,
    private readonly identitiesOnly: boolean,
    private readonly notes: string[],
  ) {
    super()
  }

  private agentKeys(): Promise<{ agent: InstanceType<typeof OpenSSHAgent>; keys: ParsedKey[] } | null> {
    if (!this.agentSocket) return Promise.resolve(null)
    const agent = new OpenSSHAgent(this.agentSocket)
    return new Promise((resolve) =>
      agent.getIdentities((err, keys) => {
        if (err) {
          this.notes.push(`ssh-agent at ${this.agentSocket}: ${err.message}`)
          return resolve(null)
        }
        resolve({ agent, keys: (keys ?? []) as ParsedKey[] })
      }),
    )
  }

  getIdentities(cb: IdentityCallback<ParsedKey>): void {
    void (async () => {
      // Files without a public half must be decrypted now to know what to offer.
      for (const id of [...this.explicit, ...this.defaults]) {
        if (!id.publicKey && !id.problem) {
          const k = await id.privateKey()
          if (k instanceof Error) id.problem = k.message
          else id.publicKey = publicFromBlob(k.getPublicSSH()) as ParsedKey
        }
      }
      const ag = await this.agentKeys()
      const inAgent = (blob: Buffer) => ag?.keys.find((k) => k.getPublicSSH().equals(blob))
      const offers: Offer[] = []
      const seen = (blob: Buffer) => offers.some((o) => o.blob.equals(blob))
      const addFile = (id: IdentityFile) => {
        if (!id.publicKey) {
          if (id.problem && !/cannot read/.test(id.problem)) this.notes.push(id.problem)
          return
        }
        const blob = id.publicKey.getPublicSSH()
        if (seen(blob)) return
        const agentCopy = inAgent(blob)
        offers.push({
          publicKey: id.publicKey,
          blob,
          sign: agentCopy
            ? (data, hash) => agentSign(ag!.agent, agentCopy, data, hash)
            : async (data, hash) => {
                const k = await id.privateKey()
                if (k instanceof Error) {
                  this.notes.push(k.message)
                  throw k
                }
                return signWith(k, data, hash)
              },
        })
      }
      this.explicit.forEach(addFile)
      if (ag && !this.identitiesOnly) {
        for (const k of ag.keys) {
          const blob = k.getPublicSSH()
          if (!seen(blob)) offers.push({ publicKey: k, blob, sign: (data, hash) => agentSign(ag.agent, k, data, hash) })
        }
      }
      this.defaults.forEach(addFile)
      this.offers = offers
      cb(null, offers.map((o) => o.publicKey))
    })().catch((e) => cb(e as Error))
  }

  sign(pubKey: ParsedKey, data: Buffer, options: SigningRequestOptions | SignCallback, cb?: SignCallback): void {
    const done = (typeof options === 'function' ? options : cb)!
    const hash = typeof options === 'function' ? undefined : options?.hash
    const blob = pubKey.getPublicSSH()
    const offer = this.offers.find((o) => o.blob.equals(blob))
    if (!offer) return done(new Error('unknown key'))
    offer.sign(data, hash).then(
      (sig) => done(null, sig),
      (e) => done(e as Error),
    )
  }
}

/** ssh2's default hash per key type (keyParser.js), when the server asks for none. */
const DEFAULT_HASH: Record<string, string | null> = {
  'ssh-rsa': 'sha1',
  'ssh-dss': 'sha1',
  'ssh-ed25519': null,
  'ecdsa-sha2-nistp256': 'sha256',
  'ecdsa-sha2-nistp384': 'sha384',
  'ecdsa-sha2-nistp521': 'sha512',
}
const keyObjects = new WeakMap<ParsedKey, KeyObject>()

/**
 * What ParsedKey.sign(data, hash) returns, from a KeyObject made once per key: ssh2 hands the key's PEM
 * text to crypto.sign on every call, which parses it again (~0.5 ms with OpenSSL 3, for every host).
 */
export function signWith(k: ParsedKey, data: Buffer, hash: string | undefined): Buffer {
  const algo = hash ?? DEFAULT_HASH[k.type]
  if (algo === undefined) {
    const sig = k.sign(data, hash)
    if (sig instanceof Error) throw sig
    return sig
  }
  let ko = keyObjects.get(k)
  if (!ko) keyObjects.set(k, (ko = createPrivateKey(k.getPrivatePEM())))
  return cryptoSign(algo, data, ko)
}

function agentSign(agent: InstanceType<typeof OpenSSHAgent>, key: ParsedKey, data: Buffer, hash: string | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    agent.sign(key, data, { hash } as SigningRequestOptions, (err, sig) => (err ? reject(err) : resolve(sig as Buffer))),
  )
}

export interface AuthPlan {
  handler: AuthHandlerMiddleware
  /** What could not be used and why, for the error message when everything failed. */
  notes: string[]
}

export function planAuth(hop: ResolvedHop, password: string | undefined, passphrase: PassphraseSource | undefined): AuthPlan {
  const notes: string[] = []
  const files = hop.identityFiles.map((f) => identityFile(f, passphrase))
  // Explicit identity files that can't be read are worth a note; missing default ones are not.
  for (const f of files) if (f.problem && hop.identityFilesExplicit) notes.push(f.problem)
  const explicit = hop.identityFilesExplicit ? files : []
  const defaults = hop.identityFilesExplicit ? [] : files
  const methods: AnyAuthMethod[] = []
  const anyFile = files.some((f) => !f.problem)
  if (anyFile || hop.agentSocket) {
    methods.push({ type: 'agent', username: hop.user, agent: new KeySource(explicit, defaults, hop.agentSocket, hop.identitiesOnly, notes) })
  }
  if (password !== undefined) {
    methods.push({ type: 'password', username: hop.user, password })
    methods.push({
      type: 'keyboard-interactive',
      username: hop.user,
      prompt: (_name, _instructions, _lang, prompts, finish) => finish(prompts.map(() => password)),
    })
  }
  if (methods.length === 0) notes.push('no usable identity (no key file, no ssh-agent, no password)')
  let i = 0
  const handler: AuthHandlerMiddleware = (authsLeft, _partial, next) => {
    while (i < methods.length) {
      const m = methods[i++]
      const needed = m.type === 'agent' ? 'publickey' : m.type
      if (!authsLeft || authsLeft.includes(needed as never)) return next(m)
    }
    next(false as never)
  }
  return { handler, notes }
}
