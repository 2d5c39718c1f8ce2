import { describe, expect, it } from 'vitest'
import { playbook } from '../../src/engine/types.ts'
import { countResult, emptyStats, exitCodeFor, EXIT } from '../../src/engine/results.ts'
import { recapLine, banner, formatDuration } from '../../src/report/recap.ts'
import { unifiedDiff, renderChanges } from '../../src/report/diff.ts'
import { toJsonDocument, errorDocument } from '../../src/report/json.ts'
import { PlainReporter } from '../../src/report/plain.ts'
import { TtyReporter } from '../../src/report/tty.ts'
import { createReporter } from '../../src/report/index.ts'
import { CHANGE, fake, harness, mkHost } from './engine-helpers.ts'

class Sink {
  text = ''
  isTTY = false
  columns = 100
  rows = 30
  write(s: string) {
    this.text += s
    return true
  }
}

const strip = (s: string) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')

describe('recap', () => {
  it("has exactly Ansible's shape, plus rolled_back", () => {
    const s = { ...emptyStats(), ok: 12, changed: 3, skipped: 1 }
    expect(recapLine('node1', s)).toBe(
      'node1                      : ok=12   changed=3    unreachable=0    failed=0    skipped=1    rescued=0    ignored=0    rolled_back=0   ',
    )
    expect(strip(recapLine('node1', s, true))).toBe(recapLine('node1', s))
  })

  it('counts results as Ansible does', () => {
    const s = emptyStats()
    const r = (status: any, extra: any = {}) => countResult(s, { host: 'a', task: 't', module: 'm', status, changed: status === 'changed', failed: status === 'failed', skipped: status === 'skipped', changes: [], durationMs: 0, ...extra })
    r('ok')
    r('changed')
    r('skipped')
    r('failed')
    r('failed', { ignored: true })
    r('unreachable')
    expect(s).toEqual({ ok: 3, changed: 1, unreachable: 1, failed: 1, skipped: 1, rescued: 0, ignored: 1, rolled_back: 0 })
  })

  it('maps stats to exit codes: 99 interrupted > 4 unreachable > 2 failed > 0', () => {
    const ok = { a: emptyStats() }
    const failed = { a: { ...emptyStats(), failed: 1 } }
    const both = { a: { ...emptyStats(), failed: 1 }, b: { ...emptyStats(), unreachable: 1 } }
    expect(exitCodeFor(ok, false)).toBe(0)
    expect(exitCodeFor(failed, false)).toBe(EXIT.FAILED_HOSTS)
    expect(exitCodeFor(both, false)).toBe(EXIT.UNREACHABLE_HOSTS)
    expect(exitCodeFor(both, true)).toBe(EXIT.INTERRUPTED)
    expect(exitCodeFor({ a: { ...emptyStats(), ignored: 1, ok: 1 } }, false)).toBe(0)
  })

  it('banners and durations', () => {
    expect(banner('PLAY RECAP')).toBe('PLAY RECAP ' + '*'.repeat(69))
    expect(banner('x'.repeat(100)).endsWith(' ***')).toBe(true)
    expect(formatDuration(950)).toBe('950ms')
    expect(formatDuration(1234)).toBe('1.23s')
    expect(formatDuration(61_500)).toBe('1m1.5s')
  })
})

