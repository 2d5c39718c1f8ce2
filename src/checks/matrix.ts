/**
 * The container matrix's probes, measured with one `docker exec` per host per round, all hosts in
 * parallel, each host looping over its peers inside its probe container (busybox sh):
 *
 *   1. listen  (with TCP, or when the probe's address is read from an interface): a clean work directory,
 *              one `nc -l` per peer in the background (peer i sends to port tcpPort + i); when a sender
 *              connects, the socket becomes the stdin and stdout of a small program that stores what
 *              arrives (`cat`) until the sender's EOF, counts it (`wc -c`) and writes the count back on the
 *              same connection. The round waits until every listener is bound (/proc/net/tcp*), never a
 *              fixed time, and prints the listeners' states and the probe's address.
 *   2. probe   (TCP) every peer sent `bytes` zero bytes, all at once in the background, then every peer
 *              pinged, all at once too (the pings do not compete with this host's transfers, and find the
 *              neighbours resolved); each result: the sender's exit status with the receiver's count it
 *              read back, and ping's.
 *              The sender half-closes when its input ends; the receiver counts, answers and exits, which
 *              closes the connection, and the sender exits: nothing waits for a timeout when the network
 *              works (busybox nc, both builds: nc.c exits on the peer's EOF, nc_bloaty exits when its
 *              stdin and the network are both closed). The last listener of a host to finish with the
 *              full count removes the work directory.
 *   3. count   only when a sender did not read back the full count (a failure): each listener's count
 *              as `wc -c` of what arrived and its state, then the leftovers stopped and removed.
 *
 * The rounds are separated on the controller (every host finished round 1 before any sends), so nothing
 * depends on how much later another host started. Limits only bound failures: ping -W and the sender's
 * connect (-w) WAIT seconds, all of a host's sends SEND_LIMIT, a listener without a sender LISTEN_LIMIT.
 *
 * What the probe image needs: a POSIX sh (busybox ash), ping, nc with -l -p -w -e, head -c, cat, wc,
 * tail, sleep with fractions, /proc/net/tcp. The official busybox image and Debian's busybox have them.
 * Listeners outlive round 1's shell: the probe container's init (docker --init, the container task's
 * default) reaps them.
 */
import { quote } from '../net/shell.ts'

/** Seconds per ping and per TCP connect. */
export const WAIT = 2
/** Echo requests per ping probe (any reply passes). */
export const PINGS = 3
/** Seconds a host's senders may take in all (connect and transfer): bounds a transfer that stalls. */
export const SEND_LIMIT = 20
/** Seconds a listener waits for its sender's connection before it gives up on its own. */
export const LISTEN_LIMIT = 60
/** Seconds round 1 waits at most for its listeners to be bound (it polls every 50 ms). */
export const BIND_LIMIT = 5
/** Seconds round 3 waits at most for a listener whose connection is still open to finish. */
export const FINISH_LIMIT = 2

/** The listeners' directory inside the probe container (one per base port); round 2 uses DIR.send. */
export const matrixDir = (basePort: number): string => `/tmp/orch-matrix.${basePort}`

/**
 * Shell function stopping the listeners that are still running (of this round, or of a run cut short),
 * then removing the directory once each has written its rc file (or after a second).
 */
const STOP = `stop() {
  k=
  for f in "$d"/pid.*; do
    [ -f "$f" ] || continue
    p=\${f##*.}
    [ -e "$d/rc.$p" ] && continue
    k="$k $p"
    [ -f "$d/cpid.$p" ] && read q < "$d/cpid.$p" && kill "$q" 2>/dev/null
    [ -f "$d/cpid.$p" ] || { read q < "$f" && kill "$q" 2>/dev/null; }
  done
  j=0
  for p in $k; do
    while [ ! -e "$d/rc.$p" ] && [ $j -lt 20 ]; do sleep 0.05; j=$((j + 1)); done
    [ -e "$d/rc.$p" ] || { read q < "$d/pid.$p" && kill "$q" 2>/dev/null; [ -f "$d/cpid.$p" ] && read q < "$d/cpid.$p" && kill "$q" 2>/dev/null; }
  done
  rm -rf "$d"
}`

/**
 * What runs on a listener's accepted socket (its stdin and stdout), in double quotes ($d and $p are the
 * round's): mark the connection, store what arrives until the sender's EOF (cat, in the background with
 * its pid in cpid.P so that stop() can end a stalled one; the socket passed on fd 3, since a background
 * job's stdin is /dev/null), count it, write the count back to the sender.
 */
