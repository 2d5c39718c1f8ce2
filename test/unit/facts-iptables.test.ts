/**
 * iptables parsing and the ORCH-* chain planner (shared by masquerade and forwardAccept) on output
 * captured from lab hosts; route words (route task undo) on routes the kernel printed.
 */
import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import {
  describePlan,
  emptyPlan,
  parentOf,
  parseIptablesS,
  planRules,
  restoreInput,
  tokenize,
  undoScript,
  variantOf,
  commentOf,
  sameArgs,
  type ChainSpec,
  type ChainState,
} from '../../src/facts/iptables.ts'
import { chainReader } from '../../src/model/facts.ts'
import { parseRead, readScript } from '../../src/model/read.ts'
import { normDst, parseRoutesJson, routeCommand, routeText, routeWords, sameKey } from '../../src/facts/routes.ts'
import { factsScript } from '../../src/facts/script.ts'
import { FORWARD_CHAIN, forwardRule } from '../../src/tasks/forward.ts'
import { masqueradeComment, masqueradeRules, NAT_CHAIN } from '../../src/tasks/nat.ts'

/** sh -n: the script parses (no quoting accident). */
function shParses(script: string): void {
  const r = spawnSync('sh', ['-n'], { input: script, encoding: 'utf8' })
  expect(r.status, r.stderr).toBe(0)
}

// Captured: the read of chainReader(NAT_CHAIN) / (FORWARD_CHAIN) on a docker host with our chains, and on a bare host.
const parseChainRead = (spec: ChainSpec, stdout: string): ChainState => parseRead(chainReader(spec), { code: 0, stdout, stderr: '' }, 'reading')!
const NAT_WITH_CHAIN =
  '@@orch-read@@ ipt.select\n/usr/sbin/iptables nft nft\n\n@@orch-read@@ rc 0\n@@orch-read@@ POSTROUTING.chain\n-P POSTROUTING ACCEPT\n-A POSTROUTING -j ORCH-POSTROUTING\n-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\n\n@@orch-read@@ rc 0\n@@orch-read@@ ORCH-POSTROUTING.chain\n-N ORCH-POSTROUTING\n-A ORCH-POSTROUTING -s 10.1.1.0/24 -d 10.0.0.0/8 -m comment --comment "orch masquerade 10.1.1.0/24" -j ACCEPT\n-A ORCH-POSTROUTING -s 10.1.1.0/24 -m comment --comment "orch masquerade 10.1.1.0/24" -j MASQUERADE\n\n@@orch-read@@ rc 0\n'
const FWD_WITH_CHAIN =
  '@@orch-read@@ ipt.select\n/usr/sbin/iptables nft nft\n\n@@orch-read@@ rc 0\n@@orch-read@@ DOCKER-USER.chain\n-N DOCKER-USER\n-A DOCKER-USER -j ORCH-FORWARD\n-A DOCKER-USER -j RETURN\n\n@@orch-read@@ rc 0\n@@orch-read@@ FORWARD.chain\n-P FORWARD DROP\n-A FORWARD -j DOCKER-USER\n-A FORWARD -j DOCKER-ISOLATION-STAGE-1\n-A FORWARD -o br-orchnat -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A FORWARD -o br-orchnat -j DOCKER\n-A FORWARD -i br-orchnat ! -o br-orchnat -j ACCEPT\n-A FORWARD -i br-orchnat -o br-orchnat -j ACCEPT\n-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A FORWARD -o docker0 -j DOCKER\n-A FORWARD -i docker0 ! -o docker0 -j ACCEPT\n-A FORWARD -i docker0 -o docker0 -j ACCEPT\n\n@@orch-read@@ rc 0\n@@orch-read@@ ORCH-FORWARD.chain\n-N ORCH-FORWARD\n-A ORCH-FORWARD -i eth0 -o docker0 -m comment --comment "orch forward-accept" -j ACCEPT\n\n@@orch-read@@ rc 0\n'
