/**
 * An orch inventory for the machines of vagrant/Vagrantfile, from `vagrant ssh-config` (how to reach
 * each machine: address, port, user, key) and from what each machine says over that connection (its SSH
 * host keys, and which interface holds its private-network address: the underlay).
 *
 *   npx tsx scripts/vagrant-inventory.ts [--dir vagrant] [--out DIR] [--net 192.168.56]
 *
 * writes DIR/hosts.ini and DIR/known_hosts (default DIR: the Vagrant dotfile dir, .vagrant) and prints
 * the inventory's path. Run it where the machines are reachable, after `vagrant up`.
 *
 * Host keys: Vagrant itself never checks them (its ssh-config says StrictHostKeyChecking no). They are
 * read once, over the connection Vagrant uses, and written to known_hosts; the inventory then checks
 * them strictly on every orch connection.
 */
import { execFile } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseCidr4, contains } from '../src/net/ip.ts'
import { renderIni, type InventoryHost, type Scalar } from '../src/wizard/render.ts'

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const VAGRANT_DIR = join(repoRoot, 'vagrant')

/** One `Host` block of `vagrant ssh-config`. */
export interface SshConfigHost {
  name: string
  hostName: string
  port: number
  user: string
  identityFile: string
}

/** Words of an ssh config line: `Key value`, `Key=value`, values in double quotes. */
function words(line: string): string[] {
  const out: string[] = []
  const re = /"([^"]*)"|([^\s"=]+)/g
  let m: RegExpExecArray | null
  const eq = line.match(/^\s*([A-Za-z]+)\s*=\s*(.*)$/)
  const text = eq ? `${eq[1]} ${eq[2]}` : line
  while ((m = re.exec(text))) out.push(m[1] ?? m[2])
  return out
}

/**
 * `vagrant ssh-config` output → one entry per Host block, in order. Vagrant prints HostName, User, Port
 * and IdentityFile for every machine; a block missing one of them is an error naming the machine.
 */
export function parseSshConfig(text: string): SshConfigHost[] {
  const blocks: Array<{ name: string; kv: Map<string, string> }> = []
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/#.*$/, '').trim()
    if (!line) continue
    const [key, ...rest] = words(line)
    if (!key) continue
    const k = key.toLowerCase()
    if (k === 'host') {
      if (rest.length !== 1) throw new Error(`vagrant ssh-config: expected one name after Host, got ${JSON.stringify(line)}`)
      blocks.push({ name: rest[0], kv: new Map() })
      continue
    }
    const b = blocks.at(-1)
    if (!b) throw new Error(`vagrant ssh-config: ${JSON.stringify(line)} before any Host line`)
    // The first value wins, as in ssh; IdentityFile may repeat (Vagrant lists the key it uses first).
    if (!b.kv.has(k)) b.kv.set(k, rest.join(' '))
  }
  return blocks.map(({ name, kv }) => {
    const need = (k: string) => {
      const v = kv.get(k.toLowerCase())
      if (!v) throw new Error(`vagrant ssh-config: Host ${name} has no ${k}`)
      return v
    }
    const port = Number(need('Port'))
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`vagrant ssh-config: Host ${name}: Port ${kv.get('port')} is not a port`)
    return { name, hostName: need('HostName'), port, user: need('User'), identityFile: need('IdentityFile') }
  })
}

const MARK = '@@orch-vagrant@@'

/** Run over SSH on each machine: its host keys, then its IPv4 addresses. */
export const PROBE_SCRIPT = `cat /etc/ssh/ssh_host_*_key.pub; echo ${MARK}; ip -j -4 addr show`

export interface MachineFacts {
  /** `type base64` of every host key. */
  hostKeys: string[]
  /** The address inside the private network, its prefix length and interface. */
  underlay: { ip: string; prefix: number; iface: string }
}

/** PROBE_SCRIPT's output → facts; `net` is the private network (e.g. 192.168.56.0/24). */
export function parseProbe(name: string, out: string, net: string): MachineFacts {
  const cidr = parseCidr4(net)
  if (!cidr) throw new Error(`private network ${net}: expected a CIDR like 192.168.56.0/24`)
  const i = out.indexOf(MARK)
  if (i < 0) throw new Error(`${name}: unexpected probe output: ${out.slice(0, 200)}`)
  const hostKeys = out
    .slice(0, i)
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((w) => w.length >= 2 && /^(ssh-|ecdsa-)/.test(w[0]))
    .map((w) => `${w[0]} ${w[1]}`)
  if (!hostKeys.length) throw new Error(`${name}: no SSH host key found in /etc/ssh`)
  const links = JSON.parse(out.slice(i + MARK.length).trim() || '[]') as Array<{ ifname: string; addr_info?: Array<{ local: string; prefixlen: number }> }>
  for (const l of links)
    for (const a of l.addr_info ?? [])
      if (contains(cidr, a.local)) return { hostKeys, underlay: { ip: a.local, prefix: a.prefixlen, iface: l.ifname } }
  const have = links.flatMap((l) => (l.addr_info ?? []).map((a) => `${l.ifname} ${a.local}/${a.prefixlen}`)).join(', ')
  throw new Error(`${name}: no address inside the private network ${net} (it has: ${have || 'none'})`)
}

export interface VagrantHost extends SshConfigHost, MachineFacts {}

