/**
 * gatherFacts over SSH on a lab host with dockerd and Open vSwitch, compared with what the host holds,
 * read through other means than the facts script (sysfs, `ip -o`, `bridge link`, docker templates,
 * `ovs-vsctl get`, iptables): the facts must agree with the kernel and the daemons.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { factsCommand } from '../../src/cli/facts.ts'
import type { Io } from '../../src/cli/io.ts'
import { main } from '../../src/cli/main.ts'
import { gatherFacts, renderFacts, type HostFacts } from '../../src/facts/index.ts'
import { forwardAccept } from '../../src/tasks/forward.ts'
import { masquerade } from '../../src/tasks/nat.ts'
import type { Connection } from '../../src/transport/types.ts'
import { counting, sshTo } from '../helpers/conn.ts'
import { labSkipReason, on as onHost, withLab } from '../helpers/lab.ts'
import { runTask, undoAll, type TaskRun } from '../helpers/task.ts'

function fakeIo(): { io: Io; out: () => string; err: () => string } {
  let out = ''
  let err = ''
  const sink = (add: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        add(String(chunk))
        cb()
      },
    })
  const io: Io = {
    stdout: sink((x) => (out += x)),
    stderr: sink((x) => (err += x)),
    cwd: process.cwd(),
    onSigint: () => {},
    offSigint: () => {},
    exit: (code: number) => {
      throw new Error(`exit ${code}`)
    },
  }
  return { io, out: () => out, err: () => err }
}

describe.skipIf(labSkipReason)('gatherFacts on a docker + OVS lab host (over SSH)', () => {
  const lab = withLab({ hosts: 1, docker: true, ovs: true })
  const H = () => lab().hosts[0]
  let conn: Connection
  let facts: HostFacts
  let round = 0
  const undos: TaskRun['undo'][] = []
  const on = (script: string): Promise<string> => onHost(lab(), H(), script)

  beforeAll(async () => {
    const peer = lab().gateway
    await on(
      `set -e
       ovs-vsctl add-br br-f -- set bridge br-f datapath_type=netdev \
         -- add-port br-f vxf -- set interface vxf type=vxlan options:remote_ip=${peer} options:key=77 \
         -- add-port br-f pf tag=20 -- set interface pf type=internal mtu_request=1400
       ip link add brf type bridge
       ip link add vxk type vxlan id 88 remote ${peer} dstport 4789 dev eth0
       ip link set vxk master brf
       ip addr add 10.88.0.1/24 dev brf
       ip link set brf up
       ip link set vxk up
       docker network create -d bridge --subnet 10.66.0.0/24 --gateway 10.66.0.1 -o com.docker.network.bridge.name=br-facts -o com.docker.network.bridge.enable_ip_masquerade=false factsnet >/dev/null
       docker run -d --pull never --init --name fc --network factsnet ${lab().image} sleep 3600 >/dev/null
       mkdir -p /etc/docker
       printf '{\\n  "log-level": "warn",\\n  "mtu": 1500\\n}\\n' > /etc/docker/daemon.json`,
    )
    conn = await sshTo(lab(), H())
    undos.push((await runTask(masquerade({ from: '10.66.0.0/24', except: ['10.0.0.0/8'] }), conn)).undo)
    undos.push((await runTask(forwardAccept({ in: 'eth0', out: 'br-facts' }), conn)).undo)
    const c = counting(conn)
    facts = await gatherFacts(c)
    round = c.count
  })
  afterAll(async () => {
    if (conn) {
      await undoAll(conn, undos)
      await conn.close()
    }
  })

  it('takes one round trip and reads every section', () => {
    expect(round).toBe(1)
    expect(facts.errors).toEqual([])
    expect(facts.hostname).toBe(H().name)
  })

  it('interfaces: names, MTU, MAC, state and master as sysfs has them', async () => {
    const sys = await on(
      'for i in /sys/class/net/*; do n=${i##*/}; m=$(readlink $i/master 2>/dev/null); echo "$n $(cat $i/mtu) $(cat $i/address) $(cat $i/operstate) ${m##*/}"; done',
    )
    const rows = sys.trim().split('\n').map((l) => l.split(' '))
    expect(facts.interfaces.map((i) => i.name).sort()).toEqual(rows.map((r) => r[0]).sort())
    for (const [name, mtu, mac, oper, master] of rows) {
      const f = facts.interfaces.find((i) => i.name === name)!
      expect(f.mtu, name).toBe(Number(mtu))
      if (name !== 'lo') expect(f.mac, name).toBe(mac)
      expect(f.state.toLowerCase(), name).toBe(oper)
      expect(f.master, name).toBe(master || undefined)
    }
    expect(facts.interfaces.find((i) => i.name === 'vxk')).toMatchObject({ kind: 'vxlan', master: 'brf', vxlan: { id: 88, remote: lab().gateway, port: 4789, dev: 'eth0' } })
    expect(facts.interfaces.find((i) => i.name === 'eth0')?.kind).toBe('veth')
    expect(facts.interfaces.find((i) => i.name === 'pf')?.ovs).toEqual({ bridge: 'br-f', type: 'internal' })
  })

  it('addresses as `ip -o addr` lists them', async () => {
    const lines = (await on('ip -o addr show')).trim().split('\n')
    const want = lines.map((l) => l.split(/\s+/)).map((w) => `${w[1]} ${w[3]}`).sort()
    const got = facts.interfaces.flatMap((i) => i.addresses.map((a) => `${i.name} ${a.cidr}`)).sort()
    expect(got).toEqual(want)
  })

  it('main-table routes as `ip route` lists them', async () => {
    const v4 = (await on('ip -4 route show table main')).trim().split('\n')
    expect(facts.routes.filter((r) => r.family === 4).map((r) => r.text)).toEqual(v4.map((l) => l.trim().replace(/ linkdown$/, '')))
    expect(facts.routes.find((r) => r.dst === 'default')?.gateway).toBe(lab().gateway)
  })

  it('Linux bridges and ports as `bridge link` shows them', async () => {
    const ports = (await on('bridge link show'))
      .trim()
      .split('\n')
      .map((l) => /^\d+: (\S+?)(@\S+)?: .* master (\S+)/.exec(l))
      .filter((m): m is RegExpExecArray => !!m)
      .map((m) => `${m[3]} ${m[1]}`)
      .sort()
    expect(facts.bridges.flatMap((b) => b.ports.map((p) => `${b.name} ${p}`)).sort()).toEqual(ports)
    expect(facts.bridges.find((b) => b.name === 'brf')).toMatchObject({ ports: ['vxk'], addresses: ['10.88.0.1/24'] })
    expect(facts.bridges.find((b) => b.name === 'br-facts')?.ports).toHaveLength(1)
  })

  it('docker: version, daemon.json, networks with subnet, gateway and bridge', async () => {
    expect(facts.docker.version).toBe((await on("docker info -f '{{.ServerVersion}}'")).trim())
    expect(facts.docker.daemonJson).toEqual({ present: true, content: { 'log-level': 'warn', mtu: 1500 } })
    expect(facts.docker.containers).toEqual({ total: 1, running: 1 })
    const ls = (await on("docker network ls --format '{{.Name}} {{.Driver}}'")).trim().split('\n').sort()
    expect(facts.docker.networks.map((n) => `${n.name} ${n.driver}`).sort()).toEqual(ls)
    const ipam = (await on("docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}' factsnet")).trim()
    const n = facts.docker.networks.find((x) => x.name === 'factsnet')!
    expect(`${n.subnets[0]} ${n.gateways[0]}`).toBe(ipam)
    expect(n).toMatchObject({ bridge: 'br-facts', masquerade: false })
    const def = facts.docker.networks.find((x) => x.name === 'bridge')!
    expect(def.bridge).toBe('docker0')
    expect(def.gateways).toEqual([(await on("ip -4 -o addr show dev docker0 | awk '{print $4}' | cut -d/ -f1")).trim()])
  })

  it('OVS: bridges, ports, tags, interface types and options as ovs-vsctl gets them', async () => {
    const brs = (await on('ovs-vsctl list-br')).trim().split('\n')
    expect(facts.ovs.bridges.map((b) => b.name)).toEqual(brs)
    const b = facts.ovs.bridges.find((x) => x.name === 'br-f')!
    expect(b.datapathType).toBe((await on('ovs-vsctl get bridge br-f datapath_type')).trim().replace(/"/g, ''))
    expect(b.ports.map((p) => p.name).filter((p) => p !== 'br-f')).toEqual((await on('ovs-vsctl list-ports br-f')).trim().split('\n'))
    const vxf = b.ports.find((p) => p.name === 'vxf')!.interfaces[0]
    expect(vxf.type).toBe((await on('ovs-vsctl get interface vxf type')).trim())
    expect(vxf.options).toEqual({ key: '77', remote_ip: lab().gateway })
    expect(b.ports.find((p) => p.name === 'pf')!.tag).toBe(Number(await on('ovs-vsctl get port pf tag')))
    expect(b.ports.find((p) => p.name === 'pf')!.interfaces[0].mtuRequest).toBe(1400)
    expect(facts.ovs.version).toBe((await on('ovs-vsctl get open_vswitch . ovs_version')).trim().replace(/"/g, ''))
  })

  it('forwarding and iptables as the kernel has them, with the ORCH chains the tasks made', async () => {
    expect(facts.forwarding.ipv4).toBe((await on('cat /proc/sys/net/ipv4/ip_forward')).trim() === '1')
    expect(facts.iptables.forwardPolicy).toBe((await on('iptables -S FORWARD | head -n 1')).trim().split(' ')[2])
    expect(facts.iptables.variant).toBe(/nf_tables/.test(await on('iptables -V')) ? 'nft' : 'legacy')
    expect(facts.iptables.dockerUser).toBe(true)
    expect(facts.iptables.natPostrouting).toEqual((await on('iptables -t nat -S POSTROUTING')).trim().split('\n').filter((l) => l.startsWith('-A')))
    expect(facts.iptables.natPostrouting[0]).toBe('-A POSTROUTING -j ORCH-POSTROUTING')
    expect(facts.iptables.orchForward).toEqual(['-A ORCH-FORWARD -i eth0 -o br-facts -m comment --comment "orch forward-accept" -j ACCEPT'])
    expect(facts.iptables.orchPostrouting).toHaveLength(2)
  })

  it('system: no systemd (systemctl is a stand-in), no network manager configured', () => {
    expect(facts.system.systemd).toBe(false)
    expect(facts.system.systemctl).toBe(true)
    expect(facts.system.network.primary).toBe('none')
  })

  it('renders every part', () => {
    const text = renderFacts(facts)
    for (const s of ['Interfaces', 'Routes (main)', 'Linux bridges', 'Docker', 'Open vSwitch', 'Forwarding and firewall', 'System'])
      expect(text).toContain(`\n${s}\n`)
    expect(text).toContain('  bridge br-f (datapath netdev)')
    expect(text).toMatch(/\n {2}factsnet +bridge +10\.66\.0\.0\/24 +10\.66\.0\.1 +br-facts +no\n/)
  })

  it('a stopped dockerd and a stopped OVS are facts too', async () => {
    await on('systemctl stop docker && systemctl stop openvswitch-switch')
    try {
      const f = await gatherFacts(conn)
      expect(f.errors).toEqual([])
      expect(f.docker).toMatchObject({ installed: true, running: false, networks: [] })
      expect(f.docker.daemonJson.present).toBe(true)
      expect(f.ovs).toMatchObject({ installed: true, running: false, bridges: [] })
      expect(f.interfaces.length).toBeGreaterThan(2)
    } finally {
      await on('systemctl start openvswitch-switch && systemctl start docker')
    }
  })

  describe('orch facts', () => {
    it('prints every host (text), through the CLI', async () => {
      const f = fakeIo()
      expect(await main(['node', 'orch', 'facts', '-i', lab().inventoryPath], f.io)).toBe(0)
      expect(f.out()).toContain(`== ${H().name} (${H().address}) ==\n${H().name}  kernel `)
      expect(f.out()).toContain('  bridge br-f (datapath netdev)')
      expect(f.err()).toBe('')
    })

    it('--json: one document; --limit; an unreachable host is reported with exit 4', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'orch-facts-'))
      try {
        const inv = join(dir, 'hosts.ini')
        writeFileSync(
          inv,
          `[lab]\n${H().name} ansible_host=${H().address}\nnowhere ansible_host=127.0.0.1 ansible_port=1\n[all:vars]\nansible_user=root\nansible_ssh_private_key_file=${lab().keyPath}\n` +
            `ansible_ssh_common_args='-o UserKnownHostsFile=${lab().knownHostsPath} -o StrictHostKeyChecking=yes'\n`,
        )
        const one = fakeIo()
        expect(await factsCommand({ inventory: [inv], limit: H().name, json: true }, one.io)).toBe(0)
        const doc = JSON.parse(one.out())
        expect(Object.keys(doc.facts)).toEqual([H().name])
        expect(doc.facts[H().name].docker.networks.map((n: { name: string }) => n.name)).toContain('factsnet')
        expect(doc).toMatchObject({ unreachable: {}, failed: {} })

        const both = fakeIo()
        expect(await factsCommand({ inventory: [inv], json: true }, both.io)).toBe(4)
        const d2 = JSON.parse(both.out())
        expect(Object.keys(d2.facts)).toEqual([H().name])
        expect(Object.keys(d2.unreachable)).toEqual(['nowhere'])

        const bad = fakeIo()
        expect(await factsCommand({ inventory: [join(dir, 'missing.ini')] }, bad.io)).toBe(5)
        expect(bad.err()).toMatch(/^ERROR! /)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })
  })
})
