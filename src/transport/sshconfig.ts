/**
 * ~/.ssh/config read as OpenSSH 9.2's readconf.c reads it (the `ssh -G` oracle in the tests): command-line
 * options first, then the user's file, then the system file; the first value obtained wins; Host patterns
 * against the host as given (case-sensitive), Match host/originalhost (case-insensitive), user, localuser,
 * exec, all, canonical, final (a second pass when asked for); Include inside a block belongs to the block;
 * relative Include from ~/.ssh (user file) or /etc/ssh (system file); values checked even in blocks that
 * do not apply, as ssh does. Written here instead of the npm `ssh-config` package, which matched `Host
 * web?` against `web`, never matched `Match !host`, spliced Includes so that later lines leaked into the
 * included file's last block, and has no second pass (README "Design and libraries").
 */
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { basename, dirname, isAbsolute, join } from 'node:path'
import { KEYWORDS, MULTI_VALUE, RAW_COMMAND, checkValue } from './sshkeywords.ts'
import { expandCommand, tildeExpand, type LocalInfo } from './sshtokens.ts'

export class SshConfigError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SshConfigError'
  }
}

/** Option values as readconf.c keeps them: keyword (lower case) -> arguments; multi-value keywords accumulate. */
export type SshOptions = Map<string, string[]>

export interface ResolveInput {
  /** The host as given (ssh's host argument): Host patterns match it, %n is it. */
  host: string
  /** Command-line options, in order: [keyword, arguments] (from -o, -l, -p, -i, -J, -b). */
  cmdline?: Array<[string, string[]]>
  /** The user's file (-F or ~/.ssh/config); null: none. A missing file is fine. */
  userConfig?: string | null
  /** /etc/ssh/ssh_config (read only without -F, as ssh); null: none. */
  systemConfig?: string | null
  local: LocalInfo
  /** Match exec: true when the command exits 0 (default: /bin/sh -c, as ssh runs it). */
  exec?: (command: string) => boolean
}

export interface ResolvedConfig {
  options: SshOptions
  /** HostName (with %h expanded) or the host, lower case: what ssh connects to. */
  hostname: string
  /** Whether a second (final) pass was made. */
  finalPass: boolean
}

export const DEFAULT_EXEC = (command: string): boolean => {
  const r = spawnSync('/bin/sh', ['-c', command], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 30_000 })
  if (r.error) throw new SshConfigError(`Match exec ${JSON.stringify(command)}: ${r.error.message}`)
  return r.status === 0
}

// ---------------------------------------------------------------------------------------------
// Lexing (argv_split and strdelim of OpenSSH 9.2)

/** A line's keyword and the rest (whitespace or one '=' separates them), or null for blank/comment lines. */
export function splitKeyword(line: string): { keyword: string; rest: string } | null {
  const s = line.replace(/[ \t\r\n\f]+$/, '')
  const m = /^[ \t]*([^ \t=]*)[ \t]*(?:=[ \t]*)?(.*)$/s.exec(s)
  if (!m || m[1] === '' || m[1].startsWith('#')) return null
  return { keyword: m[1].toLowerCase(), rest: m[2] }
}

/** argv_split(s, terminate_on_comment=1): quotes ' and ", backslash before a quote/backslash/space. */
export function argvSplit(s: string): string[] | null {
  const out: string[] = []
  let i = 0
  while (i < s.length) {
    if (s[i] === ' ' || s[i] === '\t') {
      i++
      continue
    }
    if (s[i] === '#') break
    let arg = ''
    let quote = ''
    for (; i < s.length; i++) {
      const c = s[i]
      if (c === '\\') {
        const n = s[i + 1]
        if (n === "'" || n === '"' || n === '\\' || (quote === '' && n === ' ')) arg += s[++i]
        else arg += c
      } else if (quote === '' && (c === ' ' || c === '\t')) break
      else if (quote === '' && (c === '"' || c === "'")) quote = c
      else if (quote !== '' && c === quote) quote = ''
      else arg += c
    }
    if (quote !== '') return null
    out.push(arg)
  }
  return out
}

/** strdelim-style words for Match: whitespace separated, a leading " quotes up to the next ". */
function matchWords(s: string): string[] | null {
  const out: string[] = []
  let i = 0
  while (i < s.length) {
    while (i < s.length && /[ \t=]/.test(s[i])) i++
    if (i >= s.length) break
    if (s[i] === '"') {
      const j = s.indexOf('"', i + 1)
      if (j < 0) return null
      out.push(s.slice(i + 1, j))
      i = j + 1
    } else {
      const m = /^[^ \t=]*/.exec(s.slice(i))![0]
      out.push(m)
      i += m.length
    }
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Patterns (match.c)

/** match_pattern: * and ? globbing, whole string. */
export function matchPattern(s: string, pattern: string): boolean {
  let re = '^'
  for (const c of pattern) re += c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\/]/g, '\\$&')
  return new RegExp(re + '$', 's').test(s)
}

