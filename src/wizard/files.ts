/**
 * All or nothing: every file the wizard writes is first written as a temp file next to its target
 * (same directory, so the rename is atomic), then all are renamed, synchronously, in one go. Nothing
 * runs between the first write and the last rename (no await), so a SIGINT cannot land in the middle;
 * if a write fails, the temps written so far are removed and no target was touched.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'

export interface PlannedFile {
  path: string
  content: string
  mode?: number
}

/** Temp files currently on disk (removed by cleanup on an interruption). */
const live = new Set<string>()

export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.orch-wizard-${process.pid}-${randomBytes(4).toString('hex')}.tmp`)
}

/** Write every file or none. Directories are created as needed (created directories stay). */
export function commitFiles(files: PlannedFile[]): void {
  const temps: Array<{ temp: string; path: string }> = []
  try {
    for (const f of files) {
      mkdirSync(dirname(f.path), { recursive: true })
      const temp = tempPathFor(f.path)
      live.add(temp)
      temps.push({ temp, path: f.path })
      // Keep the mode of a file being replaced (known_hosts 0600), else the one asked for.
      let mode = f.mode ?? 0o644
      if (existsSync(f.path)) mode = statSync(f.path).mode & 0o7777
      writeFileSync(temp, f.content, { mode, flag: 'wx' })
    }
  } catch (e) {
    for (const t of temps) rmSync(t.temp, { force: true })
    for (const t of temps) live.delete(t.temp)
    throw e
  }
  for (const t of temps) {
    renameSync(t.temp, t.path)
    live.delete(t.temp)
  }
}

/** Private directories of a wizard under way (staging known_hosts, saved vagrant ssh-config). */
const dirs = new Set<string>()

export function trackTempDir(dir: string): void {
  dirs.add(dir)
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
  dirs.delete(dir)
}

/** On an interruption: temp files of a commit (there should be none: commit is synchronous) and temp dirs. */
export function cleanupTemps(): void {
  for (const t of live) rmSync(t, { force: true })
  live.clear()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
  dirs.clear()
}
