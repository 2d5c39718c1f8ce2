#!/usr/bin/env node
// What a fresh clone needs before its first command (npm test, npm run bench, test:boot, test:vagrant,
// orch wizard): the npm packages (npm ci, when node_modules is missing), with --debian the Debian
// packages of scripts/apt-packages.txt (scripts/install-deps.sh, as root), with --apt PKG a Debian package
// for one command (vagrant). Plain JavaScript: it runs before any package is there. Progress on stderr.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const say = (s) => process.stderr.write(`bootstrap: ${s}\n`)
// Children write to stderr too: `orch ... --json` keeps stdout for its document.
const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: ['inherit', 2, 2] }).status
const isRoot = process.getuid?.() === 0
const onPath = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0

/** npm ci when node_modules was never installed (tsx: what bin/orch.js and the scripts need first, as bin/demo.js checks). */
export function ensureNpm() {
  if (existsSync(join(root, 'node_modules', 'tsx', 'package.json'))) return
  say('node_modules is missing: installing the npm packages (npm ci)')
  if (run('npm', ['ci', '--no-audit', '--no-fund']) !== 0) throw new Error('npm ci failed (see above)')
}

export function ensureDebian() {
  if (!isRoot) return say('not root: Debian packages not checked (lab suites are reported as skipped without root)')
  if (run(join(root, 'scripts', 'install-deps.sh'), []) !== 0) throw new Error('scripts/install-deps.sh failed (see above)')
}

export function ensureApt(pkg, command = pkg) {
  if (onPath(command)) return
  if (!isRoot) throw new Error(`${command} is not installed and this is not root: apt-get install ${pkg} (Debian 12 has it)`)
  say(`${command} is missing: apt-get install ${pkg}`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const apt = (args) => spawnSync('apt-get', args, { stdio: ['ignore', 2, 2], env }).status
  if (apt(['update', '-qq']) !== 0 || apt(['install', '-y', '-qq', '--no-install-recommends', pkg]) !== 0) throw new Error(`apt-get install ${pkg} failed (see above)`)
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2)
  try {
    ensureNpm()
    if (args.includes('--debian')) ensureDebian()
    for (let i = 0; i < args.length; i++) if (args[i] === '--apt') ensureApt(args[++i])
  } catch (e) {
    say(e.message)
    process.exit(1)
  }
}
