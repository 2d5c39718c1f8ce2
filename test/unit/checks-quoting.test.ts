import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { tcpProbe } from '../../src/checks/index.ts'

const dir = mkdtempSync(join(tmpdir(), 'orch-tcpprobe-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('hostTcp probe quoting', () => {
  it('passes the address and port to bash as arguments, never as script text', () => {
    // A fake `timeout` records the argv it gets (NUL-separated) instead of running anything.
    const log = join(dir, 'argv')
    writeFileSync(join(dir, 'timeout'), `#!/bin/sh\nprintf '%s\\0' "$@" > ${JSON.stringify(log)}\n`)
    chmodSync(join(dir, 'timeout'), 0o755)
    const evil = `1.2.3.4/22; touch ${join(dir, 'pwned')}; $(touch ${join(dir, 'pwned2')}) '"`
    execFileSync('sh', ['-c', tcpProbe(evil, 22)], { env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } })
    const args = readFileSync(log, 'utf8').split('\0').slice(0, -1)
    expect(args).toEqual([expect.any(String), 'bash', '-c', 'exec 3<>"/dev/tcp/$1/$2"', 'tcp', evil, '22'])
    expect(existsSync(join(dir, 'pwned')) || existsSync(join(dir, 'pwned2'))).toBe(false)
  })

  it('connects to a listening loopback port and fails on a closed one', async () => {
    const server = createServer((s) => s.end())
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as { port: number }).port
    try {
      expect(spawnSync('sh', ['-c', tcpProbe('127.0.0.1', port)]).status).toBe(0)
    } finally {
      await new Promise((r) => server.close(r))
    }
    expect(spawnSync('sh', ['-c', tcpProbe('127.0.0.1', port)]).status).not.toBe(0)
  })
})
