/**
 * The target side of a transaction: scripts that live on each host under /var/lib/orch and work
 * without the controller.
 *
 *   /var/lib/orch/                      root-only (0700)
 *     bin/rollback.sh RUN WHO           replays RUN's undo journal newest first (run by orch or a timer)
 *     bin/rollback.version              the version of rollback.sh in place (ROLLBACK_STAMP)
 *     lock                              "RUN PID BOOT": the run that holds this host, its shell's parent (sshd)
 *                                       and the boot id then (a PID from an earlier boot does not hold it);
 *                                       created with noclobber (O_EXCL), the atomic lock; a directory
 *                                       lock/ with lock/run and lock/pid is an older orch's, read the same
 *     last-committed                    id of the last committed run (what `orch rollback` undoes)
 *     journal/RUN/entries               undo entries, appended by the engine before each change (one file)
 *     journal/RUN/undone                entries undone by a rollback (or set aside), one number per line
 *     journal/RUN/NNNN-module.backup    what an entry's undo restores (a file's old content), when it needs it
 *     journal/RUN/NNNN-module.sh        an older orch's entries, one file each (renamed .undone once undone)
 *     journal/RUN/status                line 1: applying | committed | rolling-back | rolled-back | rollback-failed;
 *                                       line 2: who started the run, when, with which playbook (an older
 *                                       orch kept that in journal/RUN/meta); line 3: the boot id it began in
 *                                       (a rollback in a later boot passes over undo steps that fail: their
 *                                       runtime state went with the boot)
 *     journal/RUN/rolled-back-by        orch | timer | reboot | orch-rollback ...
 *     journal/RUN/timer                 how the armed commit-confirmed timer can be disarmed
 *     journal/RUN/armed                 the token of the armed timer: the timer rolls back only while it stands,
 *                                       disarm (the confirm) removes it under the run's rollback lock
 *     journal/RUN/.rollback.BOOTID/     that lock (one rollback at a time; one of an earlier boot holds nothing)
 *     journal/RUN/ovs-conf.db           (hosts that boot systemd) the OVS database as begin found it
 *     journal/RUN/late                  undo steps left by the early boot unit for the late one
 *   /etc/systemd/system/orch-boot-rollback{,-late}.service   (hosts that boot systemd) see rollbacksh.ts
 *
 * Every entry undone is listed in `undone` (an older orch's entry file is renamed .undone), so a rollback
 * interrupted halfway (the host rebooted, the timer and orch raced) resumes where it stopped and never
 * undoes anything twice.
 */
import { ENTRY_START, JOURNAL_ROOT, assertRunId, durable, journalDir } from '../engine/journal.ts'
import { raw, sh } from '../net/shell.ts'
import { BOOT_ID, BOOT_UNIT, BOOT_UNITS, LOCK_PATH, ORCH_ROOT, OVS_DB, OVS_DB_COPY, READ_LOCK, ROLLBACK_BIN, ROLLBACK_SH, ROLLBACK_VERSION, UNIT_DIR, entryNumbers, rollbackLock, setStatus } from './rollbacksh.ts'

export { LOCK_PATH, ORCH_ROOT, ROLLBACK_BIN, ROLLBACK_SH }
/**
 * The version of the rollback.sh in place, written once it is whole. Replacing a copy goes through a temp
 * file and mv (a rollback running from the old copy keeps reading it); the first copy on a host has
 * nobody reading it and is written in place, created exclusively: no process. One cut short (no stamp)
 * is replaced by the next begin.
 */
export const ROLLBACK_STAMP = `${ORCH_ROOT}/bin/rollback.version`

/**
 * Sets $n to the entries journalled in `dir` (undone or not): exactly when `exact` (a resumed run numbers
 * its entries after them; one grep, only when the run has entries), else 0 or more than 0 (commit and
 * release only ask whether there are any: builtins alone). An older orch's entry files count too.
 */
