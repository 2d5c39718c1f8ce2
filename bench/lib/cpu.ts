/**
 * CPU time, which the machine's load does not change the way it changes wall time.
 *
 * targetCpuMs(lab): the CPU every process of the lab's hosts used so far. A lab host is a pid + network
 * namespace: the sum over its live processes of utime+stime+cutime+cstime counts every process of the host
 * exactly once (a dead process is in the cutime of the live ancestor that reaped it). Two readings around a
 * run give the CPU the run cost the targets (sshd, shells, the commands).
 *
 * processCpuMs(match): CPU of live controller-side processes whose command line contains `match` (Ansible's
 * ControlPersist masters, which are daemonized: no rusage of theirs reaches the parent).
 */
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'

const TICK_MS = 10 // USER_HZ is 100 on Linux

function statTimes(pid: string): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    // after "pid (comm) ": state=0 ... utime=11 stime=12 cutime=13 cstime=14
    return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])
  } catch {
    return 0
  }
}

function pids(): string[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d))
}

/** CPU (ms) used so far by all processes in these network namespaces (names under /run/netns). */
export function namespacesCpuMs(netns: string[]): number {
  const inodes = new Set<string>()
  for (const ns of netns) {
    try {
      inodes.add(`net:[${statSync(`/run/netns/${ns}`).ino}]`)
    } catch {
      /* gone */
    }
  }
  let ticks = 0
  for (const pid of pids()) {
    let link: string
    try {
      link = readlinkSync(`/proc/${pid}/ns/net`)
    } catch {
      continue
    }
    if (inodes.has(link)) ticks += statTimes(pid)
  }
  return ticks * TICK_MS
}

export function targetCpuMs(lab: { hosts: Array<{ ns: string }> }): number {
  return namespacesCpuMs(lab.hosts.map((h) => h.ns))
}

/** CPU (ms) of live processes whose command line contains `match`. */
export function processCpuMs(match: string): number {
  let ticks = 0
  for (const pid of pids()) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(match)) ticks += statTimes(pid)
    } catch {
      /* gone */
    }
  }
  return ticks * TICK_MS
}

/** Share of the machine's CPU time that was busy (not idle/iowait) over `ms`, from /proc/stat: 0..1. */
export async function machineBusy(ms = 3000): Promise<number> {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
    const idle = f[3] + (f[4] ?? 0)
    return { idle, total: f.reduce((a, b) => a + b, 0) }
  }
  const a = read()
  await new Promise((r) => setTimeout(r, ms))
  const b = read()
  const total = b.total - a.total
  return total > 0 ? 1 - (b.idle - a.idle) / total : 0
}
