/**
 * masquerade, forwardAccept and ipForward on lab hosts with a real dockerd (FORWARD policy DROP, its own
 * MASQUERADE rule): rules asserted as iptables prints them, packets captured on the other host.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { forwardAccept, ipForward } from '../../src/tasks/forward.ts'
import { masquerade } from '../../src/tasks/nat.ts'
import { route } from '../../src/tasks/route.ts'
import type { Connection } from '../../src/transport/types.ts'
import { sshTo } from '../helpers/conn.ts'
import { labSkipReason, on, withLab } from '../helpers/lab.ts'
import { snapshot } from '../helpers/snapshot.ts'
import { expectRefused, runTask, undoAll, runtimeChanges } from '../helpers/task.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The same host, seen with another directory first in PATH (to make `iptables` the legacy one). */
function withPath(conn: Connection, dir: string): Connection {
  return {
    hostName: conn.hostName,
    get alive() {
      return conn.alive
    },
    run: (script, opts) => conn.run(`PATH=${dir}:$PATH; export PATH\n${script}`, opts),
    upload: (p, c, m) => conn.upload(p, c, m),
    close: () => conn.close(),
  }
}
const LEGACY_BIN = '/tmp/orch-legacy-bin'
const makeLegacyBin = `mkdir -p ${LEGACY_BIN} && ln -sf /usr/sbin/iptables-legacy ${LEGACY_BIN}/iptables && ln -sf /usr/sbin/iptables-legacy-restore ${LEGACY_BIN}/iptables-restore && ln -sf /usr/sbin/iptables-legacy-save ${LEGACY_BIN}/iptables-save`

describe('firewall tasks: bad arguments', () => {
  it('are refused by validate, naming the variable', () => {
    expectRefused(masquerade({ from: '10.0.0.0/33' }), 'masquerade.from')
    expectRefused(masquerade({ from: '10.1.0.5/24' }), 'masquerade.from')
    expectRefused(masquerade({ from: '0.0.0.0/0' }), 'masquerade.from')
    expectRefused(masquerade({ from: '10.1.0.0/24', except: ['10.0.0.0/8', '10.2.0.1/16'] }), 'masquerade.except[1]')
    expectRefused(masquerade({ from: '10.1.0.0/24', except: '10.0.0.0/8' as unknown as string[] }), 'masquerade.except')
    expectRefused(masquerade({ from: '10.1.0.0/24', outInterface: 'eth0;reboot' }), 'masquerade.outInterface')
    expectRefused(forwardAccept({ in: 'eth0;reboot' }), 'forwardAccept.in')
    expectRefused(forwardAccept({ out: '$(reboot)' }), 'forwardAccept.out')
    expectRefused(forwardAccept({ source: '10.0.0.0/33' }), 'forwardAccept.source')
    expectRefused(forwardAccept({ dest: 'docker0' }), 'forwardAccept.dest')
    expectRefused(forwardAccept({}), 'forwardAccept')
  })
})

