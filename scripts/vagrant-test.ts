/**
 * `npm run test:vagrant [-- vitest options]`: the cross-host acceptance suite on Vagrant machines
 * (test/vagrant/cross-host.vagrant.ts, which runs `vagrant up`, the suite and `vagrant destroy -f`).
 *
 *   ORCH_VAGRANT_PROVIDER=docker (default)   here: the machines are privileged containers of a lab
 *       host's dockerd. This script builds the image's Debian rootfs (debootstrap, cached), brings up a
 *       one-host lab with dockerd, makes runc-bounded that dockerd's runtime, builds the image there,
 *       and runs the suite *inside* that lab host (vagrant, ssh and orch all run there: the machines'
 *       networks exist only in its network namespace). The lab comes down at the end, whatever
 *       happened (also on Ctrl-C), taking every machine with it. Nothing runs in this machine's own
 *       network namespace but debootstrap's downloads from the Debian mirror.
 *   ORCH_VAGRANT_PROVIDER=virtualbox|libvirt, or docker with ORCH_VAGRANT_LAB=0 (a laptop's own
 *       dockerd): the suite runs right here.
 *
 * docs/vagrant.md has the details.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { accessSync, constants, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { labUnavailableReason, up, type Lab } from '../src/lab/index.ts'
import { sh } from '../src/net/shell.ts'

const repoRoot = resolve(fileURLToPath(new URL('..', import.meta.url)))
const provider = process.env.ORCH_VAGRANT_PROVIDER ?? 'docker'
const inLab = provider === 'docker' && process.env.ORCH_VAGRANT_LAB !== '0'
const vitest = [process.execPath, join(repoRoot, 'node_modules/vitest/vitest.mjs'), 'run', '--config', join(repoRoot, 'test/vagrant/vitest.config.ts'), ...process.argv.slice(2)]

function say(msg: string): void {
  console.log(`test:vagrant: ${msg}`)
}

/** Run argv with inherited stdio; resolves with its exit code. Ctrl-C reaches it (same process group). */
function runInherit(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((res) => {
    const child = spawn(argv[0], argv.slice(1), { cwd: repoRoot, env, stdio: 'inherit' })
    child.on('error', (e) => (console.error(`test:vagrant: ${argv[0]}: ${e.message}`), res(127)))
    child.on('close', (code, signal) => res(code ?? (signal ? 128 + 2 : 1)))
  })
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => {
    try {
      accessSync(join(d, cmd), constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

/** The PID (root namespace) of a lab host's init, as src/lab does: the unshare process's child. */
function initPid(lab: Lab): number {
  const h = lab.hosts[0]
  const kids = readFileSync(`/proc/${h.pid}/task/${h.pid}/children`, 'utf8').trim().split(/\s+/)
  if (!kids[0]) throw new Error(`lab host ${h.name} has no init`)
  return Number(kids[0])
}

async function inLabHost(): Promise<number> {
  const why = await labUnavailableReason()
  if (why) throw new Error(`the docker provider runs in a lab host here, and the lab cannot run: ${why}`)
  say('image rootfs (debootstrap bookworm once, then cached in vagrant/.cache)')
  const rootfs = await runInherit([join(repoRoot, 'scripts/vagrant-image.sh'), 'rootfs'], process.env)
  if (rootfs !== 0) throw new Error('scripts/vagrant-image.sh rootfs failed')

  const prefix = 'vg' + BigInt('0x' + randomBytes(5).toString('hex')).toString(36).slice(0, 6)
  let lab: Lab | undefined
  let interrupted = false
  const stop = (sig: NodeJS.Signals) => {
    // End everything in the lab host at once (the suite, vagrant, the machines: SIGKILL of its init ends
    // its pid namespace), also when the signal came to this process alone; the lab comes down in `finally`.
    interrupted = true
    say(`${sig}: stopping; the lab ${prefix} comes down next`)
    try {
      if (lab) process.kill(initPid(lab), 'SIGKILL')
    } catch {
      /* not started or already gone */
    }
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  try {
    say(`lab ${prefix}: one host with dockerd (the Vagrant host)`)
    lab = await up({ hosts: 1, docker: true, prefix })
    const host = lab.hosts[0]
    const daemon = JSON.stringify({ runtimes: { 'runc-bounded': { path: join(repoRoot, 'vagrant/lab/runc-bounded') } }, 'default-runtime': 'runc-bounded' })
    const cfg = await lab.exec(host, 'mkdir -p /etc/docker && cat > /etc/docker/daemon.json && systemctl restart docker', daemon + '\n')
    if (cfg.code !== 0) throw new Error(`configuring the lab host's dockerd failed: ${cfg.stderr.trim()}`)
    say('image orch/vagrant-debian:12 in the lab host\'s dockerd')
    const img = await lab.exec(host, sh`cd ${repoRoot} && scripts/vagrant-image.sh build`)
    if (img.code !== 0) throw new Error(`scripts/vagrant-image.sh build failed: ${img.stderr.trim()}`)
    if (interrupted) return 130
    const env = {
      ...process.env,
      HOME: '/root',
      ORCH_VAGRANT_PROVIDER: 'docker',
      // Vagrant's state in the lab host's own /tmp: it goes with the lab.
      VAGRANT_DOTFILE_PATH: '/tmp/orch-vagrant-dotfile',
    }
    say(`suite inside lab host ${host.name} (${host.ns})`)
    // --wd: a working directory opened before entering the mount namespace would not resolve inside it.
    return await runInherit(['nsenter', '-t', String(initPid(lab)), '--net', '--mount', '--uts', '--pid', `--wd=${repoRoot}`, '--', ...vitest], env)
  } finally {
    if (lab) {
      say(`lab ${prefix} down`)
      await lab.down()
    }
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
}

async function main(): Promise<number> {
  if (!onPath('vagrant')) throw new Error('vagrant is not installed (Debian: apt-get install vagrant); see docs/vagrant.md')
  if (inLab) return inLabHost()
  say(`provider ${provider}, here`)
  return runInherit(vitest, process.env)
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`test:vagrant: ${(e as Error).message}`)
    process.exit(1)
  },
)
