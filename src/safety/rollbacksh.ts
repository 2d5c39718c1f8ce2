/**
 * rollback.sh, the script every host keeps in /var/lib/orch/bin and runs without the controller (by orch,
 * by its commit-confirmed timer, by `orch rollback`, and at boot), and the two systemd units that run it
 * at boot on hosts that boot systemd.
 *
 * A reboot inside a run's window (begun, not committed) is a rollback: runtime changes went with the
 * kernel, and orch-boot-rollback.service, early at boot (before the network, docker and Open vSwitch
 * start), undoes what was written to disk in the window (files, daemon.json, the OVS database as the run
 * found it). Undo steps that need a daemon (docker, ovs-vsctl, systemctl) are left for
 * orch-boot-rollback-late.service, started only then, after those daemons and before sshd: the
 * controller that gets back in finds the run rolled back, by `reboot`, and the host released.
 */
import { ENTRY_END, ENTRY_START, JOURNAL_ROOT } from '../engine/journal.ts'
import { createHash } from 'node:crypto'

export const ORCH_ROOT = '/var/lib/orch'
export const ROLLBACK_BIN = `${ORCH_ROOT}/bin/rollback.sh`
export const LOCK_PATH = `${ORCH_ROOT}/lock`
export const BOOT_ID = '/proc/sys/kernel/random/boot_id'
/** The run's OVS database as begin found it (hosts that boot systemd): what a reboot in the window restores. */
export const OVS_DB = '/etc/openvswitch/conf.db'
export const OVS_DB_COPY = 'ovs-conf.db'
export const BOOT_UNIT = 'orch-boot-rollback.service'
export const LATE_UNIT = 'orch-boot-rollback-late.service'
export const UNIT_DIR = '/etc/systemd/system'

/** Sets $holder and $lpid from the lock (either form), with builtins; empty when there is none. */
export const READ_LOCK = `holder=; lpid=; if [ -d ${LOCK_PATH} ]; then { read -r holder < ${LOCK_PATH}/run; read -r lpid < ${LOCK_PATH}/pid; } 2>/dev/null; elif [ -f ${LOCK_PATH} ]; then read -r holder lpid < ${LOCK_PATH}; fi`

/** An older orch's entry files (NNNN-module.sh) that carry this rule are complete only when their last line is LEGACY_ENTRY_END. */
const LEGACY_ENTRY_RULE = '# orch: complete only when the last line is the end mark'
const LEGACY_ENTRY_END = '# orch: end of entry'

/** The numbers of the entries in `file` (shell text), each once, sorted by `sort order` ('-u', '-ru'). */
export const entryNumbers = (file: string, order: '-u' | '-ru') =>
  `sed -n 's/^${ENTRY_START}\\([0-9][0-9][0-9][0-9]\\) .*/\\1/p' ${file} | sort ${order}`

/** Sets line 1 of a run's status file (`file`, shell text) to `status` (shell text), keeping line 2 (who started the run) and 3 (its boot). */
export const setStatus = (file: string, status: string) =>
  `m=; b=; { read -r _s; IFS= read -r m; read -r b; } 2>/dev/null < ${file}; printf '%s\\n%s\\n%s\\n' ${status} "$m" "$b" > ${file}`

/**
 * The per-run rollback lock, one directory per boot (`.rollback.BOOTID`, shell text for the run's dir):
 * a lock a power cut left behind belongs to an earlier boot and holds nothing, with no stale-lock guess.
 * The timer's rollback, orch's and disarm (the confirm) all take it.
 */
export const rollbackLock = (dir: string) => `${dir}/.rollback.$boot`

/** Commands an undo step may call that need a daemon which does not run yet early at boot: they fail at once there (the step is left for the late unit). */
const DAEMON_TOOLS = ['systemctl', 'service', 'docker', 'ovs-vsctl', 'ovs-ofctl', 'ovs-appctl', 'nmcli', 'networkctl', 'netplan', 'ifup', 'ifdown', 'ifreload']

const EARLY_UNIT = `[Unit]
Description=orch: roll back a run a reboot cut short (commit confirmed), before the network comes up
Documentation=file:${ROLLBACK_BIN}
DefaultDependencies=no
After=local-fs.target
Before=sysinit.target systemd-sysctl.service network-pre.target systemd-networkd.service NetworkManager.service networking.service ovsdb-server.service ovs-vswitchd.service openvswitch-switch.service containerd.service docker.service shutdown.target
Wants=network-pre.target
Conflicts=shutdown.target
ConditionDirectoryNotEmpty=${JOURNAL_ROOT}

[Service]
Type=oneshot
ExecStart=/bin/sh ${ROLLBACK_BIN} --boot
TimeoutStartSec=10min

[Install]
WantedBy=sysinit.target
`

const LATE_UNIT_TEXT = `[Unit]
Description=orch: the undo steps of a run a reboot cut short that need docker, Open vSwitch or the network manager
Documentation=file:${ROLLBACK_BIN}
After=network.target systemd-networkd.service NetworkManager.service networking.service ovs-vswitchd.service openvswitch-switch.service containerd.service docker.service
Before=ssh.service sshd.service

[Service]
Type=oneshot
ExecStart=/bin/sh ${ROLLBACK_BIN} --boot-late
TimeoutStartSec=10min
`

