/**
 * `orch wizard`: interactive set-up. Hosts (typed, from an ssh config, or from `vagrant ssh-config`),
 * each tested over SSH as it comes (host key fingerprint confirmed before it is trusted), facts
 * gathered, a strategy suggested with its reason, non-overlapping subnets proposed, a summary; then the
 * inventory and group_vars/docker_hosts.yml are written (all files or none), and a first
 * `orch run playbooks/cross-host.ts --check` (then the real run) is offered.
 *
 * Every question has a flag; `--yes` (or no terminal) never prompts. Exit codes: 0 done; 5 bad or
 * missing flags (nothing written); 4 a host could not be reached without a prompt to fix it; 99
 * cancelled (Ctrl-C at a prompt, SIGINT): nothing written; after a run: the run's exit code.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir, userInfo } from 'node:os'
import { dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { UsageError } from '../errors.ts'
import { EXIT } from '../errors.ts'
import type { HostFacts } from '../facts/types.ts'
import { contains, isIpv4, networkOf, parseCidr4, type Cidr4 } from '../net/ip.ts'
import { quote } from '../net/shell.ts'
import { HostKeyError, UnreachableError, type ConnectOptions, type ResolvedHop } from '../transport/index.ts'
import { CancelledError, flagsAsker, interactiveAsker, MissingFlagsError, type Asker } from './ask.ts'
import { commitFiles, removeTempDir, trackTempDir, type PlannedFile } from './files.ts'
import { describeKey, knownName, scanHostKey, StagedKnownHosts, type ScannedKey } from './hostkey.ts'
import { GROUP, renderGroupVars, renderIni, renderYamlInventory, type InventoryHost, type Scalar } from './render.ts'
import {
  configHosts,
  configHostsFromText,
  isValidInventoryName,
  parseHostSpec,
  portProblem,
  selectConfigHosts,
  vagrantSshConfig,
  validUser,
  onPath,
  type HostEntry,
} from './sources.ts'
import {
  conflicts,
  DEFAULTS,
  overlayAddress,
  proposeContainerSubnets,
  proposeLanPool,
  proposeOverlay,
  STRATEGIES,
  STRATEGY_TEXT,
  suggestStrategy,
  takenSubnets,
  underlayOf,
  type PlannedHost,
  type Strategy,
  type Suggestion,
} from './suggest.ts'

export { CancelledError, MissingFlagsError } from './ask.ts'
export type { Strategy } from './suggest.ts'

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
/** As src/crosshost: the per-host range of the vxlan overlay, and what an image reference is. */
const VXLAN_RANGE_PREFIX = 28
const IMAGE_RE = /^[A-Za-z0-9][A-Za-z0-9._\-/:@+]{0,254}$/

export interface WizardOptions {
  /** --host [name=][user@]address[:port], repeatable. */
  host?: string[]
  user?: string
  port?: string
  key?: string
  /** ssh config to read (imports and resolution); default ~/.ssh/config. */
  sshConfig?: string
  /** Hosts to import from the ssh config: comma-separated Host names, or all. */
  sshHosts?: string
  /** Import `vagrant ssh-config`: true runs it, a string is a file holding its output. */
  vagrant?: string | boolean
  knownHosts?: string
  acceptHostKeys?: boolean
  strategy?: string
  clusterCidr?: string
  overlayCidr?: string
  vxlanVni?: string
  vxlanPort?: string
  /** Encrypt between the hosts: the wireguard strategy. */
  encrypt?: boolean
  lanPool?: string
  lanGateway?: string
  bridgeName?: string
  ovsBridge?: string
  containerImage?: string
  containerPull?: string
  format?: string
  out?: string
  force?: boolean
  run?: string
  playbook?: string
  yes?: boolean
  /** Seconds for each SSH connect. */
  connectTimeout?: string
}

export interface WizardEnv {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?(m: boolean): unknown }
  stdout: NodeJS.WritableStream & { isTTY?: boolean }
  stderr: NodeJS.WritableStream
  cwd: string
  /** Runs `orch run ...` (default: spawns bin/orch.js with the terminal inherited); resolves to its exit code. */
  runOrch?(args: string[]): Promise<number>
  /** A child `orch run` is under way (SIGINT is then its to handle). */
  onChild?(running: boolean): void
  /** The files were written (a cancellation after this point leaves them). */
  onWritten?(paths: string[]): void
}

interface Probed {
  entry: HostEntry
  hop: ResolvedHop
  name: string
  facts: HostFacts
  key: ScannedKey | null
  keyStatus: string
  warnings: string[]
}

