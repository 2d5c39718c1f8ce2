/** Testing one host over SSH: its host key confirmed before it is trusted, a login, its facts, its inventory name. */
import { existsSync, readFileSync } from 'node:fs'
import type { HostFacts } from '../../facts/types.ts'
import { quote } from '../../net/shell.ts'
import { HostKeyError, UnreachableError, type ConnectOptions, type ResolvedHop } from '../../transport/index.ts'
import { CancelledError, MissingFlagsError } from '../ask.ts'
import { describeKey, knownName, scanHostKey, type ScannedKey } from '../hostkey.ts'
import { absFrom, type WizardCtx } from '../options.ts'
import { isValidInventoryName, type HostEntry } from '../sources.ts'
import { underlayOf } from '../suggest.ts'

export interface Probed {
  entry: HostEntry
  hop: ResolvedHop
  name: string
  facts: HostFacts
  key: ScannedKey | null
  keyStatus: string
  warnings: string[]
}

/** Probe a host; a failure comes back as its message (a cancel or a missing flag still ends the wizard). */
export async function probeOrFail(ctx: WizardCtx, probed: readonly Probed[], usedNames: ReadonlySet<string>, entry: HostEntry): Promise<Probed | string> {
  try {
    return await probe(ctx, probed, usedNames, entry)
  } catch (e) {
    if (e instanceof CancelledError || e instanceof MissingFlagsError) throw e
    return (e as Error)?.message ?? String(e)
  }
}