export interface InventoryOptions {
  knownHostsPath: string
  /** First three octets of the private /24 (the Vagrantfile's ORCH_VAGRANT_NET). */
  net: string
  provider?: string
}

/** The known_hosts lines for the machines (`[host]:port` unless port 22). */
export function knownHostsText(hosts: VagrantHost[]): string {
  return hosts.flatMap((h) => h.hostKeys.map((k) => `${h.port === 22 ? h.hostName : `[${h.hostName}]:${h.port}`} ${k}`)).join('\n') + '\n'
}

/**
 * hosts.ini: every machine in docker_hosts, connecting as Vagrant does (user vagrant, its key, sudo),
 * with the private network as the underlay (underlay_ip, bridge_iface), and the variables the
 * cross-host strategies need on these machines: the probe image provision.sh imported
 * (orchlab/busybox, never pulled), the LAN gateway and a pool of LAN addresses for the bridge strategy.
 */
export function renderInventory(hosts: VagrantHost[], o: InventoryOptions): string {
  const rows: InventoryHost[] = hosts.map((h) => ({
    name: h.name,
    vars: {
      ansible_host: h.hostName,
      ansible_port: h.port,
      ansible_user: h.user,
      ansible_ssh_private_key_file: h.identityFile,
      underlay_ip: h.underlay.ip,
      bridge_iface: h.underlay.iface,
    },
  }))
  const vars: Record<string, Scalar> = {
    ansible_become: true,
    ansible_ssh_common_args: `-o UserKnownHostsFile=${o.knownHostsPath} -o StrictHostKeyChecking=yes`,
    container_image: 'orchlab/busybox:latest',
    container_pull: 'never',
    // The private network's gateway: VirtualBox's host-only adapter, libvirt's or docker's bridge.
    lan_gateway: `${o.net}.1`,
    // Above the machines' addresses (.11, .12, ...) and what docker or DHCP hands out at the bottom.
    lan_pool: `${o.net}.192/27`,
  }
  const header = [
    `orch inventory for the Vagrant machines of vagrant/Vagrantfile${o.provider ? ` (provider ${o.provider})` : ''}.`,
    'Written by scripts/vagrant-inventory.ts from `vagrant ssh-config`; host keys in ' + o.knownHostsPath + '.',
  ]
  return renderIni(rows, vars, header)
}

export interface ExecResult {
  code: number
  stdout: string
  stderr: string
}

export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ExecResult> {
  return new Promise((res) => {
    execFile(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      res({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    )
  })
}

export interface BuiltInventory {
  inventoryPath: string
  knownHostsPath: string
  sshConfigPath: string
  hosts: VagrantHost[]
}

/**
 * `vagrant ssh-config` in `dir`, each machine probed over OpenSSH with that config, then hosts.ini,
 * known_hosts and ssh-config written to `outDir`.
 */
export async function vagrantInventory(o: { dir?: string; outDir: string; net: string; env?: NodeJS.ProcessEnv; provider?: string }): Promise<BuiltInventory> {
  const dir = o.dir ?? VAGRANT_DIR
  const cfg = await run('vagrant', ['ssh-config'], { cwd: dir, env: o.env })
  if (cfg.code !== 0) throw new Error(`vagrant ssh-config failed in ${dir}: ${(cfg.stderr || cfg.stdout).trim().split('\n').slice(-5).join('\n')}`)
  const entries = parseSshConfig(cfg.stdout)
  if (!entries.length) throw new Error(`vagrant ssh-config in ${dir} names no machine: are they up?`)
  mkdirSync(o.outDir, { recursive: true })
  const sshConfigPath = join(o.outDir, 'ssh-config')
  writeFileSync(sshConfigPath, cfg.stdout)
  const hosts = await Promise.all(
    entries.map(async (e): Promise<VagrantHost> => {
      const r = await run('ssh', ['-F', sshConfigPath, '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', e.name, PROBE_SCRIPT], { timeoutMs: 60_000 })
      if (r.code !== 0) throw new Error(`${e.name}: ssh (as vagrant ssh-config says) failed, rc=${r.code}: ${r.stderr.trim()}`)
      return { ...e, ...parseProbe(e.name, r.stdout, `${o.net}.0/24`) }
    }),
  )
  const knownHostsPath = join(o.outDir, 'known_hosts')
  writeFileSync(knownHostsPath, knownHostsText(hosts))
  const inventoryPath = join(o.outDir, 'hosts.ini')
  writeFileSync(inventoryPath, renderInventory(hosts, { knownHostsPath, net: o.net, provider: o.provider }))
  return { inventoryPath, knownHostsPath, sshConfigPath, hosts }
}

async function main(argv: string[]): Promise<void> {
  const opt = (flag: string) => {
    const i = argv.indexOf(flag)
    return i >= 0 ? argv[i + 1] : undefined
  }
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log('usage: npx tsx scripts/vagrant-inventory.ts [--dir vagrant] [--out DIR] [--net 192.168.56]')
    return
  }
  const dir = resolve(opt('--dir') ?? VAGRANT_DIR)
  const outDir = resolve(opt('--out') ?? process.env.VAGRANT_DOTFILE_PATH ?? join(dir, '.vagrant'))
  const net = opt('--net') ?? process.env.ORCH_VAGRANT_NET ?? '192.168.56'
  const r = await vagrantInventory({ dir, outDir, net })
  console.log(r.inventoryPath)
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(`vagrant-inventory: ${(e as Error).message}`)
    process.exit(1)
  })
}