const LISTENER = 'echo > $d/acc.$p; exec 3<&0; cat <&3 > $d/rx.$p & echo \\$! > $d/cpid.$p; wait \\$!; wc -c < $d/rx.$p > $d/n.$p; read n < $d/n.$p; echo \\$n'

const hex = (port: number): string => port.toString(16).toUpperCase().padStart(4, '0')

/**
 * Round 1 on one host: listeners on `ports` (one per peer, for `bytes` each) and, with `iface`, the
 * probe's IPv4 address there. Output lines: `@@ listen PORT ok|fail DETAIL`, `@@ addr-rc N`, `@@ addr LINE`.
 */
export function listenScript(basePort: number, ports: number[], bytes: number, iface?: string): string {
  const lines = [`d=${quote(matrixDir(basePort))}`, STOP]
  if (iface !== undefined) lines.push(`a=$(ip -4 -o addr show dev ${quote(iface)} 2>&1); echo "@@ addr-rc $?"`, `echo "$a" | sed 's/^/@@ addr /'`)
  if (!ports.length) return lines.join('\n')
  lines.push(
    `ports=${quote(ports.join(' '))}`,
    // Called by each listener after it ended (rc.P written, its count sent): the last one to end, when all
    // got the full count, removes the directory (renamed first: round 3 sees all of it or nothing).
    'all() {',
    '  for q in $ports; do',
    '    [ -f "$d/rc.$q" ] && [ -f "$d/n.$q" ] || return 1',
    '    read m < "$d/n.$q"',
    `    [ "$m" = ${bytes} ] || return 1`,
    '  done',
    '  mv "$d" "$d.gone.$$" 2>/dev/null && rm -rf "$d.gone.$$"',
    '}',
    '[ -d "$d" ] && stop',
    'rm -rf "$d".gone.*',
    'mkdir -p "$d" || exit 1',
    // pid.P while it runs, rc.P once it ended; acc.P once a sender connected, cpid.P its reader, n.P its count.
    'for p in $ports; do',
    `  ( nc -l -p $p -w ${LISTEN_LIMIT} -e sh -c "${LISTENER}" & echo $! > "$d/pid.$p"; wait $!; echo $? > "$d/rc.$p"; all ) </dev/null >/dev/null 2>"$d/err.$p" &`,
    'done',
    `want=${quote(ports.map((p) => `${p}:${hex(p)}`).join(' '))}`,
    'i=0',
    'while :; do',
    '  t=$(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null)',
    '  left=',
    '  for w in $want; do',
    '    p=${w%%:*}; x=${w#*:}',
    '    [ -e "$d/up.$p" ] && continue',
    '    case "$t" in',
    '      *":$x 00000000:0000 0A "* | *":$x 00000000000000000000000000000000:0000 0A "*) : > "$d/up.$p" ;;',
    '      *) if [ -e "$d/acc.$p" ]; then : > "$d/up.$p"; elif [ ! -e "$d/rc.$p" ]; then left=1; fi ;;',
    '    esac',
    '  done',
    '  [ -z "$left" ] && break',
    `  i=$((i + 1)); [ $i -ge ${BIND_LIMIT * 20} ] && break`,
    '  sleep 0.05',
    'done',
    'for p in $ports; do',
    '  if [ -e "$d/up.$p" ]; then echo "@@ listen $p ok"',
    `  elif [ -e "$d/rc.$p" ]; then echo "@@ listen $p fail nc exited $(cat "$d/rc.$p"): $(tail -n 1 "$d/err.$p")"`,
    `  else echo "@@ listen $p fail not listening after ${BIND_LIMIT} s: $(tail -n 1 "$d/err.$p")"; fi`,
    'done',
  )
  return lines.join('\n')
}

/**
 * Round 2 on one host: (with `bytes`) send every target that many bytes on `port`, all at once in the
 * background, then ping every target, all at once too; each job a single process. `targets` are
 * [key, address]. Output lines:
 * `@@ ping KEY ok|fail LAST-LINE`, `@@ send KEY RC COUNT|- LAST-ERROR` (COUNT: what the receiver
 * counted and wrote back).
 */
