/** Local command helpers for the lab (the lab runs on the controller machine, so spawning here is fine). */
import { spawn } from 'node:child_process'

export interface LocalResult {
  code: number
  stdout: string
  stderr: string
}

/** Run a POSIX sh script locally; never throws on a non-zero exit. */
export function shLocal(script: string, input?: string): Promise<LocalResult> {
  return new Promise((resolve, reject) => {
    const p = spawn('/bin/sh', ['-c', script], { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    p.stdout!.on('data', (d) => (stdout += d))
    p.stderr!.on('data', (d) => (stderr += d))
    p.on('error', reject)
    p.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }))
    if (input !== undefined) {
      p.stdin!.on('error', () => {}) // the script may exit without reading its input
      p.stdin!.end(input)
    }
  })
}

/** Run a script and throw with its stderr when it fails. */
export async function shOk(script: string, what: string): Promise<string> {
  const r = await shLocal(script)
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`)
  return r.stdout
}

/** The start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or null if gone. */
import { readFileSync } from 'node:fs'
export function processStartTime(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[19])
  } catch {
    return null
  }
}