const c = (on: boolean) => ({
  bold: (s: string) => (on ? `\x1b[1m${s}\x1b[22m` : s),
  dim: (s: string) => (on ? `\x1b[2m${s}\x1b[22m` : s),
  green: (s: string) => (on ? `\x1b[32m${s}\x1b[39m` : s),
  yellow: (s: string) => (on ? `\x1b[33m${s}\x1b[39m` : s),
  red: (s: string) => (on ? `\x1b[31m${s}\x1b[39m` : s),
})

function localUser(): string {
  try {
    return userInfo().username
  } catch {
    return process.env.USER ?? 'root'
  }
}

const expandHome = (p: string) => p.replace(/^~(?=\/|$)/, homedir())

function absFrom(cwd: string, p: string): string {
  return isAbsolute(expandHome(p)) ? expandHome(p) : resolve(cwd, p)
}

function validCidrNet(s: string, maxPrefix = 30): true | string {
  const c = parseCidr4(s)
  if (!c) return 'expected an IPv4 network like 10.244.0.0/16'
  if (c.addr !== c.network) return `host bits set: the network is ${networkOf(c)}`
  if (c.prefix > maxPrefix) return `too small: at most /${maxPrefix}`
  return true
}

/** Checks of the flags' syntax, before anything else happens. */
function checkFlags(o: WizardOptions): void {
  const bad = (flag: string, v: unknown, expected: string) => new UsageError(`${flag} ${JSON.stringify(v)}: expected ${expected}`)
  if (o.port !== undefined && portProblem(String(o.port))) throw bad('--port', o.port, 'an integer from 1 to 65535')
  if (o.user !== undefined && !validUser(o.user)) throw bad('--user', o.user, 'a user name')
  if (o.strategy !== undefined && !(STRATEGIES as readonly string[]).includes(o.strategy)) throw bad('--strategy', o.strategy, STRATEGIES.join('|'))
  if (o.encrypt && o.strategy !== undefined && o.strategy !== 'wireguard') throw new UsageError(`--encrypt: the encrypted strategy is wireguard, not --strategy ${o.strategy}`)
  if (o.format !== undefined && !['ini', 'yaml'].includes(o.format)) throw bad('--format', o.format, 'ini|yaml')
  if (o.run !== undefined && !['check', 'apply', 'none'].includes(o.run)) throw bad('--run', o.run, 'check|apply|none')
  if (o.containerPull !== undefined && !['never', 'missing'].includes(o.containerPull)) throw bad('--container-pull', o.containerPull, 'never|missing')
  for (const [flag, v, max] of [
    ['--cluster-cidr', o.clusterCidr, 24],
    ['--overlay-cidr', o.overlayCidr, 30],
    ['--lan-pool', o.lanPool, 30],
  ] as const) {
    if (v === undefined) continue
    const r = validCidrNet(v, max)
    if (r !== true) throw new UsageError(`${flag} ${JSON.stringify(v)}: ${r}`)
  }
  if (o.vxlanVni !== undefined && !(/^\d+$/.test(o.vxlanVni) && +o.vxlanVni >= 1 && +o.vxlanVni <= 16777215)) throw bad('--vxlan-vni', o.vxlanVni, 'an integer from 1 to 16777215')
  if (o.vxlanPort !== undefined && portProblem(o.vxlanPort)) throw bad('--vxlan-port', o.vxlanPort, 'an integer from 1 to 65535')
  if (o.connectTimeout !== undefined && !(/^\d+$/.test(o.connectTimeout) && +o.connectTimeout >= 1)) throw bad('--connect-timeout', o.connectTimeout, 'seconds (an integer >= 1)')
  if (o.lanGateway !== undefined && !/^\d{1,3}(\.\d{1,3}){3}$/.test(o.lanGateway)) throw bad('--lan-gateway', o.lanGateway, 'an IPv4 address')
  for (const [flag, v] of [
    ['--bridge-name', o.bridgeName],
    ['--ovs-bridge', o.ovsBridge],
  ] as const) {
    if (v !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/.test(v)) throw bad(flag, v, 'an interface name (1-15 characters)')
  }
}

function outputPaths(cwd: string, out: string, format: string): { inventory: string; groupVars: string } {
  const dir = absFrom(cwd, out)
  return { inventory: join(dir, format === 'yaml' ? 'hosts.yml' : 'hosts.ini'), groupVars: join(dir, 'group_vars', `${GROUP}.yml`) }
}

