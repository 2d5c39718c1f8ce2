/**
 * The cross-host playbooks' plan, without hosts: the example inventories (with every commented variable
 * switched on) plan for every strategy; addresses are allocated by inventory order; bad variables are
 * refused naming host and variable; the routes allocation avoids foreign routes and ignores its own.
 * (No lab needed: nothing connects.)
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { planRun } from '../../src/engine/runner.ts'
import { ArgError, type PlaybookContext, type Playbook } from '../../src/engine/types.ts'
import { loadInventory, selectHosts } from '../../src/inventory/index.ts'
import type { Host, Vars } from '../../src/inventory/types.ts'
import { networkOf } from '../../src/net/ip.ts'
import { allocateContainerSubnets, cluster, parseMarked, CROSSHOST_DEFAULTS as DEFAULTS, foreignRoutes, planLanIps, type SurveyRoute } from '../../src/crosshost/index.ts'
import crossHost from '../../playbooks/cross-host.ts'

const repo = fileURLToPath(new URL('../../', import.meta.url))
import { fileURLToPath } from 'node:url'

const STRATEGIES = ['routes', 'bridge', 'ovs-gre', 'vxlan', 'wireguard'] as const

async function plan(invPath: string, extraVars: Vars = {}, pb: Playbook = crossHost as Playbook) {
  const inv = await loadInventory([invPath])
  return planRun({
    plays: [pb],
    resolveHosts: (p) => selectHosts(inv, p),
    extraVars,
  })
}

/** The example INI with every commented `key=value` of the vars section switched on. */
function everyVariable(): string {
  const text = readFileSync(join(repo, 'inventory/hosts.ini'), 'utf8')
  const at = text.lastIndexOf('[docker_hosts:vars]')
  const [hosts, vars] = [text.slice(0, at), text.slice(at + '[docker_hosts:vars]'.length)]
  const on = vars
    .split('\n')
    .map((l) => (/^# [a-z_]+=\S/.test(l) && !/^# ansible_/.test(l) ? l.slice(2) : l))
    .join('\n')
  const dir = mkdtempSync(join(tmpdir(), 'orch-pb-plan-'))
  const file = join(dir, 'hosts.ini')
  writeFileSync(file, `${hosts}[docker_hosts:vars]${on}`)
  return file
}

/** A PlaybookContext as the runner makes it, for the cluster plan of `host`. */
function ctxFor(hosts: Array<{ name: string; vars: Vars }>, me = 0): PlaybookContext {
  const hs: Host[] = hosts.map((h) => ({ name: h.name, vars: h.vars, groups: ['all', 'docker_hosts'] }))
  const merged = (h: Host) => ({ ...DEFAULTS, ...h.vars }) as Vars
  return {
    host: hs[me],
    vars: merged(hs[me]),
    hosts: hs,
    peers: hs.filter((_, i) => i !== me).map((p) => ({ name: p.name, address: String(p.vars.ansible_host), vars: merged(p) })),
    targets: hs,
    need(variable, check, expected = 'a value') {
      const x = merged(hs[me])[variable]
      if (x === undefined || (check && !check(x))) throw new ArgError(variable, expected, x, hs[me].name)
      return x as never
    },
  }
}

const three = (extra: Vars[] = [{}, {}, {}]) =>
  [1, 2, 3].map((i) => ({ name: `node${i}`, vars: { ansible_host: `198.18.0.${i}`, ...extra[i - 1] } as Vars }))

describe('cross-host playbook plan', () => {
  it('the example inventories plan for every strategy, also with every variable set', async () => {
    const files = [join(repo, 'inventory/hosts.ini'), join(repo, 'inventory/hosts.yml'), everyVariable()]
    for (const f of files)
      for (const s of STRATEGIES) {
        const extra: Vars = { orch_strategy: s }
        if (s === 'bridge' && !f.includes('orch-pb-plan')) extra.lan_pool = '198.18.0.96/28'
        const p = await plan(f, extra)
        expect(p[0].hosts.map((h) => h.name), `${f} ${s}`).toEqual(['node1', 'node2', 'node3'])
        for (const h of ['node1', 'node2', 'node3']) expect(p[0].tasks.get(h)!.length).toBeGreaterThan(2)
        // Every variable the playbooks read is in the example (commented): switched on, the plan sees them.
        if (f.includes('orch-pb-plan')) {
          const hv = (await loadInventory([f])).hosts.get('node1')!.vars
          for (const k of [...Object.keys(DEFAULTS), 'lan_pool', 'lan_gateway', 'overlay_mtu', 'ovs_underlay_iface', 'wireguard_mtu']) expect(hv, k).toHaveProperty(k)
        }
      }
  })

  it('every building-block playbook plans on the example inventory', async () => {
    for (const name of ['docker0-subnet', 'br0-bridge', 'ovs-gre', 'vxlan', 'pipework']) {
      const pb = (await import(join(repo, `playbooks/${name}.ts`))).default as Playbook
      const p = await plan(join(repo, 'inventory/hosts.ini'), name === 'pipework' ? { lan_pool: '198.18.0.96/28' } : {}, pb)
      expect(p[0].tasks.get('node1')!.length, name).toBeGreaterThan(0)
    }
  })

  it('allocates addresses by inventory order, around the ones set per host', () => {
    const ovs = cluster(ctxFor(three([{ orch_strategy: 'ovs-gre' }, { orch_strategy: 'ovs-gre', overlay_ip: '10.250.0.1' }, { orch_strategy: 'ovs-gre' }])))
    expect([...ovs.overlayIps].sort()).toEqual([
      ['node1', '10.250.0.2'],
      ['node2', '10.250.0.1'],
      ['node3', '10.250.0.3'],
    ])
    const vx = cluster(ctxFor(three([{ orch_strategy: 'vxlan' }, { orch_strategy: 'vxlan', overlay_range: '10.250.0.0/28' }, { orch_strategy: 'vxlan' }])))
    expect([...vx.overlayRanges].map(([h, r]) => [h, networkOf(r.range), r.gateway, vx.overlayIps.get(h)])).toEqual([
      ['node1', '10.250.0.16/28', '10.250.0.17', '10.250.0.18'],
      ['node2', '10.250.0.0/28', '10.250.0.1', '10.250.0.2'],
      ['node3', '10.250.0.32/28', '10.250.0.33', '10.250.0.34'],
    ])
    const lan = cluster(ctxFor(three([{ orch_strategy: 'bridge', lan_pool: '198.18.0.0/29' }, { orch_strategy: 'bridge', lan_pool: '198.18.0.0/29', container_ip: '198.18.0.5/24' }, { orch_strategy: 'bridge', lan_pool: '198.18.0.0/29' }])))
    planLanIps(lan)
    // The pool skips its first address, the hosts' own addresses (.1-.3) and node2's container_ip.
    expect(Object.fromEntries(lan.lanIps)).toEqual({ node1: { ip: '198.18.0.4' }, node2: { ip: '198.18.0.5', prefix: 24 }, node3: { ip: '198.18.0.6' } })
  })

  it('refuses bad variables naming host and variable', () => {
    const bad = (vars: Vars[], variable: string, host = 'node1') => {
      let err: unknown
      try {
        cluster(ctxFor(three(vars)))
      } catch (e) {
        err = e
      }
      expect(err, variable).toBeInstanceOf(ArgError)
      expect((err as Error).message).toContain(`${host}: ${variable}: expected`)
    }
    bad([{ orch_strategy: 'routes' }, { orch_strategy: 'vxlan' }, {}], 'orch_strategy', 'node2')
    bad([{}, { container_subnet: '10.1.0.0/24' }, {}], 'container_subnet', 'node2')
    bad([{ container_subnet: '10.244.1.0/24' }, { container_subnet: '10.244.1.128/25' }, {}], 'container_subnet', 'node2')
    bad([{}, {}, { ansible_host: 'node3.example.com' }], 'ansible_host', 'node3')
    bad([{}, {}, { ansible_host: '198.18.0.1' }], 'ansible_host', 'node3')
    bad([{ orch_strategy: 'bridge' }, { orch_strategy: 'bridge' }, { orch_strategy: 'bridge', bridge_iface: 'eth0;reboot' }], 'bridge_iface', 'node3')
    bad([{ orch_strategy: 'ovs-gre', overlay_cidr: '10.0.0.0/33' }, { orch_strategy: 'ovs-gre' }, { orch_strategy: 'ovs-gre' }], 'overlay_cidr')
    bad([{ orch_strategy: 'vxlan', overlay_ip: '10.250.0.40' }, { orch_strategy: 'vxlan' }, { orch_strategy: 'vxlan' }], 'overlay_ip')
    bad([{ orch_strategy: 'vxlan' }, { orch_strategy: 'vxlan' }, { orch_strategy: 'vxlan', vxlan_vni: 43 }], 'vxlan_vni', 'node3')
    bad([{ orch_strategy: 'ovs-gre' }, { orch_strategy: 'ovs-gre', ovs_gre_key: 7 }, { orch_strategy: 'ovs-gre' }], 'ovs_gre_key', 'node2')
    bad([{ container_image: 'busybox;reboot' }, {}, {}], 'container_image')
    bad([{ confirm_timeout: 99999 }, {}, {}], 'confirm_timeout')
    const wg = (x: Vars = {}) => ({ orch_strategy: 'wireguard', ...x })
    bad([wg(), wg({ wireguard_port: 0 }), wg()], 'wireguard_port', 'node2')
    bad([wg(), wg(), wg({ wireguard_port: 51821 })], 'wireguard_port', 'node3')
    bad([wg({ wireguard_iface: 'wg0;reboot' }), wg(), wg()], 'wireguard_iface')
    bad([wg({ wireguard_iface: 'docker0' }), wg(), wg()], 'wireguard_iface')
    bad([wg(), wg({ wireguard_impl: 'magic' }), wg()], 'wireguard_impl', 'node2')
    bad([wg({ wireguard_key_dir: 'etc/wg' }), wg(), wg()], 'wireguard_key_dir')
    bad([wg({ wireguard_keepalive: -1 }), wg(), wg()], 'wireguard_keepalive')
    bad([wg({ wireguard_rotate_keys: 'maybe' }), wg(), wg()], 'wireguard_rotate_keys')
    bad([wg({ wireguard_mtu: 20 }), wg(), wg()], 'wireguard_mtu')
    bad([wg({ cluster_cidr: '10.244.0.0/25' }), wg(), wg()], 'cluster_cidr')
  })

  it("routes: orch's route marker lists what it added (anything else in the file is ignored)", () => {
    expect(parseMarked('10.244.2.0/24 via 198.18.0.3\nnonsense\n10.244.9.0/24 via host\n\n10.244.1.0/24 via 198.18.0.2\n')).toEqual([
      { dst: '10.244.2.0/24', via: '198.18.0.3' },
      { dst: '10.244.1.0/24', via: '198.18.0.2' },
    ])
  })

  it('routes: subnets by inventory order, around foreign routes, ignoring the routes it made itself', () => {
    const c = cluster(ctxFor(three()))
    const none = allocateContainerSubnets(c, new Map())
    expect([...none.values()].map(networkOf)).toEqual(['10.244.0.0/24', '10.244.1.0/24', '10.244.2.0/24'])
    const routes: SurveyRoute[] = [
      { dst: 'default', gateway: '198.18.0.254', dev: 'eth0' },
      { dst: '10.244.0.0/24', dev: 'docker0', protocol: 'kernel' }, // docker0's own: moved by dockerBip
      { dst: '10.244.1.0/24', gateway: '198.18.0.2', dev: 'eth0', protocol: 'static' }, // ours, from an earlier run
      { dst: '10.244.2.0/23', gateway: '198.18.0.254', dev: 'eth0', protocol: 'static' }, // foreign: someone's VPN
      { dst: '10.244.0.1', type: 'local', dev: 'docker0', table: 'local' },
    ]
    expect(foreignRoutes(routes, c).map((r) => r.dst)).toEqual(['10.244.2.0/23'])
    // wireguard: a static route through its device is its own; through another device it is not.
    const w = cluster(ctxFor(three([{ orch_strategy: 'wireguard' }, { orch_strategy: 'wireguard' }, { orch_strategy: 'wireguard' }])))
    const wgRoutes: SurveyRoute[] = [
      { dst: '10.244.1.0/24', dev: 'orch-wg0', protocol: 'static' },
      { dst: '10.244.2.0/24', dev: 'wg9', protocol: 'static' },
    ]
    expect(foreignRoutes(wgRoutes, w).map((r) => r.dst)).toEqual(['10.244.2.0/24'])
    expect(foreignRoutes(wgRoutes, c).map((r) => r.dst)).toEqual(['10.244.1.0/24', '10.244.2.0/24'])
    // node2's docker0 already has 10.244.0.0/24 (an earlier run): it keeps it; the others go around it and the foreign route.
    const around = allocateContainerSubnets(c, new Map([['node2', routes]]))
    expect([...around.values()].map(networkOf)).toEqual(['10.244.1.0/24', '10.244.0.0/24', '10.244.4.0/24'])
    // Membership: node2 left; node3 keeps the subnet its docker0 has (it does not move up to node2's).
    const two = cluster(ctxFor(three().filter((h) => h.name !== 'node2')))
    const docker0 = (dst: string): SurveyRoute[] => [{ dst, dev: 'docker0', protocol: 'kernel' }]
    const after = allocateContainerSubnets(two, new Map([['node1', docker0('10.244.0.0/24')], ['node3', docker0('10.244.2.0/24')]]))
    expect(Object.fromEntries([...after].map(([h, n]) => [h, networkOf(n)]))).toEqual({ node1: '10.244.0.0/24', node3: '10.244.2.0/24' })
    // ... and a host joining again gets a free /24 (its old docker0 subnet when nobody took it).
    const back = allocateContainerSubnets(c, new Map([['node1', docker0('10.244.0.0/24')], ['node2', docker0('10.244.1.0/24')], ['node3', docker0('10.244.2.0/24')]]))
    expect([...back.values()].map(networkOf)).toEqual(['10.244.0.0/24', '10.244.1.0/24', '10.244.2.0/24'])
    // A route covering all of cluster_cidr leaves no room: the error names it.
    expect(() => allocateContainerSubnets(c, new Map([['node1', [{ dst: '10.0.0.0/8', gateway: '198.18.0.254', dev: 'eth0' }]]]))).toThrow(
      /routes in the way: 10\.0\.0\.0\/8 via 198\.18\.0\.254 dev eth0 on node1/,
    )
  })
})
