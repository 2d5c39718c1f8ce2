/** The network facts of one host, as gatherFacts() reads them in one round trip. */

export interface AddressFact {
  family: 'inet' | 'inet6'
  address: string
  prefixlen: number
  /** address/prefixlen */
  cidr: string
  scope: string
}

export interface InterfaceFact {
  name: string
  ifindex: number
  /**
   * The kernel's link kind: veth, bridge, vxlan, openvswitch (kernel datapath), tun (OVS netdev ports are
   * taps), macvlan, ... 'device' for a link without one (a physical NIC), 'loopback' for lo.
   */
  kind: string
  /** operstate: UP, DOWN, UNKNOWN, ... */
  state: string
  /** Administratively up (flag UP). */
  up: boolean
  mtu: number
  mac?: string
  /** Bridge (or bond...) this interface is enslaved to. */
  master?: string
  /** Kind of the master: bridge, openvswitch, bond... */
  slaveKind?: string
  addresses: AddressFact[]
  vxlan?: { id: number; remote?: string; local?: string; group?: string; port?: number; dev?: string }
  /** When the interface is an Open vSwitch port: its bridge and OVS interface type. */
  ovs?: { bridge: string; type: string }
}

export interface RouteFact {
  family: 4 | 6
  /** 'default' or a CIDR (host routes as /32, /128). */
  dst: string
  type: string
  gateway?: string
  dev?: string
  protocol?: string
  scope?: string
  src?: string
  metric: number
  nexthops?: Array<{ gateway?: string; dev?: string; weight?: number }>
  /** As `ip route show` prints it. */
  text: string
}

export interface BridgeFact {
  name: string
  ports: string[]
  stp: boolean
  vlanFiltering: boolean
  mtu: number
  addresses: string[]
}

export interface DockerNetworkFact {
  name: string
  id: string
  driver: string
  scope: string
  subnets: string[]
  gateways: string[]
  /** Linux bridge of a bridge network: docker0, br-<id12> or the name set in its options. */
  bridge?: string
  internal: boolean
  ipv6: boolean
  /** com.docker.network.bridge.enable_ip_masquerade (bridge networks; docker's default true). */
  masquerade?: boolean
  mtu?: number
  options: Record<string, string>
}

export interface DockerFacts {
  /** The docker CLI or dockerd is installed. */
  installed: boolean
  /** The daemon answered `docker info`. */
  running: boolean
  /** /etc/docker/daemon.json: absent, parsed, or unparsable (error). */
  daemonJson: { present: boolean; content?: Record<string, unknown>; error?: string }
  version?: string
  storageDriver?: string
  cgroupDriver?: string
  cgroupVersion?: string
  ipv4Forwarding?: boolean
  bridgeNfIptables?: boolean
  containers?: { total: number; running: number }
  images?: number
  rootDir?: string
  swarm?: string
  warnings: string[]
  networks: DockerNetworkFact[]
}

export interface OvsInterfaceFact {
  name: string
  /** '' (system), internal, vxlan, gre, geneve, patch, dpdk, ... */
  type: string
  options: Record<string, string>
  mtu?: number
  mtuRequest?: number
  ofport?: number
  mac?: string
  error?: string
}

export interface OvsPortFact {
  name: string
  tag?: number
  interfaces: OvsInterfaceFact[]
}

export interface OvsBridgeFact {
  name: string
  /** system (kernel datapath; '' in the database means system) or netdev (userspace). */
  datapathType: string
  otherConfig: Record<string, string>
  ports: OvsPortFact[]
}

export interface OvsFacts {
  /** ovs-vsctl is installed. */
  installed: boolean
  /** ovsdb-server answered. */
  running: boolean
  version?: string
  datapathTypes: string[]
  ifaceTypes: string[]
  bridges: OvsBridgeFact[]
}

export interface IptablesFacts {
  /** An `iptables` command exists. */
  present: boolean
  /** Binary the firewall tasks use (docker's backend when it differs from PATH's). */
  binary?: string
  /** Backend of that binary. */
  variant?: 'nft' | 'legacy'
  /** Backend of the `iptables` on PATH. */
  pathVariant?: 'nft' | 'legacy'
  version?: string
  /** Legacy (x_tables) tables are instantiated in this network namespace. */
  legacyTables: string[]
  forwardPolicy?: string
  /** `-A FORWARD ...` rules. */
  forward: string[]
  dockerUser: boolean
  /** `-A POSTROUTING ...` rules of the nat table. */
  natPostrouting: string[]
  /** orch's own chains (null: absent). */
  orchForward: string[] | null
  orchPostrouting: string[] | null
}

export interface WireguardFacts {
  /** The WireGuard kernel module is loaded, built in or loadable. */
  kernel: boolean
  /** wireguard-go is installed and /dev/net/tun exists. */
  userspace: boolean
  /** The wg tool (wireguard-tools). */
  tools: boolean
  /** What the wireguard strategy would use: the kernel's, else wireguard-go, else none. */
  datapath: 'kernel' | 'userspace' | 'none'
  /** WireGuard devices (`wg show interfaces`). */
  interfaces: string[]
}

export type NetworkManagerKind = 'netplan' | 'NetworkManager' | 'systemd-networkd' | 'ifupdown'

export interface SystemFacts {
  /** Booted with systemd (/run/systemd/system exists). */
  systemd: boolean
  /** A `systemctl` command exists (on lab hosts: a stand-in, without systemd). */
  systemctl: boolean
  network: {
    /** What configures the network, most specific first: netplan renders for networkd or NetworkManager. */
    managers: NetworkManagerKind[]
    /** managers[0], or 'none'. */
    primary: NetworkManagerKind | 'none'
    netplanFiles: string[]
    netplanRenderer?: string
    /** Interfaces with an `iface` stanza in /etc/network/interfaces(.d), lo excluded. */
    ifupdownInterfaces: string[]
  }
}

export interface HostFacts {
  hostname: string
  kernel: string
  interfaces: InterfaceFact[]
  /** Main table, IPv4 then IPv6 (link-local IPv6 routes left out). */
  routes: RouteFact[]
  /** Linux bridges and their ports. */
  bridges: BridgeFact[]
  docker: DockerFacts
  ovs: OvsFacts
  wireguard?: WireguardFacts
  forwarding: { ipv4: boolean; ipv6: boolean | null }
  iptables: IptablesFacts
  system: SystemFacts
  /** Sections that could not be read or parsed (the rest of the facts are still there). */
  errors: string[]
}
