/**
 * bin/orch.js's compile cache (bin/compile.js): the image of src/ and the compiled playbooks. Every test
 * spawns real node processes with ORCH_CACHE_DIR in a temp dir (removed at the end). Nothing here
 * connects anywhere: the playbooks fail while loading or planning, before any host is touched.
 */
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const repo = fileURLToPath(new URL('../..', import.meta.url))
const bin = join(repo, 'bin/orch.js')
const version = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version
const base = mkdtempSync(join(tmpdir(), 'orch-compile-test-'))
afterAll(() => rmSync(base, { recursive: true, force: true }))

let n = 0
const tempDir = (name: string) => {
  const d = join(base, `${name}-${++n}`)
  mkdirSync(d, { recursive: true })
  return d
}
const put = (dir: string, name: string, text: string) => {
  const p = join(dir, name)
  mkdirSync(dirname(p), { recursive: true })
  writeFileSync(p, text)
  return p
}

interface Out {
  code: number
  stdout: string
  stderr: string
}
function spawnNode(args: string[], env: Record<string, string | undefined>, cwd = repo): Promise<Out> {
  return new Promise((resolve) =>
    execFile(process.execPath, args, { cwd, env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    ),
  )
}
const orch = (cache: string, ...args: string[]) => spawnNode([bin, ...args], { ORCH_CACHE_DIR: cache, ORCH_NO_COMPILE: undefined })
const images = (cache: string) => readdirSync(cache).filter((x) => /^[0-9a-f]{20}$/.test(x))

describe('the image of src/', () => {
  it('concurrent first starts on an empty cache all work and leave one complete image', async () => {
    const cache = join(tempDir('cache'), 'orch')
    const runs = await Promise.all(Array.from({ length: 6 }, () => orch(cache, '--version')))
    for (const r of runs) {
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expect(r.stdout.trim()).toBe(version)
    }
    const names = readdirSync(cache)
    expect(names.filter((x) => x.startsWith('.tmp-'))).toEqual([])
    expect(images(cache)).toHaveLength(1)
    const m = join(cache, images(cache)[0])
    expect(statSync(join(m, 'orch.cjs')).isFile()).toBe(true)
    expect(statSync(cache).mode & 0o777).toBe(0o700)
    // The first process with no code cache for its command wrote one at exit (in place, no temp left).
    expect(readdirSync(m).filter((x) => x.startsWith('code-'))).toEqual(['code-other.bin'])
    // A hit: same image, nothing rebuilt.
    const built = readFileSync(join(m, 'orch.cjs'), 'utf8')
    const code = readFileSync(join(m, 'code-other.bin'))
    expect((await orch(cache, '--version')).stdout.trim()).toBe(version)
    expect(images(cache)).toHaveLength(1)
    expect(readFileSync(join(m, 'orch.cjs'), 'utf8')).toBe(built)
    // The code cache was accepted, so not written again.
    expect(readFileSync(join(m, 'code-other.bin')).equals(code)).toBe(true)
    // Another command gets a cache of its own.
    await orch(cache, 'status', '--help')
    expect(readdirSync(m).filter((x) => x.startsWith('code-')).sort()).toEqual(['code-other.bin', 'code-status.bin'])
  })

  // A small checkout of its own: src/ as the project writes it (type-only imports, .d.ts, dynamic
  // imports, files read next to the source, a program that is not a module).
  const makeRoot = () => {
    const root = tempDir('root')
    put(root, 'package.json', '{ "name": "mini", "version": "1.2.3", "type": "module" }\n')
    put(root, 'src/types.ts', "export interface Shape { n: number }\nexport const kind = 'k1'\n")
    put(root, 'src/only-types.ts', 'export interface Only { x: string }\nexport type Alias = Only\n')
    put(root, 'src/decl.d.ts', 'export interface Decl { d: number }\n')
    put(root, 'src/lib/lazy.ts', "export const value = 'lazy'\n")
    put(root, 'src/lib/helper.ts', "import type { Shape } from '../types.ts'\nexport const helper = (s: Shape): number => s.n + 1\n")
    put(root, 'src/data.txt', 'next to the source\n')
    put(
      root,
      'src/index.ts',
      [
        "import { readFileSync } from 'node:fs'",
        "import { type Shape, kind } from './types.ts'",
        "import type { Only } from './only-types.ts'",
        "import { Alias } from './only-types.ts'",
        "import type { Decl } from './decl.d.ts'",
        "import { helper } from './lib/helper.ts'",
        "export type { Only } from './only-types.ts'",
        "export { type Alias } from './only-types.ts'",
        'export async function report() {',
        '  const s: Shape = { n: 1 }',
        '  const o: Only | Alias | Decl | null = null',
        "  const lazy = await import('./lib/lazy.ts')",
        "  const again = await import('./lib/lazy.ts')",
        '  return {',
        '    kind, o, helper: helper(s), lazy: lazy.value, same: lazy === again,',
        "    data: readFileSync(new URL('./data.txt', import.meta.url), 'utf8').trim(),",
        '    dirname: import.meta.dirname, filename: import.meta.filename, url: import.meta.url,',
        '  }',
        '}',
        '',
      ].join('\n'),
    )
    put(root, 'src/lab/cli.ts', "await Promise.resolve()\nthrow new Error('a program, never run by the image')\n")
    return root
  }
  const report = (root: string, cache: string | null, env: Record<string, string | undefined> = {}) =>
    spawnNode(
      [
        '--input-type=module',
        '-e',
        `const { prepareImage } = await import(${JSON.stringify(pathToFileURL(join(repo, 'bin/compile.js')).href)})
         const m = await prepareImage({ root: ${JSON.stringify(root)}, cacheDir: ${JSON.stringify(cache ?? undefined)} })
         const mod = m.get('src/index.ts')
         if (mod !== m.get('src/index.ts')) throw new Error('two namespaces of one module')
         console.log(JSON.stringify({ dir: m.dir, ...(await mod.report()) }))`,
      ],
      { ORCH_CACHE_DIR: undefined, ...env },
    )

  it('compiles type-only and .d.ts imports away, keeps import.meta of the source, leaves programs out', async () => {
    const root = makeRoot()
    const cache = tempDir('cache')
    const r = await report(root, cache)
    expect(r.stderr).toBe('')
    const out = JSON.parse(r.stdout)
    expect(out).toMatchObject({ kind: 'k1', o: null, helper: 2, lazy: 'lazy', same: true, data: 'next to the source' })
    expect(out.dirname).toBe(join(root, 'src'))
    expect(out.filename).toBe(join(root, 'src/index.ts'))
    expect(out.url).toBe(pathToFileURL(join(root, 'src/index.ts')).href)
    expect(out.dir.startsWith(cache)).toBe(true)
  })

  it('a changed src file makes a new image; old unused images are removed', async () => {
    const root = makeRoot()
    const cache = tempDir('cache')
    const first = JSON.parse((await report(root, cache)).stdout)
    expect(first.kind).toBe('k1')
    expect(JSON.parse((await report(root, cache)).stdout).dir).toBe(first.dir)
    put(root, 'src/types.ts', "export interface Shape { n: number }\nexport const kind = 'k2'\n")
    const second = JSON.parse((await report(root, cache)).stdout)
    expect(second.kind).toBe('k2')
    expect(second.dir).not.toBe(first.dir)
    // Both kept (the first may still be in use); once unused for long, the next build removes it.
    expect(images(cache)).toHaveLength(2)
    const old = new Date(Date.now() - 3600_000)
    utimesSync(second.dir, old, old)
    put(root, 'src/new.ts', 'export const added = 1\n')
    const third = JSON.parse((await report(root, cache)).stdout)
    expect(images(cache).sort()).toEqual([first.dir, third.dir].map((d) => d.slice(cache.length + 1)).sort())
  })

  it("a checkout whose node_modules/.cache cannot be written uses the user's cache dir", async () => {
    const root = makeRoot()
    put(root, 'node_modules', 'a file, so node_modules/.cache cannot be made\n')
    const xdg = tempDir('xdg')
    const r = await report(root, null, { XDG_CACHE_HOME: xdg })
    expect(r.stderr).toBe('')
    const out = JSON.parse(r.stdout)
    expect(out.kind).toBe('k1')
    expect(out.dir.startsWith(join(xdg, 'orch') + '/')).toBe(true)
    expect(JSON.parse((await report(root, null, { XDG_CACHE_HOME: xdg })).stdout).dir).toBe(out.dir)
  })

  it('a src file esbuild cannot compile, a missing import or an import() of a variable means no image (bin/orch.js then uses tsx)', async () => {
    const root = makeRoot()
    const cache = tempDir('cache')
    put(root, 'src/broken.ts', "import { gone } from './gone.ts'\nexport const x = gone\n")
    const r = await report(root, cache)
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/Could not resolve "\.\/gone\.ts"/)
    // It would resolve against the image's file at run time, not the source's: refused when built.
    put(root, 'src/broken.ts', "export const load = (name: string) => import(name)\n")
    const v = await report(root, cache)
    expect(v.code).not.toBe(0)
    expect(v.stderr).toMatch(/src\/broken\.ts:1:\d+: ERROR: .*import\(\) of a specifier in a variable cannot be bundled/)
    put(root, 'src/broken.ts', 'export const x = (\n')
    expect((await report(root, cache)).code).not.toBe(0)
    expect(readdirSync(cache)).toEqual([])
  })
})

