// The compile cache of bin/orch.js (plain JavaScript: it runs before any TypeScript can load).
//
// 1. The image: src/ and the packages it imports bundled by esbuild into ONE CommonJS file,
//    <cache>/<key>/orch.cjs, in which every src module is lazy (evaluated on first use, as with
//    `import`). It is run through vm.Script with V8's code cache (<key>/code-<command>.bin, written at
//    the exit of the first run of that command that exits 0 and went the whole way, WHOLE_RUN_KEY;
//    .partial.bin from any other, until then): no module resolution, no parsing or compiling of what a
//    previous run compiled. `import.meta.url|dirname|filename` are replaced by the ORIGINAL file's, so
//    code that reads files next to its source still finds them. <key> hashes the
//    path, mtime and size of every file under src/, tsconfig.json, package-lock.json, this file, and the
//    orch, esbuild and node versions: an unchanged checkout costs ~150 stats.
//    Measured (bench part a, 20 hosts): one file + code cache instead of ~180 ES modules takes a
//    start-up from ~0.14 to ~0.07 s of CPU and the controller's CPU for a whole run from 0.55 to 0.38 s.
//    The image is built in a temp dir and renamed into place: concurrent first starts never see half of
//    one (the loser of the rename race uses the winner's). Images unused for 15 minutes are removed.
// 2. Playbooks: bundled by esbuild (the playbook and its local .ts libraries) into
//    <cache>/<key>/playbooks/<hash of its path>.mjs with an inline source map. Imports of 'orch' and of
//    this checkout's src/ files become small modules that re-export the image's live modules (the same
//    objects as the CLI's: `instanceof` and the task registries work across the boundary; a name src/
//    does not export is an error at bundle time, with the playbook's line). Other packages stay external
//    (resolved where the playbook is, imported by absolute URL). The bundle is reused while its inputs
//    (paths, mtimes, sizes from esbuild's metafile) are unchanged; esbuild is only loaded on a miss.
//
// <cache> is $ORCH_CACHE_DIR, else node_modules/.cache/orch of this checkout, else (not writable)
// ~/.cache/orch/<checkout hash>/; created 0700.
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createRequire, isBuiltin } from 'node:module'
import { homedir } from 'node:os'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Script, constants as vmConstants } from 'node:vm'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))
const SELF = fileURLToPath(import.meta.url)
/**
 * An image not used for this long is removed (when a new one is built). A process marks its image used
 * when it starts and every 5 minutes while it runs.
 */
const UNUSED_MS = 15 * 60 * 1000
const TOUCH_MS = 5 * 60 * 1000
/** Bump when the output changes in a way the inputs do not show. */
const FORMAT = 3
/** Where a playbook's bundle finds the image's modules (set when the image is loaded). */
const IMAGE_KEY = 'orch.image'
/**
 * Set to false by a command whose successful run may still have left much of its path uncompiled (`orch
 * run` until it applies a change: a --check run, one whose plays matched no host or changed nothing): its
 * exit writes the partial code cache, and the first run that goes the whole way writes the complete one.
 */
const WHOLE_RUN_KEY = 'orch.codeCache.wholeRun'

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
 * src/ files that are programs, not modules: importing one runs it (bin/lab.js runs src/lab/cli.ts through
 * tsx; its top-level await cannot be CommonJS anyway). They are left out of the image.
 */
const PROGRAMS = new Set(['lab/cli.ts'])
/** A path under src/ ('a/b.ts', either separator) of a module the image holds. */
const inImage = (rel) => rel.endsWith('.ts') && !rel.endsWith('.d.ts') && !PROGRAMS.has(rel.split(sep).join('/'))

/**
 * The image of root/src for this state of the checkout, built if missing. Throws when it cannot be had
 * (no esbuild, the cache not writable, a file esbuild cannot bundle): the caller falls back to tsx.
 */
