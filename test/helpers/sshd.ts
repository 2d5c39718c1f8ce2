/**
 * Throwaway OpenSSH servers for the transport tests.
 *
 * Every server listens on 127.0.0.1 only, on a free high port, with its own host keys, its own
 * config and its own authorized_keys files in a temp dir. It runs as a child (`sshd -D -e`) and is
 * killed by PID. Nothing here reads or writes the machine's sshd config, /root/.ssh or other
 * processes.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, chmodSync, existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Last-resort cleanup if the test process exits without running afterAll (crash, Ctrl-C). */
const children = new Set<ChildProcess>()
const dirs = new Set<string>()
const users = new Set<TestUser>()
process.once('exit', () => {
  for (const u of users) u.remove()
  for (const c of children) {
    if (c.pid && c.exitCode === null && c.signalCode === null) {
      try {
        process.kill(c.pid, 'SIGKILL')
      } catch {
        /* gone */
      }
    }
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

export function sh(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`)
  return r.stdout
}

/** A temp dir that tests can write into; world-traversable so that a non-root sshd user can read keys in it. */
export function tempDir(prefix = 'orch-transport-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix))
  chmodSync(d, 0o755)
  dirs.add(d)
  return d
}

export async function freePort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = 20000 + Math.floor(Math.random() * 40000)
    const ok = await new Promise<boolean>((resolve) => {
      const s = createServer()
      s.once('error', () => resolve(false))
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
    })
    if (ok) return port
  }
  throw new Error('no free port found')
}

export interface KeyPair {
  privateKeyFile: string
  publicKeyFile: string
  publicKey: string
}

/** ssh-keygen a key pair into dir. */
export function keygen(dir: string, name: string, opts: { type?: string; passphrase?: string } = {}): KeyPair {
  const file = join(dir, name)
  sh('ssh-keygen', ['-q', '-t', opts.type ?? 'ed25519', '-N', opts.passphrase ?? '', '-C', `orch-test-${name}`, '-f', file])
  return { privateKeyFile: file, publicKeyFile: `${file}.pub`, publicKey: readFileSync(`${file}.pub`, 'utf8').trim() }
}

export interface SshdOptions {
  /** Extra sshd_config lines. */
  extraConfig?: string[]
  /** Host key types to generate. */
  hostKeyTypes?: string[]
  /** Leave out the sftp subsystem. */
  noSftp?: boolean
}

export class TestSshd {
  readonly dir: string
  port = 0
  proc: ChildProcess | null = null
  log = ''
  readonly hostKeys: Record<string, KeyPair> = {}

  constructor(private readonly opts: SshdOptions = {}) {
    this.dir = tempDir('orch-sshd-')
    for (const t of opts.hostKeyTypes ?? ['ed25519']) {
      this.hostKeys[t] = keygen(this.dir, `ssh_host_${t}_key`, { type: t })
      chmodSync(this.hostKeys[t].privateKeyFile, 0o600)
    }
  }

  /** authorized_keys for one user (AuthorizedKeysFile points here for every user via %u). */
  authorize(user: string, ...publicKeys: string[]): void {
    const f = join(this.dir, `authorized_keys_${user}`)
    const prev = existsSync(f) ? readFileSync(f, 'utf8') : ''
    writeFileSync(f, prev + publicKeys.map((k) => k.trim() + '\n').join(''))
    chmodSync(f, 0o644)
  }

  /** Host key line as ssh-keyscan would print it, for known_hosts files. */
  knownHostsLine(type = 'ed25519', hostPattern?: string): string {
    const [kt, b64] = this.hostKeys[type].publicKey.split(' ')
    return `${hostPattern ?? `[127.0.0.1]:${this.port}`} ${kt} ${b64}`
  }

  async start(): Promise<void> {
    if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 })
    this.port = await freePort()
    const cfg = join(this.dir, 'sshd_config')
    writeFileSync(
      cfg,
      [
        // sshd keeps the first value of a keyword: extra lines come first so that they win.
        ...(this.opts.extraConfig ?? []),
        // Logins here are this machine's real root, whose ~/.bashrc (sourced by Debian's bash for
        // `bash -c` from sshd) runs `pyenv init`: its rehash lock queued 24 logins at once past the 10 s
        // shell timeout. bash skips that rc file when SHLVL says it is nested: tests see a clean login.
        'SetEnv SHLVL=1',
        `Port ${this.port}`,
        'ListenAddress 127.0.0.1',
        ...Object.values(this.hostKeys).map((k) => `HostKey ${k.privateKeyFile}`),
        'PidFile none',
        'UsePAM no',
        'UseDNS no',
        'StrictModes no',
        `AuthorizedKeysFile ${join(this.dir, 'authorized_keys_%u')}`,
        'PermitRootLogin yes',
        'PubkeyAuthentication yes',
        'PasswordAuthentication yes',
        'KbdInteractiveAuthentication no',
        'AllowTcpForwarding yes',
        ...(this.opts.noSftp ? [] : ['Subsystem sftp internal-sftp']),
        'LogLevel VERBOSE',
        '',
      ].join('\n'),
    )
    sh('/usr/sbin/sshd', ['-t', '-f', cfg])
    const proc = spawn('/usr/sbin/sshd', ['-f', cfg, '-D', '-e'], { stdio: ['ignore', 'ignore', 'pipe'] })
    this.proc = proc
    children.add(proc)
    proc.once('exit', () => children.delete(proc))
    proc.stderr!.on('data', (d: Buffer) => {
      this.log += d.toString()
    })
    const deadline = Date.now() + 10_000
    while (!this.log.includes('Server listening')) {
      if (proc.exitCode !== null) throw new Error(`sshd exited: ${this.log}`)
      if (Date.now() > deadline) throw new Error(`sshd did not start: ${this.log}`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  /** Number of sessions sshd opened (from its VERBOSE log). */
  acceptedCount(): number {
    return (this.log.match(/Accepted (publickey|password|keyboard-interactive)/g) ?? []).length
  }

  async stop(): Promise<void> {
    const p = this.proc
    this.proc = null
    if (p && p.exitCode === null && p.pid) {
      const exited = new Promise((r) => p.once('exit', r))
      try {
        process.kill(p.pid, 'SIGTERM')
      } catch {
        /* already gone */
      }
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))])
      if (p.exitCode === null && p.signalCode === null) {
        try {
          process.kill(p.pid, 'SIGKILL')
        } catch {
          /* already gone */
        }
      }
    }
  }

  async destroy(): Promise<void> {
    await this.stop()
    rmSync(this.dir, { recursive: true, force: true })
    dirs.delete(this.dir)
  }
}

/** A throwaway local user for become tests, removed by remove(). */
export class TestUser {
  created = false
  constructor(
    readonly name: string,
    readonly password: string,
    readonly sudoers: string | null,
  ) {}

  create(): void {
    users.add(this)
    const exists = spawnSync('id', ['-u', this.name]).status === 0
    if (!exists) {
      sh('useradd', ['-m', '-s', '/bin/sh', this.name])
      this.created = true
    }
    // An account with a locked password cannot log in with UsePAM no; give it a password.
    sh('chpasswd', [], `${this.name}:${this.password}\n`)
    if (this.sudoers !== null) {
      const f = `/etc/sudoers.d/${this.name}`
      writeFileSync(f, this.sudoers + '\n', { mode: 0o440 })
      sh('visudo', ['-c', '-f', f])
    }
  }

  remove(): void {
    users.delete(this)
    rmSync(`/etc/sudoers.d/${this.name}`, { force: true })
    if (this.created) {
      spawnSync('pkill', ['-KILL', '-u', this.name])
      spawnSync('userdel', ['-r', '-f', this.name])
      this.created = false
    }
  }
}

/** ssh-agent as a child process; kill() by PID. */
export class TestAgent {
  proc: ChildProcess | null = null
  readonly socket: string
  constructor(readonly dir: string) {
    this.socket = join(dir, 'agent.sock')
  }
  async start(): Promise<void> {
    const proc = spawn('ssh-agent', ['-D', '-a', this.socket], { stdio: ['ignore', 'ignore', 'ignore'] })
    this.proc = proc
    children.add(proc)
    proc.once('exit', () => children.delete(proc))
    const deadline = Date.now() + 5000
    while (!existsSync(this.socket)) {
      if (Date.now() > deadline) throw new Error('ssh-agent did not start')
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  add(keyFile: string): void {
    const r = spawnSync('ssh-add', [keyFile], { env: { ...process.env, SSH_AUTH_SOCK: this.socket }, encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`ssh-add failed: ${r.stderr}`)
  }
  kill(): void {
    const p = this.proc
    this.proc = null
    if (p?.pid && p.exitCode === null) {
      try {
        process.kill(p.pid, 'SIGTERM')
      } catch {
        /* gone */
      }
    }
  }
}

/** Kill a process and all its descendants, by PID (for the remote shells of a killed sshd session). */
export function killTree(pid: number): void {
  const kids = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => n > 0)
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    /* gone */
  }
  for (const k of kids) killTree(k)
}