function countEntries(dir: string, exact: boolean): string {
  return sh`n=0
for f in ${dir}/[0-9][0-9][0-9][0-9]-*; do case "$f" in *.sh|*.undone) n=$((n + 1)) ;; esac; done
if [ -s ${dir}/entries ]; then ` + (exact ? sh`n=$((n + $(grep -c ${'^' + ENTRY_START} ${dir}/entries)))` : 'n=$((n + 1))') + '; fi'
}

/**
 * Begin a run on a host, in one round trip: install rollback.sh, refuse when another run holds the host
 * or an earlier run was left unfinished (unless resuming that very run), take the lock, write the status
 * with `meta` (who, when, which playbook) on its second line: one file, not two.
 * Prints one line: "ok N" (N entries already journalled: a resumed run), "held RUN", or "unfinished RUN STATUS".
 */
export function beginScript(runId: string, meta: string, resume = false): string {
  assertRunId(runId)
  const dir = journalDir(runId)
  // Shell builtins wherever they do (read, echo, printf, test, globs): every process started here is
  // ~1-1.5 ms of the target's CPU on every run. What is left: one mkdir, of the run's journal (with
  // /var/lib/orch on a fresh host), and, after an upgrade, the mv that replaces rollback.sh (written
  // under umask 077, 0600, and always run as `/bin/sh rollback.sh`: no chmod; see ROLLBACK_STAMP). The
  // lock is a file made with noclobber (the shell's own O_EXCL open), so taking it starts no process; the
  // journal directory is made first, and removed again when the host is refused.
  return (
    // A fresh host: /var/lib/orch made under umask 077 is root-only already (an existing one is locked down).
    sh`umask 077
made=0
if [ ! -d ${JOURNAL_ROOT} ]; then
  if [ -d ${ORCH_ROOT} ]; then mkdir -p ${ORCH_ROOT}/bin ${dir} && chmod 700 ${ORCH_ROOT}; else mkdir -p ${ORCH_ROOT}/bin ${dir}; fi || exit 1
  made=1
elif [ ! -d ${dir} ]; then
  mkdir ${dir} || exit 1
  made=1
fi
v=; [ -f ${ROLLBACK_STAMP} ] && read -r v < ${ROLLBACK_STAMP}
if [ "$v" != ${ROLLBACK_VERSION} ]; then
  if [ -e ${ROLLBACK_BIN} ]; then
    printf '%s' ${ROLLBACK_SH} > ${ROLLBACK_BIN}.tmp && mv -f ${ROLLBACK_BIN}.tmp ${ROLLBACK_BIN} || exit 1
    echo ${ROLLBACK_VERSION} > ${ROLLBACK_STAMP}
  else
    set -C
    if { printf '%s' ${ROLLBACK_SH} > ${ROLLBACK_BIN}; } 2>/dev/null; then set +C; echo ${ROLLBACK_VERSION} > ${ROLLBACK_STAMP}; else set +C; fi
  fi
fi
# Where systemd boots the host: the units that roll back, at boot, a run a reboot cut short.
if [ -d /run/systemd/system ] && { [ "$v" != ${ROLLBACK_VERSION} ] || [ ! -e ${UNIT_DIR + '/' + BOOT_UNIT} ]; }; then
  umask 022; mkdir -p ${UNIT_DIR + '/sysinit.target.wants'} &&${raw(BOOT_UNITS.map(([n, t]) => sh` printf '%s' ${t} > ${UNIT_DIR + '/' + n} &&`).join(''))} ln -sf ${UNIT_DIR + '/' + BOOT_UNIT} ${UNIT_DIR + '/sysinit.target.wants/' + BOOT_UNIT} || echo 'orch: could not install the boot rollback units' >&2
  umask 077
fi
# The boot the lock was taken in: after a reboot its PID may belong to another process (PIDs start again).
boot=; read -r boot < ${BOOT_ID} 2>/dev/null
set -C
if { echo ${runId} "$PPID" "$boot" > ${LOCK_PATH}; } 2>/dev/null; then set +C
else
  set +C
  ${raw(READ_LOCK)}
  # Taken a moment ago by another run that has not written its name yet.
  if [ -z "$holder" ] && [ -f ${LOCK_PATH} ]; then sleep 0.2; ${raw(READ_LOCK)}; fi
  st=; [ -n "$holder" ] && [ -f ${JOURNAL_ROOT}/"$holder"/status ] && read -r st < ${JOURNAL_ROOT}/"$holder"/status; st=\${st:-unknown}
  if [ ${resume ? 1 : 0} = 1 ] && [ "$holder" = ${runId} ]; then
    if [ -d ${LOCK_PATH} ]; then echo ${runId} > ${LOCK_PATH}/run; echo $PPID > ${LOCK_PATH}/pid; else echo ${runId} "$PPID" "$boot" > ${LOCK_PATH}; fi
  else
    [ $made = 0 ] || rmdir ${dir} 2>/dev/null
    # Held: its shell's parent still runs, in this boot (a lock without a boot id is an older orch's).
    lboot=; case "$lpid" in *' '*) lboot=\${lpid#* }; lpid=\${lpid%% *} ;; esac
    if [ "$st" = applying ] && [ "\${lpid:-0}" -gt 1 ] 2>/dev/null && kill -0 "$lpid" 2>/dev/null && { [ -z "$lboot" ] || [ "$lboot" = "$boot" ]; }; then echo "held $holder"; else echo "unfinished $holder $st"; fi
    exit 0
  fi
fi
# Line 3 of the status: the boot the run began in (a resumed run keeps its first).
st=applying; b0=$boot; [ -f ${dir}/status ] && { read -r st; read -r _m; read -r b0; } < ${dir}/status
printf '%s\\n%s\\n%s\\n' "$st" ${meta.replace(/[\r\n]+/g, ' ')} "\${b0:-$boot}" > ${dir}/status
# On a host that boots systemd, the OVS database as the run found it: what the boot unit restores if a
# reboot cuts the run short.
if [ -f ${OVS_DB} ] && [ -d /run/systemd/system ] && [ ! -f ${dir + '/' + OVS_DB_COPY} ]; then cp -p ${OVS_DB} ${dir + '/' + OVS_DB_COPY} || exit 1; fi
# On disk before any change: the lock, the status "applying" (what the boot unit goes by) and the OVS copy.
if [ -f ${dir + '/' + OVS_DB_COPY} ]; then ${raw(durable([LOCK_PATH, `${dir}/status`, `${dir}/${OVS_DB_COPY}`, dir, JOURNAL_ROOT, ORCH_ROOT]))} || exit 1
else ${raw(durable([LOCK_PATH, `${dir}/status`, dir, JOURNAL_ROOT, ORCH_ROOT]))} || exit 1; fi
` +
    countEntries(dir, true) +
    `
echo "ok $n"`
  )
}

