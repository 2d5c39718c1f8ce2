#!/usr/bin/env node
// orch: run TypeScript playbooks with no build step.
//
// Fast path (bin/compile.js): src/ and its packages bundled once by esbuild into one cached CommonJS
// image, run with V8's code cache; a playbook is bundled into the cache too, its imports of 'orch' and of
// src/ re-exporting the image's modules, so the playbook and the CLI share one engine instance.
//
// Fallback (ORCH_NO_COMPILE=1, or no esbuild, or the cache cannot be written): tsx compiles .ts on import;
// a resolve hook maps `import ... from 'orch'` to this checkout's src/index.ts (one module graph: `instanceof`
// and task() work across the boundary).
import { existsSync } from 'node:fs'
import { prepareImage } from './compile.js'

// A fresh clone's first `orch` (the wizard, say): install the npm packages first, as `npm run demo` does
// (only in a git checkout: an installed orch gets its packages from npm, perhaps hoisted elsewhere).
if (!existsSync(new URL('../node_modules/tsx/package.json', import.meta.url)) && existsSync(new URL('../.git', import.meta.url))) {
  const { ensureNpm } = await import('./bootstrap.js')
  try {
    ensureNpm()
  } catch (e) {
    process.stderr.write(`orch: ${e.message}\n`)
    process.exit(1)
  }
}

let image = null
if (process.env.ORCH_NO_COMPILE !== '1') {
  try {
    image = await prepareImage()
    // Stack traces through src/ name the .ts files when they can be printed (-v): the image is then loaded
    // with its source map (and without the code cache); otherwise maps are turned on just before the
    // playbook loads (its errors name its lines).
    image.load({ sourceMaps: process.argv.some((a) => /^-v+$|^--verbose$/.test(a)) })
  } catch (e) {
    image = null
    if (process.env.ORCH_DEBUG_COMPILE) process.stderr.write(`orch: no compile cache (${e?.message ?? e}); loading src/ through tsx\n`)
  }
}

let main
if (image) {
  image.get('src/engine/loader.ts').setPlaybookImporter((abs) => image.importPlaybook(abs))
  ;({ main } = image.get('src/cli/main.ts'))
} else {
  const { register: registerHooks } = await import('node:module')
  const { register: registerTsx } = await import('tsx/esm/api')
  const index = new URL('../src/index.ts', import.meta.url).href
  // A playbook outside any "type": "module" package would be read as CommonJS: playbooks are ES modules.
  const hooks = `
export async function resolve(specifier, context, next) {
  if (specifier === 'orch') return next(${JSON.stringify(index)}, context)
  const r = await next(specifier, context)
  if (r.url.startsWith('file:') && /\\.ts$/.test(r.url.split('?')[0]) && !r.url.includes('/node_modules/') && r.format !== 'module') {
    return { ...r, format: 'module' }
  }
  return r
}`
  registerTsx()
  registerHooks('data:text/javascript,' + encodeURIComponent(hooks))
  ;({ main } = await import('../src/cli/main.ts'))
}

const code = await main(process.argv)
process.exitCode = code
// Don't wait for stray handles (a dying SSH socket): flush stdout/stderr, then go.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))
