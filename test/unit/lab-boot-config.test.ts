import { describe, expect, it } from 'vitest'
import { bootConfig, labMac, parseManagers, type BootHostSpec } from '../../src/lab/boot-config.ts'

const base: BootHostSpec = { name: 'node2', cidr: '198.18.3.2/24', gateway: '198.18.3.254', manager: 'networkd', docker: false, ovs: false }
const file = (spec: BootHostSpec, path: string) => bootConfig(spec).files.find((f) => f.path === path)

describe('booted lab host configuration', () => {
  it('networkd: a .network file for eth0 with the address and the gateway, networkd enabled', () => {
    const c = bootConfig(base)
    expect(file(base, '/etc/systemd/network/10-eth0.network')).toEqual({
      path: '/etc/systemd/network/10-eth0.network',
      mode: 0o644,
      content: '[Match]\nName=eth0\n\n[Network]\nAddress=198.18.3.2/24\nGateway=198.18.3.254\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n',
    })
    expect(c.enable).toEqual(['systemd-networkd.service'])
    expect(file(base, '/etc/hostname')?.content).toBe('node2\n')
  })

  it('netplan: a yaml (mode 600, as netplan wants) rendered by networkd', () => {
    const spec = { ...base, manager: 'netplan' as const }
    expect(file(spec, '/etc/netplan/10-eth0.yaml')).toEqual({
      path: '/etc/netplan/10-eth0.yaml',
      mode: 0o600,
      content:
        'network:\n  version: 2\n  renderer: networkd\n  ethernets:\n    eth0:\n      addresses: [198.18.3.2/24]\n      routes:\n        - to: default\n          via: 198.18.3.254\n      link-local: []\n      accept-ra: false\n',
    })
    expect(bootConfig(spec).enable).toEqual(['systemd-networkd.service'])
  })

  it('NetworkManager: a keyfile (mode 600) and a conf that keeps the lab resolv.conf', () => {
    const spec = { ...base, manager: 'networkmanager' as const, docker: true, ovs: true }
    const key = file(spec, '/etc/NetworkManager/system-connections/eth0.nmconnection')
    expect(key?.mode).toBe(0o600)
    expect(key?.content).toContain('interface-name=eth0\n')
    expect(key?.content).toContain('[ipv4]\nmethod=manual\naddress1=198.18.3.2/24,198.18.3.254\n')
    expect(file(spec, '/etc/NetworkManager/conf.d/90-orch-lab.conf')?.content).toContain('dns=none')
    expect(bootConfig(spec).enable).toEqual(['NetworkManager.service', 'docker.service', 'containerd.service', 'openvswitch-switch.service'])
  })

  it('ifupdown: /etc/network/interfaces with auto eth0 static', () => {
    const spec = { ...base, manager: 'ifupdown' as const }
    expect(file(spec, '/etc/network/interfaces')?.content).toBe(
      '# orch lab host node2\nsource /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n    address 198.18.3.2/24\n    gateway 198.18.3.254\n',
    )
    expect(bootConfig(spec).enable).toEqual(['networking.service'])
  })

  it('--manager: one name for all hosts, a list repeated over them, a bad entry named', () => {
    expect(parseManagers(undefined, 2)).toEqual(['networkd', 'networkd'])
    expect(parseManagers('netplan', 3)).toEqual(['netplan', 'netplan', 'netplan'])
    expect(parseManagers('networkd,ifupdown', 5)).toEqual(['networkd', 'ifupdown', 'networkd', 'ifupdown', 'networkd'])
    expect(() => parseManagers('networkd,nm', 2)).toThrow('--manager entry 2 "nm": expected one of networkd, networkmanager, netplan, ifupdown')
  })

  it('eth0 MACs: stable per slot and host, locally administered, distinct', () => {
    expect(labMac(3, 2)).toBe('02:0b:03:00:00:02')
    expect(labMac(255, 250)).toBe('02:0b:ff:00:00:fa')
    expect(labMac(0, 1)).not.toBe(labMac(1, 1))
  })
})
