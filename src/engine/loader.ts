/**
 * Loads a TypeScript playbook at run time (no build step). bin/orch.js either sets an importer that
 * bundles the playbook into its compile cache (bin/compile.js), or registers tsx for a plain import.
 *
 * A playbook file does `export default playbook({...})`, or exports an array of plays. Anything that
 * keeps it from loading or gives it the wrong shape is a PlaybookError naming the file (exit 5).
 */
import { existsSync, statSync } from 'node:fs'
import { relative, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { PlaybookError, type Playbook } from './types.ts'

export interface LoadedPlaybook {
  path: string
  plays: Playbook<any>[]
}

type Importer = (absPath: string) => Promise<Record<string, unknown>>
let importer: Importer = (abs) => import(pathToFileURL(abs).href) // image: absolute (a file URL)

/** How playbook files are imported (bin/orch.js: from its compile cache). */
export function setPlaybookImporter(fn: Importer): void {
  importer = fn
}

interface EsbuildMessage {
  text?: string
  location?: { file?: string; line?: number; column?: number } | null
}
const esbuildErrors = (e: unknown): EsbuildMessage[] => {
  const errors = (e as { errors?: unknown })?.errors
  return Array.isArray(errors) ? errors : []
}

function shapeProblem(p: unknown, i: number): string | null {
  const at = `play ${i + 1}`
  if (!p || typeof p !== 'object' || Array.isArray(p)) return `${at}: expected playbook({ name, hosts, tasks }), got ${p === null ? 'null' : Array.isArray(p) ? 'an array' : typeof p}`
  const o = p as Record<string, unknown>
  if (typeof o.name !== 'string' || !o.name) return `${at}: "name" must be a non-empty string`
  if (typeof o.hosts !== 'string' || !o.hosts.trim()) return `${at} (${o.name}): "hosts" must be a host pattern string like 'all' or 'docker_hosts'`
  if (!Array.isArray(o.tasks) && typeof o.tasks !== 'function') return `${at} (${o.name}): "tasks" must be an array of tasks or a function (ctx) => tasks`
  if (o.handlers !== undefined && typeof o.handlers !== 'function' && (typeof o.handlers !== 'object' || o.handlers === null || Array.isArray(o.handlers)))
    return `${at} (${o.name}): "handlers" must be an object { name: task } or a function (ctx) => that`
  return null
}

/** The location of the first stack frame inside the playbook file, for load errors. */
function locate(e: unknown, file: string): string {
  const first = esbuildErrors(e)[0]?.location
  if (first?.line && first.file === file) return `:${first.line}:${first.column ?? 0}`
  const stack = String((e as Error)?.stack ?? '')
  const url = pathToFileURL(file).href
  for (const line of stack.split('\n')) {
    const m = line.match(/(file:\/\/[^\s)]+|\/[^\s):]+):(\d+):(\d+)/)
    if (m && (m[1] === url || m[1] === file)) return `:${m[2]}:${m[3]}`
  }
  return ''
}

export async function loadPlaybook(path: string): Promise<LoadedPlaybook> {
  const abs = resolve(path)
  if (!existsSync(abs)) throw new PlaybookError('no such playbook file', path)
  if (!statSync(abs).isFile()) throw new PlaybookError('not a file', path)
  let mod: Record<string, unknown>
  try {
    mod = await importer(abs)
  } catch (e) {
    const where = locate(e, abs)
    const msg = errText(e, abs)
    throw new PlaybookError(`cannot load${where ? ` (at line ${where.slice(1)})` : ''}: ${msg}`, path)
  }
  const exp = mod.default ?? mod.playbook ?? mod.plays
  if (exp === undefined) throw new PlaybookError('no default export: write `export default playbook({ name, hosts, tasks })`', path)
  const plays = Array.isArray(exp) ? exp : [exp]
  if (plays.length === 0) throw new PlaybookError('the default export is an empty list of plays', path)
  plays.forEach((p, i) => {
    const problem = shapeProblem(p, i)
    if (problem) throw new PlaybookError(problem, path)
  })
  return { path, plays: plays as Playbook<any>[] }
}

/** A path relative to the working directory when it is below it, else absolute. */
function shortPath(p: string): string {
  const rel = relative(process.cwd(), p)
  return rel && !rel.startsWith('..') ? rel : p
}

function errText(e: unknown, file: string): string {
  const err = e as Error
  // esbuild errors (syntax, unresolved import) carry their location; the first one in the playbook
  // itself is already named by "(at line L:C)", one in another file is named by its path.
  const errors = esbuildErrors(e)
  if (errors.length) {
    return errors
      .slice(0, 3)
      .map((x, i) => {
        const loc = x.location
        if (!loc?.line) return x.text ?? ''
        if (loc.file && loc.file !== file) return `${shortPath(loc.file)}:${loc.line}:${loc.column ?? 0}: ${x.text ?? ''}`
        return `${i === 0 && loc.file === file ? '' : `line ${loc.line}:${loc.column ?? 0}: `}${x.text ?? ''}`
      })
      .join('; ')
  }
  return (err?.message ?? String(e)).split('\n').slice(0, 6).join('\n')
}
