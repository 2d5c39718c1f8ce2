/**
 * Records the golden cases (cases.ts) on a real lab: `npm run golden:record [-- TASK...]` (root; brings
 * up a 2-host lab, with dockerd when a vxlan case needs it, and takes it down). Each case is proven while it
 * is recorded: its apply succeeds, a second run of the task plans nothing, and running the undo returns
 * the host to the snapshot taken before apply. Then test/unit/golden/<task>/<case>.json is written.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { up, repoRoot } from '../../src/lab/index.ts'
import { snapshot, snapshotDiff } from '../../src/safety/fingerprint.ts'
import { sshTo } from '../helpers/conn.ts'
import { uniquePrefix } from '../helpers/lab.ts'
import cases, { type LabView } from './cases.ts'
import { drive, TASKS, type Golden } from './harness.ts'

/**
 * A docker restart gives every container a new veth pair (new names and MACs): with containers, the
 * hosts' container veths are left out of the comparison (the containers running again is checked by
 * the task's own verification).
 */
function forCompare(snap: Record<string, unknown>, containers?: boolean): Record<string, unknown> {
  if (!containers) return snap
  const keep = (l: unknown) => !/^veth/.test(String((l as { ifname?: unknown })?.ifname ?? ''))
  // docker rewrites its own iptables chains on the restart (per container, in its own order): left out too.
  return Object.fromEntries(
    Object.entries(snap)
      .filter(([k]) => k !== 'filter' && k !== 'nat')
      .map(([k, v]) => [k, (k === 'links' || k === 'addrs') && Array.isArray(v) ? v.filter(keep) : v]),
  )
}

const only = process.argv.slice(2)
const todo = cases.filter((c) => only.length === 0 || only.includes(c.task) || only.includes(`${c.task}/${c.case}`))
let failed = 0
// Cases on docker hosts get a lab with dockerd; the others a bare one (docker's own chains would change them).
for (const docker of [false, true]) {
  const group = todo.filter((c) => !!c.docker === docker)
  if (group.length) await recordOn(group, docker)
}

async function recordOn(group: typeof todo, docker: boolean): Promise<void> {
const lab = await up({ hosts: 2, docker, prefix: process.env.GOLDEN_PREFIX ?? uniquePrefix() })
try {
  const [A, B] = lab.hosts
  const view: LabView = { a: A.address, b: B.address, gw: lab.gateway }
  const conn = await sshTo(lab, A)
  try {
    for (const c of group) {
      const label = `${c.task}/${c.case}`
      try {
        const setup = c.setup(view)
        const s = await lab.exec(A, setup)
        if (s.code !== 0) throw new Error(`setup failed: ${s.stderr}`)
        const args = c.args(view)
        const before = await snapshot(conn)
        const first = await drive(TASKS[c.task](args), A.name, (script, o) => conn.run(script, o))
        const second = await drive(TASKS[c.task](args), A.name, (script, o) => conn.run(script, o), false)
        if (second.changes.length) throw new Error(`a second run still changes: ${JSON.stringify(second.changes)}`)
        if (first.undo) {
          const u = await conn.run(first.undo.script)
          if (u.code !== 0) throw new Error(`undo failed (rc=${u.code}): ${u.stderr}`)
        }
        const diff = snapshotDiff(forCompare(before, c.containers), forCompare(await snapshot(conn), c.containers))
        if (diff.length) throw new Error(`undo did not restore the host:\n${diff.join('\n')}`)
        if (c.teardown) await lab.exec(A, c.teardown(view))
        const g: Golden = { task: c.task, case: c.case, about: c.about, setup, args, runs: first.runs, plan: first.plan, ...(first.persist !== undefined ? { persist: first.persist } : {}), changes: first.changes, undo: first.undo, ...(first.outcome !== undefined ? { outcome: first.outcome } : {}), second: second.runs }
        const dir = join(repoRoot, 'test/unit/golden', c.task)
        mkdirSync(dir, { recursive: true })
        writeFileSync(join(dir, `${c.case}.json`), JSON.stringify(g, null, 2) + '\n')
        console.log(`ok    ${label}: ${first.changes.length} change(s), ${first.runs.length} command(s)`)
      } catch (e) {
        failed++
        console.error(`FAIL  ${label}: ${(e as Error).message}`)
        if (c.teardown) await lab.exec(A, c.teardown(view))
      }
    }
  } finally {
    await conn.close()
  }
} finally {
  await lab.down()
}
}
process.exit(failed ? 1 : 0)