export async function prepareImage({ root = ROOT, cacheDir } = {}) {
  const cacheDirs = cacheDir ? [resolve(cacheDir)] : defaultCacheDirs(root)
  const esbuild = findEsbuild()
  if (!esbuild) throw new Error('esbuild is not installed')
  const src = join(root, 'src')
  const files = listFiles(src)
  let version = '?'
  try {
    version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version
  } catch {}
  // The packages bundled in come from node_modules: the lock file stands for their versions.
  const lines = [`format ${FORMAT}`, `orch ${version}`, `esbuild ${esbuild.version}`, `node ${process.version}`, statLine(SELF)]
  for (const f of ['tsconfig.json', 'package.json', 'package-lock.json']) lines.push(statLine(join(root, f)))
  lines.push(src)
  for (const f of files) lines.push(statLine(join(src, f)))
  const key = sha(lines.join('\n')).slice(0, 20)
  let dir = null
  for (const c of cacheDirs) {
    try {
      const st = statSync(join(c, key, 'orch.cjs'))
      dir = join(c, key)
      if (Date.now() - st.mtimeMs > 60_000) touch(dir)
      break
    } catch {}
  }
  if (!dir) {
    const { cacheDir, tmp } = openCache(cacheDirs)
    dir = join(cacheDir, key)
    await buildImage({ root, src, files: files.filter(inImage), tmp, dir, esbuild })
    prune(cacheDir, key)
  }
  setInterval(() => touch(dir), TOUCH_MS).unref()
  return new Image(root, dir, esbuild)
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

/** Marks an image used (its mtime and its file's), for the pruning of old images. */
function touch(dir) {
  try {
    const now = new Date()
    utimesSync(dir, now, now)
    utimesSync(join(dir, 'orch.cjs'), now, now)
  } catch {}
}

/** Replaces `import.meta.url|dirname|filename` by the original file's (the bundle has no import.meta). */
export function rewriteSource(text, file) {
  return text.replace(/\bimport\.meta\.(url|dirname|filename)\b/g, (_, k) =>
    JSON.stringify(k === 'url' ? pathToFileURL(file).href : k === 'dirname' ? dirname(file) : file),
  )
}

/**
 * The image's entry: a table of src modules, each `require`d (hence lazily initialized by esbuild) on
 * its first `get`, the namespace kept so every caller sees the same object.
 */
function imageEntry(src, files) {
  const rows = files.map((f) => `  ${JSON.stringify(`src/${f.split(sep).join('/')}`)}: () => require(${JSON.stringify(join(src, f))}),`)
  return [
    'const load = {',
    ...rows,
    '}',
    'const loaded = new Map()',
    'exports.files = Object.keys(load)',
    'exports.get = (rel) => {',
    '  let m = loaded.get(rel)',
    '  if (m === undefined) {',
    '    if (!Object.hasOwn(load, rel)) throw new Error(`orch: no module ${rel} in this build`)',
    '    m = load[rel]()',
    '    loaded.set(rel, m)',
    '  }',
    '  return m',
    '}',
    '',
  ].join('\n')
}

async function buildImage({ root, src, files, tmp, dir, esbuild }) {
  try {
    const { build } = await import(esbuild.url)
    await build({
      absWorkingDir: root,
      stdin: { contents: imageEntry(src, files), resolveDir: root, sourcefile: 'orch-image-entry.js', loader: 'js' },
      outfile: join(tmp, 'orch.cjs'),
      bundle: true,
      format: 'cjs',
      platform: 'node',
      target: 'node20',
      sourcemap: true,
      sourcesContent: false,
      // Read at every start: without blanks and comments it is ~40% smaller, and all ASCII, so it is read
      // as latin1 (no UTF-8 decoding). Names are kept: stack traces stay readable (and -v maps to .ts).
      minifyWhitespace: true,
      legalComments: 'none',
      charset: 'ascii',
      logLevel: 'silent',
      // esbuild and tsx load at run time only to compile (playbooks, the fallback): never bundled.
      external: ['esbuild', 'tsx', 'tsx/*'],
      plugins: [
        {
          name: 'orch-image',
          setup(b) {
            b.onLoad({ filter: /\.ts$/ }, async (args) => {
              const text = await readFile(args.path, 'utf8')
              // An import() of a variable is left as is by esbuild: at run time it would resolve against
              // the image's file, not the source's. Refused here (the caller falls back to tsx, says why).
              // A line that means it (an absolute URL) says so with `image: absolute`.
              const lines = text.split('\n')
              const at = lines.findIndex((l) => /\bimport\(\s*[^'"`\s]/.test(l) && !l.includes('image: absolute'))
              if (at >= 0) {
                const text = 'import() of a specifier in a variable cannot be bundled: write the path as a string'
                return { errors: [{ text, location: { file: args.path, line: at + 1, column: 0, lineText: lines[at] } }] }
              }
              return { contents: rewriteSource(text, args.path), loader: 'ts' }
            })
            // Native addons (ssh2's optional crypto binding) stay files, required by absolute path.
            b.onResolve({ filter: /\.node$/ }, (args) => ({ path: resolve(args.resolveDir, args.path), external: true }))
          },
        },
      ],
    })
    try {
      renameSync(tmp, dir)
    } catch (e) {
      // Another process put the same image in place first: use that one.
      statSync(join(dir, 'orch.cjs'))
      rmSync(tmp, { recursive: true, force: true })
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true })
    throw e
  }
}

/** Removes images (and leftover temp dirs) nobody started from for a while. */
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
/** The code cache's name: one per command (a run compiles other functions than --version does). */
const codeCacheName = (argv) => {
  const cmd = argv.slice(2).find((a) => !a.startsWith('-'))
  return `code-${cmd && /^[a-z][a-z-]{0,19}$/.test(cmd) ? cmd : 'other'}.bin`
}

export class Image {
  constructor(root, dir, esbuild) {
    this.root = root
    // esbuild resolves imports to real paths: compare with src/'s real path.
    try {
      this.src = realpathSync(join(root, 'src'))
    } catch {
      this.src = join(root, 'src')
    }
    this.dir = dir
    this.file = join(dir, 'orch.cjs')
    this.esbuild = esbuild
    this.exports = null
  }

  /**
   * Runs the image once (later calls return the same table). With `sourceMaps` (orch -v) it is
   * `require`d, so stack traces name the .ts files; else it goes through vm.Script with the code cache.
   */
  load({ sourceMaps = false, argv = process.argv } = {}) {
    if (this.exports) return this.exports
    const req = createRequire(this.file)
    if (sourceMaps) {
      process.setSourceMapsEnabled(true)
      this.exports = req(this.file)
    } else {
      // <name>.bin was written at the exit of a run that succeeded (exit 0) and went the whole way: it
      // holds what such a run compiles. <name>.partial.bin by one that stopped early (a limit that matched
      // nothing, a bad playbook) or did not go the whole way (WHOLE_RUN_KEY): used until a whole run
      // replaces it.
      const full = join(this.dir, codeCacheName(argv))
      const partial = full.replace(/\.bin$/, '.partial.bin')
      let cachedData
      let complete = false
      try {
        cachedData = readFileSync(full)
        complete = true
      } catch {
        try {
          cachedData = readFileSync(partial)
        } catch {}
      }
      const script = new Script(`(function (exports, require, module, __filename, __dirname) { ${readFileSync(this.file, 'latin1')}\n})`, {
        filename: this.file,
        cachedData,
        importModuleDynamically: vmConstants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
      })
      const module = { exports: {}, filename: this.file, id: this.file, loaded: false }
      script.runInThisContext().call(module.exports, module.exports, req, module, this.file, this.dir)
      module.loaded = true
      this.exports = module.exports
      // At exit the script's cache holds every function this process compiled (~7 ms to make, ~1 MB). The
      // complete cache is kept from then on: it must come from a run that went the whole way (WHOLE_RUN_KEY).
      const fresh = !cachedData || script.cachedDataRejected
      if (!complete || fresh) {
        process.once('exit', (code) => {
          const whole = code === 0 && globalThis[Symbol.for(WHOLE_RUN_KEY)] !== false
          if (!whole && !fresh) return
          const to = whole ? full : partial
          const tmp = `${to}.${process.pid}.tmp`
          try {
            writeFileSync(tmp, script.createCachedData())
            renameSync(tmp, to)
            if (whole) rmSync(partial, { force: true })
          } catch {
            rmSync(tmp, { force: true })
          }
        })
      }
    }
    globalThis[Symbol.for(IMAGE_KEY)] = this.exports
    return this.exports
  }

  /** A module of the image by its path in the checkout ('src/cli/main.ts'). */
  get(rel) {
    return this.load().get(rel)
  }

  /** The image's name of an absolute path inside src/ (a module it holds), else null. */
  moduleOf(abs) {
    if (!abs.startsWith(this.src + sep)) return null
    const rel = relative(this.src, abs)
    return inImage(rel) ? 'src/' + rel.split(sep).join('/') : null
  }

  /** Imports a playbook (absolute path): its cached bundle, compiled first if it or a library changed. */
  async importPlaybook(abs) {
    this.load()
    const dir = join(this.dir, 'playbooks')
    const base = join(dir, sha(abs).slice(0, 20))
    if (!this.fresh(base + '.json')) await this.compilePlaybook(abs, dir, base)
    // The playbook's own map: its errors name its lines.
    process.setSourceMapsEnabled(true)
    return await import(pathToFileURL(base + '.mjs').href)
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

  /** A module of the playbook's bundle that re-exports one of the image's modules, by name. */
  reexport(rel) {
    const ns = this.get(rel)
    const names = Object.keys(ns).filter((n) => n !== 'default' && /^[A-Za-z_$][\w$]*$/.test(n))
    return [
      `const m = globalThis[Symbol.for(${JSON.stringify(IMAGE_KEY)})].get(${JSON.stringify(rel)})`,
      ...names.map((n) => `export const ${n} = m.${n}`),
      ...('default' in ns ? ['export default m.default'] : []),
      '',
    ].join('\n')
  }

  async compilePlaybook(abs, dir, base) {
    const { build } = await import(this.esbuild.url)
    const cwd = dirname(abs)
    const SKIP = {}
    const image = this
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
                // Named 'orch' so that an import src/ does not export reads `No matching export in "orch"`.
                if (args.path === 'orch') return { path: 'orch', namespace: 'orch' }
                if (isBuiltin(args.path)) return undefined
                const res = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: SKIP })
                if (res.errors.length || res.external || !res.path) return undefined
                const inSrc = image.moduleOf(res.path)
                if (inSrc) return { path: inSrc, namespace: 'orch' }
                if (TS.test(res.path)) return { path: res.path }
                // A package (bare or #import specifier): node loads it, from where esbuild found it.
                if (!/^(\.|\/|file:)/.test(args.path)) return { path: pathToFileURL(res.path).href, external: true }
                return { path: res.path }
              })
              b.onLoad({ filter: /.*/, namespace: 'orch' }, (args) => ({
                contents: image.reexport(args.path === 'orch' ? 'src/index.ts' : args.path),
                loader: 'js',
              }))
              b.onLoad({ filter: /\.[mc]?[jt]sx?$/ }, async (args) => {
                if (args.path.includes(`${sep}node_modules${sep}`)) return undefined
                const st = statSync(args.path)
                seen.set(args.path, [args.path, st.mtimeMs, st.size])
                const text = await readFile(args.path, 'utf8')
                return { contents: rewriteSource(text, args.path), loader: loaderOf(args.path) }
              })
            },
          },
        ],
      })
    } catch (e) {
      for (const x of e?.errors ?? []) {
        // Syntax and resolve errors: make their locations absolute (the loader names file and line).
        if (x.location?.file) x.location.file = resolve(cwd, x.location.file)
        // "No matching export in "orch:src/net/ip.ts"": the module's name as the playbook wrote it.
        if (typeof x.text === 'string') x.text = x.text.replace(/"orch:([^"]+)"/g, '"$1"')
      }
      throw e
    }
    const inputs = Object.keys(r.metafile.inputs)
      .filter((p) => !p.startsWith('orch:'))
      .map((p) => {
        const full = resolve(cwd, p)
        if (seen.has(full)) return seen.get(full)
        const st = statSync(full)
        return [full, st.mtimeMs, st.size]
      })
    const manifest = { playbook: abs, inputs }
    mkdirSync(dir, { recursive: true })
    const tmp = `${base}.${process.pid}.tmp`
    writeFileSync(tmp, r.outputFiles[0].contents)
    renameSync(tmp, base + '.mjs')
    writeFileSync(tmp, JSON.stringify(manifest))
    renameSync(tmp, base + '.json')
    return manifest
  }
}