export function probeScript(basePort: number, targets: Array<[number, string]>, bytes: number, port: number): string {
  const list = targets.map(([k, a]) => quote(`${k}:${a}`)).join(' ')
  const lines = [`o=${quote(matrixDir(basePort) + '.send')}`, 'rm -rf "$o"; mkdir -p "$o" || exit 1']
  if (bytes > 0)
    lines.push(
      `head -c ${bytes} /dev/zero > "$o/tx" || exit 1`,
      'pids=',
      `for t in ${list}; do`,
      '  k=${t%%:*}; a=${t#*:}',
      `  nc -w ${WAIT} "$a" ${port} < "$o/tx" > "$o/got.$k" 2> "$o/err.$k" &`,
      '  eval "s_$k=\\$!"; pids="$pids $!"',
      'done',
      // One watchdog for all the senders: a transfer that stalls is stopped after SEND_LIMIT seconds.
      `( trap 'kill $s 2>/dev/null; exit 0' TERM; sleep ${SEND_LIMIT} & s=$!; wait $s; kill $pids 2>/dev/null ) </dev/null >/dev/null 2>&1 &`,
      'w=$!',
      `for t in ${list}; do`,
      '  k=${t%%:*}',
      '  eval "wait \\$s_$k"; r=$?',
      '  n=-; [ -s "$o/got.$k" ] && read n < "$o/got.$k"',
      '  e=; [ -s "$o/err.$k" ] && e=$(tail -n 1 "$o/err.$k")',
      '  echo "@@ send $k $r ${n:--} $e"',
      'done',
      'kill $w 2>/dev/null',
    )
  lines.push(
    // The pings after this host's transfers (not competing with them; its neighbours are resolved by then).
    // Three echoes 0.2 s apart, any reply passes: a path that works may drop one first packet (a userspace
    // OVS GRE mesh did, once in a full test suite, while its flows were set up); a blocked path drops all.
    `for t in ${list}; do`,
    '  k=${t%%:*}; a=${t#*:}',
    `  ping -c ${PINGS} -i 0.2 -W ${WAIT} "$a" > "$o/ping.$k" 2>&1 &`,
    '  eval "p_$k=\\$!"',
    'done',
    `for t in ${list}; do`,
    '  k=${t%%:*}',
    '  eval "wait \\$p_$k"; r=$?',
    '  if [ $r = 0 ]; then echo "@@ ping $k ok"; else echo "@@ ping $k fail $(tail -n 1 "$o/ping.$k")"; fi',
    'done',
    'rm -rf "$o"',
  )
  return lines.join('\n')
}

/**
 * Round 3 on one host (only after a failure): what arrived on each listener, `senders` being [key, port];
 * waits (up to FINISH_LIMIT) only for listeners that have a connection still open. Then stops what is
 * left and removes the directory. Output lines: `@@ rx KEY BYTES down|listening|connected|closed
 * LAST-ERROR`, or `@@ dir gone` when the listeners all got their full count and removed the directory.
 */
export function countScript(basePort: number, senders: Array<[number, number]>): string {
  return [
    `d=${quote(matrixDir(basePort))}`,
    STOP,
    '[ -d "$d" ] || { echo "@@ dir gone"; exit 0; }',
    `ports=${quote(senders.map(([, p]) => p).join(' '))}`,
    'i=0',
    `while [ $i -lt ${FINISH_LIMIT * 20} ]; do`,
    '  w=',
    '  for p in $ports; do [ -e "$d/acc.$p" ] && [ ! -e "$d/rc.$p" ] && w=1; done',
    '  [ -z "$w" ] && break',
    '  i=$((i + 1)); sleep 0.05',
    'done',
    `for t in ${senders.map(([k, p]) => quote(`${k}:${p}`)).join(' ')}; do`,
    '  k=${t%%:*}; p=${t#*:}',
    '  n=0; [ -f "$d/rx.$p" ] && n=$(wc -c < "$d/rx.$p")',
    '  s=listening; [ -e "$d/acc.$p" ] && s=connected; [ -e "$d/rc.$p" ] && s=closed; [ -e "$d/up.$p" ] || s=down',
    '  e=; [ -s "$d/err.$p" ] && e=$(tail -n 1 "$d/err.$p")',
    '  echo "@@ rx $k" $n $s "$e"',
    'done',
    'stop',
  ].join('\n')
}

/** Stops the listeners and removes their directory (when the run ends before round 2). */
export function stopScript(basePort: number): string {
  return [`d=${quote(matrixDir(basePort))}`, STOP, '[ -d "$d" ] && stop', 'true'].join('\n')
}

/** `@@ KIND KEY REST` lines of a round's output, by "KIND KEY". */
export function parseRound(out: string): Map<string, string> {
  const m = new Map<string, string>()
  for (const line of out.split('\n')) {
    const x = /^@@ (\S+) (\S+) ?(.*)$/.exec(line)
    if (x) m.set(`${x[1]} ${x[2]}`, x[3])
  }
  return m
}

/** The probe's address from round 1's `@@ addr` lines (null: none). */
export function parseAddr(out: string): string | null {
  for (const line of out.split('\n')) {
    const m = /^@@ addr .*inet (\d+\.\d+\.\d+\.\d+)\//.exec(line)
    if (m) return m[1]
  }
  return null
}