/** Run the wizard; returns the exit code. Errors the CLI maps: UsageError (5), CancelledError (99). */
export async function runWizard(o: WizardOptions, env: WizardEnv): Promise<number> {
  checkFlags(o)
  const interactive = !o.yes && !!env.stdin.isTTY && !!env.stdout.isTTY
  const color = c(interactive)
  const say = (s = '') => void env.stdout.write(s + '\n')
  const asker: Asker = interactive ? interactiveAsker({ input: env.stdin, output: env.stdout }) : flagsAsker(!!o.yes)

  // Without a terminal, everything that has no default must be a flag: say all that is missing at once.
  if (!interactive) {
    const missing: Array<{ flag: string; why: string }> = []
    if (!o.host?.length && !o.sshHosts && !o.vagrant) missing.push({ flag: '--host', why: 'hosts to set up: [name=][user@]address[:port], repeatable (or --ssh-hosts NAMES|all, or --vagrant [FILE])' })
    if (!o.yes) missing.push({ flag: '--yes', why: 'take the defaults and the suggestions, and write the files, without asking' })
    if (missing.length) throw new MissingFlagsError(missing)
    const p = outputPaths(env.cwd, o.out ?? 'inventory', o.format ?? 'ini')
    const exists = [p.inventory, p.groupVars].filter((f) => existsSync(f))
    if (exists.length && !o.force) throw new UsageError(`${exists.join(' and ')} already exist${exists.length === 1 ? 's' : ''}: pass --force to replace, or --out DIR`)
  }

  const staging = mkdtempSync(join(tmpdir(), 'orch-wizard-'))
  trackTempDir(staging) // removed by cleanupTemps when a SIGINT ends the process
  try {
    return await wizard(o, env, asker, interactive, staging, say, color)
  } finally {
    removeTempDir(staging)
  }
}

