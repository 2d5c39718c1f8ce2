/**
 * Dynamic inventory: an executable inventory source runs with `--list` and prints JSON, as Ansible's
 * script plugin (ansible/plugins/inventory/script.py) reads it:
 *
 *     { "web": { "hosts": ["w1", "w2"], "vars": { "http_port": 80 }, "children": ["edge"] },
 *       "db": ["d1", "d2"],                      (a list: the group's hosts)
 *       "_meta": { "hostvars": { "w1": { "ansible_host": "198.18.0.1" } } } }
 *
 * A group given as a mapping without hosts/vars/children is Ansible's shorthand: a host of that name
 * with those vars. Without `_meta.hostvars` the script runs again with `--host H` for every host (a few
 * at a time), and its JSON object (or empty output) gives H's vars. Hosts only in _meta are ignored, as
 * Ansible ignores them. Unlike Ansible (which warns and goes on without the source), a script that
 * fails, times out or prints bad JSON is an error naming the script, with its stderr: exit 5.
 */
import { execFile } from 'node:child_process'
import { access, constants, open } from 'node:fs/promises'
import type { InventoryBuilder } from './model.ts'
import { InventoryError } from './types.ts'

/** Default --list/--host timeout; ORCH_INVENTORY_SCRIPT_TIMEOUT (seconds) overrides it. */
export const SCRIPT_TIMEOUT_MS = 60_000

function timeoutMs(): number {
  const s = Number(process.env.ORCH_INVENTORY_SCRIPT_TIMEOUT)
  return Number.isFinite(s) && s > 0 ? s * 1000 : SCRIPT_TIMEOUT_MS
}

/** Whether a file is a script to run: executable (as Ansible's os.access X_OK). */
export async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/**
 * What a file starts with: `#!` (a script), ELF (a program), or other. An executable text file without
 * `#!` is no script for Ansible (execve fails with ENOEXEC, and it reads the file instead); Node would
 * hand it to /bin/sh, so orch checks first.
 */
export async function magic(file: string): Promise<'shebang' | 'elf' | 'other'> {
  const fh = await open(file, 'r').catch(() => null)
  if (!fh) return 'other'
  try {
    const { bytesRead, buffer } = await fh.read(Buffer.alloc(4), 0, 4, 0)
    const head = buffer.subarray(0, bytesRead).toString('latin1')
    return head.startsWith('#!') ? 'shebang' : head === '\x7fELF' ? 'elf' : 'other'
  } finally {
    await fh.close()
  }
}

/** Thrown when the file cannot be executed at all (no #! and not a binary: ENOEXEC): Ansible then reads it as a file. */
export class NotAScript extends Error {}

interface Ran {
  stdout: string
  stderr: string
}

function runScript(file: string, args: string[]): Promise<Ran> {
  const cmd = `${file} ${args.join(' ')}`
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs(), maxBuffer: 256 << 20, encoding: 'utf8', killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { killed?: boolean; code?: unknown; signal?: string }) | null
      if (!e) return resolve({ stdout, stderr })
      if (e.code === 'ENOEXEC') return reject(new NotAScript(cmd))
      const tail = stderr.trim() ? `; its stderr:\n${stderr.trimEnd()}` : ' (nothing on stderr)'
      if (e.killed && e.signal === 'SIGKILL') {
        return reject(new InventoryError(`inventory script '${cmd}' did not finish in ${timeoutMs() / 1000} s (ORCH_INVENTORY_SCRIPT_TIMEOUT sets the limit)${tail}`, file))
      }
      const why = typeof e.code === 'number' ? `exited ${e.code}` : e.signal ? `was killed by ${e.signal}` : `could not run (${e.code ?? e.message})`
      reject(new InventoryError(`inventory script '${cmd}' ${why}${tail}`, file))
    })
  })
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function parseJson(text: string, file: string, cmd: string, stderr: string): unknown {
  try {
    return JSON.parse(text)
  } catch (e) {
    const tail = stderr.trim() ? `; its stderr:\n${stderr.trimEnd()}` : ''
    const head = text.trim().slice(0, 80)
    throw new InventoryError(`inventory script '${cmd}' printed no valid JSON (${(e as Error).message}; output starts ${JSON.stringify(head)})${tail}`, file)
  }
}

/** Runs `file --list` (and `--host H` when there is no _meta.hostvars) and adds what it prints. */
export async function loadScript(file: string, inv: InventoryBuilder): Promise<void> {
  const list = await runScript(file, ['--list'])
  const data = parseJson(list.stdout, file, `${file} --list`, list.stderr)
  if (!isMap(data)) throw new InventoryError(`inventory script '${file} --list' must print a JSON object (groups), got ${Array.isArray(data) ? 'an array' : typeof data}`, file)
  const where = { file }
  const hosts = new Set<string>()
  let hostvars: Record<string, unknown> | undefined
  for (const [name, raw] of Object.entries(data)) {
    if (name === '_meta') {
      if (isMap(raw) && 'hostvars' in raw) {
        if (!isMap(raw.hostvars)) throw new InventoryError(`inventory script '${file} --list': _meta.hostvars must be an object`, file)
        hostvars = raw.hostvars
      }
      continue
    }
    inv.addGroup(name, where)
    let g: Record<string, unknown>
    if (!isMap(raw)) g = { hosts: raw }
    else if (!('hosts' in raw) && !('vars' in raw) && !('children' in raw)) g = { hosts: [name], vars: raw }
    else g = raw
    if ('hosts' in g) {
      if (!Array.isArray(g.hosts) || g.hosts.some((h) => typeof h !== 'string' || !h)) {
        throw new InventoryError(`inventory script '${file} --list': group '${name}' has bad data for the host list (expected a list of names): ${JSON.stringify(g.hosts)}`, file)
      }
      for (const h of g.hosts as string[]) {
        hosts.add(h)
        inv.addHost(h, name, where)
      }
    }
    if ('vars' in g) {
      if (!isMap(g.vars)) throw new InventoryError(`inventory script '${file} --list': group '${name}' has bad data for variables (expected an object): ${JSON.stringify(g.vars)}`, file)
      for (const [k, v] of Object.entries(g.vars)) inv.setGroupVar(name, k, v, where)
    }
    if ('children' in g) {
      if (!Array.isArray(g.children) || g.children.some((c) => typeof c !== 'string')) {
        throw new InventoryError(`inventory script '${file} --list': group '${name}' children must be a list of group names`, file)
      }
      for (const c of g.children as string[]) {
        inv.addGroup(c, where)
        inv.addChild(name, c, where)
      }
    }
  }
  const names = [...hosts]
  const vars = new Map<string, unknown>()
  if (hostvars) for (const h of names) vars.set(h, hostvars[h] ?? {})
  else {
    // Ansible asks one host after the other; a few at a time gives the same answer sooner.
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < names.length) {
        const h = names[next++]
        const r = await runScript(file, ['--host', h])
        vars.set(h, r.stdout.trim() === '' ? {} : parseJson(r.stdout, file, `${file} --host ${h}`, r.stderr))
      }
    }
    await Promise.all(Array.from({ length: Math.min(8, names.length) }, worker))
  }
  for (const h of names) {
    const v = vars.get(h)
    if (!isMap(v)) throw new InventoryError(`inventory script '${file}': the variables of host '${h}' must be a JSON object, got ${JSON.stringify(v)}`, file)
    for (const [k, val] of Object.entries(v)) inv.setHostVar(h, k, val)
  }
}
