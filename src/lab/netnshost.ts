/** One netns lab host: its files, its eth0 on the lab switch, and its init (tini, sshd, dockerd, OVS) started. */
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import { sh } from '../net/shell.ts'
import { processStartTime, shOk } from './exec.ts'
import { etcHosts, filesDir, lanOf, saveState, waitPort, type LabHost, type LabState } from './lan.ts'

async function waitReady(stateDir: string, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (existsSync(join(stateDir, 'ready'))) return
    if (existsSync(join(stateDir, 'failed'))) {
      const why = readFileSync(join(stateDir, 'failed'), 'utf8').trim()
      let log = ''
      try {
        log = readFileSync(join(stateDir, 'init.log'), 'utf8').split('\n').slice(-8).join('\n')
      } catch {
        /* no log */
      }
      throw new Error(`lab host ${name}: ${why}\n${log}`)
    }
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`lab host ${name} did not become ready in ${timeoutMs} ms (see ${stateDir}/init.log)`)
}

export async function createHost(s: LabState, h: LabHost, pubKey: string, image: string): Promise<void> {
  const st = h.stateDir
  const lan = lanOf(s, h)
  for (const d of ['etc.upper/ssh', 'root/.ssh', 'var.upper', 'docker']) mkdirSync(join(st, d), { recursive: true })
  writeFileSync(join(st, 'etc.upper/hostname'), `${h.name}\n`)
  writeFileSync(join(st, 'etc.upper/hosts'), etcHosts(s, h))
  // DNS goes to the lab gateway, where nothing answers: lookups fail fast and never leave the lab.
  writeFileSync(join(st, 'etc.upper/resolv.conf'), `nameserver ${lan.gateway}\noptions timeout:1 attempts:1\n`)
  writeFileSync(join(st, 'etc.upper/ssh/sshd_config'), sshdConfig())
  writeFileSync(join(st, 'root/.ssh/authorized_keys'), pubKey)
  chmodSync(join(st, 'root/.ssh'), 0o700)
  chmodSync(join(st, 'root'), 0o700)
  await shOk(sh`ssh-keygen -q -t ed25519 -N '' -C ${h.name} -f ${join(st, 'etc.upper/ssh/ssh_host_ed25519_key')}`, 'host key')

  // The host's eth0 is created inside its namespace; its peer goes straight into the switch namespace,
  // so the root namespace never sees these names (no collisions between labs).
  const peer = `v${h.name.slice(4)}`
  await shOk(
    sh`set -e
      ip netns add ${h.ns}
      ip link add eth0 netns ${h.ns} type veth peer name ${peer} netns ${s.switchNs}
      ip -n ${s.switchNs} link set ${peer} master ${lan.bridge} up
      ip -n ${h.ns} link set lo up
      ip -n ${h.ns} addr add ${h.address + '/24'} dev eth0
      ip -n ${h.ns} link set eth0 up
      ip -n ${h.ns} route add default via ${lan.gateway}
      nsenter --net=/run/netns/${h.ns} sh -c 'echo 0 > /proc/sys/net/ipv4/ip_forward'`,
    `creating lab host ${h.name}`,
  )
  if (s.mtu) await shOk(sh`ip -n ${h.ns} link set eth0 mtu ${s.mtu} && ip -n ${s.switchNs} link set ${peer} mtu ${s.mtu}`, `lab host ${h.name} mtu`)
  // nodad: the address is usable at once (no duplicate can exist on a LAN of our own namespaces).
  if (h.address6) await shOk(sh`ip -n ${h.ns} -6 addr add ${h.address6 + '/64'} dev eth0 nodad && ip -n ${h.ns} -6 route add default via ${s.gateway6!}`, `lab host ${h.name} IPv6`)
  if (s.ovs) {
    // OVS userspace datapath drops GSO/TSO super-frames as "too big": segment them on the switch side.
    await shOk(sh`nsenter --net=/run/netns/${s.switchNs} ethtool -K ${peer} tso off gso off >/dev/null`, 'ethtool')
  }

  const env = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LAB_STATE: st,
    LAB_NAME: h.name,
    LAB_BIN: filesDir + '/bin',
    LAB_DOCKER: s.docker ? '1' : '0',
    LAB_OVS: s.ovs ? '1' : '0',
    LAB_IMAGE: image,
    LAB_OVERLAYS: overlayDirs(s.dir).join(' '),
    HOME: '/root',
  }
  const child = spawn(
    'nsenter',
    [
      `--net=/run/netns/${h.ns}`,
      '--',
      'unshare',
      '--mount',
      '--uts',
      '--pid',
      '--fork',
      '--kill-child',
      '--mount-proc',
      '--propagation',
      'private',
      'tini',
      '-s',
      '--',
      '/bin/sh',
      join(filesDir, 'host-init.sh'),
    ],
    { detached: true, stdio: 'ignore', env },
  )
  child.unref()
  h.pid = child.pid!
  h.pidStart = processStartTime(h.pid) ?? 0
  saveState(s)
  await waitReady(st, h.name, s.docker ? 60_000 : 20_000)
  await waitPort(h.address, 22, 10_000)
}

/**
 * Top-level directories each host sees copy-on-write. Not '/': /work (or wherever the repo lives) stays
 * shared so hosts reach the lab's own files; a directory holding the lab's state can't be overlaid on
 * itself and is skipped (/tmp, /run, /root are private mounts of their own).
 */
export function overlayDirs(labStateDir: string): string[] {
  return ['etc', 'var', 'usr', 'opt', 'srv', 'home', 'mnt', 'media'].filter(
    (d) => existsSync(`/${d}`) && !(labStateDir + '/').startsWith(`/${d}/`),
  )
}

function sshdConfig(): string {
  return `# orch lab host sshd
Port 22
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile .ssh/authorized_keys
UsePAM no
UseDNS no
PrintMotd no
PidFile /run/sshd.pid
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
`
}