/** match_pattern_list: comma-separated, `!` negates; 1 match, -1 negated match, 0 none. */
export function matchPatternList(s: string, list: string, lower: boolean): number {
  let got = 0
  for (let p of list.split(',')) {
    const neg = p.startsWith('!')
    if (neg) p = p.slice(1)
    if (lower) p = p.toLowerCase()
    if (matchPattern(s, p)) {
      if (neg) return -1
      got = 1
    }
  }
  return got
}

// ---------------------------------------------------------------------------------------------

interface State {
  input: ResolveInput
  options: SshOptions
  /** What Host patterns match (host as given; the host name on the final pass). */
  host: string
  postCanon: boolean
  wantFinal: boolean
  ignoreUnknown?: string
}

function fail(file: string, line: number, msg: string): never {
  throw new SshConfigError(`${file} line ${line}: ${msg}`)
}

/** Match host's %h: HostName with %h expanded, else the host. */
function currentHost(st: State): string {
  const hn = st.options.get('hostname')?.[0]
  return hn !== undefined ? hn.replace(/%([%h])/g, (_m, c) => (c === '%' ? '%' : st.host)) : st.host
}

function matchLine(st: State, rest: string, file: string, line: number): boolean {
  const words = matchWords(rest)
  if (!words) fail(file, line, 'invalid quotes')
  let result = true
  let attributes = 0
  for (let i = 0; i < words.length; i++) {
    let attrib = words[i]
    if (attrib.startsWith('#')) break
    const negate = attrib.startsWith('!')
    if (negate) attrib = attrib.slice(1)
    const a = attrib.toLowerCase()
    if (a === 'all') {
      const next = words[i + 1]
      if (attributes > 1 || (next !== undefined && next !== '' && !next.startsWith('#')))
        fail(file, line, `'${words[i]}' cannot be combined with other Match attributes`)
      return result ? !negate : false
    }
    attributes++
    if (a === 'canonical' || a === 'final') {
      if (a === 'final') st.wantFinal = true
      if (st.postCanon === negate) result = false
      continue
    }
    const arg = words[++i]
    if (arg === undefined || arg === '' || arg.startsWith('#')) fail(file, line, `Missing Match criteria for ${attrib}`)
    let r: boolean
    const host = currentHost(st).toLowerCase()
    const ruser = st.options.get('user')?.[0] ?? st.input.local.user
    if (a === 'host') r = matchPatternList(host, arg, true) === 1
    else if (a === 'originalhost') r = matchPatternList(st.input.host.toLowerCase(), arg, true) === 1
    else if (a === 'user') r = matchPatternList(ruser, arg, false) === 1
    else if (a === 'localuser') r = matchPatternList(st.input.local.user, arg, false) === 1
    else if (a === 'exec') {
      // Like ssh: not run when an earlier criterion of the line already failed.
      if (!result) continue
      const port = Number(st.options.get('port')?.[0] ?? 22)
      const alias = st.options.get('hostkeyalias')?.[0]
      const cmd = expandCommand(arg, '%CdhikLlnpru', st.input.local, { host, original: st.input.host, port, user: ruser, keyAlias: alias }, `${file} line ${line}: Match exec`)
      r = (st.input.exec ?? DEFAULT_EXEC)(cmd)
    } else fail(file, line, `Unsupported Match attribute ${attrib}`)
    if (r === negate) result = false
  }
  if (attributes === 0) fail(file, line, 'One or more attributes required for Match')
  return result
}

function hostLine(st: State, args: string[], file: string, line: number): boolean {
  let active = false
  for (let a of args) {
    if (a === '') fail(file, line, 'keyword host empty argument')
    const neg = a.startsWith('!')
    if (neg) a = a.slice(1)
    if (matchPattern(st.host, a)) {
      if (neg) return false
      active = true
    }
  }
  return active
}

/** Stores a value, first one wins (multi-value keywords accumulate); checks it whether active or not. */
function setOption(st: State, keyword: string, args: string[], raw: string, active: boolean, where: string): void {
  let checked: string[] | null
  try {
    checked = checkValue(keyword, args, raw, where)
  } catch (e) {
    throw new SshConfigError((e as Error).message)
  }
  if (!active || checked === null) return
  const o = st.options
  if (MULTI_VALUE.has(keyword)) {
    const list = o.get(keyword) ?? o.set(keyword, []).get(keyword)!
    // add_identity_file drops a duplicate (the final pass reads every file again).
    for (const v of checked) if (!(keyword === 'identityfile' || keyword === 'certificatefile') || !list.includes(v)) list.push(v)
    return
  }
  if (keyword === 'proxycommand' && o.has('proxyjump')) return
  if (keyword === 'proxyjump' && (o.has('proxycommand') || o.has('proxyjump'))) return
  if (!o.has(keyword)) o.set(keyword, checked)
}

interface Ctx {
  st: State
  userConf: boolean
  neverMatch: boolean
  depth: number
}

