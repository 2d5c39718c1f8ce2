/**
 * The journal entry is on disk before the change it guards (issue 16 §3): golden text of what the engine
 * sends ahead of a change (RemoteJournal.prefix, entryCommand) and of begin's end, and the sync fallback
 * run for real with a `sync` that takes no file (an older busybox) and with this machine's busybox.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { durable, RemoteJournal } from '../../src/engine/journal.ts'
import { beginScript } from '../../src/safety/remote.ts'

const undo = { description: 'del addr', script: 'ip addr del 10.0.0.1/32 dev lo' }
const ENTRY =
  "printf '\\012# orch entry 0001 host=h1 module=command\\012# task: t\\012# undo: del addr\\012ORCH_BACKUP=/var/lib/orch/journal/R1/0001-command.backup\\012export ORCH_BACKUP\\012ip addr del 10.0.0.1/32 dev lo\\012# orch: end of entry 0001\\012' >> /var/lib/orch/journal/R1/entries"

describe('the journal entry is synced before the change', () => {
  it('prefix: append, then sync the entries file (and the new directory), then the change', () => {
    const j = new RemoteJournal('R1')
    const first = j.prefix('h1', undo, { module: 'command', task: 't' })
    expect(first.script).toBe(
      '{ umask 077 && mkdir -p /var/lib/orch/journal/R1 && chmod 700 /var/lib/orch /var/lib/orch/journal /var/lib/orch/journal/R1 && ' +
        ENTRY +
        ' && { sync -d /var/lib/orch/journal/R1/entries /var/lib/orch/journal/R1 2>/dev/null || sync; }; } </dev/null' +
        " || { echo 'orch: could not journal the undo' >&2; exit 86; }\numask 022\n",
    )
    first.done(true)
    // The directory is there now: only the file. The change is what the engine appends after the prefix.
    const second = j.prefix('h1', undo, { module: 'command', task: 't' }).script + 'ip addr add 10.0.0.1/32 dev lo\n'
    const [append, sync, change] = [second.indexOf('>> /var/lib/orch/journal/R1/entries'), second.indexOf('{ sync -d /var/lib/orch/journal/R1/entries 2>/dev/null || sync; }'), second.indexOf('ip addr add')]
    expect(append).toBeGreaterThan(0)
    expect(sync).toBeGreaterThan(append)
    expect(change).toBeGreaterThan(sync)
    // A backup (directory's cp -a of a tree): all of it, a plain sync.
    const b = j.prefix('h1', { ...undo, backup: 'cp -a /x "$ORCH_BACKUP"' }, { module: 'directory', task: 't' }).script
    expect(b).toMatch(/>> \/var\/lib\/orch\/journal\/R1\/entries && sync; \} <\/dev\/null/)
  })

  it('a volatile undo (kernel state only: a power cut takes the change too) is appended before the change, without a sync', () => {
    const j = new RemoteJournal('R1')
    j.startAfter('h1', 0)
    const v = j.prefix('h1', { ...undo, volatile: true }, { module: 'route', task: 't' }).script + 'ip route add 10.9.0.0/24 dev lo\n'
    expect(v).not.toMatch(/sync/)
    expect(v.indexOf('>> /var/lib/orch/journal/R1/entries')).toBeGreaterThan(0)
    expect(v.indexOf('ip route add')).toBeGreaterThan(v.indexOf('>> /var/lib/orch/journal/R1/entries'))
    // The next durable entry syncs the whole file: the volatile entry before it reaches the disk with it.
    expect(j.prefix('h1', undo, { module: 'command', task: 't' }).script).toContain('{ sync -d /var/lib/orch/journal/R1/entries 2>/dev/null || sync; }')
  })

  it('entryCommand (an entry on its own round trip) and begin sync too', () => {
    expect(new RemoteJournal('R1').entryCommand(3, 'm', undefined, true).script).toBe(
      'umask 077 && cat >> /var/lib/orch/journal/R1/entries && { sync -d /var/lib/orch/journal/R1/entries 2>/dev/null || sync; }',
    )
    const begin = beginScript('R1', 'meta')
    const sync = begin.indexOf('{ sync -d /var/lib/orch/lock /var/lib/orch/journal/R1/status /var/lib/orch/journal/R1 /var/lib/orch/journal /var/lib/orch 2>/dev/null || sync; } || exit 1')
    expect(sync).toBeGreaterThan(begin.indexOf("printf '%s\\n%s\\n%s\\n' \"$st\""))
    expect(sync).toBeLessThan(begin.indexOf('echo "ok $n"'))
  })
})

describe('durable() on a real shell', () => {
  const dir = mkdtempSync(join(tmpdir(), 'orch-durable-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'entries')
  writeFileSync(file, 'x\n')
  const run = (bin: string) => execFileSync('sh', ['-c', `${durable([file, dir])} && echo synced`], { env: { PATH: `${bin}:/usr/bin:/bin` }, encoding: 'utf8' })

  it('a sync that takes no file (older busybox): falls back to a plain sync', () => {
    const bin = join(dir, 'old')
    execFileSync('mkdir', [bin])
    writeFileSync(join(bin, 'sync'), `#!/bin/sh\necho "sync $*" >> ${dir}/calls\n[ $# = 0 ]\n`)
    chmodSync(join(bin, 'sync'), 0o755)
    expect(run(bin)).toBe('synced\n')
    expect(readFileSync(join(dir, 'calls'), 'utf8')).toBe(`sync -d ${file} ${dir}\nsync \n`)
  })

  it.skipIf(!existsSync('/bin/busybox'))("busybox's sync -d FILE DIR", () => {
    const bin = join(dir, 'bb')
    execFileSync('mkdir', [bin])
    symlinkSync('/bin/busybox', join(bin, 'sync'))
    expect(run(bin)).toBe('synced\n')
    expect(execFileSync(join(bin, 'sync'), ['-d', file, dir], { encoding: 'utf8' })).toBe('')
  })
})
