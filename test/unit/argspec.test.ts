import { describe, expect, it } from 'vitest'
import { argSpec, checkArgs, didYouMean, parseArgs, specRows } from '../../src/argspec.ts'
import { ArgError, ArgErrors } from '../../src/errors.ts'
import { bridgeTakeover, command, container, dockerBip, dockerNetwork, file, forwardAccept, lineinfile, masquerade, ovsBridge, ovsInternalPort, ovsTunnels, ovsUnderlay, pipework, route, service, shell, sysctl, vxlan, directory } from '../../src/tasks/index.ts'
import { wireguard, wireguardKey } from '../../src/tasks/wireguard.ts'
import { parseRouteArgs } from '../../src/tasks/route.ts'
import { parseDockerBipArgs } from '../../src/tasks/dockerBip.ts'
import type { Task } from '../../src/engine/types.ts'

const problems = (f: () => unknown): string[] => {
  try {
    f()
  } catch (e) {
    if (e instanceof ArgErrors) return e.errors.map((x) => x.problem)
    if (e instanceof ArgError) return [e.problem]
    throw e
  }
  return []
}
const refusal = (t: Task) => problems(() => t.resource.validate?.({ name: 'node1', vars: {} } as never, {}))

const SPEC = argSpec(
  'demo',
  {
    name: { type: 'ifname', required: true, aliases: ['dev'] },
    count: { type: 'int', min: 1, max: 10, default: 3 },
    mode: { type: 'str', choices: ['a', 'b'], default: 'a' },
    on: { type: 'bool' },
    nets: { type: 'list', elements: { type: 'network4' } },
    pool: { type: 'dict', options: { base: { type: 'network4', required: true }, size: { type: 'int', min: 8, max: 30 } } },
    via: { type: 'ipv4' },
    dest: { type: 'ifname' },
  },
  { mutually_exclusive: [['via', 'dest']], required_if: [['mode', 'b', ['via', 'dest'], 'any']] },
)

describe('argSpec / parseArgs: golden cases', () => {
  it('good input → typed values, defaults filled, aliases resolved', () => {
    const v = parseArgs(SPEC, { dev: 'eth0', nets: ['10.0.0.0/8'], pool: { base: '10.1.0.0/16' }, on: false })
    expect(v).toEqual({ name: 'eth0', count: 3, mode: 'a', on: false, nets: [{ address: '10.0.0.0', addr: 167772160, network: 167772160, prefix: 8 }], pool: { base: { address: '10.1.0.0', addr: 167837696, network: 167837696, prefix: 16 } } })
    // An argument given as undefined (TypeScript's optional) is not given.
    expect(parseArgs(SPEC, { name: 'br0', via: undefined })).toEqual({ name: 'br0', count: 3, mode: 'a' })
  })

  it('bad input → every problem at once, each naming module.argument and what was expected', () => {
    expect(problems(() => parseArgs(SPEC, { nmae: 'eth0', count: 11, mode: 'c', on: 'yes', nets: ['10.0.0.1/8', 'x'], pool: { size: 4, bsae: 1 }, via: '1.2.3.4', dest: 'eth1' }))).toEqual([
      'demo.nmae: expected a known argument (did you mean name?): one of name, count, mode, on, nets, pool, via, dest, got "eth0"',
      'demo.name: expected a value (required), got undefined',
      'demo.count: expected an integer from 1 to 10, got 11',
      "demo.mode: expected one of 'a', 'b', got \"c\"",
      'demo.on: expected true or false, got "yes"',
      'demo.nets[0]: expected a network address (host bits zero), e.g. 10.0.0.0/8, got "10.0.0.1/8"',
      'demo.nets[1]: expected an IPv4 CIDR like 10.1.0.0/24 (prefix 0-32), got "x"',
      'demo.pool.bsae: expected a known argument (did you mean base?): one of base, size, got 1',
      'demo.pool.base: expected a value (required), got undefined',
      'demo.pool.size: expected an integer from 8 to 30, got 4',
      'demo.dest: expected not together with via (only one of via, dest), got "eth1"',
    ])
    expect(problems(() => parseArgs(SPEC, { name: 'eth0', dev: 'eth1' }))).toEqual(['demo.dev: expected only one of name and dev (an alias of name), got "eth1"'])
    expect(problems(() => parseArgs(SPEC, { name: 'eth0', mode: 'b' }))).toEqual(['demo.via: expected one of via, dest (required when mode is "b"), got undefined'])
    expect(problems(() => parseArgs(SPEC, 'eth0'))).toEqual(['demo: expected an object of arguments { name: value }, got "eth0"'])
  })

  it('variables mode: unknown names ignored, blank is unset, Ansible booleans', () => {
    const V = argSpec('', { flag: { type: 'bool', default: false }, net: { type: 'str', default: 'x' } }, { variables: true })
    expect(parseArgs(V, { flag: 'yes', net: '', other: 1 })).toEqual({ flag: true, net: 'x' })
    expect(parseArgs(V, { flag: 'off' })).toEqual({ flag: false, net: 'x' })
    expect(checkArgs(V, { flag: 'maybe' }).errors.map((e) => e.problem)).toEqual(['flag: expected a boolean (true/false, yes/no, on/off, 1/0), got "maybe"'])
  })

  it('did-you-mean: one edit for short names, a third of the letters for long ones', () => {
    expect(didYouMean('brige', ['bridge', 'iface'])).toBe('bridge')
    expect(didYouMean('tabel', ['table', 'to'])).toBe('table')
    expect(didYouMean('xyz', ['bridge', 'iface'])).toBeUndefined()
    expect(didYouMean('ifcae', ['iface'])).toBe('iface')
  })

  it('specRows: what the docs and --list-vars show', () => {
    expect(specRows(SPEC).slice(0, 3)).toEqual([
      { name: 'name', aliases: ['dev'], type: 'ifname', required: true, default: '', desc: '' },
      { name: 'count', aliases: [], type: 'int 1-10', required: false, default: '`3`', desc: '' },
      { name: 'mode', aliases: [], type: 'str: a, b', required: false, default: '`a`', desc: '' },
    ])
  })
})