/**
 * Arm the commit-confirmed timer: unless disarmed within `seconds`, the host replays the run's journal by
 * itself. systemd-run where systemd runs (survives the ssh session and sshd restarts; AccuracySec=1s, as
 * systemd's default of a minute may fire a transient timer that much late); elsewhere a detached process
 * in its own session (setsid, stdin from /dev/null) so the session dropping can't kill it. The timer
 * carries a token also written to journal/RUN/armed: it rolls back only while that token stands (see
 * disarmScript), so a timer that fires as orch confirms, or one of an earlier arming, does nothing.
 */
export function armScript(runId: string, seconds: number): string {
  assertRunId(runId)
  if (!Number.isInteger(seconds) || seconds < 1) throw new Error(`confirm_timeout: expected whole seconds >= 1, got ${seconds}`)
  const dir = journalDir(runId)
  const unit = `orch-confirm-${runId}`
  return sh`tok=; read -r tok < /proc/sys/kernel/random/uuid
echo "$tok" > ${dir}/armed || exit 1
if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null; then
  systemctl stop ${unit + '.timer'} 2>/dev/null
  systemctl reset-failed ${unit + '.service'} 2>/dev/null
  systemd-run --quiet --unit=${unit} --on-active=${seconds + 's'} --timer-property=AccuracySec=1s /bin/sh ${ROLLBACK_BIN} ${runId} "timer:$tok" && echo "systemd ${unit}" > ${dir}/timer
else
  [ -f ${dir}/timer ] && kill -- -"$(sed -n 's/^pid //p' ${dir}/timer)" 2>/dev/null
  setsid sh -c ${`sleep ${seconds}; exec /bin/sh ${ROLLBACK_BIN} ${runId} "timer:$1"`} orch-timer "$tok" </dev/null >/dev/null 2>&1 &
  echo "pid $!" > ${dir}/timer
fi
cat ${dir}/timer`
}