async function wizard(o: WizardOptions, env: WizardEnv, ask: Asker, interactive: boolean, staging: string, say: (s?: string) => void, color: ReturnType<typeof c>): Promise<number> {
  const knownHostsTarget = absFrom(env.cwd, o.knownHosts ?? '~/.ssh/known_hosts')
  const defaultKnownHosts = resolve(homedir(), '.ssh', 'known_hosts')
  const kh = new StagedKnownHosts(knownHostsTarget, join(staging, 'known_hosts'))
  const sshConfigPath = o.sshConfig !== undefined ? absFrom(env.cwd, o.sshConfig) : undefined
  const connectTimeoutMs = (o.connectTimeout ? Number(o.connectTimeout) : 10) * 1000

  if (interactive) {
    say(color.bold('orch wizard') + ' — set up cross-host container networking')
    say(color.dim('Each host is tested over SSH as you add it; nothing is written before the summary. Ctrl-C leaves no file.'))
    say()
  }

  // ---- hosts ---------------------------------------------------------------------------------
  const probed: Probed[] = []
  const usedNames = new Set<string>()
  const defaults = { user: o.user, port: o.port, key: o.key }

  const probeOrFail = async (entry: HostEntry): Promise<Probed | string> => {
    try {
      return await probe(entry)
    } catch (e) {
      if (e instanceof CancelledError || e instanceof MissingFlagsError) throw e
      return (e as Error)?.message ?? String(e)
    }
  }

  const probe = async (entry: HostEntry): Promise<Probed> => {
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
    const { resolveTarget, connect } = await import('../transport/index.ts')
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
      const { gatherFacts } = await import('../facts/index.ts')
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

  const add = (p: Probed) => {
    probed.push(p)
    usedNames.add(p.name)
  }

  /** Probe a list of hosts; without a terminal a failure ends the wizard (exit 4). */
  const probeAll = async (entries: HostEntry[]): Promise<number | null> => {
    for (const e of entries) {
      for (;;) {
        const r = await probeOrFail(e)
        if (typeof r !== 'string') {
          add(r)
          break
        }
        say(`${color.red('✘')} ${r}`)
        if (!interactive) return EXIT.UNREACHABLE_HOSTS
        const next = await ask.select({
          message: `${e.name ?? e.address}: what now?`,
          flag: '',
          default: 'retry',
          choices: [
            { name: 'Retry', value: 'retry' },
            { name: 'Skip this host', value: 'skip' },
          ],
        })
        if (next === 'skip') break
      }
    }
    return null
  }

  const fromFlags: HostEntry[] = []
  for (const spec of o.host ?? []) {
    const e = parseHostSpec(spec)
    e.user ??= defaults.user
    if (e.port === undefined && defaults.port) e.port = Number(defaults.port)
    e.key ??= defaults.key
    fromFlags.push(e)
  }
  const cfgFile = sshConfigPath ?? join(homedir(), '.ssh', 'config')
  if (o.sshHosts) {
    for (const h of selectConfigHosts(configHosts(cfgFile), o.sshHosts, '--ssh-hosts', cfgFile)) {
      fromFlags.push({ name: isValidInventoryName(h.alias) ? h.alias : undefined, address: h.alias, source: 'ssh-config', sshConfigPath: cfgFile })
    }
  }
  if (o.vagrant) {
    fromFlags.push(...(await vagrantEntries(typeof o.vagrant === 'string' ? absFrom(env.cwd, o.vagrant) : undefined, env.cwd, staging)))
  }

  if (fromFlags.length) {
    const code = await probeAll(fromFlags)
    if (code !== null) return code
  } else {
    // Interactive: where do the hosts come from?
    const cfg = (() => {
      try {
        return configHosts(cfgFile)
      } catch {
        return []
      }
    })()
    const vagrantHere = !!onPath('vagrant') && existsSync(join(env.cwd, 'Vagrantfile'))
    const source =
      cfg.length || vagrantHere
        ? await ask.select({
            message: 'Where are the hosts?',
            flag: '--host',
            default: 'typed',
            choices: [
              { name: 'I type their addresses', value: 'typed' },
              ...(cfg.length ? [{ name: `Pick from ${cfgFile} (${cfg.length} hosts)`, value: 'ssh-config' }] : []),
              ...(vagrantHere ? [{ name: 'Import from vagrant ssh-config', value: 'vagrant' }] : []),
            ],
          })
        : 'typed'
    if (source === 'ssh-config') {
      const picked = await ask.checkbox({ message: `Hosts from ${cfgFile}`, flag: '--ssh-hosts', choices: cfg.map((h) => ({ name: `${h.alias}${h.hostName ? ` (${h.user ? h.user + '@' : ''}${h.hostName}${h.port ? ':' + h.port : ''})` : ''}`, value: h.alias })) })
      await probeAll(picked.map((alias) => ({ name: isValidInventoryName(alias) ? alias : undefined, address: alias, source: 'ssh-config' as const, sshConfigPath: cfgFile })))
    } else if (source === 'vagrant') {
      await probeAll(await vagrantEntries(undefined, env.cwd, staging))
    }
    // Typed hosts (also to add more after an import).
    let last = { user: defaults.user ?? localUser(), port: defaults.port ?? '22', key: defaults.key ?? '' }
    for (;;) {
      const n = probed.length + 1
      const spec = await ask.input({
        message: probed.length ? `Host ${n}: address (empty when done)` : `Host ${n}: address (IP or DNS name; user@address:port works too)`,
        flag: '--host',
        validate: (s) => {
          if (!s.trim()) return probed.length ? true : 'at least one host'
          try {
            parseHostSpec(s.trim(), 'address')
            return true
          } catch (e) {
            return (e as Error).message
          }
        },
      })
      if (!spec.trim()) break
      const e = parseHostSpec(spec.trim(), 'address')
      e.source = 'typed'
      for (;;) {
        if (!e.user) e.user = await ask.input({ message: 'SSH user', flag: '--user', default: last.user, validate: (s) => (validUser(s) ? true : 'a user name') })
        if (!e.port) e.port = Number(await ask.input({ message: 'SSH port', flag: '--port', default: last.port, validate: (s) => portProblem(s) ?? true }))
        if (e.key === undefined) {
          const k = await ask.input({ message: 'Private key file (empty: ssh-agent and ~/.ssh/id_*)', flag: '--key', default: last.key })
          e.key = k.trim() || undefined
        }
        last = { user: e.user, port: String(e.port), key: e.key ?? '' }
        const r = await probeOrFail(e)
        if (typeof r !== 'string') {
          add(r)
          break
        }
        say(`${color.red('✘')} ${r}`)
        const next = await ask.select({
          message: 'What now?',
          flag: '',
          default: 'retry',
          choices: [
            { name: 'Retry', value: 'retry' },
            { name: 'Change user, port or key', value: 'edit' },
            { name: 'Skip this host', value: 'skip' },
          ],
        })
        if (next === 'skip') break
        if (next === 'edit') {
          e.user = undefined
          e.port = undefined
          e.key = undefined
        }
      }
    }
  }
  if (!probed.length) throw new UsageError('no host could be reached: nothing to set up')
  if (probed.length === 1) say(color.yellow('! one host only: cross-host networking needs at least two; the files can be extended later'))

  // ---- strategy ------------------------------------------------------------------------------
  const planned: PlannedHost[] = probed.map((p) => ({ name: p.name, address: p.hop.host, facts: p.facts, underlay: underlayOf(p.facts, p.hop.host) }))
  const sug: Suggestion = suggestStrategy(planned)
  say()
  say(`${color.bold('Suggested strategy:')} ${sug.strategy}`)
  say(`  why: ${sug.reason}`)
  for (const w of sug.warnings) say(`  ${color.yellow('!')} ${w}`)
  // The encrypt question: yes means wireguard (routes' layout over WireGuard); asked when no --strategy says.
  const encrypt =
    o.encrypt === true ||
    (o.strategy === undefined && (await ask.confirm({ message: 'Encrypt the traffic between the hosts (WireGuard)?', flag: '--encrypt', value: o.encrypt, default: false })))
  const strategy = encrypt ? 'wireguard' : await ask.select<Strategy>({
    message: 'Strategy',
    flag: '--strategy',
    value: o.strategy as Strategy | undefined,
    default: sug.strategy,
    choices: STRATEGIES.map((s) => ({ name: `${s}${s === sug.strategy ? ' (suggested)' : ''}`, value: s, description: STRATEGY_TEXT[s] })),
  })
  if (o.strategy && o.strategy !== sug.strategy) say(`Strategy: ${strategy} (--strategy; suggested: ${sug.strategy})`)

  const peerAddresses = [...new Set(planned.flatMap((h) => [h.address, h.underlay?.address ?? '']).filter(Boolean))]
  const ovsBridge = o.ovsBridge ?? DEFAULTS.ovs_bridge
  const taken = takenSubnets(
    probed.map((p) => p.facts),
    { peerAddresses, ignoreDevs: strategy === 'routes' || strategy === 'wireguard' ? ['docker0'] : [ovsBridge] },
  )
  const groupVars: Record<string, Scalar> = { orch_strategy: strategy }
  const comments: Record<string, string> = { orch_strategy: `${strategy}: ${sug.strategy === strategy ? sug.reason : `chosen (suggested: ${sug.strategy})`}` }
  const hostVars = new Map<string, Record<string, Scalar>>(probed.map((p) => [p.name, {}]))
  // The playbook reaches peers at underlay_ip, else ansible_host: when the SSH address is not the host's
  // own (NAT, a vagrant port forward, a DNS name), say which address is.
  for (const h of planned) if (h.underlay && h.underlay.address !== h.address) hostVars.get(h.name)!.underlay_ip = h.underlay.address
  /** A variable for every host: one group variable when all agree, else per host. */
  const everyHost = (name: string, value: (h: PlannedHost) => Scalar | undefined) => {
    const vals = planned.map(value)
    if (vals.every((x) => x === undefined)) return
    if (vals.every((x) => x === vals[0])) groupVars[name] = vals[0]!
    else planned.forEach((h, i) => vals[i] !== undefined && (hostVars.get(h.name)![name] = vals[i]!))
  }

  if (strategy === 'routes' || strategy === 'wireguard') {
    let subnets: string[] = []
    const cluster = await ask.input({
      message: 'Cluster CIDR (one /24 per host is carved from it)',
      flag: '--cluster-cidr',
      value: o.clusterCidr,
      default: DEFAULTS.cluster_cidr,
      validate: (s) => {
        const r = validCidrNet(s.trim(), 24)
        if (r !== true) return r
        try {
          subnets = proposeContainerSubnets(parseCidr4(s.trim())!, probed.length, taken)
          return true
        } catch (e) {
          return `${(e as Error).message} (subnets in use on the hosts: ${taken.map(networkOf).join(', ')})`
        }
      },
    })
    groupVars.cluster_cidr = cluster.trim()
    comments.cluster_cidr = 'every container subnet is inside it (routes and masquerade exceptions use it)'
    probed.forEach((p, i) => (hostVars.get(p.name)!.container_subnet = subnets[i]))
  } else if (strategy === 'vxlan' || strategy === 'ovs-gre') {
    if (strategy === 'vxlan') {
      const vni = await ask.input({
        message: 'VXLAN network identifier (VNI)',
        flag: '--vxlan-vni',
        value: o.vxlanVni,
        default: String(DEFAULTS.vxlan_vni),
        validate: (s) => (/^\d+$/.test(s) && +s >= 1 && +s <= 16777215 ? true : 'an integer from 1 to 16777215'),
      })
      groupVars.vxlan_vni = Number(vni)
      groupVars.vxlan_port = o.vxlanPort ? Number(o.vxlanPort) : DEFAULTS.vxlan_port
    } else {
      groupVars.ovs_bridge = ovsBridge
      const notInstalled = probed.filter((p) => !p.facts.ovs.installed).map((p) => p.name)
      const notRunning = probed.filter((p) => p.facts.ovs.installed && !p.facts.ovs.running).map((p) => p.name)
      if (notInstalled.length) say(color.yellow(`! Open vSwitch is not installed on ${notInstalled.join(', ')}: install openvswitch-switch before running`))
      if (notRunning.length) say(color.yellow(`! Open vSwitch is installed but not running on ${notRunning.join(', ')}: start it before running`))
      everyHost('ovs_underlay_iface', (h) => h.underlay?.iface)
    }
    let proposed: string = DEFAULTS.overlay_cidr
    try {
      proposed = proposeOverlay(parseCidr4(DEFAULTS.overlay_cidr)!, taken)
    } catch {
      /* the user picks */
    }
    // vxlan: the playbook gives every host a /28 of the overlay (its containers' range, gateway .1, host .2).
    const perHostPrefix = strategy === 'vxlan' ? VXLAN_RANGE_PREFIX : 32
    const overlay = await ask.input({
      message: strategy === 'vxlan' ? `Overlay CIDR (a /${VXLAN_RANGE_PREFIX} of it per host)` : 'Overlay CIDR (one address per host)',
      flag: '--overlay-cidr',
      value: o.overlayCidr,
      default: proposed,
      validate: (s) => {
        const r = validCidrNet(s.trim(), 30)
        if (r !== true) return r
        const cidr = parseCidr4(s.trim())!
        if (perHostPrefix < 32) {
          if (cidr.prefix > perHostPrefix || 2 ** (perHostPrefix - cidr.prefix) < probed.length) return `room for ${probed.length} ranges of /${perHostPrefix} needed (one per host)`
        } else if (2 ** (32 - cidr.prefix) - 2 < probed.length) return `room for ${2 ** (32 - cidr.prefix) - 2} hosts only`
        return conflicts(cidr, taken) ?? true
      },
    })
    const ov = parseCidr4(overlay.trim())!
    groupVars.overlay_cidr = networkOf(ov)
    // ovs-gre: the addresses the playbook would pick (inventory order), written so they can be read and kept.
    if (strategy === 'ovs-gre') probed.forEach((p, i) => (hostVars.get(p.name)!.overlay_ip = overlayAddress(ov, i)))
  } else {
    // bridge: containers on the LAN.
    if (!sug.sameL2) say(color.yellow('! the hosts are not on one L2 segment: bridge puts containers on each host\'s LAN, which other hosts reach only through routers'))
    const u0 = planned.find((h) => h.underlay)?.underlay
    const lan: Cidr4 | null = u0 ? parseCidr4(u0.network) : null
    const used = planned.flatMap((h) => [h.underlay?.address ?? '', h.underlay?.gateway ?? '']).filter(Boolean)
    const pool = await ask.input({
      message: `LAN addresses for containers (a CIDR inside ${u0?.network ?? 'the LAN'} that nothing else uses, e.g. outside the DHCP range)`,
      flag: '--lan-pool',
      value: o.lanPool,
      default: lan ? proposeLanPool(lan, used) ?? undefined : undefined,
      required: true,
      validate: (s) => {
        const r = validCidrNet(s.trim(), 30)
        if (r !== true) return r
        const c = parseCidr4(s.trim())!
        if (lan && !(c.prefix >= lan.prefix && contains(lan, c.network))) return `not inside the LAN ${networkOf(lan)}`
        const hit = used.find((a) => contains(c, a))
        return hit ? `${hit} (a host or the gateway) is inside it` : true
      },
    })
    groupVars.lan_pool = pool.trim()
    const gw = await ask.input({
      message: "LAN gateway: the containers' default route (empty: none)",
      flag: '--lan-gateway',
      value: o.lanGateway,
      default: u0?.gateway,
      validate: (s) => (!s.trim() || isIpv4(s.trim()) ? true : 'an IPv4 address'),
    })
    if (gw.trim()) groupVars.lan_gateway = gw.trim()
    groupVars.bridge_name = o.bridgeName ?? DEFAULTS.bridge_name
    everyHost('bridge_iface', (h) => h.underlay?.iface)
  }

  const image = await ask.input({
    message: "Container image for the probe containers (empty: the playbook's default)",
    flag: '--container-image',
    value: o.containerImage,
    default: '',
    validate: (s) => (!s.trim() || IMAGE_RE.test(s.trim()) ? true : "an image reference like 'busybox:latest'"),
  })
  if (image.trim()) {
    groupVars.container_image = image.trim()
    const pull = await ask.select({
      message: 'Pull it when a host does not have it?',
      flag: '--container-pull',
      value: o.containerPull,
      default: 'missing',
      choices: [
        { name: 'missing: pull when absent', value: 'missing' },
        { name: 'never: it must be on every host already (offline hosts)', value: 'never' },
      ],
    })
    groupVars.container_pull = pull
  }

  // ---- files ---------------------------------------------------------------------------------
  const format = await ask.select({
    message: 'Inventory format',
    flag: '--format',
    value: o.format,
    default: 'ini',
    choices: [
      { name: 'INI (hosts.ini)', value: 'ini' },
      { name: 'YAML (hosts.yml)', value: 'yaml' },
    ],
  })
  let paths: { inventory: string; groupVars: string }
  let outDir = o.out
  for (;;) {
    outDir = await ask.input({ message: 'Directory to write the inventory to', flag: '--out', value: outDir, default: 'inventory', validate: (s) => (s.trim() ? true : 'a directory') })
    paths = outputPaths(env.cwd, outDir.trim(), format)
    const exists = [paths.inventory, paths.groupVars].filter((f) => existsSync(f))
    if (!exists.length || o.force) break
    if (!interactive) throw new UsageError(`${exists.join(' and ')} already exist: pass --force to replace, or --out DIR`)
    if (await ask.confirm({ message: `${exists.map((f) => relative(env.cwd, f)).join(' and ')} already exist${exists.length === 1 ? 's' : ''}. Replace?`, flag: '--force', default: false })) break
    outDir = undefined
  }

  // Connection variables: what was resolved (ssh config values included), so `orch run` needs nothing else.
  const khArgs = knownHostsTarget !== defaultKnownHosts ? ['-o', `UserKnownHostsFile=${knownHostsTarget}`, '-o', 'StrictHostKeyChecking=yes'] : []
  const invGroupVars: Record<string, Scalar> = {}
  if (khArgs.length) invGroupVars.ansible_ssh_common_args = khArgs.map(quote).join(' ')
  const invHosts: InventoryHost[] = probed.map((p) => {
    const v: Record<string, Scalar> = { ansible_host: p.hop.host }
    if (p.hop.port !== 22) v.ansible_port = p.hop.port
    v.ansible_user = p.hop.user
    const keyFile = p.entry.key ? (p.entry.key.startsWith('~') ? p.entry.key : absFrom(env.cwd, p.entry.key)) : p.hop.identityFilesExplicit ? p.hop.identityFiles[0] : undefined
    if (keyFile) v.ansible_ssh_private_key_file = keyFile
    if (p.hop.user !== 'root') v.ansible_become = true
    const extra: string[] = []
    if (p.hop.proxyJump.length) extra.push('-o', `ProxyJump=${p.hop.proxyJump.join(',')}`)
    if (p.hop.proxyCommand) extra.push('-o', `ProxyCommand=${p.hop.proxyCommand}`)
    if (p.hop.hostKeyAlias) extra.push('-o', `HostKeyAlias=${p.hop.hostKeyAlias}`)
    if (extra.length) v.ansible_ssh_common_args = [...khArgs, ...extra].map(quote).join(' ')
    Object.assign(v, hostVars.get(p.name))
    return { name: p.name, vars: v }
  })
  const stamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
  const header = [
    `Written by orch wizard on ${stamp}: ${probed.length} host${probed.length === 1 ? '' : 's'}, strategy ${strategy}.`,
    `Strategy variables: group_vars/${GROUP}.yml. Run: orch run playbooks/cross-host.ts -i ${relative(env.cwd, paths.inventory).startsWith('..') ? paths.inventory : relative(env.cwd, paths.inventory)} --check`,
  ]
  const inventoryText = format === 'yaml' ? renderYamlInventory(invHosts, invGroupVars, header) : renderIni(invHosts, invGroupVars, header)
  const groupVarsText = renderGroupVars(groupVars, [`Written by orch wizard on ${stamp}. Variables of playbooks/cross-host.ts for group ${GROUP}.`], comments)
  const files: PlannedFile[] = [
    { path: paths.inventory, content: inventoryText, mode: 0o644 },
    { path: paths.groupVars, content: groupVarsText, mode: 0o644 },
  ]
  const khContent = kh.finalContent()
  if (khContent !== null) files.push({ path: knownHostsTarget, content: khContent, mode: 0o600 })

  // ---- summary -------------------------------------------------------------------------------
  const rel = (f: string) => (relative(env.cwd, f).startsWith('..') ? f : relative(env.cwd, f))
  say()
  say(color.bold('Summary'))
  say(`  hosts (${probed.length}):`)
  for (const p of probed) {
    const u = underlayOf(p.facts, p.hop.host)
    const hv = Object.entries(hostVars.get(p.name) ?? {}).map(([k, v]) => `${k}=${v}`)
    say(`    ${p.name.padEnd(12)} ${`${p.hop.user}@${p.hop.host}:${p.hop.port}`.padEnd(26)} ${u ? `${u.iface} ${u.cidr}` : 'underlay unknown'}${hv.length ? `  ${hv.join(' ')}` : ''}`)
  }
  say(`  strategy: ${strategy}${strategy === sug.strategy ? ' (suggested)' : ` (suggested: ${sug.strategy})`}`)
  if (strategy === 'vxlan') say(`    (the playbook gives each host a /${VXLAN_RANGE_PREFIX} of ${groupVars.overlay_cidr} for its containers, in inventory order)`)
  if (strategy === 'routes' || strategy === 'wireguard') say(`    (docker0 of each host moves to its container_subnet${strategy === 'wireguard' ? '; WireGuard between the hosts, UDP 51820' : ''})`)
  say(`  group_vars/${GROUP}.yml:`)
  for (const [k, v] of Object.entries(groupVars)) say(`    ${k}: ${v}`)
  say('  files:')
  for (const f of files) {
    const what = f.path === knownHostsTarget ? `+${kh.added.length} host key${kh.added.length === 1 ? '' : 's'}` : existsSync(f.path) ? 'replaces the existing file' : 'new'
    say(`    ${rel(f.path)} (${what})`)
  }
  say()
  const write = await ask.confirm({ message: 'Write these files?', flag: '--yes', value: o.yes ? true : undefined, default: true })
  if (!write) throw new CancelledError('you declined to write the files')
  commitFiles(files)
  env.onWritten?.(files.map((f) => f.path))
  say(`${color.green('✔')} wrote ${files.map((f) => rel(f.path)).join(', ')}`)

  // ---- first run -----------------------------------------------------------------------------
  const playbook = absFrom(env.cwd, o.playbook ?? join(repoRoot, 'playbooks', 'cross-host.ts'))
  const shown = (check: boolean) => `orch run ${rel(playbook)} -i ${rel(paths.inventory)}${check ? ' --check' : ''}`
  let mode = o.run as 'check' | 'apply' | 'none' | undefined
  if (!mode && !interactive) mode = 'none'
  const runOrch = env.runOrch ?? ((args: string[]) => spawnOrch(args, env))
  if (!existsSync(playbook)) {
    if (mode === 'check' || mode === 'apply') {
      env.stderr.write(`ERROR! --run ${mode}: ${playbook} does not exist (pass --playbook FILE); the files are written\n`)
      return EXIT.ERROR
    }
    say(color.yellow(`! ${rel(playbook)} does not exist (yet): no check to run now. Later: ${shown(true)}`))
    return EXIT.OK
  }
  const go = async (check: boolean): Promise<number> => {
    say()
    say(color.bold(`$ ${shown(check)}`))
    env.onChild?.(true)
    try {
      return await runOrch(['run', playbook, '-i', paths.inventory, ...(check ? ['--check'] : [])])
    } finally {
      env.onChild?.(false)
    }
  }
  let code: number = EXIT.OK
  const wantCheck = mode ? mode !== 'none' : await ask.confirm({ message: `Run a check now? (${shown(true)}: changes nothing)`, flag: '--run', default: true })
  if (wantCheck) {
    code = await go(true)
    if (code !== EXIT.OK) {
      say(color.red(`✘ the check failed (exit ${code}): fix it, then: ${shown(true)}`))
      return code
    }
    const wantApply = mode
      ? mode === 'apply'
      : await ask.confirm({ message: `Apply for real now? (${shown(false)}: changes the hosts' networking; a failed check rolls every host back)`, flag: '--run', default: false })
    if (wantApply) {
      code = await go(false)
      if (code !== EXIT.OK) say(color.red(`✘ the run failed (exit ${code}); orch status -i ${rel(paths.inventory)} shows where each host stands`))
      return code
    }
  }
  say()
  say(`Next: ${shown(true)}, then ${shown(false)}`)
  return code
}

async function vagrantEntries(file: string | undefined, cwd: string, staging: string): Promise<HostEntry[]> {
  const { text, origin } = await vagrantSshConfig(file, cwd)
  const hosts = configHostsFromText(text)
  if (!hosts.length) throw new UsageError(`--vagrant: ${origin} names no host (is the machine up? vagrant ssh-config prints one Host block per running machine)`)
  // Resolved like any ssh config (HostName, Port, User, IdentityFile); its host key settings are not
  // used: the wizard checks keys itself.
  const saved = join(staging, 'vagrant-ssh-config')
  writeFileSync(saved, text, { mode: 0o600 })
  return hosts.map((h) => ({
    name: h.alias !== 'default' && isValidInventoryName(h.alias) ? h.alias : undefined,
    address: h.alias,
    source: 'vagrant' as const,
    sshConfigPath: saved,
  }))
}

/** `orch run ...` as a child process on the same terminal. */
function spawnOrch(args: string[], env: WizardEnv): Promise<number> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'orch.js'), ...args], { stdio: 'inherit', cwd: env.cwd })
    child.on('error', (e) => {
      env.stderr.write(`ERROR! cannot start orch run: ${e.message}\n`)
      resolvePromise(EXIT.ERROR)
    })
    child.on('exit', (code, signal) => resolvePromise(code ?? (signal === 'SIGINT' ? EXIT.INTERRUPTED : EXIT.ERROR)))
  })
}