describe('diff', () => {
  it('produces a unified diff with hunks and context', () => {
    const before = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'].join('\n') + '\n'
    const after = ['a', 'b', 'c', 'D', 'e', 'f', 'g', 'h', 'i', 'j', 'k'].join('\n') + '\n'
    expect(unifiedDiff(before, after, { from: 'old', to: 'new' })).toBe(
      ['--- old', '+++ new', '@@ -1,10 +1,11 @@', ' a', ' b', ' c', '-d', '+D', ' e', ' f', ' g', ' h', ' i', ' j', '+k', ''].join('\n'),
    )
    const far = Array.from({ length: 30 }, (_, i) => `l${i}`)
    const far2 = [...far]
    far2[2] = 'X'
    far2[27] = 'Y'
    const d = unifiedDiff(far.join('\n') + '\n', far2.join('\n') + '\n')
    expect(d.match(/^@@/gm)).toHaveLength(2)
    expect(d).toContain('@@ -1,6 +1,6 @@')
    expect(d).toContain('@@ -25,6 +25,6 @@')
  })

  it('handles creation, removal and no change', () => {
    expect(unifiedDiff('', 'x\ny\n')).toBe('--- before\n+++ after\n@@ -0,0 +1,2 @@\n+x\n+y\n')
    expect(unifiedDiff('x\n', '')).toBe('--- before\n+++ after\n@@ -1,1 +0,0 @@\n-x\n')
    expect(unifiedDiff('same\n', 'same\n')).toBe('')
  })

  it('renders one-line changes inline', () => {
    expect(renderChanges([{ what: 'net.ipv4.ip_forward (runtime)', before: '0', after: '1' }, { what: 'restart docker' }], true)).toBe(
      '~ net.ipv4.ip_forward (runtime): 0 -> 1\n~ restart docker',
    )
  })
})

async function sampleRun(events?: any, extra: any = {}) {
  const h = harness([mkHost('a'), mkHost('b')], { unreachable: ['b'] })
  return h.run({
    events,
    diff: true,
    ...extra,
    plays: [
      playbook({
        name: 'demo',
        hosts: 'all',
        tasks: [
          fake(h.log, 'write file', { changes: [{ what: 'content /etc/x', before: 'old\n', after: 'new\n' }] }).with({ notify: 'hd' }),
          fake(h.log, 'cmd', { changes: CHANGE, outcome: { rc: 0, stdout: 'hello', stderr: '' } }),
          fake(h.log, 'nothing'),
        ],
        handlers: { hd: fake(h.log, 'hd') },
      }),
    ],
  })
}

describe('JSON report', () => {
  it('is plays → tasks → hosts → result, with stats per host', async () => {
    const doc = toJsonDocument(await sampleRun()) as any
    expect(Object.keys(doc)).toEqual(['orch', 'plays', 'stats'])
    expect(doc.orch).toMatchObject({ format: 1, runId: 'test-run', check: false, diff: true, interrupted: false, exitCode: 4 })
    expect(doc.plays).toHaveLength(1)
    expect(doc.plays[0].play).toMatchObject({ name: 'demo', hosts: ['a', 'b'] })
    expect(doc.plays[0].tasks.map((t: any) => t.task.name)).toEqual(['write file', 'cmd', 'nothing', 'hd'])
    expect(doc.plays[0].tasks[3].task).toMatchObject({ handler: true, module: 'fake' })
    const wa = doc.plays[0].tasks[0].hosts.a
    expect(wa).toMatchObject({ status: 'changed', changed: true, failed: false, skipped: false })
    expect(wa.changes).toEqual([{ what: 'content /etc/x', before: 'old\n', after: 'new\n' }])
    expect(wa.diff[0].unified).toContain('-old\n+new')
    expect(typeof wa.durationMs).toBe('number')
    expect(doc.plays[0].tasks[0].hosts.b).toMatchObject({ status: 'unreachable', unreachable: true })
    expect(doc.plays[0].tasks[1].hosts.a).toMatchObject({ rc: 0, stdout: 'hello', stderr: '' })
    expect(doc.stats.a).toEqual({ ok: 4, changed: 2, unreachable: 0, failed: 0, skipped: 0, rescued: 0, ignored: 0, rolled_back: 0 })
    expect(doc.stats.b.unreachable).toBe(1)
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc)
  })

  it('the JSON reporter writes one document to stdout and nothing else', async () => {
    const out = new Sink()
    const err = new Sink()
    await sampleRun(createReporter({ json: true, out, err }))
    expect(() => JSON.parse(out.text)).not.toThrow()
    expect(JSON.parse(out.text).plays[0].play.name).toBe('demo')
    expect(out.text.trim().startsWith("{") && out.text.trim().endsWith("}")).toBe(true)
  })

  it('errors before the run have the same top-level shape', () => {
    expect(errorDocument('bad', 5)).toEqual({ orch: { format: 1, exitCode: 5, error: 'bad' }, plays: [], stats: {} })
  })
})