const NAT_BARE = '@@orch-read@@ ipt.select\n/usr/sbin/iptables nft nft\n\n@@orch-read@@ rc 0\n@@orch-read@@ POSTROUTING.chain\n-P POSTROUTING ACCEPT\n\n@@orch-read@@ rc 0\n@@orch-read@@ ORCH-POSTROUTING.chain\n\n@@orch-read@@ rc 1\n'
const FWD_BARE = '@@orch-read@@ ipt.select\n/usr/sbin/iptables nft nft\n\n@@orch-read@@ rc 0\n@@orch-read@@ DOCKER-USER.chain\n\n@@orch-read@@ rc 1\n@@orch-read@@ FORWARD.chain\n-P FORWARD ACCEPT\n\n@@orch-read@@ rc 0\n@@orch-read@@ ORCH-FORWARD.chain\n\n@@orch-read@@ rc 1\n'

const owns = (from: string) => (r: { args: string[] }) => commentOf(r.args) === masqueradeComment(from)

describe('iptables -S parsing', () => {
  it('tokenize: double quotes group words, backslash escapes inside them', () => {
    expect(tokenize('-A X -m comment --comment "orch masquerade 10.1.0.0/24" -j ACCEPT')).toEqual(['-A', 'X', '-m', 'comment', '--comment', 'orch masquerade 10.1.0.0/24', '-j', 'ACCEPT'])
    expect(tokenize('-A X --comment "a \\"b\\" c" -j RETURN')).toEqual(['-A', 'X', '--comment', 'a "b" c', '-j', 'RETURN'])
    expect(tokenize('-A X --comment "" -j RETURN')).toEqual(['-A', 'X', '--comment', '', '-j', 'RETURN'])
  })
  it('policies, user chains and rules; warnings ignored', () => {
    const t = parseIptablesS('-P FORWARD DROP\n-N DOCKER-USER\n-A FORWARD -j DOCKER-USER\n-A DOCKER-USER -j RETURN\n# Warning: iptables-legacy tables present, use iptables-legacy to see them\n')
    expect(t.policies).toEqual({ FORWARD: 'DROP' })
    expect(t.chains).toEqual(['DOCKER-USER'])
    expect(t.rules.map((r) => [r.chain, r.args])).toEqual([['FORWARD', ['-j', 'DOCKER-USER']], ['DOCKER-USER', ['-j', 'RETURN']]])
  })
  it('variantOf', () => {
    expect(variantOf('iptables v1.8.9 (nf_tables)')).toBe('nft')
    expect(variantOf('iptables v1.8.9 (legacy)')).toBe('legacy')
    expect(variantOf('iptables v1.6.1')).toBe('legacy')
  })
})

describe('chain read', () => {
  it('parses backend, parents and our chain (null when missing)', () => {
    const st = parseChainRead(NAT_CHAIN, NAT_WITH_CHAIN)
    expect(st).toMatchObject({ ipt: '/usr/sbin/iptables', pathVariant: 'nft', variant: 'nft' })
    expect(st.parents.POSTROUTING?.map((r) => r.line)).toEqual(['-A POSTROUTING -j ORCH-POSTROUTING', '-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE'])
    expect(st.rules).toHaveLength(2)
    const bare = parseChainRead(NAT_CHAIN, NAT_BARE)
    expect(bare.rules).toBeNull()
    expect(bare.parents.POSTROUTING).toEqual([])
  })
  it('forwardAccept jumps from DOCKER-USER when it exists, else from FORWARD', () => {
    expect(parentOf(FORWARD_CHAIN, parseChainRead(FORWARD_CHAIN, FWD_WITH_CHAIN))).toBe('DOCKER-USER')
    const bare = parseChainRead(FORWARD_CHAIN, FWD_BARE)
    expect(bare.parents['DOCKER-USER']).toBeNull()
    expect(parentOf(FORWARD_CHAIN, bare)).toBe('FORWARD')
  })
  it('refuses a binary it does not know', () => {
    expect(() => parseChainRead(NAT_CHAIN, NAT_BARE.replace('/usr/sbin/iptables', '/tmp/evil;reboot'))).toThrow(/unexpected iptables selection/)
    expect(() => parseChainRead(NAT_CHAIN, NAT_BARE.replace('/usr/sbin/iptables', 'iptables'))).toThrow(/unexpected iptables selection/)
  })
  it('read scripts parse as sh', () => {
    shParses(readScript(chainReader(NAT_CHAIN)))
    shParses(readScript(chainReader(FORWARD_CHAIN)))
    shParses(factsScript())
  })
})

