/**
 * ssh command-line arguments (ansible_ssh_args / _common_args / _extra_args, --ssh-common-args,
 * --ssh-extra-args) mapped to what orch's ssh2 transport honours. Ansible hands them to the ssh binary;
 * orch has no ssh binary in the path, so each option is honoured (becomes a command-line config option,
 * first value wins as in ssh), ignored because it changes nothing for orch (said why in IGNORED), or
 * refused with what to use instead. ssh(1) of OpenSSH 9.2 is the reference for the flags.
 */
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { argvSplit } from './sshconfig.ts'
import { KEYWORDS } from './sshkeywords.ts'

export class SshArgsError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SshArgsError'
  }
}

/** Split a command line like a POSIX shell would (quotes and backslashes), no expansion. */
export function shellSplit(s: string): string[] {
  const out: string[] = []
  let cur = ''
  let inWord = false
  let i = 0
  while (i < s.length) {
    const c = s[i]
    if (c === "'") {
      const j = s.indexOf("'", i + 1)
      if (j < 0) throw new SshArgsError(`unterminated ' in ssh args: ${s}`)
      cur += s.slice(i + 1, j)
      inWord = true
      i = j + 1
    } else if (c === '"') {
      i++
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length && '"\\$`\n'.includes(s[i + 1])) i++
        cur += s[i++]
      }
      if (i >= s.length) throw new SshArgsError(`unterminated " in ssh args: ${s}`)
      i++
      inWord = true
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[i + 1]
      inWord = true
      i += 2
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur)
      cur = ''
      inWord = false
      i++
    } else {
      cur += c
      inWord = true
      i++
    }
  }
  if (inWord) out.push(cur)
  return out
}

export interface SshArgs {
  /** Config options given on the command line, in order (first wins, before any file). */
  cmdline: Array<[string, string[]]>
  /** -F */
  configFile?: string
  /** -4 / -6 */
  family?: 4 | 6
}

/** -o keywords that change nothing for orch's one-connection-per-host ssh2 client. */
export const IGNORED: Record<string, string> = {
  controlmaster: 'orch keeps one connection per host for the whole run',
  controlpersist: 'orch keeps one connection per host for the whole run',
  controlpath: 'orch keeps one connection per host for the whole run',
  compression: 'not used by orch',
  loglevel: 'orch -v shows what it does',
  batchmode: 'orch never prompts during a connection',
  tcpkeepalive: 'ServerAliveInterval keeps orch connections alive',
  addkeystoagent: 'orch does not add keys to the agent',
  checkhostip: 'orch checks the host key by name (HostKeyAlias)',
  visualhostkey: 'not used by orch',
  updatehostkeys: 'orch does not rotate known_hosts entries',
  numberofpasswordprompts: 'a password is asked once (-k)',
  preferredauthentications: 'orch tries the key / agent first, then the password given',
  passwordauthentication: 'orch uses a password only when one is given (ansible_password, -k)',
  kbdinteractiveauthentication: 'orch uses a password only when one is given (ansible_password, -k)',
  pubkeyauthentication: 'orch uses the keys and agent it is given',
  gssapiauthentication: 'orch has no GSSAPI authentication',
  gssapidelegatecredentials: 'orch has no GSSAPI authentication',
  sendenv: 'orch sends no environment variables',
  requesttty: 'orch runs commands without a terminal',
  exitonforwardfailure: 'orch makes no forwards',
  clearallforwardings: 'orch makes no forwards',
  escapechar: 'no interactive session',
  ipqos: 'not used by orch',
  serveralivecountmax: '',
  stdinnull: 'no interactive session',
  forwardagent: '', // "no" only; "yes" is refused below
  forwardx11: '',
  permitlocalcommand: '',
}

/** -o keywords orch refuses, with what to use instead. */
const REFUSED: Record<string, string> = {
  localforward: 'orch makes no port forwards; use ProxyJump to reach hosts behind a bastion',
  remoteforward: 'orch makes no port forwards',
  dynamicforward: 'orch makes no port forwards; use ProxyJump',
  localcommand: 'orch runs no local command after connecting',
  remotecommand: 'orch runs its own commands; put yours in a command() task',
  tunnel: 'orch makes no tun/tap tunnels',
  tunneldevice: 'orch makes no tun/tap tunnels',
  setenv: 'orch sends no environment variables; set them in the task (e.g. env in command())',
  ciphers: "orch uses ssh2's algorithm defaults (all OpenSSH 9.2 defaults are among them); remove the option",
  macs: "orch uses ssh2's algorithm defaults; remove the option",
  kexalgorithms: "orch uses ssh2's algorithm defaults; remove the option",
  hostkeyalgorithms: "orch uses ssh2's algorithm defaults (ssh-rsa included); remove the option",
  pubkeyacceptedalgorithms: "orch uses ssh2's algorithm defaults; remove the option",
  pkcs11provider: 'orch cannot use PKCS#11 keys; load the key into ssh-agent (ssh-add -s) and orch uses the agent',
  securitykeyprovider: 'orch cannot use FIDO keys',
  certificatefile: 'orch does not present certificates; use a plain key',
  proxyusefdpass: 'orch reads ProxyCommand output from a pipe',
  canonicalizehostname: 'orch does no DNS search; give the full name (HostName) instead',
  knownhostscommand: 'orch reads known_hosts files only (UserKnownHostsFile)',
  bindinterface: 'use BindAddress (-b) with the interface address',
}

