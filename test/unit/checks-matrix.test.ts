/**
 * The container matrix without hosts: its rounds (one `docker exec` per host per round), which pair each
 * output line belongs to, the failure details (both hosts named), failures of `docker exec` itself, the
 * probe address read from an interface, and the scripts' shell syntax. An in-memory network answers
 * the rounds' scripts as the probe containers would; test/lab/checks.test.ts runs them for real.
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { containerMatrix, renderCheck, type CheckHost } from '../../src/checks/index.ts'
import { countScript, listenScript, parseAddr, parseRound, probeScript, stopScript } from '../../src/checks/matrix.ts'
import type { ExecResult } from '../../src/transport/types.ts'
import { FakeConnection, mkHost } from './engine-helpers.ts'

const MiB = 1 << 20

/** What the fake network does to a pair "i>j" (host indexes): blocked, or only `n` bytes get through. */
interface Net {
  blocked?: Set<string>
  partial?: Map<string, number>
  /** Hosts whose docker exec fails (no such container). */
  broken?: Set<number>
  /** Hosts whose connection throws (e.g. a timeout). */
  dead?: Set<number>
  /** Pairs whose count did not come back to the sender (although it all arrived). */
  lostCount?: Set<string>
  /** Hosts whose listeners all got everything and removed their directory before round 3. */
  gone?: Set<number>
  /** The address each probe reports on its interface (null: none). */
  addr?: (i: number) => string | null
}

const ipOf = (i: number) => `10.9.0.${i + 1}`

