/**
 * The real Ansible tools as test oracles: ansible-inventory, and Ansible's InventoryManager through
 * test/helpers/ansible_patterns.py (one process per inventory for many host patterns, where the
 * `ansible` CLI costs ~1 s a call). Run in an empty directory with an empty ansible.cfg, so no local
 * config or ./group_vars changes the answer.
 */
import { execFile, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

export const HAVE_ANSIBLE = spawnSync('ansible-inventory', ['--version'], { stdio: 'ignore' }).status === 0
export const SKIP_REASON = HAVE_ANSIBLE ? '' : ' (skipped: ansible-core not installed; CI installs it)'

let home: string | undefined
/** cwd and environment for an ansible process that sees no config of this machine. */
export function ansibleEnv(): { cwd: string; env: NodeJS.ProcessEnv } {
  if (!home) {
    home = mkdtempSync(join(tmpdir(), 'orch-ansible-'))
    writeFileSync(join(home, 'ansible.cfg'), '')
  }
  return {
    cwd: home,
    env: {
      ...process.env,
      ANSIBLE_CONFIG: join(home, 'ansible.cfg'),
      ANSIBLE_HOME: join(home, 'home'),
      ANSIBLE_LOCAL_TEMP: join(home, 'tmp'),
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_INVENTORY_UNPARSED_WARNING: 'True',
    },
  }
}

const run = promisify(execFile)

/** One of the oracle scripts beside this file: the request as JSON on stdin, its stdout and stderr back. */
function python(script: string, request: unknown, o: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ out: string; err: string }> {
  const base = ansibleEnv()
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/python3', [script], { cwd: o.cwd ?? base.cwd, env: { ...base.env, ...o.env }, stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    p.stdout.on('data', (d) => (out += d))
    p.stderr.on('data', (d) => (err += d))
    p.on('error', reject)
    p.on('close', (code) => (code === 0 ? resolve({ out, err }) : reject(new Error(`${basename(script)} exited ${code}: ${err}`))))
    p.stdin.end(JSON.stringify(request))
  })
}

/** `ansible-inventory ARGS`: stdout, stderr and exit code (never throws on a non-zero exit). */
export async function ansibleInventory(args: string[]): Promise<{ out: string; err: string; code: number }> {
  const { cwd, env } = ansibleEnv()
  try {
    const { stdout, stderr } = await run('ansible-inventory', args, { cwd, env, timeout: 120_000, maxBuffer: 64 << 20 })
    return { out: stdout, err: stderr, code: 0 }
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; code?: number }
    return { out: x.stdout ?? '', err: x.stderr ?? '', code: typeof x.code === 'number' ? x.code : -1 }
  }
}

export interface PatternCase {
  pattern: string
  limit?: string
}
export type PatternAnswer = { hosts: string[] } | { error: string }

const PATTERNS_PY = join(dirname(fileURLToPath(import.meta.url)), 'ansible_patterns.py')

/** Ansible's answer (hosts in its order, or its error) for each case, one inventory manager for all. */
export async function ansiblePatterns(sources: string[], cases: PatternCase[], cwd?: string): Promise<{ answers: PatternAnswer[]; warnings: string }> {
  const { out, err } = await python(PATTERNS_PY, { sources, cases }, { cwd })
  return { answers: JSON.parse(out) as PatternAnswer[], warnings: err }
}

export type TemplateAnswer = { value: unknown; type: string } | { error: string }
const TEMPLATE_PY = join(dirname(fileURLToPath(import.meta.url)), 'ansible_template.py')

/**
 * Ansible's rendering of host variables (its Templar over VariableManager's variables for the host) for
 * each case, one process for all; `basedir` is where lookup('file') looks (the playbook's directory).
 */
export async function ansibleTemplate(sources: string[], basedir: string, cases: Array<{ host: string; var: string }>, env: NodeJS.ProcessEnv = {}): Promise<TemplateAnswer[]> {
  return JSON.parse((await python(TEMPLATE_PY, { sources, basedir, cases }, { env })).out) as TemplateAnswer[]
}

const TAGS_PY = join(dirname(fileURLToPath(import.meta.url)), 'ansible_tags.py')

/** Ansible's evaluate_tags for [task tags, --tags, --skip-tags] cases, and fnmatch for [name, glob] cases. */
export async function ansibleTagAnswers(tags: Array<[string[], string[], string[]]>, globs: Array<[string, string]>): Promise<{ tags: boolean[]; globs: boolean[] }> {
  return JSON.parse((await python(TAGS_PY, { tags, globs })).out)
}