/** `probed`/`usedNames`: the hosts already added (the inventory name must be new). */
async function probe(ctx: WizardCtx, probed: readonly Probed[], usedNames: ReadonlySet<string>, entry: HostEntry): Promise<Probed> {
  const { o, env, ask, interactive, say, color, kh, knownHostsTarget, sshConfigPath, connectTimeoutMs } = ctx
  const label = `${entry.user ? entry.user + '@' : ''}${entry.address}${entry.port ? ':' + entry.port : ''}`
  const co: ConnectOptions = {
    hostName: entry.name ?? entry.address,
    address: entry.address,
    knownHostsFiles: [kh.staging],
    globalKnownHostsFiles: kh.global,
    hostKeyChecking: 'strict',
    connectTimeoutMs,
    retries: 0,
  }
  if (entry.user) co.user = entry.user
  if (entry.port) co.port = entry.port
  if (entry.key) co.privateKeyFile = absFrom(env.cwd, entry.key)
  if (entry.sshConfigPath !== undefined) co.sshConfigPath = entry.sshConfigPath
  else if (sshConfigPath !== undefined) co.sshConfigPath = sshConfigPath
  if (interactive) co.passphrase = (file: string) => ask.secret({ message: `Passphrase for ${file}` })
  const { resolveTarget, connect } = await import('../../transport/index.ts')
  let hop: ResolvedHop
  try {
    hop = resolveTarget(co)
  } catch (e) {
    throw new Error(`${label}: ${(e as Error).message}`)
  }
  const where = `${hop.user}@${hop.host}${hop.port !== 22 ? `:${hop.port}` : ''}`
  say(`${color.dim('…')} ${where}: testing SSH`)

  // Host key: fetched before authenticating, confirmed before it is trusted.
  const name = knownName(hop)
  let key: ScannedKey | null = null
  let keyStatus = ''
  let acceptNew = false
  if (hop.proxyJump.length || hop.proxyCommand) {
    keyStatus = 'checked by the connection (jump host)'
    acceptNew = await ask.confirm({
      message: `${where} is reached through ${hop.proxyJump.length ? `ProxyJump ${hop.proxyJump.join(',')}` : 'a ProxyCommand'}: its host key can only be checked while connecting. Trust it on first use if it is new (written to ${knownHostsTarget})?`,
      flag: '--accept-host-keys',
      value: o.acceptHostKeys,
      default: false,
    })
  } else {
    key = await scanHostKey(hop.host, hop.port, { timeoutMs: connectTimeoutMs, knownFiles: kh.files, name }).catch((e: Error) => {
      throw new Error(`${where}: cannot reach SSH: ${e.message}`)
    })
    const v = kh.verdict(name, key.key)
    if (v.status === 'ok') keyStatus = `${key.label} ${key.fingerprint} (known, ${v.file === kh.staging ? knownHostsTarget : v.file})`
    else if (v.status === 'unknown') {
      say(`The authenticity of host '${name}' can't be established.`)
      say(`${key.label} key fingerprint is ${color.bold(key.fingerprint)}.`)
      if (!interactive && o.acceptHostKeys === undefined) {
        throw new MissingFlagsError([{ flag: '--accept-host-keys', why: `trust new host keys (${where}: ${key.label} ${key.fingerprint}), or add them to ${knownHostsTarget} first` }])
      }
      const yes = await ask.confirm({ message: `Trust this key and add it to ${knownHostsTarget}?`, flag: '--accept-host-keys', value: o.acceptHostKeys, default: false })
      if (!yes) throw new Error(`${where}: host key not trusted`)
      kh.accept(name, key.key, hop.hashKnownHosts)
      keyStatus = `${key.label} ${key.fingerprint} (accepted, to be added to ${knownHostsTarget})`
    } else if (v.status === 'revoked') {
      throw new Error(`${where}: its ${key.label} host key ${key.fingerprint} is marked @revoked in ${v.file}:${v.line}: refusing it`)
    } else {
      throw new Error(
        `${where}: REMOTE HOST IDENTIFICATION HAS CHANGED: it presents ${key.label} ${key.fingerprint}, ` +
          `but ${v.file === kh.staging ? knownHostsTarget : v.file}:${v.line} holds another ${v.status === 'changed' ? '' : 'type of '}key for ${name}. ` +
          `If the change is expected: ssh-keygen -f ${quote(v.file === kh.staging ? knownHostsTarget : v.file)} -R ${quote(name)}`,
      )
    }
  }

  const before = existsSync(kh.staging) ? readFileSync(kh.staging, 'utf8') : ''
  let conn
  try {
    conn = await connect({ ...co, hostKeyChecking: acceptNew ? 'accept-new' : 'strict' })
  } catch (e) {
    if (e instanceof HostKeyError || e instanceof UnreachableError) throw new Error((e as Error).message)
    throw e
  }
  if (acceptNew) {
    const after = existsSync(kh.staging) ? readFileSync(kh.staging, 'utf8') : ''
    const added = after.slice(before.length).trim()
    if (added) {
      kh.added.push(...added.split('\n'))
      keyStatus = `accepted on first use: ${added
        .split('\n')
        .map((l) => {
          const k = Buffer.from(l.split(/\s+/)[2] ?? '', 'base64')
          const d = describeKey(k)
          return `${d.label} ${d.fingerprint}`
        })
        .join(', ')}`
    }
  }
  const warnings: string[] = []
  let facts: HostFacts
  try {
    const { gatherFacts } = await import('../../facts/index.ts')
    facts = await gatherFacts(conn)
    if (hop.user !== 'root') {
      const r = await conn.run('sudo -n true', { timeoutMs: 10_000 })
      if (r.code !== 0) warnings.push(`${hop.user} cannot sudo without a password: add ansible_become_password to the inventory or a NOPASSWD sudoers rule`)
    }
  } finally {
    await conn.close().catch(() => undefined)
  }
  // Inventory name: as asked, else the host's name (unique).
  let base = entry.name ?? (isValidInventoryName(facts.hostname) ? facts.hostname : isValidInventoryName(entry.address) ? entry.address : `host${probed.length + 1}`)
  let hostName = base
  for (let n = 2; usedNames.has(hostName); n++) hostName = `${base}-${n}`
  if (entry.name && hostName !== entry.name) throw new Error(`${where}: the inventory name ${entry.name} is already taken`)
  base = hostName
  const p: Probed = { entry, hop, name: hostName, facts, key, keyStatus, warnings }
  const u = underlayOf(facts, hop.host)
  const dk = facts.docker
  say(
    `${color.green('✔')} ${color.bold(hostName)}: ${where} — ${facts.kernel ? `Linux ${facts.kernel}` : 'up'}` +
      `${u ? `, ${u.iface} ${u.cidr}` : ''}` +
      `, docker ${dk.installed ? `${dk.version ?? ''}${dk.running ? '' : ' (not running)'}`.trim() : 'not installed'}` +
      `, OVS ${facts.ovs.installed ? (facts.ovs.running ? facts.ovs.version ?? 'running' : 'not running') : 'not installed'}`,
  )
  say(`  host key: ${keyStatus}`)
  for (const w of warnings) say(`  ${color.yellow('!')} ${w}`)
  return p
}