describe('plan, apply input and undo', () => {
  it('fresh host: create chain, jump at rule 1, rules; one restore transaction; undo removes it all', () => {
    const st = parseChainRead(NAT_CHAIN, NAT_BARE)
    const want = masqueradeRules('10.1.1.0/24', ['10.0.0.0/8'])
    const plan = planRules(NAT_CHAIN, st, owns('10.1.1.0/24'), want)
    expect(plan).toEqual({ createChain: true, addJumpTo: 'POSTROUTING', remove: [], add: want })
    expect(restoreInput(NAT_CHAIN, plan)).toBe(
      [
        '*nat',
        ':ORCH-POSTROUTING - [0:0]',
        '-I POSTROUTING 1 -j ORCH-POSTROUTING',
        '-A ORCH-POSTROUTING -s 10.1.1.0/24 -d 10.0.0.0/8 -m comment --comment "orch masquerade 10.1.1.0/24" -j ACCEPT',
        '-A ORCH-POSTROUTING -s 10.1.1.0/24 -m comment --comment "orch masquerade 10.1.1.0/24" -j MASQUERADE',
        'COMMIT',
        '',
      ].join('\n'),
    )
    const undo = undoScript(NAT_CHAIN, st, plan)
    shParses(undo)
    expect(undo).toContain("IPT=/usr/sbin/iptables\n")
    expect(undo).toContain(`while "$IPT" -w -t nat -D POSTROUTING -j ORCH-POSTROUTING 2>/dev/null; do :; done`)
    expect(undo).toContain(`"$IPT" -w -t nat -X ORCH-POSTROUTING || exit 1`)
    expect(describePlan(NAT_CHAIN, st, plan).map((c) => c.what)).toEqual([
      'create chain nat ORCH-POSTROUTING [iptables (nft)]',
      'insert nat POSTROUTING rule 1: -j ORCH-POSTROUTING',
      'rules in nat ORCH-POSTROUTING',
    ])
  })

  it('rules already right: nothing to do', () => {
    const st = parseChainRead(NAT_CHAIN, NAT_WITH_CHAIN)
    expect(emptyPlan(planRules(NAT_CHAIN, st, owns('10.1.1.0/24'), masqueradeRules('10.1.1.0/24', ['10.0.0.0/8'])))).toBe(true)
    const fst = parseChainRead(FORWARD_CHAIN, FWD_WITH_CHAIN)
    const want = forwardRule({ in: 'eth0', out: 'docker0' })
    expect(emptyPlan(planRules(FORWARD_CHAIN, fst, (r) => sameArgs(r.args, want), [want]))).toBe(true)
  })

  it('a changed except list replaces the rules; undo puts the old ones back at their positions', () => {
    const st = parseChainRead(NAT_CHAIN, NAT_WITH_CHAIN)
    const plan = planRules(NAT_CHAIN, st, owns('10.1.1.0/24'), masqueradeRules('10.1.1.0/24', ['10.0.0.0/8', '192.168.0.0/16']))
    expect(plan.createChain).toBe(false)
    expect(plan.addJumpTo).toBeUndefined()
    expect(plan.remove.map((r) => r.position)).toEqual([1, 2])
    expect(plan.add).toHaveLength(3)
    const input = restoreInput(NAT_CHAIN, plan)
    expect(input).not.toContain(':ORCH-POSTROUTING')
    expect(input.split('\n').filter((l) => l.startsWith('-D ')).length).toBe(2)
    const undo = undoScript(NAT_CHAIN, st, plan)
    shParses(undo)
    const lines = undo.split('\n')
    expect(lines.filter((l) => l.includes(' -C ORCH-POSTROUTING '))).toHaveLength(3)
    expect(lines.filter((l) => l.includes(' -I ORCH-POSTROUTING 1 ') || l.includes(' -I ORCH-POSTROUTING 2 '))).toHaveLength(2)
    expect(undo).not.toContain('-X ORCH-POSTROUTING')
  })

  it('docker restarted and put its MASQUERADE above our jump: move the jump back to rule 1, undo moves it back', () => {
    const restarted = NAT_WITH_CHAIN.replace(
      '-A POSTROUTING -j ORCH-POSTROUTING\n-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE',
      '-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\n-A POSTROUTING -j ORCH-POSTROUTING',
    )
    const st = parseChainRead(NAT_CHAIN, restarted)
    const plan = planRules(NAT_CHAIN, st, owns('10.1.1.0/24'), masqueradeRules('10.1.1.0/24', ['10.0.0.0/8']))
    expect(plan).toEqual({ createChain: false, moveJump: { parent: 'POSTROUTING', from: 2, after: '-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE' }, remove: [], add: [] })
    expect(restoreInput(NAT_CHAIN, plan)).toBe('*nat\n-D POSTROUTING -j ORCH-POSTROUTING\n-I POSTROUTING 1 -j ORCH-POSTROUTING\nCOMMIT\n')
    const undo = undoScript(NAT_CHAIN, st, plan)
    shParses(undo)
    expect(undo).toContain('-I POSTROUTING 2 -j ORCH-POSTROUTING')
  })

  it('a jump after a non-terminal rule is fine (no move)', () => {
    const st = parseChainRead(
      NAT_CHAIN,
      NAT_WITH_CHAIN.replace('-A POSTROUTING -j ORCH-POSTROUTING\n', '-A POSTROUTING -j KUBE-POSTROUTING\n-A POSTROUTING -j ORCH-POSTROUTING\n'),
    )
    expect(planRules(NAT_CHAIN, st, owns('10.1.1.0/24'), masqueradeRules('10.1.1.0/24', ['10.0.0.0/8'])).moveJump).toBeUndefined()
  })

  it('forwardAccept on a host without docker: chain jumped to from FORWARD', () => {
    const st = parseChainRead(FORWARD_CHAIN, FWD_BARE)
    const want = forwardRule({ source: '10.1.0.0/24', dest: '10.2.0.0/24', in: 'eth0', out: 'br0' })
    expect(want).toEqual(['-s', '10.1.0.0/24', '-d', '10.2.0.0/24', '-i', 'eth0', '-o', 'br0', '-m', 'comment', '--comment', 'orch forward-accept', '-j', 'ACCEPT'])
    const plan = planRules(FORWARD_CHAIN, st, (r) => sameArgs(r.args, want), [want])
    expect(plan.addJumpTo).toBe('FORWARD')
    expect(restoreInput(FORWARD_CHAIN, plan)).toContain('*filter\n:ORCH-FORWARD - [0:0]\n-I FORWARD 1 -j ORCH-FORWARD\n')
    const undo = undoScript(FORWARD_CHAIN, st, plan)
    shParses(undo)
    // Both candidate parents are cleaned (docker may have appeared since).
    expect(undo).toContain('-D DOCKER-USER -j ORCH-FORWARD')
    expect(undo).toContain('-D FORWARD -j ORCH-FORWARD')
  })

  it('never writes an unsafe word into iptables-restore input', () => {
    const st: ChainState = parseChainRead(NAT_CHAIN, NAT_BARE)
    const plan = planRules(NAT_CHAIN, st, () => false, [['-s', '10.0.0.0/8', '-m', 'comment', '--comment', 'x" -j DROP #', '-j', 'ACCEPT']])
    expect(() => restoreInput(NAT_CHAIN, plan)).toThrow(/unsafe iptables word/)
  })
})

