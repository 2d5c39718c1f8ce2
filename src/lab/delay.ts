/**
 * WAN latency for a lab: a delaying TCP relay (files/delay-relay.mjs, one process) between the controller
 * and each host's sshd, with its own round-trip time per host. This kernel has no netem; a relay in user
 * space adds the delay to every byte each way and to the connection's set-up, which is what a controller
 * far from its hosts waits for. The relay listens on loopback only.
 *
 *   const wan = await delayLab(lab, { rttMs: 50 })              // or rttMs: (host) => ms, per host
 *   // wan.inventoryPath: the lab's hosts at 127.0.0.1:<port> (ansible_host/ansible_port), for orch and
 *   // ansible-playbook alike; wan.knownHostsPath has their keys as [127.0.0.1]:<port>.
 *   await wan.stop()                                              // kills the relay by PID
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { filesDir, type LabHost, type LabState } from './lan.ts'

export interface DelayOptions {
  /** Round-trip time added between the controller and a host, in ms: one value, or one per host. */
  rttMs: number | ((host: LabHost) => number)
  /** File names under the lab's directory (default wan-inventory.ini, wan-known_hosts). */
  name?: string
}

export interface DelayedLab {
  inventoryPath: string
  knownHostsPath: string
  /** Per host name: the relay's port on 127.0.0.1 and the RTT it adds. */
  routes: Map<string, { port: number; rttMs: number }>
  pid: number
  stop(): Promise<void>
}

export async function delayLab(lab: LabState, o: DelayOptions): Promise<DelayedLab> {
  const rtt = (h: LabHost) => (typeof o.rttMs === 'function' ? o.rttMs(h) : o.rttMs)
  const spec = lab.hosts.map((h) => ({ listen: '127.0.0.1', target: h.address, targetPort: 22, rttMs: rtt(h) }))
  for (const [i, s] of spec.entries()) {
    if (!Number.isFinite(s.rttMs) || s.rttMs < 0 || s.rttMs > 10_000) throw new Error(`delayLab: ${lab.hosts[i].name}: rttMs must be 0..10000, got ${s.rttMs}`)
  }
  const child = spawn(process.execPath, [join(filesDir, 'delay-relay.mjs'), JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] })
  const ports = await firstLine(child)
  const name = o.name ?? 'wan'
  const inventoryPath = join(lab.dir, `${name}-inventory.ini`)
  const knownHostsPath = join(lab.dir, `${name}-known_hosts`)
  const routes = new Map(lab.hosts.map((h, i) => [h.name, { port: ports[i], rttMs: spec[i].rttMs }]))
  // The lab's own files, with each host's address and key moved to its relay port.
  const keyOf = new Map(readFileSync(lab.knownHostsPath, 'utf8').split('\n').filter(Boolean).map((l) => [l.split(' ')[0], l.split(' ').slice(1).join(' ')]))
  writeFileSync(knownHostsPath, lab.hosts.map((h) => `[127.0.0.1]:${routes.get(h.name)!.port} ${keyOf.get(h.address)}`).join('\n') + '\n')
  const inv = readFileSync(lab.inventoryPath, 'utf8')
    .split('\n')
    .map((line) => {
      const m = /^(\S+) ansible_host=(\S+)(.*)$/.exec(line)
      const r = m && routes.get(m[1])
      if (m && r) return `${m[1]} ansible_host=127.0.0.1 ansible_port=${r.port}${m[3]} lab_rtt_ms=${r.rttMs}`
      return line.split(lab.knownHostsPath).join(knownHostsPath)
    })
  writeFileSync(inventoryPath, inv.join('\n'))
  const pid = child.pid!
  return {
    inventoryPath,
    knownHostsPath,
    routes,
    pid,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r))
        process.kill(pid, 'SIGKILL')
        await gone
      }
      rmSync(inventoryPath, { force: true })
      rmSync(knownHostsPath, { force: true })
    },
  }
}

function firstLine(child: ChildProcess): Promise<number[]> {
  return new Promise((resolve, reject) => {
    let buf = ''
    const onData = (d: Buffer) => {
      buf += d.toString()
      const nl = buf.indexOf('\n')
      if (nl < 0) return
      child.stdout!.off('data', onData)
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as number[])
      } catch (e) {
        reject(e)
      }
    }
    child.stdout!.on('data', onData)
    child.once('exit', (code) => reject(new Error(`delay relay exited (${code}) before it listened`)))
  })
}