/** One line; returns the new "active" state. */
function processLine(c: Ctx, text: string, file: string, line: number, active: boolean): boolean {
  const st = c.st
  const kw = splitKeyword(text)
  if (!kw) return active
  const { keyword } = kw
  const rest = kw.rest
  if (rest === '') fail(file, line, `no argument after keyword "${keyword}"`)
  const where = `${file} line ${line}`
  if (keyword === 'host') {
    const args = argvSplit(rest)
    if (!args) fail(file, line, 'invalid quotes')
    return c.neverMatch ? false : hostLine(st, args, file, line)
  }
  if (keyword === 'match') {
    if (c.neverMatch) return false
    return matchLine(st, rest, file, line)
  }
  if (keyword === 'include') {
    const args = argvSplit(rest)
    if (!args) fail(file, line, 'invalid quotes')
    for (const arg of args) {
      if (arg.startsWith('~') && !c.userConf) fail(file, line, `bad include path ${arg}.`)
      const path = !isAbsolute(arg) && !arg.startsWith('~') ? join(c.userConf ? join(st.input.local.home, '.ssh') : '/etc/ssh', arg) : tildeExpand(arg, st.input.local, where)
      for (const f of globFiles(path)) readFile(f, { ...c, neverMatch: c.neverMatch || !active, depth: c.depth + 1 }, where)
    }
    return active // an Include's Host/Match lines do not change the including file's state
  }
  if (!KEYWORDS.has(keyword)) {
    if (st.ignoreUnknown !== undefined && matchPatternList(keyword, st.ignoreUnknown, true) === 1) return active
    fail(file, line, `Bad configuration option: ${keyword}`)
  }
  let args: string[]
  if (RAW_COMMAND.has(keyword)) args = [rest]
  else {
    const a = argvSplit(rest)
    if (!a) fail(file, line, 'invalid quotes')
    args = a
  }
  if (keyword === 'ignoreunknown') {
    if (active && st.ignoreUnknown === undefined) st.ignoreUnknown = args[0]
    return active
  }
  setOption(st, keyword, args, rest, active, where)
  return active
}

/** glob(3) of the last path component (and literal paths); sorted like glob. */
function globFiles(path: string): string[] {
  const dir = dirname(path)
  const base = basename(path)
  if (!/[*?[]/.test(path)) {
    try {
      statSync(path)
      return [path]
    } catch {
      return []
    }
  }
  if (/[*?[]/.test(dir)) {
    // A glob in a directory part: expand it level by level.
    return globFiles(dir)
      .filter((d) => {
        try {
          return statSync(d).isDirectory()
        } catch {
          return false
        }
      })
      .flatMap((d) => globFiles(join(d, base)))
      .sort()
  }
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  return names
    .filter((n) => (n.startsWith('.') ? base.startsWith('.') : true) && matchPattern(n, base))
    .sort()
    .map((n) => join(dir, n))
}

function readFile(path: string, c: Ctx, from?: string): boolean {
  if (c.depth > 16) throw new SshConfigError(`${from ?? path}: Include nested too deeply (more than 16)`)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return false
    if (code === 'EISDIR') throw new SshConfigError(`${path}: is a directory`)
    throw new SshConfigError(`cannot read ssh config ${path}: ${(e as Error).message}`)
  }
  // readconf.c starts every file active (a file's own first lines apply unless the Include was in an
  // inactive block: then nothing in it matches).
  let active = !c.neverMatch
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) active = processLine(c, lines[i], path, i + 1, active)
  return true
}

function pass(input: ResolveInput, st: State, cmdline: boolean): void {
  for (const [kw, args] of cmdline ? input.cmdline ?? [] : []) {
    const k = kw.toLowerCase()
    if (k === 'host' || k === 'match' || k === 'include') throw new SshConfigError(`command-line option: ${kw} is not allowed there`)
    if (!KEYWORDS.has(k)) throw new SshConfigError(`command-line option: Bad configuration option: ${kw}`)
    setOption(st, k, RAW_COMMAND.has(k) ? [args.join(' ')] : args, args.join(' '), true, 'command-line option')
  }
  if (input.userConfig) readFile(input.userConfig, { st, userConf: true, neverMatch: false, depth: 0 })
  if (input.systemConfig) readFile(input.systemConfig, { st, userConf: false, neverMatch: false, depth: 0 })
}

/** Resolve a host as ssh does before connecting (no canonicalization: orch does no DNS search). */
export function resolveSshConfig(input: ResolveInput): ResolvedConfig {
  const st: State = { input, options: new Map(), host: input.host, postCanon: false, wantFinal: false }
  pass(input, st, true)
  let finalPass = false
  const hostnameOf = () => currentHost(st).toLowerCase()
  if (st.wantFinal) {
    // ssh.c: HostName becomes the resolved name, then every file is read again with canonical/final true.
    const hn = hostnameOf()
    st.options.set('hostname', [hn])
    st.host = hn
    st.postCanon = true
    st.ignoreUnknown = undefined
    pass(input, st, false)
    finalPass = true
  }
  return { options: st.options, hostname: hostnameOf(), finalPass }
}
