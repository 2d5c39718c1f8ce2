#!/usr/bin/env node
// orch: run TypeScript playbooks with no build step. tsx compiles .ts on import; a resolve hook maps
// `import ... from 'orch'` to this checkout's src/index.ts, so playbooks anywhere use the same engine
// instance as the CLI (one module graph: `instanceof` and task() work across the boundary).
import { register as registerHooks } from 'node:module'
import { register as registerTsx } from 'tsx/esm/api'

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

const { main } = await import('../src/cli/main.ts')
const code = await main(process.argv)
process.exitCode = code
// Don't wait for stray handles (a dying SSH socket): flush stdout/stderr, then go.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))
