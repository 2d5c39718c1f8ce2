// The compile cache of bin/orch.js (plain JavaScript: it runs before any TypeScript can load).
//
// 1. The mirror: every src/**/*.ts compiled once by esbuild into <cache>/<key>/src/**/*.js (one file per
//    module, relative `.ts` specifiers rewritten to `.js`, `import.meta.url|dirname|filename` replaced by the
//    ORIGINAL file's, so code that reads files next to its source still finds them). <key> hashes the path,
//    mtime and size of every file under src/, tsconfig.json, this file, and the orch and esbuild versions:
//    an unchanged checkout costs ~150 stats and plain `import`s, no loader hooks, no esbuild.
//    A mirror is built in a temp dir and renamed into place: concurrent first starts never see half of
//    one (the loser of the rename race uses the winner's). Mirrors unused for 15 minutes are removed.
// 2. Playbooks: bundled by esbuild (the playbook and its local .ts libraries) into
//    <cache>/<key>/playbooks/<hash of its path>.mjs with an inline source map. Imports of 'orch' and of
//    this checkout's src/ files become imports of the mirror's files: the same URLs as the CLI's modules,
//    so the same module instances (`instanceof` and the task registries work across the boundary). Other
//    packages stay external (resolved where the playbook is, imported by absolute URL). The bundle is
//    reused while its inputs (paths, mtimes, sizes from esbuild's metafile) are unchanged; esbuild is
//    only loaded on a miss.
//
// <cache> is $ORCH_CACHE_DIR, else node_modules/.cache/orch of this checkout, else (not writable)
// ~/.cache/orch/<checkout hash>/; created 0700.
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createRequire, isBuiltin } from 'node:module'
import { homedir } from 'node:os'
import { dirname, join, resolve, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))
const SELF = fileURLToPath(import.meta.url)
/**
 * A mirror not used for this long is removed (when a new one is built). A process marks its mirror used
 * when it starts and every 5 minutes while it runs (its later dynamic imports need the files).
 */
const UNUSED_MS = 15 * 60 * 1000
const TOUCH_MS = 5 * 60 * 1000
/** Bump when the output of the mirror changes in a way the inputs do not show. */
const FORMAT = 1

/**
 * Where the cache may live, in order: $ORCH_CACHE_DIR alone when set; else the checkout's
 * node_modules/.cache/orch, then (a checkout this user cannot write, e.g. a global install)
 * ~/.cache/orch/<checkout>/ ($XDG_CACHE_HOME/orch/<checkout>/).
 */
export function defaultCacheDirs(root = ROOT) {
  if (process.env.ORCH_CACHE_DIR) return [resolve(process.env.ORCH_CACHE_DIR)]
  const dirs = [join(root, 'node_modules', '.cache', 'orch')]
  const user = process.env.XDG_CACHE_HOME || (homedir() ? join(homedir(), '.cache') : '')
  if (user) dirs.push(join(resolve(user), 'orch', sha(root).slice(0, 12)))
  return dirs
}

const sha = (s) => createHash('sha256').update(s).digest('hex')
const statLine = (p) => {
  try {
    const st = statSync(p)
    return `${p} ${st.mtimeMs} ${st.size}`
  } catch {
    return `${p} -`
  }
}

/** esbuild's entry and version, found from this file (null when it is not installed). */
function findEsbuild() {
  // Where npm puts it for this checkout (no module resolution: ~1 ms less), else wherever node finds it.
  try {
    const dir = join(ROOT, 'node_modules', 'esbuild')
    const { version, main } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
    if (version && main) return { url: pathToFileURL(join(dir, main)).href, version }
  } catch {}
  try {
    const req = createRequire(import.meta.url)
    const pkg = req.resolve('esbuild/package.json')
    const { version } = JSON.parse(readFileSync(pkg, 'utf8'))
    return { url: pathToFileURL(req.resolve('esbuild')).href, version }
  } catch {
    return null
  }
}

