/**
 * The commit-confirmed machinery on a host that boots systemd (issue 16 §3), with orch's own target
 * scripts over SSH: the rollback timer is a real transient systemd timer (systemd-run, AccuracySec=1s)
 * that outlives the session which armed it and restores the host by itself; and after a reboot, the
 * lock's "held" check is not fooled by a process of the new boot that has the lock's PID.
 */
import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { newRunId } from '../../src/engine/journal.ts'
import { bootInitPid } from '../../src/lab/boot.ts'
import { bootUnavailableReason } from '../../src/lab/index.ts'
import { armScript, beginScript, commitScript, parseStatus, rollbackScript, STATUS_SCRIPT } from '../../src/safety/remote.ts'
import { BOOT_UNIT, UNIT_DIR } from '../../src/safety/rollbacksh.ts'
import type { Connection } from '../../src/transport/types.ts'
import { sshTo } from '../helpers/conn.ts'
import { labSkipReason, withLab } from '../helpers/lab.ts'
import { journalledChanges } from '../helpers/journal.ts'
import { snapshot } from '../helpers/snapshot.ts'
import { run } from './manager.ts'

const skip = labSkipReason ?? (await bootUnavailableReason())
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function ok(conn: Connection, script: string): Promise<string> {
  const r = await conn.run(script, { become: true })
  expect(r.code, r.stderr).toBe(0)
  return r.stdout.trim()
}

const change = (conn: Connection, runId: string) => journalledChanges(conn, runId, ok)

describe.skipIf(skip)('commit confirmed on a booted host: the systemd-run timer, the lock after a reboot', () => {
  const lab = withLab({ hosts: 1, boot: true, manager: 'networkd' })

  it('the timer is a transient systemd timer with AccuracySec=1s; it outlives the session that armed it and restores the host by itself', async () => {
    const h = lab().hosts[0]
    const conn = await sshTo(lab(), h)
    const before = await snapshot(conn)
    const id = newRunId()
    let closed = false
    try {
      expect(await ok(conn, beginScript(id, 'timer'))).toBe('ok 0')
      await change(conn, id)
      expect(await ok(conn, armScript(id, 4))).toBe(`systemd orch-confirm-${id}`)
      expect(await run(lab(), h, `systemctl show orch-confirm-${id}.timer -p AccuracyUSec -p ActiveState`)).toBe('AccuracyUSec=1s\nActiveState=active\n')
      expect(await run(lab(), h, `systemctl show orch-confirm-${id}.service -p ExecStart`)).toContain(`timer:`)
      // The controller goes away without a word: the session that armed the timer ends.
      await conn.close()
      closed = true
    } finally {
      if (!closed) await conn.close()
    }
    let st = parseStatus('')
    for (let i = 0; i < 240; i++) {
      st = parseStatus(await run(lab(), h, STATUS_SCRIPT))
      if (st.runs.find((r) => r.run === id)?.status === 'rolled-back') break
      await sleep(250)
    }
    expect(st.runs.find((r) => r.run === id)).toMatchObject({ status: 'rolled-back', rolledBackBy: 'timer' })
    expect(st.lock).toBeNull()
    const c2 = await sshTo(lab(), h)
    try {
      expect(await snapshot(c2)).toEqual(before)
    } finally {
      await c2.close()
    }
    // systemd ran it (its journal says so) and nothing of it stays loaded.
    expect(await run(lab(), h, `journalctl -u orch-confirm-${id}.service --no-pager -o cat`)).toContain('Deactivated successfully')
    expect(await run(lab(), h, `systemctl list-units --all --no-legend 'orch-confirm-*' | wc -l`)).toBe('0\n')
  })

  it('after a reboot, a process of the new boot with the lock\'s PID does not hold the host: the cut run is unfinished, rolled back, and the next run goes', async () => {
    const h = lab().hosts[0]
    const conn = await sshTo(lab(), h)
    const id = newRunId()
    let lock: string[]
    let before
    try {
      before = await snapshot(conn)
      expect(await ok(conn, beginScript(id, 'cut short'))).toBe('ok 0')
      await change(conn, id)
      lock = (await ok(conn, 'cat /var/lib/orch/lock')).split(/\s+/)
    } finally {
      await conn.close()
    }
    const [holder, pid, boot] = lock
    expect(holder).toBe(id)
    expect(boot).toBe((await run(lab(), h, 'cat /proc/sys/kernel/random/boot_id')).trim())
    // A host whose boot rollback does not run (as one without systemd): the lock and the run stay.
    await run(lab(), h, `rm ${UNIT_DIR}/sysinit.target.wants/${BOOT_UNIT}`)
    await lab().reboot(h, { hard: true })
    expect(await run(lab(), h, 'cat /var/lib/orch/lock')).toBe(`${lock.join(' ')}\n`)
    // PIDs start again at boot: give the lock's PID to a process of this boot (ns_last_pid of the
    // host's pid namespace, written from inside it), as a busy host would sooner or later.
    const init = bootInitPid(h)!
    let mine = ''
    for (let i = 0; i < 5 && (await lab().exec(h, `kill -0 ${pid}`)).code !== 0; i++) {
      mine = execFileSync('nsenter', ['-t', String(init), '--pid', '--', 'sh', '-c', `echo ${Number(pid) - 1} > /proc/sys/kernel/ns_last_pid && { setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $!; }`], { encoding: 'utf8' }).trim()
      if (mine !== pid) await run(lab(), h, `kill ${mine}`)
    }
    try {
      expect((await lab().exec(h, `kill -0 ${pid}`)).code, 'a process of the new boot with the lock\'s PID').toBe(0)
      const c = await sshTo(lab(), h)
      try {
        const other = newRunId()
        expect(await ok(c, beginScript(other, 'next'))).toBe(`unfinished ${id} applying`)
        // orch rollback of the cut run: its runtime changes went with the boot, the host is released.
        await ok(c, rollbackScript(id, 'orch'))
        expect(parseStatus(await ok(c, STATUS_SCRIPT)).runs.find((r) => r.run === id)).toMatchObject({ status: 'rolled-back', rolledBackBy: 'orch' })
        expect(await snapshot(c)).toEqual(before)
        expect(await ok(c, beginScript(other, 'next'))).toBe('ok 0')
        expect(await ok(c, commitScript(other))).toBe('disarmed\nunchanged')
      } finally {
        await c.close()
      }
    } finally {
      await run(lab(), h, `${mine === pid ? `kill ${pid}; ` : ''}ln -sf ${UNIT_DIR}/${BOOT_UNIT} ${UNIT_DIR}/sysinit.target.wants/${BOOT_UNIT}`)
    }
  })
})
