/**
 * The pre-run snapshot's script against a real kernel: a namespace of this test's own (unique name,
 * removed at the end) with IPv4 and IPv6 addresses and routes. The script lists routes with one
 * `ip -batch` (`route show table all`, no family): IPv6 routes must be in it, with no second `ip -6`.
 */
import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseSnapshot, SNAPSHOT_SCRIPT } from '../../src/safety/fingerprint.ts'
import { labSkipReason, uniquePrefix } from '../helpers/lab.ts'

describe.skipIf(labSkipReason)('snapshot script (a namespace of its own)', () => {
  const ns = `${uniquePrefix()}-snap`
  const ip = (...args: string[]) => execFileSync('ip', ['-n', ns, ...args], { stdio: 'pipe' })
  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', ns])
    ip('link', 'set', 'lo', 'up')
    ip('link', 'add', 's0', 'type', 'veth', 'peer', 'name', 's1')
    ip('link', 'set', 's0', 'up')
    ip('link', 'set', 's1', 'up')
    ip('addr', 'add', '198.18.77.1/24', 'dev', 's0')
    ip('-6', 'addr', 'add', '2001:db8:77::1/64', 'dev', 's0', 'nodad')
    ip('-6', 'route', 'add', '2001:db8:78::/48', 'via', '2001:db8:77::2', 'dev', 's0')
    ip('route', 'add', '198.18.78.0/24', 'via', '198.18.77.2', 'table', '100')
  })
  afterAll(() => {
    execFileSync('ip', ['netns', 'del', ns])
  })
  const take = () => parseSnapshot(execFileSync('ip', ['netns', 'exec', ns, 'sh', '-c', SNAPSHOT_SCRIPT], { encoding: 'utf8' }))

  it('holds IPv4 and IPv6 routes of every table from one ip -batch', () => {
    const s = take()
    const routes = s.routes as Array<{ dst: string; gateway?: string; table?: string }>
    expect(routes).toContainEqual(expect.objectContaining({ dst: '2001:db8:78::/48', gateway: '2001:db8:77::2' }))
    expect(routes).toContainEqual(expect.objectContaining({ dst: '2001:db8:77::/64' }))
    expect(routes).toContainEqual(expect.objectContaining({ dst: '198.18.77.0/24' }))
    expect(routes).toContainEqual(expect.objectContaining({ dst: '198.18.78.0/24', gateway: '198.18.77.2', table: '100' }))
    expect(s).not.toHaveProperty('routes6')
    // The same state twice compares equal; a v6 route less is a difference.
    expect(take()).toEqual(s)
    ip('-6', 'route', 'del', '2001:db8:78::/48')
    expect(take().routes).not.toEqual(s.routes)
  })
})