describe('every task refuses an unknown argument before any host is touched', () => {
  it('bridgeTakeover({ brige }) is refused with a did-you-mean', () => {
    expect(refusal(bridgeTakeover({ brige: 'br1' } as never))).toEqual([
      'bridgeTakeover.brige: expected a known argument (did you mean bridge?): one of bridge, iface, stp, persist, timeout, got "br1"',
    ])
  })

  it('each task, with good arguments plus one misspelt, names exactly that one', () => {
    const cases: Array<[string, Task]> = [
      ['route.metirc', route({ to: '10.1.0.0/24', via: '198.18.0.2', metirc: 5 } as never)],
      ['masquerade.exept', masquerade({ from: '10.1.0.0/24', exept: [] } as never)],
      ['forwardAccept.output', forwardAccept({ in: 'eth0', output: 'docker0' } as never)],
      ['sysctl.persit', sysctl({ name: 'net.ipv4.ip_forward', value: 1, persit: false } as never)],
      ['vxlan.port', vxlan({ name: 'vx42', vni: 42, local: '198.18.0.1', peers: [], port: 4789 } as never)],
      ['dockerBip.mut', dockerBip({ bip: '10.1.1.1/24', mut: 1400 } as never)],
      ['command.cwd', command({ argv: ['true'], cwd: '/' } as never)],
      ['shell.exe', shell('true', { exe: '/bin/bash' } as never)],
      ['file.contents', file({ path: '/x', content: '', contents: 'y' } as never)],
      ['lineinfile.regex', lineinfile({ path: '/x', line: 'a', regex: 'a' } as never)],
      ['directory.owner_', directory({ path: '/x', owner_: 'root' } as never)],
      ['service.enabled', service({ name: 'docker', state: 'started', enabled: true } as never)],
      ['ovsBridge.datpath', ovsBridge({ name: 'br-int', datpath: 'netdev' } as never)],
      ['ovsInternalPort.addr', ovsInternalPort({ bridge: 'br-int', name: 'p0', address: '10.0.0.1/24', addr: 1 } as never)],
      ['ovsTunnels.peers[0].remote', ovsTunnels({ bridge: 'br-int', type: 'gre', peers: [{ remote_ip: '198.18.0.2', remote: 1 }] } as never)],
      ['ovsUnderlay.interface', ovsUnderlay({ bridge: 'br-phy', iface: 'eth0', interface: 'eth0' } as never)],
      ['pipework.gateway', pipework({ container: 'c1', ip: '10.0.0.2/24', gateway: '10.0.0.1' } as never)],
      ['dockerNetwork.ip_range', dockerNetwork({ name: 'n1', subnet: '10.5.0.0/24', ip_range: '10.5.0.0/25' } as never)],
      ['wireguard.listen_port', wireguard({ name: 'wg0', keyFile: '/k', listenPort: 51820, peers: [], local: '198.18.0.1', listen_port: 1 } as never)],
      ['wireguardKey.rotation', wireguardKey({ path: '/k', rotation: true } as never)],
      ['container.ports', container({ name: 'c1', image: 'busybox', ports: ['80'] } as never)],
    ]
    for (const [variable, t] of cases) {
      const p = refusal(t)
      expect(p.length, `${variable}: ${p.join('; ')}`).toBe(1)
      expect(p[0].startsWith(`${variable}: expected a known argument`), p[0]).toBe(true)
    }
  })

  it('typed values from the task specs (route, dockerBip)', () => {
    expect(parseRouteArgs({ to: '0.0.0.0/0', dev: 'eth0' })).toEqual({ to: 'default', dev: 'eth0', metric: 0, table: 254, state: 'present', persist: true })
    expect(problems(() => parseRouteArgs({ to: 'x', table: 255, state: 'gone' } as never))).toEqual([
      'route.to: expected an IPv4 CIDR like 10.1.0.0/24 (prefix 0-32), got "x"',
      'route.table: expected a routing table number other than 255 (local), got 255',
      "route.state: expected one of 'present', 'absent', got \"gone\"",
    ])
    expect(parseDockerBipArgs({ bip: '10.1.1.1/24', mtu: '1400' as never }).mtu).toBe(1400)
    expect(problems(() => parseDockerBipArgs({ bip: '10.1.1.0/24', defaultAddressPools: [] }))).toEqual([
      'dockerBip.bip: expected a host address with prefix, e.g. 10.1.1.1/24 (not the network or broadcast address), got "10.1.1.0/24"',
      'dockerBip.defaultAddressPools: expected a list of at least 1 elements, got []',
    ])
  })
})