/**
 * Disarm the timer (idempotent): the confirm is a state, not an event. Under the run's rollback lock (the
 * one the timer's rollback.sh takes before it looks), `armed` is removed: a timer that fires later finds
 * no arming and does nothing; one that took the lock first is rolling back, and disarm says so. Then the
 * timer itself is stopped (only tidying now). Prints "disarmed", or "fired STATUS BY" (BY: timer, reboot).
 */
export function disarmScript(runId: string): string {
  assertRunId(runId)
  const dir = journalDir(runId)
  return sh`boot=; read -r boot < ${BOOT_ID} 2>/dev/null
t=; [ -f ${dir}/timer ] && read -r t < ${dir}/timer
st=; by=
if mkdir ${raw(rollbackLock(dir))} 2>/dev/null; then
  rm -f ${dir}/armed ${dir}/timer
  [ -f ${dir}/status ] && read -r st < ${dir}/status
  [ -f ${dir}/rolled-back-by ] && read -r by < ${dir}/rolled-back-by
  rmdir ${raw(rollbackLock(dir))}
else
  st=rolling-back; by=timer
fi
case "$t" in
  "systemd "*) [ "$st" = rolling-back ] || systemctl stop "\${t#systemd }.timer" 2>/dev/null ;;
  "pid "*) [ "$st" = rolling-back ] || kill -- -"\${t#pid }" 2>/dev/null ;;
esac
if [ "$st" = applying ]; then echo disarmed; else echo "fired $st \${by:-timer}"; fi`
}

/**
 * End a run that passed: a host whose journal has entries commits (status committed, recorded as the run
 * `orch rollback` undoes, timer disarmed); a host the run did not change just drops its empty journal.
 * Either way the host is released. Prints "committed" or "unchanged".
 */
export function commitScript(runId: string): string {
  const dir = journalDir(runId)
  return (
    disarmScript(runId) +
    '\n' +
    countEntries(dir, false) +
    sh`
if [ $n -gt 0 ]; then
  [ "$st" = applying ] || { echo "cannot commit: run is $st" >&2; exit 3; }
  ${raw(setStatus(`${dir}/status`, 'committed'))}
  echo ${runId} > ${ORCH_ROOT}/last-committed
  result=committed
  set --
else
  set -- ${dir}
  result=unchanged
fi
${raw(READ_LOCK)}
[ "$holder" = ${runId} ] && set -- "$@" ${LOCK_PATH}
# One rm for the empty journal and the lock.
[ $# = 0 ] || rm -rf -- "$@"
echo $result`
  )
}

/**
 * What a host's answer to commitScript means: `committed` or `unchanged`; or the run was no longer there to
 * commit, because the host rolled it back by itself inside the window (disarm said "fired STATUS BY": a
 * reboot's boot unit, or the timer) — or commit-failed, with what the host said.
 */