/** Flags without a value that are harmless for orch. */
const HARMLESS_FLAGS = new Set(['-C', '-q', '-v', '-T', '-t', '-n', '-N', '-x', '-a', '-k', '-y', '-g', '-M', '-f', '-G', '-V', '-1', '-2', '-s'])
const REFUSED_FLAGS: Record<string, string> = {
  '-A': 'agent forwarding: orch does not forward the agent (the tasks run on the target alone)',
  '-X': 'X11 forwarding is not for orch',
  '-Y': 'X11 forwarding is not for orch',
  '-K': 'GSSAPI is not supported by orch',
  '-L': 'orch makes no port forwards; use ProxyJump (-J) to reach hosts behind a bastion',
  '-R': 'orch makes no port forwards',
  '-D': 'orch makes no port forwards; use ProxyJump (-J)',
  '-W': 'stdio forwarding: use ProxyJump (-J) on the host that would run it',
  '-w': 'orch makes no tun/tap tunnels',
  '-O': 'orch runs no ControlMaster',
  '-c': "orch uses ssh2's cipher defaults; remove -c",
  '-m': "orch uses ssh2's MAC defaults; remove -m",
  '-I': 'orch cannot use PKCS#11 keys; load the key into ssh-agent',
  '-Q': 'not a connection option',
  '-B': 'use -b with the interface address',
}
const IGNORED_WITH_VALUE = new Set(['-E', '-e', '-S'])
const WITH_VALUE = new Set(['-b', '-c', '-D', '-E', '-e', '-F', '-I', '-i', '-J', '-L', '-l', '-m', '-O', '-o', '-p', '-Q', '-R', '-S', '-W', '-w', '-B'])

/** One `-o` value: `Key=Value`, `Key Value`, `Key = Value`. */
function optionWords(v: string): [string, string] {
  const m = /^\s*([A-Za-z0-9]+)\s*(?:=\s*|\s+)(.*)$/s.exec(v)
  if (!m || m[2].trim() === '') throw new SshArgsError(`-o ${JSON.stringify(v)}: expected -o Keyword=value`)
  return [m[1].toLowerCase(), m[2].trim()]
}

/** Maps ssh arguments; throws SshArgsError naming the option and what to use instead. */
export function mapSshArgs(args: string | string[] | undefined): SshArgs {
  const words = args === undefined ? [] : Array.isArray(args) ? args : shellSplit(args)
  const out: SshArgs = { cmdline: [] }
  const add = (k: string, v: string[]) => out.cmdline.push([k, v])
  for (let i = 0; i < words.length; i++) {
    const w = words[i]
    if (!w.startsWith('-') || w === '-') throw new SshArgsError(`${JSON.stringify(w)}: ssh arguments here are options only (no host or command)`)
    // Bundled flags: -Cq, -vvv, -tt.
    let j = 1
    while (j < w.length) {
      const f = `-${w[j]}`
      if (WITH_VALUE.has(f)) {
        const val = j + 1 < w.length ? w.slice(j + 1) : words[++i]
        if (val === undefined) throw new SshArgsError(`${f} needs a value`)
        mapValueFlag(f, val, out, add)
        break
      }
      if (f === '-4' || f === '-6') out.family = f === '-4' ? 4 : 6
      else if (REFUSED_FLAGS[f]) throw new SshArgsError(`${f}: ${REFUSED_FLAGS[f]}`)
      else if (!HARMLESS_FLAGS.has(f)) throw new SshArgsError(`${f}: not an ssh option orch knows`)
      j++
    }
  }
  return out
}

function mapValueFlag(f: string, val: string, out: SshArgs, add: (k: string, v: string[]) => void): void {
  switch (f) {
    case '-o': {
      const [k, v] = optionWords(val)
      if (!KEYWORDS.has(k) || k === 'host' || k === 'match') throw new SshArgsError(`-o ${val}: Bad configuration option: ${k}`)
      if (k === 'include') throw new SshArgsError(`-o ${val}: Include is not allowed on the command line (ssh refuses it too)`)
      if (REFUSED[k]) {
        if (k === 'canonicalizehostname' && /^no$/i.test(v)) return
        throw new SshArgsError(`-o ${val}: ${REFUSED[k]}`)
      }
      if ((k === 'forwardagent' || k === 'forwardx11' || k === 'permitlocalcommand') && !/^no$/i.test(v))
        throw new SshArgsError(`-o ${val}: ${k === 'forwardagent' ? 'orch does not forward the agent' : k === 'forwardx11' ? 'X11 forwarding is not for orch' : 'orch runs no local command'}`)
      if (k === 'addressfamily') {
        const fam = v.toLowerCase()
        if (fam === 'inet') out.family ??= 4
        else if (fam === 'inet6') out.family ??= 6
        else if (fam !== 'any') throw new SshArgsError(`-o ${val}: expected AddressFamily any|inet|inet6`)
        return
      }
      if (k in IGNORED) return
      // Raw-command keywords keep the text; the others are split like a config line.
      const split = k === 'proxycommand' ? [v] : argvSplit(v)
      if (!split) throw new SshArgsError(`-o ${val}: invalid quotes`)
      add(k, split)
      return
    }
    case '-l':
      return add('user', [val])
    case '-p':
      return add('port', [val])
    case '-i':
      // ssh: an -i file that is not there is skipped (with a warning), not an error.
      if (!existsSync(val.replace(/^~(?=\/|$)/, homedir()))) return
      return add('identityfile', [val])
    case '-b':
      return add('bindaddress', [val])
    case '-J':
      // ssh: -J also sets ProxyCommand none (so a config ProxyCommand cannot win over it).
      add('proxyjump', [val])
      return add('proxycommand', ['none'])
    case '-F':
      out.configFile ??= val
      return
    default:
      if (IGNORED_WITH_VALUE.has(f)) return
      throw new SshArgsError(`${f} ${val}: ${REFUSED_FLAGS[f] ?? 'not an ssh option orch knows'}`)
  }
}