describe.skipIf(labSkipReason)('masquerade / forwardAccept / ipForward on docker hosts (lab)', () => {
  const lab = withLab({ hosts: 2, docker: true })
  const A = () => lab().hosts[0]
  const B = () => lab().hosts[1]
  // Tasks run over SSH, as orch runs them; assertions read the hosts directly (lab.exec).
  let sshA: Connection
  let sshB: Connection
  const connA = () => sshA
  const connB = () => sshB
  const COMMENT = '"orch masquerade 10.77.0.0/24"'
  let c0 = '' // container on docker0 (bip 10.78.0.1/24, docker masquerades it)
  let c1 = '' // container on br-orchnat (10.77.0.0/24, docker does not masquerade it)

  const ipOf = async (name: string) => (await on(lab(), A(), `docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' ${name}`)).trim()

  afterAll(async () => {
    await sshA?.close()
    await sshB?.close()
  })

  beforeAll(async () => {
    sshA = await sshTo(lab(), A())
    sshB = await sshTo(lab(), B())
    // A's docker0 on its own subnet (B's docker0 keeps 172.17.0.0/16), and a second bridge network on
    // which docker does not masquerade.
    await on(lab(), A(), `mkdir -p /etc/docker && echo '{"bip": "10.78.0.1/24"}' > /etc/docker/daemon.json && systemctl restart docker`)
    await on(
      lab(),
      A(),
      `docker network create -d bridge --subnet 10.77.0.0/24 -o com.docker.network.bridge.enable_ip_masquerade=false -o com.docker.network.bridge.name=br-orchnat orchnat >/dev/null
       docker run -d --pull never --init --restart always --name c0 ${lab().image} sleep 36000 >/dev/null
       docker run -d --pull never --init --restart always --name c1 --network orchnat ${lab().image} sleep 36000 >/dev/null`,
    )
    c0 = await ipOf('c0')
    c1 = await ipOf('c1')
    expect(c0).toMatch(/^10\.78\.0\./)
    expect(c1).toMatch(/^10\.77\.0\./)
  })

  /** Source address of the echo requests B receives while `send` runs (tcpdump on B's eth0). */
  async function sourceSeenByB(send: () => Promise<unknown>): Promise<string | null> {
    await on(lab(), B(), `rm -f /tmp/cap; (setsid timeout 15 tcpdump -n -l -i eth0 -c 1 'icmp[icmptype] == 8 and dst host ${B().address}' > /tmp/cap 2>&1 </dev/null &)`)
    for (let i = 0; i < 100 && !(await lab().exec(B(), 'cat /tmp/cap')).stdout.includes('listening on'); i++) await sleep(50)
    await send()
    let out = ''
    for (let i = 0; i < 100; i++) {
      out = (await lab().exec(B(), 'cat /tmp/cap')).stdout
      if (/packets? captured/.test(out)) break
      await sleep(50)
    }
    return /IP (\d+\.\d+\.\d+\.\d+) > /.exec(out)?.[1] ?? null
  }
  /** A container on A pings B's eth0: true when the replies come back. */
  const containerPingsB = async (c: string) => (await lab().exec(A(), `docker exec ${c} ping -c 2 -W 1 ${B().address}`)).code === 0
  const natRules = async () => (await on(lab(), A(), 'iptables -w -t nat -S')).split('\n').filter(Boolean)
  const filterRules = async () => (await on(lab(), A(), 'iptables -w -S')).split('\n').filter(Boolean)

  it('masquerade: check mode lists the changes and changes nothing', async () => {
    const before = await snapshot(connA())
    const r = await runTask(masquerade({ from: '10.77.0.0/24' }), connA(), { check: true })
    expect(runtimeChanges(r.changes).map((c) => c.what)).toEqual([
      'create chain nat ORCH-POSTROUTING [iptables (nft)]',
      'insert nat POSTROUTING rule 1: -j ORCH-POSTROUTING',
      'rules in nat ORCH-POSTROUTING',
    ])
    expect(await snapshot(connA())).toEqual(before)
  })

  it('masquerade: one rule after two applies, B sees A as the source, undo restores the snapshot', async () => {
    const before = await snapshot(connA())
    expect(await sourceSeenByB(() => containerPingsB('c1'))).toBe(c1) // not NATed: B cannot answer
    expect(await containerPingsB('c1')).toBe(false)

    const r1 = await runTask(masquerade({ from: '10.77.0.0/24' }), connA())
    const r2 = await runTask(masquerade({ from: '10.77.0.0/24' }), connA())
    expect(r1.changed).toBe(true)
    expect(r2.changed).toBe(false)
    const nat = await natRules()
    expect(nat).toContain('-N ORCH-POSTROUTING')
    expect(nat.filter((l) => l.startsWith('-A POSTROUTING'))[0]).toBe('-A POSTROUTING -j ORCH-POSTROUTING')
    expect(nat.filter((l) => l.includes('ORCH-POSTROUTING'))).toEqual([
      '-N ORCH-POSTROUTING',
      '-A POSTROUTING -j ORCH-POSTROUTING',
      `-A ORCH-POSTROUTING -s 10.77.0.0/24 -m comment --comment ${COMMENT} -j MASQUERADE`,
    ])

    expect(await sourceSeenByB(() => containerPingsB('c1'))).toBe(A().address)
    expect(await containerPingsB('c1')).toBe(true)

    await undoAll(connA(), [r1.undo])
    expect(await snapshot(connA())).toEqual(before)
    expect(await containerPingsB('c1')).toBe(false)
  })

  it('masquerade except: traffic to an excepted network keeps its source; changing the list replaces the rules; undo goes back step by step', async () => {
    const before = await snapshot(connA())
    const r1 = await runTask(masquerade({ from: '10.77.0.0/24', outInterface: 'eth0' }), connA())
    const afterFirst = await snapshot(connA())
    const r2 = await runTask(masquerade({ from: '10.77.0.0/24', except: [`${B().address}/32`, '10.99.0.0/16'], outInterface: 'eth0' }), connA())
    expect(runtimeChanges(r2.changes).map((c) => c.what)).toEqual(['rules in nat ORCH-POSTROUTING'])
    expect((await natRules()).filter((l) => l.startsWith('-A ORCH-POSTROUTING'))).toEqual([
      `-A ORCH-POSTROUTING -s 10.77.0.0/24 -d ${B().address}/32 -m comment --comment ${COMMENT} -j ACCEPT`,
      `-A ORCH-POSTROUTING -s 10.77.0.0/24 -d 10.99.0.0/16 -m comment --comment ${COMMENT} -j ACCEPT`,
      `-A ORCH-POSTROUTING -s 10.77.0.0/24 -o eth0 -m comment --comment ${COMMENT} -j MASQUERADE`,
    ])
    expect(await sourceSeenByB(() => containerPingsB('c1'))).toBe(c1)
    expect((await runTask(masquerade({ from: '10.77.0.0/24', except: [`${B().address}/32`, '10.99.0.0/16'], outInterface: 'eth0' }), connA())).changed).toBe(false)

    await undoAll(connA(), [r2.undo])
    expect(await snapshot(connA())).toEqual(afterFirst)
    expect(await sourceSeenByB(() => containerPingsB('c1'))).toBe(A().address)
    await undoAll(connA(), [r1.undo])
    expect(await snapshot(connA())).toEqual(before)
  })

  it("masquerade except comes before docker's own MASQUERADE of its bridge subnet", async () => {
    const before = await snapshot(connA())
    expect((await natRules()).some((l) => l.includes('-s 10.78.0.0/24 ! -o docker0 -j MASQUERADE'))).toBe(true)
    expect(await sourceSeenByB(() => containerPingsB('c0'))).toBe(A().address) // docker's rule
    const r = await runTask(masquerade({ from: '10.78.0.0/24', except: [`${B().address}/32`] }), connA())
    expect(await sourceSeenByB(() => containerPingsB('c0'))).toBe(c0)
    await undoAll(connA(), [r.undo])
    expect(await snapshot(connA())).toEqual(before)
    expect(await sourceSeenByB(() => containerPingsB('c0'))).toBe(A().address)
  })

  describe('forwardAccept with docker FORWARD DROP: B → eth0 → docker0 → container', () => {
    let routeUndo: Awaited<ReturnType<typeof runTask>>['undo'] = null
    const bPingsC0 = async () => (await lab().exec(B(), `ping -c 1 -W 1 ${c0}`)).code === 0
    beforeAll(async () => {
      routeUndo = (await runTask(route({ to: '10.78.0.0/24', via: A().address }), connB())).undo
    })
    afterAll(async () => {
      await undoAll(connB(), [routeUndo])
    })

    it('is blocked by the DROP policy, passes after the rule, rule and chain are exact, undo blocks it again', async () => {
      expect((await filterRules()).filter((l) => l.startsWith('-P FORWARD'))).toEqual(['-P FORWARD DROP'])
      expect(await bPingsC0()).toBe(false)
      const before = await snapshot(connA())

      const check = await runTask(forwardAccept({ in: 'eth0', out: 'docker0' }), connA(), { check: true })
      expect(runtimeChanges(check.changes).map((c) => c.what)).toEqual([
        'create chain filter ORCH-FORWARD [iptables (nft)]',
        'insert filter DOCKER-USER rule 1: -j ORCH-FORWARD',
        'rules in filter ORCH-FORWARD',
      ])
      expect(await snapshot(connA())).toEqual(before)

      const r1 = await runTask(forwardAccept({ in: 'eth0', out: 'docker0' }), connA())
      expect(r1.changed).toBe(true)
      const rules = await filterRules()
      expect(rules.filter((l) => l.startsWith('-A DOCKER-USER'))).toEqual(['-A DOCKER-USER -j ORCH-FORWARD', '-A DOCKER-USER -j RETURN'])
      expect(rules.filter((l) => l.includes('ORCH-FORWARD') && !l.startsWith('-A DOCKER-USER'))).toEqual([
        '-N ORCH-FORWARD',
        '-A ORCH-FORWARD -i eth0 -o docker0 -m comment --comment "orch forward-accept" -j ACCEPT',
      ])
      expect(await bPingsC0()).toBe(true)
      expect((await runTask(forwardAccept({ in: 'eth0', out: 'docker0' }), connA())).changed).toBe(false)

      // A second rule shares the chain; its undo removes only that rule.
      const mid = await snapshot(connA())
      const r2 = await runTask(forwardAccept({ source: `${B().address}/32`, dest: '10.78.0.0/24' }), connA())
      expect(runtimeChanges(r2.changes).map((c) => c.what)).toEqual(['rules in filter ORCH-FORWARD'])
      expect((await filterRules()).filter((l) => l.startsWith('-A ORCH-FORWARD'))).toHaveLength(2)
      await undoAll(connA(), [r2.undo])
      expect(await snapshot(connA())).toEqual(mid)

      await undoAll(connA(), [r1.undo])
      expect(await snapshot(connA())).toEqual(before)
      expect(await bPingsC0()).toBe(false)
    })

    it('survives a docker restart (docker re-creates its jump to DOCKER-USER; our chain stays); a re-run puts the nat jump back first', async () => {
      const r = await runTask(forwardAccept({ in: 'eth0', out: 'docker0' }), connA())
      const m = await runTask(masquerade({ from: '10.78.0.0/24', except: [`${B().address}/32`] }), connA())
      await on(lab(), A(), 'systemctl restart docker')
      for (let i = 0; i < 100 && (await ipOf('c0')) === ''; i++) await sleep(100)
      c0 = await ipOf('c0')
      const rules = await filterRules()
      expect(rules.filter((l) => l.startsWith('-A FORWARD'))[0]).toBe('-A FORWARD -j DOCKER-USER')
      expect(rules.filter((l) => l.startsWith('-A DOCKER-USER'))[0]).toBe('-A DOCKER-USER -j ORCH-FORWARD')
      expect(rules).toContain('-A ORCH-FORWARD -i eth0 -o docker0 -m comment --comment "orch forward-accept" -j ACCEPT')
      expect(await bPingsC0()).toBe(true)
      expect((await runTask(forwardAccept({ in: 'eth0', out: 'docker0' }), connA())).changed).toBe(false)
      // dockerd inserts its MASQUERADE at the top of POSTROUTING when it starts: above our jump, so the
      // exception no longer works for docker0's subnet...
      const postrouting = async () => (await natRules()).filter((l) => l.startsWith('-A POSTROUTING'))
      expect(await postrouting()).toEqual(['-A POSTROUTING -s 10.78.0.0/24 ! -o docker0 -j MASQUERADE', '-A POSTROUTING -j ORCH-POSTROUTING'])
      expect(await sourceSeenByB(() => containerPingsB('c0'))).toBe(A().address)
      // ...until a re-run moves the jump back to rule 1.
      const m2 = await runTask(masquerade({ from: '10.78.0.0/24', except: [`${B().address}/32`] }), connA())
      expect(runtimeChanges(m2.changes).map((c) => c.what)).toEqual(['move nat POSTROUTING -j ORCH-POSTROUTING to rule 1'])
      expect(await postrouting()).toEqual(['-A POSTROUTING -j ORCH-POSTROUTING', '-A POSTROUTING -s 10.78.0.0/24 ! -o docker0 -j MASQUERADE'])
      expect(await sourceSeenByB(() => containerPingsB('c0'))).toBe(c0)
      expect((await runTask(masquerade({ from: '10.78.0.0/24', except: [`${B().address}/32`] }), connA())).changed).toBe(false)
      await undoAll(connA(), [m2.undo])
      expect(await postrouting()).toEqual(['-A POSTROUTING -s 10.78.0.0/24 ! -o docker0 -j MASQUERADE', '-A POSTROUTING -j ORCH-POSTROUTING'])
      await undoAll(connA(), [r.undo, m.undo])
      expect((await filterRules()).some((l) => l.includes('ORCH-FORWARD'))).toBe(false)
      expect((await natRules()).some((l) => l.includes('ORCH-POSTROUTING'))).toBe(false)
      expect(await bPingsC0()).toBe(false)
    })

    it("goes into docker's backend when the iptables on PATH is the other one", async () => {
      await on(lab(), A(), makeLegacyBin)
      const conn = withPath(connA(), LEGACY_BIN)
      expect((await conn.run('iptables -V')).stdout).toContain('legacy')
      const before = await snapshot(connA())
      const r = await runTask(forwardAccept({ in: 'eth0', out: 'docker0' }), conn)
      expect(r.changes[0].what).toBe("create chain filter ORCH-FORWARD [/usr/sbin/iptables-nft (docker's backend; iptables on PATH is legacy)]")
      expect(await filterRules()).toContain('-A ORCH-FORWARD -i eth0 -o docker0 -m comment --comment "orch forward-accept" -j ACCEPT')
      expect(await bPingsC0()).toBe(true)
      expect((await runTask(forwardAccept({ in: 'eth0', out: 'docker0' }), conn)).changed).toBe(false)
      await undoAll(conn, [r.undo])
      expect(await snapshot(connA())).toEqual(before)
      expect(await bPingsC0()).toBe(false)
    })
  })

  it('ipForward: runtime 1 and /etc/sysctl.d, once; undo puts 0 back and removes the file', async () => {
    await on(lab(), A(), 'echo 0 > /proc/sys/net/ipv4/ip_forward')
    try {
      const before = await snapshot(connA())
      const check = await runTask(ipForward(), connA(), { check: true })
      expect(check.changes.map((c) => c.what)).toEqual(['net.ipv4.ip_forward (runtime)', 'create /etc/sysctl.d/99-orch.conf (at commit)'])
      expect(await snapshot(connA())).toEqual(before)
      const r = await runTask(ipForward(), connA())
      expect(await on(lab(), A(), 'cat /proc/sys/net/ipv4/ip_forward /etc/sysctl.d/99-orch.conf')).toBe('1\nnet.ipv4.ip_forward = 1\n')
      expect((await runTask(ipForward(), connA())).changed).toBe(false)
      await undoAll(connA(), [r.undo])
      expect(await snapshot(connA())).toEqual(before)
    } finally {
      await on(lab(), A(), 'echo 1 > /proc/sys/net/ipv4/ip_forward')
    }
  })
})

