import { describe, expect, it } from 'vitest'
import { RemoteJournal, entryEnd, entryText, newRunId } from '../../src/engine/journal.ts'
import { quote } from '../../src/net/shell.ts'
import { nsenterConnection } from '../../src/lab/connection.ts'
import { armScript, beginScript, commitScript, disarmScript, parseStatus, rollbackScript, ROLLBACK_BIN, ROLLBACK_SH, ROLLBACK_STAMP, STATUS_SCRIPT } from '../../src/safety/remote.ts'
import type { Connection } from '../../src/transport/types.ts'
import { labSkipReason, withLab } from '../helpers/lab.ts'
import { journalledChanges } from '../helpers/journal.ts'
import { snapshot } from '../helpers/snapshot.ts'

async function ok(conn: Connection, script: string): Promise<string> {
  const r = await conn.run(script)
  expect(r.code, r.stderr).toBe(0)
  return r.stdout.trim()
}

const change = (conn: Connection, runId: string) => journalledChanges(conn, runId, ok)

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe.skipIf(labSkipReason)('target-side transaction scripts', () => {
  const lab = withLab({ hosts: 1 })
  const conn = () => nsenterConnection(lab(), lab().hosts[0])

  it('rollback replays the journal newest first and releases the host', async () => {
    const before = await snapshot(conn())
    const run = newRunId()
    expect(await ok(conn(), beginScript(run, 'test'))).toBe('ok 0')
    await change(conn(), run)
    expect(await snapshot(conn())).not.toEqual(before)
    await ok(conn(), rollbackScript(run, 'orch'))
    expect(await snapshot(conn())).toEqual(before)
    const st = parseStatus(await ok(conn(), STATUS_SCRIPT))
    expect(st.lock).toBeNull()
    expect(st.runs.find((r) => r.run === run)).toMatchObject({ status: 'rolled-back', rolledBackBy: 'orch', pending: 0 })
    // A second rollback finds nothing left to undo and changes nothing.
    await ok(conn(), rollbackScript(run, 'orch'))
    expect(await snapshot(conn())).toEqual(before)
  })

  it('an unfinished run blocks the next one until rolled back', async () => {
    const run = newRunId()
    expect(await ok(conn(), beginScript(run, 'first'))).toBe('ok 0')
    await change(conn(), run)
    const other = newRunId()
    // The first run's controller shell is gone (each nsenter command is its own process): unfinished.
    expect(await ok(conn(), beginScript(other, 'second'))).toBe(`unfinished ${run} applying`)
    expect(await ok(conn(), beginScript(run, 'first', true))).toBe('ok 2') // --resume of that very run: 2 entries
    await ok(conn(), rollbackScript(run, 'orch'))
    expect(await ok(conn(), beginScript(other, 'second'))).toBe('ok 0')
    expect(await ok(conn(), commitScript(other))).toBe('disarmed\nunchanged')
    expect(parseStatus(await ok(conn(), STATUS_SCRIPT)).runs.find((r) => r.run === other)).toBeUndefined()
  })

  it('the lock is one file, "RUN PID", taken with no process; a refused run leaves no journal; an older orch\'s lock directory is understood', async () => {
    const run = newRunId()
    expect(await ok(conn(), beginScript(run, 'lock'))).toBe('ok 0')
    const [holder, pid] = (await ok(conn(), 'cat /var/lib/orch/lock; test -f /var/lib/orch/lock && echo file')).split(/\s+/)
    expect(holder).toBe(run)
    // The shell's parent (sshd over SSH; 0 here, where nsenter's shell has no parent in the namespace).
    expect(pid).toMatch(/^\d+$/)
    expect(parseStatus(await ok(conn(), STATUS_SCRIPT)).lock).toBe(run)
    const refused = newRunId()
    expect(await ok(conn(), beginScript(refused, 'refused'))).toBe(`unfinished ${run} applying`)
    expect(await ok(conn(), `test -e /var/lib/orch/journal/${refused} && echo there || echo gone`)).toBe('gone')
    expect(await ok(conn(), commitScript(run))).toBe('disarmed\nunchanged')
    expect(await ok(conn(), 'test -e /var/lib/orch/lock && echo held || echo free')).toBe('free')
    // A host an older orch left locked (lock/run, lock/pid) with an unfinished run.
    const old = newRunId()
    await ok(conn(), `mkdir -p /var/lib/orch/journal/${old} /var/lib/orch/lock && echo applying > /var/lib/orch/journal/${old}/status && echo 'orch run old.ts' > /var/lib/orch/journal/${old}/meta && echo ${old} > /var/lib/orch/lock/run && echo 999999 > /var/lib/orch/lock/pid`)
    expect(parseStatus(await ok(conn(), STATUS_SCRIPT)).lock).toBe(old)
    expect(parseStatus(await ok(conn(), STATUS_SCRIPT)).runs.find((r) => r.run === old)).toMatchObject({ status: 'applying', meta: 'orch run old.ts' }) // its own meta file
    expect(await ok(conn(), beginScript(refused, 'refused'))).toBe(`unfinished ${old} applying`)
    await ok(conn(), rollbackScript(old, 'orch'))
    expect(await ok(conn(), 'test -e /var/lib/orch/lock && echo held || echo free')).toBe('free')
    expect(await ok(conn(), beginScript(refused, 'now'))).toBe('ok 0')
    expect(await ok(conn(), commitScript(refused))).toBe('disarmed\nunchanged')
  })

  it('a lock records the boot id; a live PID from another boot does not hold the host (PID reuse after a reboot)', async () => {
    const run = newRunId()
    expect(await ok(conn(), beginScript(run, 'boot'))).toBe('ok 0')
    const boot = await ok(conn(), 'cat /proc/sys/kernel/random/boot_id')
    expect((await ok(conn(), 'cat /var/lib/orch/lock')).split(/\s+/)[2]).toBe(boot)
    // The lock's PID is a process that runs now on the host, as a PID reused after a reboot would be.
    const pid = await ok(conn(), 'setsid sleep 60 </dev/null >/dev/null 2>&1 & echo $!')
    const lock = (b: string) => ok(conn(), `echo ${run} ${pid}${b} > /var/lib/orch/lock`)
    try {
      const other = newRunId()
      await lock(` ${boot}`)
      expect(await ok(conn(), beginScript(other, 'x'))).toBe(`held ${run}`)
      await lock(' 00000000-0000-4000-8000-000000000000')
      expect(await ok(conn(), beginScript(other, 'x'))).toBe(`unfinished ${run} applying`)
      await lock('') // an older orch's "RUN PID" lock: judged by the PID alone, as before
      expect(await ok(conn(), beginScript(other, 'x'))).toBe(`held ${run}`)
    } finally {
      await conn().run(`kill ${pid}`)
      await ok(conn(), rollbackScript(run, 'orch'))
    }
    expect(await ok(conn(), 'test -e /var/lib/orch/lock && echo held || echo free')).toBe('free')
  })

  it('an armed timer restores the host by itself when nobody disarms it', async () => {
    const before = await snapshot(conn())
    const run = newRunId()
    expect(await ok(conn(), beginScript(run, 'timer'))).toBe('ok 0')
    expect(await ok(conn(), armScript(run, 2))).toMatch(/^pid \d+$/)
    await change(conn(), run)
    expect(await snapshot(conn())).not.toEqual(before)
    let st = parseStatus('')
    for (let i = 0; i < 50; i++) {
      await sleep(200)
      st = parseStatus(await ok(conn(), STATUS_SCRIPT))
      if (st.runs.find((r) => r.run === run)?.status === 'rolled-back') break
    }
    expect(st.runs.find((r) => r.run === run)).toMatchObject({ status: 'rolled-back', rolledBackBy: 'timer' })
    expect(st.lock).toBeNull()
    expect(await snapshot(conn())).toEqual(before)
    // Disarming after the timer fired says so: the controller must report "rolled back by its timer".
    expect(await ok(conn(), disarmScript(run))).toBe('fired rolled-back timer')
  })

  it('a disarmed timer does nothing; commit keeps the change and records the run', async () => {
    const run = newRunId()
    expect(await ok(conn(), beginScript(run, 'commit'))).toBe('ok 0')
    await ok(conn(), armScript(run, 1))
    await change(conn(), run)
    expect(await ok(conn(), disarmScript(run))).toBe('disarmed')
    await sleep(1800)
    const changed = await snapshot(conn())
    expect(JSON.stringify(changed.addrs)).toContain('10.77.0.1')
    expect(await ok(conn(), commitScript(run))).toBe('disarmed\ncommitted')
    const st = parseStatus(await ok(conn(), STATUS_SCRIPT))
    expect(st.lastCommitted).toBe(run)
    expect(st.lock).toBeNull()
    expect(st.runs.find((r) => r.run === run)).toMatchObject({ status: 'committed', meta: 'commit' })
    await ok(conn(), rollbackScript(run, 'orch'))
    expect(JSON.stringify((await snapshot(conn())).addrs)).not.toContain('10.77.0.1')
  })

  it('begin installs rollback.sh once per version: an unchanged copy is not rewritten, an old one is replaced', async () => {
    const stamp = async () => ok(conn(), `stat -c '%i %Y' ${ROLLBACK_BIN}`)
    const a = newRunId()
    expect(await ok(conn(), beginScript(a, 'one'))).toBe('ok 0')
    expect(await ok(conn(), commitScript(a))).toBe('disarmed\nunchanged')
    const first = await stamp()
    const b = newRunId()
    expect(await ok(conn(), beginScript(b, 'two'))).toBe('ok 0')
    expect(await ok(conn(), commitScript(b))).toBe('disarmed\nunchanged')
    expect(await stamp()).toBe(first) // same inode: not rewritten
    // An older orch's copy (another version) is replaced by this one, through a new inode (mv).
    await ok(conn(), `echo '# version 0000' > ${ROLLBACK_STAMP}; printf 'old\\n' > ${ROLLBACK_BIN}`)
    const c = newRunId()
    expect(await ok(conn(), beginScript(c, 'three'))).toBe('ok 0')
    expect(await ok(conn(), commitScript(c))).toBe('disarmed\nunchanged')
    expect(await ok(conn(), `cat ${ROLLBACK_BIN}`)).toBe(ROLLBACK_SH.trim())
    expect(await stamp()).not.toBe(first)
    // A copy cut short while it was first written (no stamp) is replaced too; on a fresh host it is
    // written in place with no temp file, and stamped.
    await ok(conn(), `rm -f ${ROLLBACK_STAMP}; printf '#!/bin/sh\\n# ver' > ${ROLLBACK_BIN}`)
    const d = newRunId()
    expect(await ok(conn(), beginScript(d, 'four'))).toBe('ok 0')
    expect(await ok(conn(), commitScript(d))).toBe('disarmed\nunchanged')
    expect(await ok(conn(), `cat ${ROLLBACK_BIN}`)).toBe(ROLLBACK_SH.trim())
    await ok(conn(), `rm -f ${ROLLBACK_BIN} ${ROLLBACK_STAMP}`)
    const e = newRunId()
    expect(await ok(conn(), beginScript(e, 'five'))).toBe('ok 0')
    expect(await ok(conn(), commitScript(e))).toBe('disarmed\nunchanged')
    expect(await ok(conn(), `cat ${ROLLBACK_BIN}; ls /var/lib/orch/bin`)).toBe(`${ROLLBACK_SH}rollback.sh\nrollback.version`)
  })

  it('the snapshot reads iptables as `iptables -S` prints it, and sees a rule added', async () => {
    const before = await snapshot(conn())
    await ok(conn(), 'iptables -N ORCH-SNAP && iptables -A ORCH-SNAP -j RETURN && iptables -I FORWARD -j ORCH-SNAP && iptables -t nat -A POSTROUTING -s 10.79.0.0/24 -j MASQUERADE')
    try {
      const s = await snapshot(conn())
      expect(s.filter).toBe(await ok(conn(), 'iptables -S'))
      expect(s.nat).toBe(await ok(conn(), 'iptables -t nat -S'))
      expect(s.filter).not.toEqual(before.filter)
      expect(s.nat).not.toEqual(before.nat)
    } finally {
      await ok(conn(), 'iptables -D FORWARD -j ORCH-SNAP; iptables -F ORCH-SNAP; iptables -X ORCH-SNAP; iptables -t nat -D POSTROUTING -s 10.79.0.0/24 -j MASQUERADE')
    }
    expect(await snapshot(conn())).toEqual(before)
  })

  it('the journal is one file: every change appends its entry to journal/RUN/entries', async () => {
    const run = newRunId()
    expect(await ok(conn(), beginScript(run, 'one file'))).toBe('ok 0')
    await change(conn(), run)
    const dir = `/var/lib/orch/journal/${run}`
    expect(await ok(conn(), `cd ${dir} && stat -c '%a %n' . * | sort`)).toBe(`600 entries\n600 status\n700 .`)
    // The status file: the status, then who started the run (one file, not two).
    expect(await ok(conn(), `sed -n 1,2p ${dir}/status`)).toBe('applying\none file')
    expect(await ok(conn(), `grep -c '^# orch entry ' ${dir}/entries`)).toBe('2')
    expect(await ok(conn(), beginScript(run, 'one file', true))).toBe('ok 2')
    await ok(conn(), rollbackScript(run, 'orch'))
    expect(await ok(conn(), `cat ${dir}/undone`)).toBe('0002\n0001')
    expect(await ok(conn(), `sed -n 1,2p ${dir}/status`)).toBe('rolled-back\none file')
    expect(parseStatus(await ok(conn(), STATUS_SCRIPT)).runs.find((r) => r.run === run)).toMatchObject({ status: 'rolled-back', meta: 'one file' })
  })

  it('rollback sets aside an entry cut short while it was written (its change never ran) and undoes the rest', async () => {
    const before = await snapshot(conn())
    const run = newRunId()
    expect(await ok(conn(), beginScript(run, 'cut'))).toBe('ok 0')
    await change(conn(), run) // entries 0001 and 0002, both complete, both applied
    // Entry 0003 as the engine's prefix would leave it had the disk filled up mid-write: no end line.
    const text = entryText({ description: 'would be harmful', script: 'touch /tmp/orch-incomplete-ran' }, { seq: 3, host: 'node1', backupPath: '/nonexistent', module: 'x', task: 'x' })
    expect(text.trimEnd().endsWith(entryEnd(3))).toBe(true)
    const cut = text.slice(0, text.indexOf(entryEnd(3)))
    const dir = `/var/lib/orch/journal/${run}`
    await ok(conn(), `printf '%s' ${quote(cut)} >> ${dir}/entries`)
    await ok(conn(), rollbackScript(run, 'orch'))
    expect(await snapshot(conn())).toEqual(before)
    expect(await ok(conn(), `[ -e /tmp/orch-incomplete-ran ] && echo ran || echo not-run; cat ${dir}/undone`)).toBe('not-run\n0003 incomplete\n0002\n0001')
    expect(await ok(conn(), `grep -c 'entry 0003 is incomplete' ${dir}/rollback.log`)).toBe('1')
    expect(parseStatus(await ok(conn(), STATUS_SCRIPT)).runs.find((r) => r.run === run)).toMatchObject({ status: 'rolled-back', pending: 0 })
  })

  it('a rollback that failed halfway resumes where it stopped and undoes nothing twice', async () => {
    const before = await snapshot(conn())
    const run = newRunId()
    const count = `/tmp/orch-undo-count-${run}`
    const flag = `/tmp/orch-undo-may-${run}`
    expect(await ok(conn(), beginScript(run, 'resume'))).toBe('ok 0')
    const j = new RemoteJournal(run)
    await j.record(conn().hostName, conn(), { description: 'del addr', script: `echo 1 >> ${count}; ip addr del 10.77.0.1/32 dev lo` }, { module: 'addr', task: 'a' })
    await ok(conn(), 'ip addr add 10.77.0.1/32 dev lo')
    // This undo fails until the flag exists (a stuck daemon, a full disk...).
    await j.record(conn().hostName, conn(), { description: 'del route', script: `[ -e ${flag} ] || exit 7; echo 2 >> ${count}; ip route del blackhole 10.78.0.0/24` }, { module: 'route', task: 'r' })
    await ok(conn(), 'ip route add blackhole 10.78.0.0/24')
    try {
      const r = await conn().run(rollbackScript(run, 'orch'))
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/some undo steps of run .* failed/)
      const st = parseStatus(await ok(conn(), STATUS_SCRIPT)).runs.find((x) => x.run === run)
      expect(st).toMatchObject({ status: 'rollback-failed', pending: 1 })
      expect(await ok(conn(), `cat ${count}`)).toBe('1') // the older entry was still undone
      await ok(conn(), `touch ${flag}`)
      await ok(conn(), rollbackScript(run, 'orch'))
      expect(await ok(conn(), `cat ${count}`)).toBe('1\n2') // 0002 now; 0001 not again
      expect(parseStatus(await ok(conn(), STATUS_SCRIPT)).runs.find((x) => x.run === run)).toMatchObject({ status: 'rolled-back', pending: 0 })
      expect(await snapshot(conn())).toEqual(before)
    } finally {
      await ok(conn(), `rm -f ${count} ${flag}`)
    }
  })

  it("an older orch's journal (one file per entry) is still rolled back, after the newer entries of a resumed run", async () => {
    const before = await snapshot(conn())
    const run = newRunId()
    const order = `/tmp/orch-undo-order-${run}`
    expect(await ok(conn(), beginScript(run, 'legacy'))).toBe('ok 0')
    const dir = `/var/lib/orch/journal/${run}`
    // Entry 0001 as an older orch wrote it: its own file, complete by its rule and end mark.
    const legacy = [
      '#!/bin/sh',
      '# orch undo 0001 host=node1 module=addr',
      '# orch: complete only when the last line is the end mark',
      `echo 1 >> ${order}; ip addr del 10.77.0.1/32 dev lo`,
      '# orch: end of entry',
      '',
    ].join('\n')
    await ok(conn(), `umask 077; printf '%s' ${quote(legacy)} > ${dir}/0001-addr.sh && ip addr add 10.77.0.1/32 dev lo`)
    // This orch resumes the run: its entries are numbered after the older one.
    expect(await ok(conn(), beginScript(run, 'legacy', true))).toBe('ok 1')
    const j = new RemoteJournal(run)
    j.startAfter(conn().hostName, 1)
    await j.record(conn().hostName, conn(), { description: 'del route', script: `echo 2 >> ${order}; ip route del blackhole 10.78.0.0/24` }, { module: 'route', task: 'r' })
    await ok(conn(), 'ip route add blackhole 10.78.0.0/24')
    expect(await ok(conn(), `grep '^# orch entry ' ${dir}/entries`)).toBe('# orch entry 0002 host=node1 module=route')
    expect(parseStatus(await ok(conn(), STATUS_SCRIPT)).runs.find((x) => x.run === run)).toMatchObject({ pending: 2 })
    try {
      await ok(conn(), rollbackScript(run, 'orch'))
      expect(await ok(conn(), `cat ${order}; ls ${dir} | grep '^0001'`)).toBe('2\n1\n0001-addr.undone')
      expect(parseStatus(await ok(conn(), STATUS_SCRIPT)).runs.find((x) => x.run === run)).toMatchObject({ status: 'rolled-back', pending: 0 })
      expect(await snapshot(conn())).toEqual(before)
    } finally {
      await ok(conn(), `rm -f ${order}`)
    }
  })
})