describe('playbooks through the compile cache', () => {
  const cache = join(tempDir('cache'), 'orch')
  const inv = 'compile-test-host,'
  const idx = JSON.stringify(join(repo, 'src/index.ts'))
  const typesTs = JSON.stringify(join(repo, 'src/engine/types.ts'))
  const compiled = (cache: string) => join(cache, images(cache)[0], 'playbooks')

  it('a playbook and the library it imports are recompiled when changed, reused when not', async () => {
    const d = tempDir('pb')
    put(d, 'lib/msg.ts', "export const msg: string = 'v1'\n")
    const pb = put(d, 'pb.ts', "import { playbook } from 'orch'\nimport { msg } from './lib/msg.ts'\nthrow new Error('says ' + msg)\nexport default playbook({ name: 'x', hosts: 'all', tasks: [] })\n")
    const r1 = await orch(cache, 'run', pb, '-i', inv)
    expect(r1.code).toBe(5)
    expect(r1.stderr).toMatch(/pb\.ts: cannot load \(at line 3:\d+\): says v1/)
    const [mjs] = readdirSync(compiled(cache)).filter((x) => x.endsWith('.mjs'))
    const before = statSync(join(compiled(cache), mjs)).mtimeMs
    expect((await orch(cache, 'run', pb, '-i', inv)).stderr).toMatch(/says v1/)
    expect(statSync(join(compiled(cache), mjs)).mtimeMs).toBe(before)
    put(d, 'lib/msg.ts', "export const msg: string = 'v2, longer'\n")
    expect((await orch(cache, 'run', pb, '-i', inv)).stderr).toMatch(/pb\.ts: cannot load \(at line 3:\d+\): says v2, longer/)
    put(d, 'pb.ts', "import { playbook } from 'orch'\nimport { msg } from './lib/msg.ts'\n\nthrow new Error('now ' + msg)\nexport default playbook({ name: 'x', hosts: 'all', tasks: [] })\n")
    expect((await orch(cache, 'run', pb, '-i', inv)).stderr).toMatch(/pb\.ts: cannot load \(at line 4:\d+\): now v2/)
  })

  it('syntax errors and throws name the file and line (the playbook or its library)', async () => {
    const d = tempDir('pb')
    const syntax = put(d, 'syntax.ts', "import { playbook } from 'orch'\nexport default playbook({ name: 'x', hosts: 'all', tasks: [ })\n")
    let r = await orch(cache, 'run', syntax, '-i', inv)
    expect(r.code).toBe(5)
    expect(r.stderr).toMatch(/syntax\.ts: cannot load \(at line 2:\d+\): Unexpected "\}"/)
    put(d, 'badlib.ts', 'export const x = (\n')
    const usesBad = put(d, 'uses-bad.ts', "import { x } from './badlib.ts'\nexport default { name: 'x' + x, hosts: 'all', tasks: [] }\n")
    r = await orch(cache, 'run', usesBad, '-i', inv)
    expect(r.code).toBe(5)
    expect(r.stderr).toMatch(/uses-bad\.ts: cannot load: .*badlib\.ts:2:0: Unexpected end of file/)
    put(d, 'thrower.ts', "export function boom(): number {\n  const a: number = 1\n  throw new Error('lib nope ' + a)\n}\n")
    const callsLib = put(d, 'calls.ts', "import { boom } from './thrower.ts'\n\n\nboom()\nexport default { name: 'x', hosts: 'all', tasks: [] }\n")
    r = await orch(cache, 'run', callsLib, '-i', inv)
    expect(r.stderr).toMatch(/calls\.ts: cannot load \(at line 4:1\): lib nope 1/)
    const missing = put(d, 'missing.ts', "import { y } from './nowhere.ts'\nexport default { name: 'x' + y, hosts: 'all', tasks: [] }\n")
    expect((await orch(cache, 'run', missing, '-i', inv)).stderr).toMatch(/missing\.ts: cannot load \(at line 1:\d+\): Could not resolve "\.\/nowhere\.ts"/)
    const noExport = put(d, 'noexport.ts', "import { playbook, nope } from 'orch'\nexport default playbook({ name: 'x' + nope, hosts: 'all', tasks: [] })\n")
    expect((await orch(cache, 'run', noExport, '-i', inv)).stderr).toMatch(/noexport\.ts: cannot load \(at line 1:\d+\): No matching export in "orch" for import "nope"/)
  })

  // runner.ts rethrows an ArgError from tasks(ctx) as "host: variable: expected ..." (exit 5) only when
  // it is an instance of the CLI's own ArgError class; a copy would be "building tasks for host ...".
  it("'orch', an absolute and a relative import of src/ are the CLI's module instances", async () => {
    const d = tempDir('pb')
    const pb = put(
      d,
      'same.ts',
      [
        "import { playbook, ArgError as FromOrch } from 'orch'",
        `import { ArgError as FromAbs } from ${typesTs}`,
        `import * as idx from ${idx}`,
        "import * as viaOrch from 'orch'",
        'if (idx.playbook !== viaOrch.playbook) throw new Error("two copies of src/index.ts")',
        'const which = process.env.WHICH',
        "export default playbook({ name: 'x', hosts: 'all', tasks: () => { throw which === 'abs' ? new FromAbs('fwd', 'a number', undefined) : new FromOrch('fwd', 'a number', undefined) } })",
        '',
      ].join('\n'),
    )
    for (const which of ['orch', 'abs']) {
      const r = await spawnNode([bin, 'run', pb, '-i', inv], { ORCH_CACHE_DIR: cache, WHICH: which })
      expect(r.stderr).toMatch(/compile-test-host: fwd: expected a number, got undefined/)
      expect(r.stderr).not.toMatch(/building tasks/)
      expect(r.code).toBe(5)
    }
    // A relative import of ../../src/... (as playbooks/ in the checkout would write it).
    const relTypes = JSON.stringify(relative(d, join(repo, 'src/engine/types.ts')))
    const relPb = put(d, 'relative.ts', `import { playbook } from 'orch'\nimport { ArgError } from ${relTypes}\nexport default playbook({ name: 'x', hosts: 'all', tasks: () => { throw new ArgError('fwd', 'a number', undefined) } })\n`)
    const r = await orch(cache, 'run', relPb, '-i', inv)
    expect(r.stderr).toMatch(/compile-test-host: fwd: expected a number/)
    expect(r.code).toBe(5)
  })

  it("a run that stops early, or succeeds without applying a change, leaves only a partial code cache", async () => {
    const d = tempDir('pb')
    const own = join(tempDir('cache'), 'orch')
    const pb = put(d, 'nobody.ts', "import { playbook } from 'orch'\nexport default playbook({ name: 'x', hosts: 'nobody', tasks: [] })\n")
    const codeFiles = () => readdirSync(join(own, images(own)[0])).filter((x) => x.startsWith('code-')).sort()
    expect((await orch(own, 'run', pb, '-i', inv, '--limit', 'no-such-host')).code).toBe(1) // no host left to target: exit 1, as ansible-playbook
    expect(codeFiles()).toEqual(['code-run.partial.bin'])
    const partial = readFileSync(join(own, images(own)[0], 'code-run.partial.bin'))
    // Exit 0, but its play matched no host: most of a run's path never ran, so this is no complete cache
    // either (the first run that applies a change writes that: test/lab/basic-tasks.test.ts), and the
    // partial one is not written again.
    expect((await orch(own, 'run', pb, '-i', inv)).code).toBe(0)
    expect(codeFiles()).toEqual(['code-run.partial.bin'])
    expect(readFileSync(join(own, images(own)[0], 'code-run.partial.bin')).equals(partial)).toBe(true)
  })

  it('ORCH_NO_COMPILE=1 loads through tsx, with the same results', async () => {
    const d = tempDir('pb')
    const pb = put(d, 'same.ts', "import { playbook, ArgError } from 'orch'\nexport default playbook({ name: 'x', hosts: 'all', tasks: () => { throw new ArgError('fwd', 'a number', undefined) } })\n")
    const empty = tempDir('cache')
    const r = await spawnNode([bin, 'run', pb, '-i', inv], { ORCH_CACHE_DIR: empty, ORCH_NO_COMPILE: '1' })
    expect(r.stderr).toMatch(/compile-test-host: fwd: expected a number/)
    expect(r.code).toBe(5)
    expect(readdirSync(empty)).toEqual([])
  })

  it('falls back to tsx when the cache cannot be written', async () => {
    const blocker = put(tempDir('ro'), 'file', 'not a directory\n')
    const r = await spawnNode([bin, '--version'], { ORCH_CACHE_DIR: join(blocker, 'orch') })
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe(version)
  })
})