export const BOOT_UNITS: Array<[name: string, text: string]> = [
  [BOOT_UNIT, EARLY_UNIT],
  [LATE_UNIT, LATE_UNIT_TEXT],
]

const ROLLBACK_BODY = `# orch rollback: replay a run's undo journal, newest entry first.
# Usage: rollback.sh RUN [WHO]   (WHO: orch, orch-rollback, manual, timer:TOKEN, reboot, reboot-late)
#        rollback.sh --boot | --boot-late   (orch-boot-rollback*.service)
set -u
boot=; read -r boot < ${BOOT_ID} 2>/dev/null
case "\${1:-}" in
--boot)
  # Early at boot nothing of a run can be of this boot: every run still applying (or rolling back) was
  # cut short by the reboot. The daemons an undo step may call are not up yet: they fail at once here
  # (a directory in front of PATH) and the step is left for the late unit.
  shims=/run/orch-boot-shims
  mkdir -p "$shims" && for t in ${DAEMON_TOOLS.join(' ')}; do printf '#!/bin/sh\\n: > %s/.called\\necho "orch: %s does not run yet early at boot: left for ${LATE_UNIT}" >&2\\nexit 1\\n' "$shims" "$t" > "$shims/$t"; chmod 755 "$shims/$t"; done
  late=0
  for d in ${JOURNAL_ROOT}/*/; do
    st=; [ -f "$d/status" ] && read -r st < "$d/status"
    case "$st" in applying|rolling-back) ;; *) continue ;; esac
    b=; { read -r _s; read -r _m; read -r b; } < "$d/status"
    [ -n "$b" ] && [ "$b" = "$boot" ] && continue # started by hand after the boot: a run of this boot is not touched
    r=\${d%/}; r=\${r##*/}
    PATH="$shims:$PATH" /bin/sh "$0" "$r" reboot
    [ $? = 10 ] && late=1
  done
  rm -rf "$shims"
  [ $late = 0 ] || systemctl --no-block start ${LATE_UNIT}
  exit 0 ;;
--boot-late)
  for d in ${JOURNAL_ROOT}/*/; do
    [ -f "$d/late" ] || continue
    r=\${d%/}; r=\${r##*/}
    /bin/sh "$0" "$r" reboot-late
  done
  exit 0 ;;
esac
run=$1; who=\${2:-manual}
dir=${JOURNAL_ROOT}/$run
[ -d "$dir" ] || { echo "orch: no journal for run $run on $(hostname)" >&2; exit 3; }
tok=; case "$who" in timer:*) tok=\${who#timer:}; who=timer ;; esac
# One rollback at a time per run: the timer, the controller and disarm may race. The timer gives way at
# once (whoever holds the lock rolls back or confirms); the others wait for it, then find what it did.
i=0
until mkdir "${rollbackLock('$dir')}" 2>/dev/null; do
  i=$((i + 1))
  if [ -n "$tok" ] || [ $i -gt 1200 ]; then echo "orch: a rollback of $run is already running" >&2; exit 75; fi
  sleep 0.1
done
trap 'rmdir "${rollbackLock('$dir')}" 2>/dev/null' EXIT
for l in "$dir"/.rollback.*; do [ "$l" = "${rollbackLock('$dir')}" ] || rmdir "$l" 2>/dev/null; done
# The timer rolls back only while its own arming stands: disarm (the confirm) removes it under this lock.
if [ -n "$tok" ]; then
  a=; [ -f "$dir/armed" ] && read -r a < "$dir/armed"
  [ "$a" = "$tok" ] || { echo "orch: run $run was confirmed: its timer does nothing"; exit 0; }
fi
rm -f "$dir/armed"
st=; [ -f "$dir/status" ] && read -r st < "$dir/status"
if [ "$st" = rolled-back ]; then
  # Nothing left to undo; who did it stays recorded (a reboot, the timer).
  by=; read -r by < "$dir/rolled-back-by" 2>/dev/null
  echo "orch: run $run was already rolled back by \${by:-?}"
  exit 0
fi
# The status is line 1 of $dir/status; line 2 (who started the run) stays.
setst() { ${setStatus('"$dir/status"', '"$1"')}; }
setst rolling-back
case "$who" in reboot-late) echo reboot > "$dir/rolled-back-by" ;; *) echo "$who" > "$dir/rolled-back-by" ;; esac
# A run of an earlier boot: the runtime state its steps undo went with that boot, so a step that fails
# now is logged and passed over (what the host holds is compared with its pre-run snapshot afterwards).
rb=; { read -r _s; read -r _m; read -r rb; } 2>/dev/null < "$dir/status"
after=0; [ -n "$rb" ] && [ "$rb" != "$boot" ] && after=1
# A run a reboot cut short (never committed) held only runtime state besides what it wrote to disk: its
# steps run in a network namespace of their own, so what they set at runtime (routes, rules, sysctls a
# step restores to the earlier boot's values) goes nowhere, and what they write to files stays. Daemons
# are reached through their unix sockets all the same.
netns=; [ "\${who#reboot}" != "$who" ] && unshare --net true 2>/dev/null && netns='unshare --net --'
undo() { if [ $after = 1 ]; then $netns timeout 120 sh "$dir/.undo"; else sh "$dir/.undo"; fi; }
failed=0; left=0
# This orch's journal: one file, entries appended in the order the changes were made.
if [ -f "$dir/entries" ]; then
  for n in $(${entryNumbers('"$dir/entries"', '-ru')}); do
    grep -q "^$n" "$dir/undone" 2>/dev/null && continue
    echo "== $(date -u +%FT%TZ) undo entry $n ($who)" >> "$dir/rollback.log"
    # The entry's last whole copy; one cut short while it was written has no end line (its change never ran).
    awk -v s="${ENTRY_START}$n " -v e="${ENTRY_END}$n" 'index($0, s) == 1 { b = ""; on = 1 } on { b = b $0 "\\n" } on && $0 == e { t = b; on = 0 } END { printf "%s", t }' "$dir/entries" > "$dir/.undo"
    if [ ! -s "$dir/.undo" ]; then
      echo "-- entry $n is incomplete (its change was never made): set aside" >> "$dir/rollback.log"
      echo "$n incomplete" >> "$dir/undone"
    elif rm -f /run/orch-boot-shims/.called; undo >> "$dir/rollback.log" 2>&1 && [ ! -e /run/orch-boot-shims/.called ]; then
      echo "$n" >> "$dir/undone"
    else
      rc=$?
      if [ "$who" = reboot ]; then
        echo "-- undo entry $n left for ${LATE_UNIT} (exit $rc)" >> "$dir/rollback.log"
        left=1
      elif [ $after = 1 ]; then
        echo "-- undo entry $n failed after a reboot (exit $rc): passed over, its runtime state went with the boot" >> "$dir/rollback.log"
        echo "$n after-reboot" >> "$dir/undone"
      else
        echo "!! undo entry $n failed (exit $rc)" >> "$dir/rollback.log"
        failed=1
      fi
    fi
  done
  rm -f "$dir/.undo"
fi
# An older orch's journal (a resumed run may hold both: these are the older entries): one file per entry.
for f in $(ls "$dir" | grep -E '^[0-9]{4}-[A-Za-z0-9_-]+\\.sh$' | sort -r); do
  echo "== $(date -u +%FT%TZ) undo $f" >> "$dir/rollback.log"
  if grep -qxF '${LEGACY_ENTRY_RULE}' "$dir/$f" && [ "$(tail -n 1 "$dir/$f")" != '${LEGACY_ENTRY_END}' ]; then
    echo "-- $f is incomplete (its change was never made): set aside as \${f%.sh}.incomplete" >> "$dir/rollback.log"
    mv -f "$dir/$f" "$dir/\${f%.sh}.incomplete"
    continue
  fi
  if sh "$dir/$f" >> "$dir/rollback.log" 2>&1 || [ $after = 1 ]; then
    mv -f "$dir/$f" "$dir/\${f%.sh}.undone"
  else
    echo "!! undo $f failed (exit $?)" >> "$dir/rollback.log"
    failed=1
  fi
done
if [ "$who" = reboot ]; then
  # Before ovsdb-server starts: the database as the run found it (begin's copy), whatever the run added.
  if [ -f "$dir/${OVS_DB_COPY}" ]; then
    cp -p "$dir/${OVS_DB_COPY}" ${OVS_DB}.orch-tmp && mv -f ${OVS_DB}.orch-tmp ${OVS_DB} && echo "-- restored ${OVS_DB} as the run found it" >> "$dir/rollback.log"
  fi
  # Steps left for the late unit: the run stays rolling-back (and the host held) until it ran them.
  if [ $left = 1 ]; then : > "$dir/late"; exit 10; fi
fi
rm -f "$dir/late" "$dir/timer"
if [ $failed = 0 ]; then
  # Release the host (only if this run holds it), then say it is done: a reader that sees
  # rolled-back never finds the lock still taken.
  ${READ_LOCK}
  [ "$holder" = "$run" ] && rm -rf ${LOCK_PATH}
  [ "$(cat ${ORCH_ROOT}/last-committed 2>/dev/null)" = "$run" ] && rm -f ${ORCH_ROOT}/last-committed
  setst rolled-back
  exit 0
fi
setst rollback-failed
echo "orch: some undo steps of run $run failed on $(hostname): see $dir/rollback.log" >&2
exit 1
`
/** The version of rollback.sh and the boot units (begin installs them again when the host's are another). */
export const ROLLBACK_VERSION = `# version ${createHash('sha256')
  .update(ROLLBACK_BODY + BOOT_UNITS.map((u) => u.join('\n')).join('\n'))
  .digest('hex')
  .slice(0, 16)}`
export const ROLLBACK_SH = `#!/bin/sh\n${ROLLBACK_VERSION}\n${ROLLBACK_BODY}`
