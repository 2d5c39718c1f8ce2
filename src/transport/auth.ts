/**
 * Client authentication like OpenSSH: identity files (explicit ones, or the default
 * ~/.ssh/id_{ed25519,ecdsa,rsa}), passphrase-protected keys, ssh-agent (filtered to the configured
 * identities with IdentitiesOnly), then password / keyboard-interactive.
 */
import { readFileSync } from 'node:fs'
import ssh2 from 'ssh2'
import type { AnyAuthMethod, AuthHandlerMiddleware, ParsedKey, IdentityCallback, SignCallback, SigningRequestOptions } from 'ssh2'
import type { PassphraseSource, ResolvedHop } from './options.ts'

const { utils, OpenSSHAgent, BaseAgent } = ssh2

export interface LoadedIdentity {
  file: string
  key?: ParsedKey
  /** Public key blob (from the key or its .pub), to pick the agent's copy. */
  publicBlob?: Buffer
  /** Why the key can't be used directly. */
  problem?: string
}

function firstKey(k: ParsedKey | ParsedKey[] | Error): ParsedKey | Error {
  return Array.isArray(k) ? (k[0] ?? new Error('no key in file')) : k
}

/** Load one private key, asking for a passphrase only when the key is encrypted. */
export async function loadIdentity(file: string, passphrase: PassphraseSource | undefined): Promise<LoadedIdentity> {
  let data: Buffer
  try {
    data = readFileSync(file)
  } catch (e) {
    return { file, problem: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }
  }
  let publicBlob: Buffer | undefined
  try {
    const pub = firstKey(utils.parseKey(readFileSync(`${file}.pub`)) as ParsedKey | ParsedKey[] | Error)
    if (!(pub instanceof Error)) publicBlob = pub.getPublicSSH()
  } catch {
    /* no .pub next to it */
  }
  let key = firstKey(utils.parseKey(data) as ParsedKey | ParsedKey[] | Error)
  if (key instanceof Error && /passphrase|encrypted/i.test(key.message)) {
    const pp = typeof passphrase === 'function' ? await passphrase(file) : passphrase
    if (pp === undefined || pp === '') return { file, publicBlob, problem: `${file} is encrypted and no passphrase was given` }
    key = firstKey(utils.parseKey(data, pp) as ParsedKey | ParsedKey[] | Error)
    if (key instanceof Error) return { file, publicBlob, problem: `${file}: wrong passphrase (${key.message})` }
  }
  if (key instanceof Error) return { file, publicBlob, problem: `${file}: ${key.message}` }
  if (!key.isPrivateKey()) return { file, publicBlob, problem: `${file} is not a private key` }
  return { file, key, publicBlob: key.getPublicSSH() }
}

/** An agent that only offers some of its keys (IdentitiesOnly, or keys not already tried as files). */
class FilteredAgent extends BaseAgent<ParsedKey> {
  private readonly inner: InstanceType<typeof OpenSSHAgent>
  constructor(
    socket: string,
    private readonly keep: (blob: Buffer) => boolean,
  ) {
    super()
    this.inner = new OpenSSHAgent(socket)
  }
  getIdentities(cb: IdentityCallback<ParsedKey>): void {
    this.inner.getIdentities((err, keys) => {
      if (err || !keys) return cb(err ?? new Error('agent returned no keys'))
      cb(null, (keys as ParsedKey[]).filter((k) => this.keep(k.getPublicSSH())))
    })
  }
  sign(pubKey: ParsedKey, data: Buffer, options: SigningRequestOptions | SignCallback, cb?: SignCallback): void {
    if (typeof options === 'function') this.inner.sign(pubKey, data, options)
    else this.inner.sign(pubKey, data, options, cb)
  }
}

export interface AuthPlan {
  handler: AuthHandlerMiddleware
  /** What was tried / skipped, for the error message when everything failed. */
  notes: string[]
}

export async function planAuth(hop: ResolvedHop, password: string | undefined, passphrase: PassphraseSource | undefined): Promise<AuthPlan> {
  const notes: string[] = []
  const ids = await Promise.all(hop.identityFiles.map((f) => loadIdentity(f, passphrase)))
  const methods: AnyAuthMethod[] = []
  const offered: Buffer[] = []
  for (const id of ids) {
    if (id.key) {
      methods.push({ type: 'publickey', username: hop.user, key: id.key })
      offered.push(id.key.getPublicSSH())
    } else if (hop.identityFilesExplicit || !/cannot read/.test(id.problem ?? '')) {
      notes.push(id.problem!)
    }
  }
  if (hop.agentSocket) {
    const wanted = ids.map((i) => i.publicBlob).filter((b): b is Buffer => !!b)
    const keep = hop.identitiesOnly
      ? (blob: Buffer) => wanted.some((w) => w.equals(blob)) && !offered.some((o) => o.equals(blob))
      : (blob: Buffer) => !offered.some((o) => o.equals(blob))
    // Agent keys first when the file could not be opened (encrypted) but the agent holds it.
    methods.push({ type: 'agent', username: hop.user, agent: new FilteredAgent(hop.agentSocket, keep) })
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