/** Decode the `sh -c` script out of `docker exec CONTAINER sh -c 'SCRIPT'`. */
function scriptOf(cmd: string): string {
  const m = /^docker exec \S+ sh -c '([\s\S]*)'$/.exec(cmd)
  if (!m) throw new Error(`not a docker exec: ${cmd}`)
  return m[1].replace(/'\\''/g, "'")
}

function answer(i: number, n: number, net: Net, bytes: number, cmd: string): Partial<ExecResult> {
  if (net.broken?.has(i)) return { code: 1, stderr: 'Error response from daemon: No such container: orch-probe\n' }
  const s = scriptOf(cmd)
  const lines: string[] = []
  const key = (a: number, b: number) => `${a}>${b}`
  if (s.includes('ip -4 -o addr show dev')) {
    const a = net.addr ? net.addr(i) : ipOf(i)
    lines.push(a ? '@@ addr-rc 0' : '@@ addr-rc 1', a ? `@@ addr 5: eth1    inet ${a}/24 brd 10.9.0.255 scope global eth1` : '@@ addr Device "eth1" does not exist.')
  }
  if (s.includes('nc -l -p')) {
    const ports = /ports=(?:')?([\d ]+)/.exec(s)![1].trim().split(' ')
    for (const p of ports) lines.push(`@@ listen ${p} ok`)
  } else if (s.includes('ping -c')) {
    const targets = /for t in ([^;]*); do/.exec(s)![1].replace(/'/g, '').split(' ')
    for (const t of targets) {
      const [k] = t.split(':').map(Number)
      const blocked = net.blocked?.has(key(i, k)) || net.blocked?.has(key(k, i))
      lines.push(blocked ? `@@ ping ${k} fail 1 packets transmitted, 0 packets received, 100% packet loss` : `@@ ping ${k} ok`)
      // A sender reads back what the receiver counted (when the receiver's round 1 worked).
      if (s.includes('head -c'))
        lines.push(
          net.blocked?.has(key(i, k))
            ? `@@ send ${k} 1 - nc: timed out`
            : net.partial?.has(key(i, k))
              ? `@@ send ${k} 143 - punt!`
              : net.broken?.has(k) || net.dead?.has(k)
                ? `@@ send ${k} 1 - nc: can't connect to remote host (${ipOf(k)}): Connection refused`
                : net.lostCount?.has(key(i, k))
                  ? `@@ send ${k} 0 - `
                  : `@@ send ${k} 0 ${bytes} `,
        )
    }
  } else if (s.includes('@@ rx')) {
    if (net.gone?.has(i)) return { stdout: '@@ dir gone\n' }
    const senders = /for t in ([^;]*); do/.exec(s)![1].replace(/'/g, '').split(' ')
    for (const t of senders) {
      const [k] = t.split(':').map(Number)
      if (net.blocked?.has(key(k, i))) lines.push(`@@ rx ${k} 0 listening `)
      else if (net.partial?.has(key(k, i))) lines.push(`@@ rx ${k} ${net.partial.get(key(k, i))} connected `)
      else lines.push(`@@ rx ${k} ${bytes} closed `)
    }
  }
  void n
  return { stdout: lines.join('\n') + '\n' }
}

function cluster(n: number, net: Net = {}, bytes = MiB): { hosts: CheckHost[]; conns: FakeConnection[] } {
  const conns: FakeConnection[] = []
  const hosts = Array.from({ length: n }, (_, i): CheckHost => {
    const conn = new FakeConnection(`node${i + 1}`, (cmd) => answer(i, n, net, bytes, cmd))
    if (net.dead?.has(i))
      conn.run = async (script) => {
        conn.runs.push({ script })
        throw new Error('command timed out after 42000 ms')
      }
    conns.push(conn)
    return { host: mkHost(`node${i + 1}`), vars: { probe_container: 'orch-probe', probe_ip: ipOf(i) }, address: `198.18.9.${i + 1}`, conn }
  })
  return { hosts, conns }
}

const failed = (r: { probes: Array<{ from: string; to: string; ok: boolean }> }) =>
  r.probes
    .filter((p) => !p.ok)
    .map((p) => `${p.from}->${p.to}`)
    .sort()

describe('container matrix rounds', () => {
  it('every pair passes; one docker exec per host per round: listen, then send + ping (no count round)', async () => {
    const { hosts, conns } = cluster(4)
    const r = await containerMatrix({ tcpBytes: MiB }).run(hosts)
    expect(r.ok, renderCheck(r)).toBe(true)
    expect(r.matrix).toBe(true)
    expect(r.probes).toHaveLength(12)
    expect(r.probes.map((p) => `${p.from}->${p.to}`)).toContain('node4->node1')
    expect(r.probes.every((p) => p.detail === '')).toBe(true)
    for (const c of conns) {
      expect(c.runs).toHaveLength(2)
      expect(c.runs.every((x) => x.script.startsWith('docker exec orch-probe sh -c '))).toBe(true)
    }
    // Host i listens for each peer j on 7700 + j, and sends to every peer on 7700 + i.
    expect(scriptOf(conns[1].runs[0].script)).toContain("ports='7700 7702 7703'")
    expect(scriptOf(conns[1].runs[1].script)).toMatch(/nc -w 2 "\$a" 7701/)
    expect(scriptOf(conns[1].runs[1].script)).toContain('for t in 0:10.9.0.1 2:10.9.0.3 3:10.9.0.4; do')
  })

  it('after a failure, the receivers of the failed pairs count what arrived (round 3), the others not', async () => {
    const { hosts, conns } = cluster(4, { blocked: new Set(['0>2']) })
    const r = await containerMatrix({ tcpBytes: MiB }).run(hosts)
    expect(r.ok).toBe(false)
    expect(conns.map((c) => c.runs.length)).toEqual([2, 2, 3, 2])
    expect(scriptOf(conns[2].runs[2].script)).toContain('for t in 0:7700 1:7701 3:7703; do')
  })

  it('one host: nothing to probe, nothing run', async () => {
    const { hosts, conns } = cluster(1)
    const r = await containerMatrix({ tcpBytes: MiB }).run(hosts)
    expect(r).toEqual({ name: 'container to container (ping + 1048576 bytes tcp)', ok: true, probes: [], matrix: true })
    expect(conns[0].runs).toHaveLength(0)
  })

  it('a connection that ended early: the count that arrived', async () => {
    const { hosts, conns } = cluster(3)
    const fake = conns[0]
    const answer = fake.run.bind(fake)
    // node1's sender reads back 4096 (the receiver's count), and node2 counts 4096 with the connection closed.
    fake.run = async (script, o) => {
      const r = await answer(script, o)
      return { ...r, stdout: r.stdout.replace('@@ send 1 0 1048576 ', '@@ send 1 0 4096 ') }
    }
    const answer2 = conns[1].run.bind(conns[1])
    conns[1].run = async (script, o) => {
      const r = await answer2(script, o)
      return { ...r, stdout: r.stdout.replace('@@ rx 0 1048576 closed ', '@@ rx 0 4096 closed ') }
    }
    const r = await containerMatrix({ tcpBytes: MiB }).run(hosts)
    expect(failed(r)).toEqual(['node1->node2'])
    expect(r.probes.find((p) => !p.ok)!.detail).toBe('tcp: 4096 of 1048576 bytes arrived (the connection ended early)')
  })

  it('ping only: one round, no listeners', async () => {
    const { hosts, conns } = cluster(3)
    const r = await containerMatrix().run(hosts)
    expect(r.ok).toBe(true)
    expect(r.name).toBe('container to container (ping)')
    for (const c of conns) {
      expect(c.runs).toHaveLength(1)
      expect(scriptOf(c.runs[0].script)).not.toContain('nc ')
    }
  })

  it('a blocked pair fails, that pair only (and its replies), naming both hosts and why', async () => {
    const { hosts } = cluster(3, { blocked: new Set(['0>2']) })
    const r = await containerMatrix({ tcpBytes: MiB }).run(hosts)
    expect(r.ok).toBe(false)
    // The fake drops node1's pings to node3 and their replies: both directions of ping fail; TCP only 1 -> 3.
    expect(failed(r)).toEqual(['node1->node3', 'node3->node1'])
    const p = r.probes.find((x) => x.from === 'node1' && x.to === 'node3')!
    expect(p.detail).toBe(
      "1 packets transmitted, 0 packets received, 100% packet loss; tcp: 0 of 1048576 bytes arrived (no connection reached node3:7700; node1's sender exit 1: nc: timed out)",
    )
    expect(r.probes.find((x) => x.from === 'node3' && x.to === 'node1')!.detail).toBe('1 packets transmitted, 0 packets received, 100% packet loss')
    expect(renderCheck(r)).toContain('! node1 -> node3: 1 packets transmitted')
  })

  it('bytes lost on the way: the count that arrived, and the sender stopped by its time limit', async () => {
    const { hosts } = cluster(3, { partial: new Map([['2>1', 200_000]]) })
    const r = await containerMatrix({ tcpBytes: MiB }).run(hosts)
    expect(failed(r)).toEqual(['node3->node2'])
    expect(r.probes.find((x) => !x.ok)!.detail).toBe("tcp: 200000 of 1048576 bytes arrived (the connection stalled; node3's sender stopped after 20 s: punt!)")
  })

  it('a count that did not come back: the receiver\'s own count decides, even when its listeners all finished', async () => {
    const { hosts } = cluster(3, { lostCount: new Set(['0>1', '0>2']), gone: new Set([2]) })
    const r = await containerMatrix({ tcpBytes: MiB }).run(hosts)
    // node2 counted all of it in round 3; node3's listeners all got everything and removed their directory.
    expect(r.ok, renderCheck(r)).toBe(true)
  })

  it('docker exec failing on a host fails every pair from and to it, with docker\'s message; nothing throws', async () => {
    const { hosts } = cluster(3, { broken: new Set([1]) })
    const r = await containerMatrix({ tcpBytes: MiB }).run(hosts)
    expect(failed(r)).toEqual(['node1->node2', 'node2->node1', 'node2->node3', 'node3->node2'])
    const out = r.probes.find((x) => x.from === 'node2' && x.to === 'node3')!
    expect(out.detail).toContain('docker exec orch-probe on node2 failed (exit 1): Error response from daemon: No such container: orch-probe')
    const inn = r.probes.find((x) => x.from === 'node1' && x.to === 'node2')!
    expect(inn.detail).toMatch(/^tcp: 0 of 1048576 bytes arrived \(docker exec orch-probe on node2 failed/)
  })

  it('a connection that throws (a timeout) fails that host\'s pairs without throwing', async () => {
    const { hosts } = cluster(3, { dead: new Set([2]) }, 4096)
    const r = await containerMatrix({ tcpBytes: 4096 }).run(hosts)
    expect(failed(r)).toEqual(['node1->node3', 'node2->node3', 'node3->node1', 'node3->node2'])
    expect(r.probes.find((x) => x.from === 'node3')!.detail).toContain('docker exec orch-probe on node3: command timed out after 42000 ms')
  })

  it('reads the probe addresses from an interface in the listen round, and sends to them', async () => {
    const { hosts, conns } = cluster(3, { addr: (i) => `10.250.0.${i + 10}` })
    for (const h of hosts) delete h.vars.probe_ip
    const check = containerMatrix({ iface: 'eth1', tcpBytes: MiB })
    check.validate!(hosts)
    const r = await check.run(hosts)
    expect(r.ok, renderCheck(r)).toBe(true)
    expect(conns[0].runs).toHaveLength(2)
    expect(scriptOf(conns[0].runs[0].script)).toContain('ip -4 -o addr show dev eth1')
    expect(scriptOf(conns[0].runs[1].script)).toContain('for t in 1:10.250.0.11 2:10.250.0.12; do')
  })

  it('a probe without an address fails per host (not a matrix) and its listeners are stopped', async () => {
    const { hosts, conns } = cluster(3, { addr: (i) => (i === 2 ? null : `10.250.0.${i + 10}`) })
    const r = await containerMatrix({ iface: 'eth1', tcpBytes: MiB }).run(hosts)
    expect(r.ok).toBe(false)
    expect(r.matrix).toBe(false)
    expect(r.probes).toEqual([{ from: 'node3', to: '-', ok: false, detail: 'node3: probe orch-probe has no address on eth1: Device "eth1" does not exist.' }])
    for (const c of conns) {
      expect(c.runs).toHaveLength(2)
      expect(scriptOf(c.runs[1].script)).toBe(stopScript(7700))
    }
  })

  it('validates before running: addresses, interface names, room for the ports', () => {
    const { hosts } = cluster(3)
    hosts[1].vars.probe_ip = '10.0.0.1;reboot'
    expect(() => containerMatrix().validate!(hosts)).toThrow(/node2: probe ip: expected an IPv4 address/)
    expect(() => containerMatrix({ iface: 'eth0;x' }).validate!(hosts)).toThrow(/node1: probe interface/)
    expect(() => containerMatrix({ tcpBytes: 10, tcpPort: 65534 }).validate!(cluster(3).hosts)).toThrow(/tcpPort/)
    expect(() => containerMatrix({ tcpBytes: -1 })).toThrow(/tcpBytes/)
  })
})

describe('container matrix scripts', () => {
  const scripts = {
    listen: listenScript(7700, [7701, 7702], MiB, 'eth0'),
    listenOnlyAddr: listenScript(7700, [], MiB, 'eth1'),
    probe: probeScript(
      7700,
      [
        [1, '10.9.0.2'],
        [2, '10.9.0.3'],
      ],
      MiB,
      7700,
    ),
    ping: probeScript(7700, [[1, '10.9.0.2']], 0, 7700),
    count: countScript(7700, [
      [1, 7701],
      [2, 7702],
    ]),
    stop: stopScript(7700),
  }

  const shells = ['/bin/sh', '/bin/busybox'].filter((s) => existsSync(s))
  it.each(Object.entries(scripts))('%s parses as POSIX sh', (_name, script) => {
    for (const s of shells) execFileSync(s, s.endsWith('busybox') ? ['sh', '-n', '-c', script] : ['-n', '-c', script])
  })

  it('the sender sends a file and reads the count back; the listener hands the socket to cat, counts, answers', () => {
    expect(scripts.probe).toContain('head -c 1048576 /dev/zero > "$o/tx"')
    expect(scripts.probe).toContain('nc -w 2 "$a" 7700 < "$o/tx" > "$o/got.$k" 2> "$o/err.$k" &')
    expect(scripts.listen).toContain('nc -l -p $p -w 60 -e sh -c')
    expect(scripts.listen).toContain('cat <&3 > $d/rx.$p &')
    expect(scripts.listen).toContain('wc -c < $d/rx.$p > $d/n.$p; read n < $d/n.$p; echo \\$n')
    expect(scripts.ping).not.toContain('nc ')
    // Nothing sleeps a fixed time: 50 ms polls inside bounded loops, and the senders' watchdog (killed when they are done).
    for (const s of Object.values(scripts)) for (const m of s.matchAll(/sleep ([\d.]+)/g)) expect(['0.05', '20']).toContain(m[1])
    expect(scripts.probe).toContain("( trap 'kill $s 2>/dev/null; exit 0' TERM; sleep 20 & s=$!; wait $s; kill $pids 2>/dev/null )")
    expect(scripts.probe).toContain('kill $w 2>/dev/null')
  })

  it('round 2 runs: results by key, the count read back, failures with their last line (ping and nc stubbed)', () => {
    // Shell functions take precedence over commands and busybox applets alike.
    const stubs = [
      'ping() { for a; do :; done; case "$a" in 10.9.0.3) echo "1 packets transmitted, 0 packets received, 100% packet loss"; return 1 ;; esac; echo "1 packets received"; }',
      'nc() { case "$3" in 10.9.0.4) echo "nc: can\'t connect to remote host ($3): Connection refused" >&2; return 1 ;; esac; wc -c | tr -d " "; }',
    ].join('\n')
    const port = 40000 + (process.pid % 20000)
    const script = probeScript(
      port,
      [
        [1, '10.9.0.2'],
        [2, '10.9.0.3'],
        [3, '10.9.0.4'],
      ],
      4096,
      port,
    )
    for (const sh of shells) {
      const out = execFileSync(sh, sh.endsWith('busybox') ? ['sh', '-c', `${stubs}\n${script}`] : ['-c', `${stubs}\n${script}`], { encoding: 'utf8' })
      const m = parseRound(out)
      // The sends first, then the pings (after this host's transfers).
      expect([...m.entries()], sh).toEqual([
        ['send 1', '0 4096 '],
        ['send 2', '0 4096 '],
        ['send 3', "1 - nc: can't connect to remote host (10.9.0.4): Connection refused"],
        ['ping 1', 'ok'],
        ['ping 2', 'fail 1 packets transmitted, 0 packets received, 100% packet loss'],
        ['ping 3', 'ok'],
      ])
      expect(existsSync(`/tmp/orch-matrix.${port}.send`)).toBe(false)
    }
  })

  it('parses round output by kind and key, and the address line', () => {
    const m = parseRound('noise\n@@ listen 7701 ok\n@@ rx 2 1048576 closed \n@@ ping 3 fail 1 packets transmitted\n')
    expect(m.get('listen 7701')).toBe('ok')
    expect(m.get('rx 2')).toBe('1048576 closed ')
    expect(m.get('ping 3')).toBe('fail 1 packets transmitted')
    expect(parseAddr('@@ addr-rc 0\n@@ addr 4: eth0    inet 10.244.1.2/24 brd 10.244.1.255 scope global eth0\n')).toBe('10.244.1.2')
    expect(parseAddr('@@ addr-rc 1\n@@ addr Device "eth1" does not exist.\n')).toBeNull()
  })
})