describe.skipIf(labSkipReason)('masquerade on a host without docker, iptables-legacy on PATH (lab)', () => {
  const lab = withLab({ hosts: 1 })
  const H = () => lab().hosts[0]

  it('uses the legacy backend, and undo leaves the legacy nat table as it was', async () => {
    await on(lab(), H(), makeLegacyBin)
    const ssh = await sshTo(lab(), H())
    onTestFinished(() => ssh.close())
    const conn = withPath(ssh, LEGACY_BIN)
    const save = async () => (await on(lab(), H(), 'iptables-legacy -t nat -S; iptables-nft -t nat -S')).split('\n')
    const before = await save()
    const r = await runTask(masquerade({ from: '10.60.0.0/24', except: ['10.0.0.0/8'] }), conn)
    expect(r.changes[0].what).toBe('create chain nat ORCH-POSTROUTING [iptables (legacy)]')
    const legacy = (await on(lab(), H(), 'iptables-legacy -t nat -S')).split('\n')
    expect(legacy).toContain('-A POSTROUTING -j ORCH-POSTROUTING')
    expect(legacy).toContain('-A ORCH-POSTROUTING -s 10.60.0.0/24 -d 10.0.0.0/8 -m comment --comment "orch masquerade 10.60.0.0/24" -j ACCEPT')
    expect(await on(lab(), H(), 'iptables-nft -t nat -S')).not.toContain('ORCH')
    expect((await runTask(masquerade({ from: '10.60.0.0/24', except: ['10.0.0.0/8'] }), conn)).changed).toBe(false)
    await undoAll(conn, [r.undo])
    expect(await save()).toEqual(before)
  })
})
