#!/usr/bin/env node
// npm run demo [-- STRATEGY ...]: installs what is missing, then runs scripts/demo.ts (a 3-host lab, every
// cross-host strategy in turn, rollback in between, teardown at the end). Plain JavaScript until the npm
// packages are there: it is the first command a fresh clone runs.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const say = (s) => process.stdout.write(`\n==> ${s}\n`)
const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit' }).status

if (process.getuid?.() !== 0) {
  console.error('demo: run it as root (the lab creates network namespaces and runs dockerd and Open vSwitch in them)')
  process.exit(1)
}
if (!existsSync(join(root, 'node_modules', 'tsx'))) {
  say('installing the npm packages (npm ci)')
  if (run('npm', ['ci', '--no-audit', '--no-fund']) !== 0) process.exit(1)
}
say('checking the Debian packages the lab needs (scripts/install-deps.sh installs the missing ones)')
if (run(join(root, 'scripts', 'install-deps.sh'), []) !== 0) {
  console.error('demo: installing the Debian packages failed (see above)')
  process.exit(1)
}

const { register } = await import('tsx/esm/api')
register()
await import('../scripts/demo.ts')