describe('route words (route task undo)', () => {
  // Captured: ip -d -j route show table main.
  const routes = parseRoutesJson(
    '[{"type":"unicast","dst":"default","gateway":"198.18.0.254","dev":"eth0","protocol":"boot","scope":"global","flags":[]},' +
      '{"type":"unicast","dst":"10.9.0.0/24","tos":"0x10","dev":"eth0","protocol":"boot","scope":"link","metric":50,"flags":[]},' +
      '{"type":"unicast","dst":"10.9.0.0/24","gateway":"198.18.0.2","dev":"eth0","protocol":"static","scope":"global","prefsrc":"198.18.0.1","metric":50,"flags":["onlink"],"metrics":[{"mtu":1400,"advmss":1360}]},' +
      '{"type":"unicast","dst":"10.8.0.0/24","protocol":"boot","scope":"global","flags":[],"nexthops":[{"gateway":"198.18.0.2","dev":"eth0","weight":2,"flags":[]},{"gateway":"198.18.0.254","dev":"eth0","weight":1,"flags":[]}]},' +
      '{"type":"blackhole","dst":"10.7.0.0/24","protocol":"boot","scope":"global","flags":[]},' +
      '{"type":"unicast","dst":"10.6.0.1","dev":"eth0","protocol":"kernel","scope":"link","flags":[]}]',
  )
  it('re-create every attribute the kernel reported', () => {
    expect(routeWords(routes[0], 254)).toEqual(['default', 'via', '198.18.0.254', 'dev', 'eth0', 'table', '254', 'proto', 'boot', 'scope', 'global', 'metric', '0'])
    expect(routeWords(routes[2], 254).join(' ')).toBe('10.9.0.0/24 via 198.18.0.2 dev eth0 table 254 proto static scope global src 198.18.0.1 metric 50 onlink mtu 1400 advmss 1360')
    expect(routeWords(routes[3], 100).join(' ')).toBe('10.8.0.0/24 table 100 proto boot scope global metric 0 nexthop via 198.18.0.2 dev eth0 weight 2 nexthop via 198.18.0.254 dev eth0 weight 1')
    expect(routeWords(routes[4], 254).join(' ')).toBe('blackhole 10.7.0.0/24 table 254 proto boot scope global metric 0')
    expect(routeCommand('replace', routes[0], 254)).toBe('ip -4 route replace default via 198.18.0.254 dev eth0 table 254 proto boot scope global metric 0')
  })
  it('identity: destination, metric, TOS 0', () => {
    expect(routes.filter((r) => sameKey(r, '10.9.0.0/24', 50))).toEqual([routes[2]])
    expect(routes.filter((r) => sameKey(r, '10.9.0.0/24', 0))).toEqual([])
    expect(routes.filter((r) => sameKey(r, '0.0.0.0/0', 0))).toEqual([routes[0]])
    expect(routes.filter((r) => sameKey(r, '10.6.0.1/32', 0))).toEqual([routes[5]])
    expect(normDst('10.6.0.1')).toBe('10.6.0.1/32')
  })
  it('text as ip prints it', () => {
    expect(routes.map(routeText)).toEqual([
      'default via 198.18.0.254 dev eth0',
      '10.9.0.0/24 tos 0x10 dev eth0 scope link metric 50',
      '10.9.0.0/24 via 198.18.0.2 dev eth0 proto static src 198.18.0.1 metric 50 onlink mtu 1400 advmss 1360',
      '10.8.0.0/24 nexthop via 198.18.0.2 dev eth0 weight 2 nexthop via 198.18.0.254 dev eth0 weight 1',
      'blackhole 10.7.0.0/24',
      '10.6.0.1 dev eth0 proto kernel scope link', // as ip prints host routes
    ])
  })
  it('a table that does not exist yet reads as empty', () => {
    expect(parseRoutesJson('[')).toEqual([])
    expect(parseRoutesJson('')).toEqual([])
  })
})