describe('plain reporter', () => {
  it('prints Ansible-like lines', async () => {
    const out = new Sink()
    const err = new Sink()
    await sampleRun(new PlainReporter(out, err, { verbose: 1, diff: true }))
    const t = out.text
    expect(t).toContain('PLAY [demo] ****')
    expect(t).toContain('TASK [write file] ****')
    expect(t).toContain('changed: [a]')
    expect(t).toMatch(/fatal: \[b\]: UNREACHABLE! => \{"changed": false, "msg": ".*Connection refused", "unreachable": true\}/)
    expect(t).toContain('  -old\n  +new')
    expect(t).toContain('  stdout:\n    hello')
    expect(t).toContain('RUNNING HANDLER [hd] ****')
    expect(t).toContain('PLAY RECAP ****')
    expect(t).toMatch(/^a {26}: ok=4    changed=2 /m)
    expect(t).toMatch(/^Total time: /m)
    expect(t).not.toMatch(/\x1b\[/)
    // TASK header once per task in linear mode.
    expect(t.match(/TASK \[write file\]/g)).toHaveLength(1)
  })

  it('without -v or --diff, ok/changed are one line each', async () => {
    const out = new Sink()
    await sampleRun(new PlainReporter(out, new Sink(), {}), { diff: false })
    expect(out.text).not.toContain('hello')
    expect(out.text).not.toContain('+new')
  })
})

describe('plain reporter output', () => {
  it('lines of one turn of the event loop go out in one write; a warning or the end flushes them first', async () => {
    const writes: Array<[string, string]> = []
    const out = { write: (t: string) => writes.push(['out', t]) }
    const err = { write: (t: string) => writes.push(['err', t]) }
    const r = new PlainReporter(out, err, {})
    const res = (host: string) => ({ host, task: 't', module: 'file', index: 0, status: 'ok' as const, changed: false, failed: false, skipped: false, changes: [], durationMs: 1 })
    r.playStart({ name: 'p' })
    r.taskStart({ name: 't', handler: false })
    for (const h of ['a', 'b', 'c']) r.hostTaskResult(res(h))
    expect(writes).toEqual([])
    await new Promise((ok) => setImmediate(ok))
    expect(writes).toHaveLength(1)
    expect(writes[0][1]).toMatch(/PLAY \[p\][\s\S]*TASK \[t\][\s\S]*ok: \[a\]\nok: \[b\]\nok: \[c\]\n$/)
    r.hostTaskResult(res('d'))
    r.warn('careful')
    expect(writes.slice(1).map((w) => w[0])).toEqual(['out', 'err'])
    expect(writes[1][1]).toBe('ok: [d]\n')
  })
})

describe('TTY reporter', () => {
  it('redraws a live block in place and ends with the recap', async () => {
    const out = new Sink()
    out.isTTY = true
    const err = new Sink()
    await sampleRun(new TtyReporter(out, err, { color: true, intervalMs: 1 }))
    expect(out.text).toMatch(/\x1b\[\d+F\x1b\[J/) // cursor up + clear: redraw in place
    const plain = strip(out.text)
    expect(plain).toContain('PLAY [demo]')
    expect(plain).toMatch(/fatal: \[b\]: UNREACHABLE!/) // failures scroll above the block
    expect(plain).toContain('PLAY RECAP')
    expect(plain).toMatch(/^a {26}: ok=4 /m)
    expect(plain.trimEnd().split('\n').pop()).toMatch(/^Total time: /)
  })

  it('keeps lines within the terminal width', async () => {
    const out = new Sink()
    out.isTTY = true
    out.columns = 50
    const r = new TtyReporter(out, new Sink(), { color: false, intervalMs: 1000 })
    r.playStart({ name: 'p', hosts: ['a-very-long-host-name-indeed'] })
    r.hostTaskStart({ host: 'a-very-long-host-name-indeed', name: 'x'.repeat(200) })
    ;(r as any).draw()
    r.stop()
    for (const line of strip(out.text).split('\n')) expect(line.length).toBeLessThanOrEqual(50)
  })
})
