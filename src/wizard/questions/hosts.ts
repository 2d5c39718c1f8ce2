/** The hosts question group: from flags (--host, --ssh-hosts, --vagrant) or asked, each probed as it comes. */
import { existsSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { EXIT, UsageError } from '../../errors.ts'
import { absFrom, localUser, type WizardCtx } from '../options.ts'
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
} from '../sources.ts'
import { probeOrFail as probeHost, type Probed } from './probe.ts'

/** The reachable hosts, in the order given; a number is the wizard's exit code (a host unreachable without a terminal). */
export async function askHosts(ctx: WizardCtx): Promise<Probed[] | number> {
  const { o, env, ask, interactive, staging, say, color, sshConfigPath } = ctx
  const probed: Probed[] = []
  const usedNames = new Set<string>()
  const defaults = { user: o.user, port: o.port, key: o.key }
  const probeOrFail = (entry: HostEntry) => probeHost(ctx, probed, usedNames, entry)

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
  return probed
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
