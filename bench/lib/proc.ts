/**
 * Runs one timed command of the bench: wall time measured here (spawn to exit), the peak RSS of the
 * process (GNU time's %M, the kernel's ru_maxrss = VmHWM), output captured (not printed) so every tool
 * writes to a pipe alike.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface Timed {
  wallMs: number
  /** Peak resident memory of the process, KiB (largest process of its tree for multi-process tools). */
  maxRssKb?: number
  /** CPU (user + system) of the process and the children it waited for, ms. */
  cpuMs?: number
  code: number
  stdout: string
  stderr: string
}

const GNU_TIME = '/usr/bin/time'
const running = new Set<ChildProcess>()

/** Kill (by PID) the commands the bench started and that still run: for SIGINT. */
export function killRunning(): void {
  for (const c of running) {
    try {
      if (c.pid) process.kill(c.pid, 'SIGTERM')
    } catch {
      /* gone */
    }
  }
}

export function timed(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<Timed> {
  const withTime = existsSync(GNU_TIME)
  const dir = mkdtempSync(join(tmpdir(), 'orch-bench-'))
  const rssFile = join(dir, 'rss')
  const argv = withTime ? [GNU_TIME, '-f', '%M %U %S', '-o', rssFile, cmd, ...args] : [cmd, ...args]
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(argv[0], argv.slice(1), { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    running.add(child)
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout!.on('data', (d: Buffer) => out.push(d))
    child.stderr!.on('data', (d: Buffer) => err.push(d))
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined
    child.once('error', (e) => {
      running.delete(child)
      clearTimeout(timer)
      rmSync(dir, { recursive: true, force: true })
      reject(e)
    })
    child.once('close', (code, signal) => {
      const wallMs = performance.now() - t0
      running.delete(child)
      clearTimeout(timer)
      let maxRssKb: number | undefined
      let cpuMs: number | undefined
      try {
        // GNU time writes "Command exited with non-zero status N" before the figures on failures.
        const lines = readFileSync(rssFile, 'utf8').trim().split('\n')
        const [rss, user, sys] = lines[lines.length - 1].split(' ').map(Number)
        if (Number.isFinite(rss) && rss > 0) maxRssKb = rss
        if (Number.isFinite(user) && Number.isFinite(sys)) cpuMs = Math.round((user + sys) * 1000)
      } catch {
        /* no figure */
      }
      rmSync(dir, { recursive: true, force: true })
      resolve({
        wallMs,
        maxRssKb,
        cpuMs,
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      })
    })
  })
}
