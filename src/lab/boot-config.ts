/**
 * What a booted lab host holds in its own /etc before its first boot (pure: unit-tested as golden cases).
 * eth0's address and default route come from the chosen network manager's own configuration, so every
 * boot brings them back the way it would on a real machine; the units to enable are the manager's own.
 */
import { LabInputError } from './errors.ts'

export const NETWORK_MANAGERS = ['networkd', 'networkmanager', 'netplan', 'ifupdown'] as const
export type NetworkManagerName = (typeof NETWORK_MANAGERS)[number]

export interface BootHostSpec {
  name: string
  /** eth0's address with its prefix length: 198.18.I.N/24 */
  cidr: string
  gateway: string
  manager: NetworkManagerName
  docker: boolean
  ovs: boolean
}

export interface BootFile {
  /** Absolute path inside the host. */
  path: string
  mode: number
  content: string
}

export interface BootConfig {
  files: BootFile[]
  /** Units enabled as `systemctl enable` would (with their Also= units). */
  enable: string[]
}

/**
 * `--manager networkd,netplan`: one name for every host, or a list that is repeated over the hosts
 * (host k gets entry k mod length). Throws naming the bad entry.
 */
export function parseManagers(spec: string | undefined, hosts: number): NetworkManagerName[] {
  const names = (spec ?? 'networkd').split(',').map((s) => s.trim())
  for (const [i, n] of names.entries()) {
    if (!(NETWORK_MANAGERS as readonly string[]).includes(n)) {
      throw new LabInputError(`--manager entry ${i + 1} ${JSON.stringify(n)}: expected one of ${NETWORK_MANAGERS.join(', ')}`)
    }
  }
  return Array.from({ length: hosts }, (_, k) => names[k % names.length] as NetworkManagerName)
}

/** A stable locally administered MAC for a host's eth0, so a reboot does not change it. */
export function labMac(slot: number, index: number): string {
  const hex = (n: number) => n.toString(16).padStart(2, '0')
  return `02:0b:${hex(slot)}:00:${hex(index >> 8)}:${hex(index & 255)}`
}

export function bootConfig(h: BootHostSpec): BootConfig {
  const files: BootFile[] = []
  const enable: string[] = []
  switch (h.manager) {
    case 'networkd':
      files.push({
        path: '/etc/systemd/network/10-eth0.network',
        mode: 0o644,
        content: `[Match]\nName=eth0\n\n[Network]\nAddress=${h.cidr}\nGateway=${h.gateway}\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n`,
      })
      enable.push('systemd-networkd.service')
      break
    case 'netplan':
      files.push({
        path: '/etc/netplan/10-eth0.yaml',
        mode: 0o600,
        content: `network:\n  version: 2\n  renderer: networkd\n  ethernets:\n    eth0:\n      addresses: [${h.cidr}]\n      routes:\n        - to: default\n          via: ${h.gateway}\n      link-local: []\n      accept-ra: false\n`,
      })
      enable.push('systemd-networkd.service')
      break
    case 'networkmanager':
      files.push({
        path: '/etc/NetworkManager/system-connections/eth0.nmconnection',
        mode: 0o600,
        content: `[connection]\nid=eth0\ntype=ethernet\ninterface-name=eth0\nautoconnect=true\n\n[ethernet]\n\n[ipv4]\nmethod=manual\naddress1=${h.cidr},${h.gateway}\n\n[ipv6]\nmethod=disabled\n`,
      })
      // Keep the lab's resolv.conf (nothing answers DNS here) and manage eth0 although it is a veth
      // (without udevd NetworkManager cannot read udev's "unmanaged" hints either way).
      files.push({
        path: '/etc/NetworkManager/conf.d/90-orch-lab.conf',
        mode: 0o644,
        content: `# orch lab host\n[main]\ndns=none\n\n[device-eth0]\nmatch-device=interface-name:eth0\nmanaged=1\n`,
      })
      enable.push('NetworkManager.service')
      break
    case 'ifupdown':
      files.push({
        path: '/etc/network/interfaces',
        mode: 0o644,
        content: `# orch lab host ${h.name}\nsource /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n    address ${h.cidr}\n    gateway ${h.gateway}\n`,
      })
      enable.push('networking.service')
      break
  }
  if (h.docker) enable.push('docker.service', 'containerd.service')
  if (h.ovs) enable.push('openvswitch-switch.service')
  files.push({ path: '/etc/hostname', mode: 0o644, content: `${h.name}\n` })
  return { files, enable }
}