/** Every file under dir (relative paths, sorted). */
function listFiles(dir) {
  const out = []
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out.push(join(e.parentPath ?? e.path, e.name).slice(dir.length + 1))
  }
  return out.sort()
}

/**
 * The mirror of root/src for this state of the checkout, built if missing. Throws when it cannot be had
 * (no esbuild, the cache not writable, a file esbuild cannot compile): the caller falls back to tsx.
 */
export async function prepareMirror({ root = ROOT, cacheDir } = {}) {
  const cacheDirs = cacheDir ? [resolve(cacheDir)] : defaultCacheDirs(root)
  const esbuild = findEsbuild()
  if (!esbuild) throw new Error('esbuild is not installed')
  const src = join(root, 'src')
  const files = listFiles(src)
  let version = '?'
  try {
    version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version
  } catch {}
  const lines = [`format ${FORMAT}`, `orch ${version}`, `esbuild ${esbuild.version}`, statLine(SELF), statLine(join(root, 'tsconfig.json')), src]
  for (const f of files) lines.push(statLine(join(src, f)))
  const key = sha(lines.join('\n')).slice(0, 20)
  let dir = null
  for (const c of cacheDirs) {
    try {
      const st = statSync(join(c, key))
      dir = join(c, key)
      if (Date.now() - st.mtimeMs > 60_000) touch(dir)
      break
    } catch {}
  }
  if (!dir) {
    const { cacheDir, tmp } = openCache(cacheDirs)
    dir = join(cacheDir, key)
    await buildMirror({ root, src, files, tmp, dir, esbuild })
    prune(cacheDir, key)
  }
  setInterval(() => touch(dir), TOUCH_MS).unref()
  return new Mirror(root, dir, esbuild)
}

/** The first cache dir this process can write (created 0700), with a new temp dir in it. */
function openCache(cacheDirs) {
  let error
  for (const cacheDir of cacheDirs) {
    try {
      mkdirSync(dirname(cacheDir), { recursive: true })
      try {
        mkdirSync(cacheDir, { mode: 0o700 })
      } catch (e) {
        if (e.code !== 'EEXIST') throw e
      }
      return { cacheDir, tmp: mkdtempSync(join(cacheDir, '.tmp-')) }
    } catch (e) {
      error ??= e
    }
  }
  throw error
}

/** Marks a mirror used (its mtime), for the pruning of old mirrors. */
function touch(dir) {
  try {
    const now = new Date()
    utimesSync(dir, now, now)
  } catch {}
}

