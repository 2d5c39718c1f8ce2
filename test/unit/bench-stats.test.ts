import { describe, expect, it } from 'vitest'
import { fmtMiB, fmtRatio, fmtSec, median, parseOrchTotal, parseRecap, ratio, summarize, table } from '../../bench/lib/stats.ts'

describe('bench stats', () => {
  it('median of odd and even counts, unsorted input untouched', () => {
    const xs = [5, 1, 3]
    expect(median(xs)).toBe(3)
    expect(xs).toEqual([5, 1, 3])
    expect(median([4, 1, 3, 2])).toBe(2.5)
    expect(median([])).toBeNaN()
  })

  it('summarize ignores missing samples', () => {
    expect(summarize([3, NaN, 1, 2])).toEqual({ n: 3, median: 2, min: 1, max: 3 })
    expect(summarize([]).n).toBe(0)
  })

  it('ratio is NaN when a side is missing or zero', () => {
    expect(ratio(30, 2)).toBe(15)
    expect(ratio(undefined, 2)).toBeNaN()
    expect(ratio(3, 0)).toBeNaN()
    expect(ratio(NaN, 1)).toBeNaN()
  })

  it('parses an Ansible recap and orch recap (colors, extra columns) into totals', () => {
    const ansible = `PLAY RECAP *********
node1                      : ok=10   changed=10   unreachable=0    failed=0    skipped=0    rescued=0    ignored=0
node2                      : ok=9    changed=3    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0   `
    expect(parseRecap(ansible)).toEqual({ hosts: 2, ok: 19, changed: 13, unreachable: 0, failed: 1 })
    const orch = '\x1b[32mnode1\x1b[0m                      : ok=10   changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0    rolled_back=0\n\nTotal time: 1.80s (run 20261122-124236-27fefa)\n'
    expect(parseRecap(orch)).toMatchObject({ hosts: 1, ok: 10, changed: 0 })
    expect(parseOrchTotal(orch)).toBe(1800)
    expect(parseOrchTotal('nothing')).toBeUndefined()
    expect(parseRecap('TASK [x] ***\nok: [node1]\n').hosts).toBe(0)
  })

  it('formats seconds, ratios and memory', () => {
    expect(fmtSec(1234)).toBe('1.23 s')
    expect(fmtSec(33_300)).toBe('33.3 s')
    expect(fmtSec(undefined)).toBe('-')
    expect(fmtRatio(1.234)).toBe('1.23x')
    expect(fmtRatio(31.6)).toBe('32x')
    expect(fmtRatio(NaN)).toBe('-')
    expect(fmtMiB(110 * 1024)).toBe('110 MiB')
  })

  it('lays out a table: header, rule, text left, figures right', () => {
    const t = table([
      ['part', 'tool', 'first'],
      ['a', 'orch', '1.23 s'],
      ['a', 'ansible', '33.3 s'],
      ['d', 'floor', '-'],
    ])
    expect(t.split('\n')).toEqual([
      'part  tool     first',
      '----  -------  ------',
      'a     orch     1.23 s',
      'a     ansible  33.3 s',
      'd     floor         -',
    ])
    expect(table([])).toBe('')
  })
})
