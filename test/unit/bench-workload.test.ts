import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { floorCommands, RESET_SCRIPT } from '../../bench/lib/workload.ts'

/** Parse only (sh -n): these scripts write /etc and /proc/sys, they never run here. */
const parses = (script: string) => spawnSync('/bin/sh', ['-n', '-c', script], { encoding: 'utf8' })

describe('bench workload', () => {
  it('the floor does the 10 tasks of the playbooks, one command each, every one valid sh', () => {
    const cmds = floorCommands("node'1")
    expect(cmds).toHaveLength(10)
    for (const c of cmds) expect(parses(c).status, c).toBe(0)
    // The host name lands in the file content as one quoted word.
    expect(cmds[1]).toContain(`name = node'\\''1`)
    expect(parses(RESET_SCRIPT).status).toBe(0)
  })
})