/** Rewrites one source file for the mirror: `.ts` specifiers to `.js`, import.meta to the original's. */
export function rewriteSource(text, file, { specifiers = true } = {}) {
  if (specifiers) text = text.replace(/(['"])(\.\.?\/[^'"\n\\]*?)\.ts\1/g, '$1$2.js$1')
  return text.replace(/\bimport\.meta\.(url|dirname|filename)\b/g, (_, k) =>
    JSON.stringify(k === 'url' ? pathToFileURL(file).href : k === 'dirname' ? dirname(file) : file),
  )
}

async function buildMirror({ root, src, files, tmp, dir, esbuild }) {
  try {
    const { build } = await import(esbuild.url)
    const r = await build({
      absWorkingDir: root,
      metafile: true,
      entryPoints: files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).map((f) => join(src, f)),
      outbase: src,
      outdir: join(tmp, 'src'),
      bundle: false,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      sourcemap: true,
      sourcesContent: false,
      logLevel: 'silent',
      plugins: [
        {
          name: 'orch-mirror',
          setup(b) {
            b.onLoad({ filter: /\.ts$/ }, async (args) => {
              const text = await readFile(args.path, 'utf8')
              return { contents: rewriteSource(text, args.path), loader: 'ts' }
            })
          },
        },
      ],
    })
    // Static imports the output keeps (esbuild dropped the type-only ones) must all be there: a missing
    // one would fail at run time naming the mirror's files; tsx names the sources (the caller falls back).
    for (const [out, { imports }] of Object.entries(r.metafile.outputs)) {
      for (const imp of imports) {
        if (imp.kind !== 'import-statement' || !/^\.\.?\//.test(imp.path)) continue
        const target = resolve(root, dirname(out), imp.path)
        try {
          statSync(target)
        } catch {
          throw new Error(`${out}: cannot find ${imp.path}`)
        }
      }
    }
    // Packages resolve from the mirror as from src/ (needed when <cache> is outside the checkout).
    symlinkSync(join(root, 'node_modules'), join(tmp, 'node_modules'), 'dir')
    try {
      renameSync(tmp, dir)
    } catch (e) {
      // Another process put the same mirror in place first: use that one.
      statSync(dir)
      rmSync(tmp, { recursive: true, force: true })
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true })
    throw e
  }
}

/** Removes mirrors (and leftover temp dirs) nobody started from for a while. */
function prune(cacheDir, keep) {
  let names
  try {
    names = readdirSync(cacheDir)
  } catch {
    return
  }
  for (const n of names) {
    if (n === keep || !(/^[0-9a-f]{20}$/.test(n) || n.startsWith('.tmp-'))) continue
    const p = join(cacheDir, n)
    try {
      if (Date.now() - statSync(p).mtimeMs > UNUSED_MS) rmSync(p, { recursive: true, force: true })
    } catch {}
  }
}

const TS = /\.[mc]?tsx?$/
const loaderOf = (p) => (/\.tsx$/.test(p) ? 'tsx' : TS.test(p) ? 'ts' : /\.jsx$/.test(p) ? 'jsx' : 'js')

export class Mirror {
  constructor(root, dir, esbuild) {
    this.root = root
    // esbuild resolves imports to real paths: compare with src/'s real path.
    try {
      this.src = realpathSync(join(root, 'src'))
    } catch {
      this.src = join(root, 'src')
    }
    this.dir = dir
    this.esbuild = esbuild
  }

  /** The file URL of a module of the mirror, by its path in the checkout (src/cli/main.ts). */
  url(rel) {
    return pathToFileURL(join(this.dir, rel.replace(/\.ts$/, '.js'))).href
  }

  /** The mirror's URL of an absolute path inside src/ (a .ts file), else null. */
  mirrorOf(abs) {
    if (!abs.startsWith(this.src + sep) || !/\.ts$/.test(abs)) return null
    return this.url(join('src', abs.slice(this.src.length + 1)))
  }

  /** Imports a playbook (absolute path): its cached bundle, compiled first if it or a library changed. */
  async importPlaybook(abs) {
    const dir = join(this.dir, 'playbooks')
    const base = join(dir, sha(abs).slice(0, 20))
    const manifest = this.fresh(base + '.json') ?? (await this.compilePlaybook(abs, dir, base))
    try {
      // The src/ modules it imports first, without source maps like the CLI's own (parsing theirs costs
      // ~10 ms; under -v they are on from the start); then the playbook with its map: errors name its lines.
      if (!process.sourceMapsEnabled) for (const u of manifest.mirror ?? []) await import(u)
      process.setSourceMapsEnabled(true)
      return await import(pathToFileURL(base + '.mjs').href)
    } catch (e) {
      // Link errors name the imported module: say 'orch' and src/*.ts, not the mirror's files.
      if (e && typeof e.message === 'string' && e.message.includes(pathToFileURL(this.dir).href)) {
        const mirrorUrl = pathToFileURL(this.dir).href.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
        const root = pathToFileURL(this.root).href
        e.message = e.message
          .replaceAll(this.url('src/index.ts'), 'orch')
          .replace(new RegExp(`${mirrorUrl}(/src/[^'"\\s]*?)\\.js\\b`, 'g'), (_, p) => `${root}${p}.ts`)
      }
      throw e
    }
  }

  /** The bundle's manifest when its recorded inputs all have the same mtime and size, else null. */
  fresh(path) {
    let manifest
    try {
      manifest = JSON.parse(readFileSync(path, 'utf8'))
    } catch {
      return null
    }
    if (!Array.isArray(manifest?.inputs)) return null
    for (const [p, mtime, size] of manifest.inputs) {
      try {
        const st = statSync(p)
        if (st.mtimeMs !== mtime || st.size !== size) return null
      } catch {
        return null
      }
    }
    return manifest
  }

  async compilePlaybook(abs, dir, base) {
    const { build } = await import(this.esbuild.url)
    const cwd = dirname(abs)
    const SKIP = {}
    const mirror = this
    // mtime and size of each file as it was read (a file changed during the build is compiled again).
    const seen = new Map()
    let r
    try {
      r = await build({
        absWorkingDir: cwd,
        entryPoints: [abs],
        outfile: base + '.mjs',
        write: false,
        metafile: true,
        bundle: true,
        format: 'esm',
        platform: 'node',
        target: 'node20',
        // Resolve packages as node does for `import` (no "module" field or condition).
        conditions: [],
        mainFields: ['main'],
        sourcemap: 'inline',
        sourcesContent: false,
        logLevel: 'silent',
        plugins: [
          {
            name: 'orch-playbook',
            setup(b) {
              b.onResolve({ filter: /.*/ }, async (args) => {
                if (args.kind === 'entry-point' || args.pluginData === SKIP) return undefined
                if (args.path === 'orch') return { path: mirror.url('src/index.ts'), external: true }
                if (isBuiltin(args.path)) return undefined
                const res = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: SKIP })
                if (res.errors.length || res.external || !res.path) return undefined
                const inSrc = mirror.mirrorOf(res.path)
                if (inSrc) return { path: inSrc, external: true }
                if (TS.test(res.path)) return { path: res.path }
                // A package (bare or #import specifier): node loads it, from where esbuild found it.
                if (!/^(\.|\/|file:)/.test(args.path)) return { path: pathToFileURL(res.path).href, external: true }
                return { path: res.path }
              })
              b.onLoad({ filter: /\.[mc]?[jt]sx?$/ }, async (args) => {
                if (args.path.includes(`${sep}node_modules${sep}`)) return undefined
                const st = statSync(args.path)
                seen.set(args.path, [args.path, st.mtimeMs, st.size])
                const text = await readFile(args.path, 'utf8')
                return { contents: rewriteSource(text, args.path, { specifiers: false }), loader: loaderOf(args.path) }
              })
            },
          },
        ],
      })
    } catch (e) {
      // Syntax and resolve errors: make their locations absolute (the loader names file and line).
      for (const x of e?.errors ?? []) if (x.location?.file) x.location.file = resolve(cwd, x.location.file)
      throw e
    }
    const inputs = Object.keys(r.metafile.inputs).map((p) => {
      const full = resolve(cwd, p)
      if (seen.has(full)) return seen.get(full)
      const st = statSync(full)
      return [full, st.mtimeMs, st.size]
    })
    const mirrorUrl = pathToFileURL(this.dir).href + '/'
    const imports = Object.values(r.metafile.outputs).flatMap((o) => o.imports)
    const manifest = { playbook: abs, inputs, mirror: [...new Set(imports.map((i) => i.path).filter((p) => p.startsWith(mirrorUrl)))] }
    mkdirSync(dir, { recursive: true })
    const tmp = `${base}.${process.pid}.tmp`
    writeFileSync(tmp, r.outputFiles[0].contents)
    renameSync(tmp, base + '.mjs')
    writeFileSync(tmp, JSON.stringify(manifest))
    renameSync(tmp, base + '.json')
    return manifest
  }
}