export function commitOutcome(r: { code: number; stdout: string; stderr: string }): { status: string; message?: string } {
  const last = r.stdout.trim().split('\n').pop()
  if (r.code === 0 && last) return { status: last }
  const [, st, by] = /^fired (\S+) (\S+)$/m.exec(r.stdout) ?? []
  const reboot = by === 'reboot'
  if (st === 'rolled-back' || st === 'rolling-back') {
    return reboot
      ? { status: 'rolled-back-by-reboot', message: 'the host rebooted inside the confirm window, before the commit: it booted into its pre-run state' }
      : { status: 'rolled-back-by-timer', message: 'its rollback timer fired before the commit: the host restored itself' }
  }
  if (st === 'rollback-failed') return { status: 'rollback-failed', message: `its ${reboot ? 'boot unit' : 'timer'} rolled the run back before the commit, but some steps FAILED` }
  return { status: 'commit-failed', message: (r.stderr || r.stdout).trim() }
}

/** Roll back a run now (orch, on failure / interrupt / `orch rollback`). */
export function rollbackScript(runId: string, who: string): string {
  assertRunId(runId)
  return disarmScript(runId) + '\n' + sh`/bin/sh ${ROLLBACK_BIN} ${runId} ${who}`
}

/** Give a host back when the run is refused before any change: drop the empty journal, release the lock. */
export function releaseScript(runId: string): string {
  const dir = journalDir(runId)
  return (
    countEntries(dir, false) +
    sh`
[ $n -gt 0 ] || rm -rf ${dir}
${raw(READ_LOCK)}
[ "$holder" = ${runId} ] && rm -rf ${LOCK_PATH}
exit 0`
  )
}

export interface HostTxStatus {
  lock: string | null
  lastCommitted: string | null
  runs: Array<{ run: string; status: string; rolledBackBy: string | null; timer: string | null; pending: number; meta: string }>
}

/**
 * One round trip: every journalled run with its status, then the lock holder and the last committed run.
 * Read in that order because rollback releases the lock before it writes rolled-back: a reader that saw
 * rolled-back then reads the lock already gone (read first, a rollback in between tore the two).
 */
export const STATUS_SCRIPT = sh`for d in ${JOURNAL_ROOT}/*/; do
  [ -d "$d" ] || continue
  r=$(basename "$d")
  n=$(ls "$d" | grep -cE '^[0-9]{4}-.*\\.sh$')
  [ -f "$d/entries" ] && n=$((n + $(${raw(entryNumbers('"$d/entries"', '-u'))} | wc -l) - $(cat "$d/undone" 2>/dev/null | wc -l)))
  st=; m=; { read -r st; IFS= read -r m; } 2>/dev/null < "$d/status"
  [ -f "$d/meta" ] && m=$(tr '\\n' ' ' < "$d/meta") # an older orch's
  printf 'run %s %s %s %s %s\\n' "$r" "\${st:-unknown}" "$(cat "$d/rolled-back-by" 2>/dev/null || echo -)" "$n" "$(sed -n 1p "$d/timer" 2>/dev/null | tr ' ' _ || true)"
  printf 'meta %s %s\\n' "$r" "$m"
done
${raw(READ_LOCK)}
echo "lock $holder"
echo "last $(cat ${ORCH_ROOT}/last-committed 2>/dev/null)"`

export function parseStatus(out: string): HostTxStatus {
  const s: HostTxStatus = { lock: null, lastCommitted: null, runs: [] }
  const metas = new Map<string, string>()
  for (const line of out.split('\n')) {
    const [kind, ...rest] = line.split(' ')
    if (kind === 'lock') s.lock = rest.join(' ').trim() || null
    else if (kind === 'last') s.lastCommitted = rest.join(' ').trim() || null
    else if (kind === 'meta') metas.set(rest[0], rest.slice(1).join(' ').trim())
    else if (kind === 'run' && rest.length >= 4) {
      s.runs.push({
        run: rest[0],
        status: rest[1],
        rolledBackBy: rest[2] === '-' ? null : rest[2],
        pending: Number(rest[3]),
        timer: rest[4] ? rest[4].replace('_', ' ') : null,
        meta: '',
      })
    }
  }
  for (const r of s.runs) r.meta = metas.get(r.run) ?? ''
  return s
}
