// writeFileScript runs on targets; here it runs under the local /bin/sh (dash on Debian, as on targets)
// in a temp directory: the bytes and the mode that land are what the kernel holds.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { INLINE_WRITE_MAX, parseFileState, readFileScript, TEXT_READ_MAX, writeFileScript } from '../../src/engine/taskkit.ts'

const dir = mkdtempSync(join(tmpdir(), 'orch-write-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const run = (script: string, input?: Buffer) => execFileSync('/bin/sh', ['-c', script], { input, stdio: ['pipe', 'pipe', 'pipe'] })
const modeOf = (p: string) => (statSync(p).mode & 0o7777).toString(8).padStart(4, '0')

describe('writeFileScript', () => {
  const tricky = Buffer.concat([Buffer.from("-x %s %% \\n \\ 'quote' \"dq\" $HOME `id`\n\u00e9\n"), Buffer.from([0, 1, 255, 10])])

  it('inline content: exact bytes (printf specials, quotes, NUL, high bytes) with the mode set through umask', () => {
    const p = join(dir, 'a.conf')
    const script = writeFileScript(p, '0640', undefined, tricky)
    expect(script).not.toMatch(/mktemp|cat >|chmod/) // the rename is the only process
    run(script)
    expect(readFileSync(p).equals(tricky)).toBe(true)
    expect(modeOf(p)).toBe('0640')
  })

  it('a mode umask cannot give (x bits, setgid) is set with chmod', () => {
    const p = join(dir, 'b.sh')
    run(writeFileScript(p, '2755', undefined, Buffer.from('#!/bin/sh\n')))
    expect(modeOf(p)).toBe('2755')
  })

  it('replaces an existing file atomically and leaves no temp file behind', () => {
    const p = join(dir, 'c.conf')
    writeFileSync(p, 'old\n', { mode: 0o600 })
    run(writeFileScript(p, '0644', undefined, Buffer.from('new\n')))
    expect(readFileSync(p, 'utf8')).toBe('new\n')
    expect(modeOf(p)).toBe('0644')
    expect(readdirSync(dir).filter((f) => f.startsWith('.orch.'))).toEqual([])
  })

  it('fails, leaving no temp file, when the directory is missing or the rename fails', () => {
    expect(() => run(writeFileScript(join(dir, 'nope', 'x'), '0644', undefined, Buffer.from('x')))).toThrow()
    // mv onto a read-only directory's entry fails after the temp file was written: it must be removed.
    const ro = join(dir, 'ro')
    execFileSync('mkdir', ['-p', ro])
    expect(() => run(writeFileScript(join(ro, 'f'), '0644', undefined, Buffer.from('x')).replace('mv -f', 'false &&'))).toThrow()
    expect(readdirSync(ro)).toEqual([])
    expect(readdirSync(dir).filter((f) => f.startsWith('.orch.'))).toEqual([])
  })

  it('the inline form gives the shell back its umask and noclobber, and ends the command with the failing code', () => {
    const p = join(dir, 'd.conf')
    const after = run(`umask 022; ${writeFileScript(p, '0600', undefined, Buffer.from('x\n'))}\numask; case $- in *C*) echo noclobber;; esac; echo next`).toString()
    expect(after).toBe('0022\nnext\n')
    expect(modeOf(p)).toBe('0600')
    // A failed write ends the command with printf's code (2: the redirection failed), nothing after it runs.
    const failed = spawnSync('/bin/sh', ['-c', `${writeFileScript(join(dir, 'nope', 'y'), '0644', undefined, Buffer.from('y'))}\necho next`], { encoding: 'utf8' })
    expect(failed.status).toBe(2)
    expect(failed.stdout).toBe('')
  })

  it('chown runs only when the new file would not have the old owner anyway', () => {
    // A chown on PATH that only says it ran: which files asked for it is what is checked.
    const bin = join(dir, 'bin')
    execFileSync('mkdir', ['-p', bin])
    writeFileSync(join(bin, 'chown'), `#!/bin/sh\necho "chown $*" >> ${join(dir, 'chown.log')}\n`, { mode: 0o755 })
    const withShim = (script: string) => run(`PATH=${bin}:$PATH; ${script}`)
    const log = () => {
      try {
        return readFileSync(join(dir, 'chown.log'), 'utf8')
      } catch {
        return ''
      }
    }
    const uid = process.getuid!()
    const gid = process.getgid!()
    const mine = join(dir, 'mine.conf')
    writeFileSync(mine, 'old\n')
    withShim(writeFileScript(mine, '0644', `${uid}:${gid}`, Buffer.from('new\n'), true))
    expect(log()).toBe('')
    // An owner to set (not the old file's): always chown.
    withShim(writeFileScript(mine, '0644', `${uid}:${gid}`, Buffer.from('new\n')))
    expect(log()).toMatch(/^chown /)
    rmSync(join(dir, 'chown.log'))
    expect(log()).toBe('')
    expect(readFileSync(mine, 'utf8')).toBe('new\n')
    if (uid !== 0) return // the rest needs files owned by someone else
    const theirs = join(dir, 'theirs.conf')
    writeFileSync(theirs, 'old\n')
    execFileSync('chown', ['65534:65534', theirs])
    withShim(writeFileScript(theirs, '0644', '65534:65534', Buffer.from('new\n'), true))
    expect(log()).toMatch(/^chown 65534:65534 .*\/\.orch\.[0-9a-f]+\n$/)
    // Ours, but in a setgid directory of another group: the new file would get that group.
    const sg = join(dir, 'sg')
    execFileSync('mkdir', ['-p', sg])
    execFileSync('chown', ['0:65534', sg])
    execFileSync('chmod', ['2775', sg])
    const inSg = join(sg, 'f.conf')
    writeFileSync(inSg, 'old\n')
    execFileSync('chown', ['0:0', inSg])
    withShim(writeFileScript(inSg, '0644', '0:0', Buffer.from('new\n'), true))
    expect(log().split('\n').filter(Boolean)).toHaveLength(2)
  })

  it('large content (and content from stdin) goes through cat', () => {
    const big = Buffer.alloc(INLINE_WRITE_MAX + 1, 0x61)
    const p = join(dir, 'big')
    const script = writeFileScript(p, '0600', undefined, big)
    expect(script).toContain('cat >')
    run(script, big)
    expect(readFileSync(p).equals(big)).toBe(true)
    expect(modeOf(p)).toBe('0600')
  })
})

describe('readFileScript', () => {
  const read = (content: Buffer) => {
    const p = join(dir, `r-${Math.random().toString(36).slice(2)}`)
    writeFileSync(p, content)
    const out = run(readFileScript(p)).toString('utf8')
    return { out, state: parseFileState(out, p) }
  }
  const cases: Array<[string, Buffer, 'text' | 'file']> = [
    ['ASCII text', Buffer.from('# conf\nname = a\n\tindented  \ntrailing spaces   \n'), 'text'],
    ['no last newline', Buffer.from('a = 1\nb = 2'), 'text'],
    ['backslashes and blank lines', Buffer.from('x\\n\\\n\n\nend\\\n'), 'text'],
    ['empty', Buffer.alloc(0), 'text'],
    ['a NUL byte', Buffer.from('a\0b\n'), 'file'],
    ['UTF-8', Buffer.from('caf\u00e9\n'), 'file'],
    ['a section marker', Buffer.from('x @@orch-section-7f3a@@ y\n'), 'file'],
    ['larger than the builtin read takes', Buffer.alloc(TEXT_READ_MAX + 1, 0x61), 'file'],
  ]
  for (const [name, content, how] of cases) {
    it(`${name}: read back byte for byte (${how === 'text' ? 'builtin read' : 'base64'})`, () => {
      const { out, state } = read(content)
      expect(out.split('\n')[0].split(' ')[0]).toBe(how)
      expect(state.kind).toBe('file')
      if (state.kind === 'file') expect(state.content.equals(content)).toBe(true)
    })
  }
})
