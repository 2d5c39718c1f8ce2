/**
 * Docker facts (readers: sh fragment + pure parser) and the daemon restart that docker steps render:
 * daemon.json, the default bridge as the running dockerd sees it, running containers, the service
 * manager, dockerd's command line.
 */
import { sh } from '../net/shell.ts'
import { parseCidr4 } from '../net/ip.ts'
import { reader, type Reader } from './read.ts'

export const DAEMON_JSON = '/etc/docker/daemon.json'

export type ServiceManager = 'systemctl' | 'service'

/** A container that was running when the state was read. */
export interface RunningContainer {
  id: string
  name: string
  /** '' or 'no' when it has no restart policy. */
  restart: string
  /** Started with --rm: dockerd removes it when it stops it, so it cannot come back. */
  autoRemove: boolean
}

/** JSON as daemon.json is usually written: 2-space indent, trailing newline. */
export const formatDaemonJson = (o: Record<string, unknown>): string => JSON.stringify(o, null, 2) + '\n'

/** The default bridge network as dockerd runs it; null when dockerd does not answer. */
export interface DefaultBridge {
  subnet?: string
  gateway?: string
  mtu?: number
}

const BRIDGE_INSPECT = `docker network inspect --format '{{json .IPAM.Config}} {{index .Options "com.docker.network.driver.mtu"}}' bridge`

/** `{{json .IPAM.Config}} {{mtu option}}` → the IPv4 subnet, gateway and MTU. */
export function parseBridgeInspect(out: string): DefaultBridge {
  const b = out.trim()
  const sp = b.indexOf(' ')
  const cfg = (JSON.parse(sp < 0 ? b : b.slice(0, sp)) as Array<{ Subnet?: string; Gateway?: string }> | null) ?? []
  const v4 = cfg.find((c) => parseCidr4(c.Subnet))
  const m = sp < 0 ? '' : b.slice(sp + 1).trim()
  return { ...(v4?.Subnet ? { subnet: v4.Subnet } : {}), ...(v4?.Gateway ? { gateway: v4.Gateway } : {}), ...(/^\d+$/.test(m) ? { mtu: Number(m) } : {}) }
}

export function defaultBridgeReader(): Reader<DefaultBridge | null> {
  return reader('bridge', `${BRIDGE_INSPECT} 2>/dev/null || echo down`, (s) => {
    const b = s.out.trim()
    return b === 'down' || b === '' ? null : parseBridgeInspect(b)
  })
}

/** Running containers; null when dockerd does not answer. */
export function runningContainersReader(): Reader<RunningContainer[] | null> {
  const script =
    `if ids=$(docker ps -q --no-trunc 2>/dev/null); then ` +
    `if [ -n "$ids" ]; then docker inspect --format '{{.Id}} {{.Name}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.AutoRemove}}' $ids || orch_rc 3; fi; ` +
    `else echo docker-down; fi`
  return reader('containers', script, (s) => {
    if (s.rc !== 0) throw new Error(`docker inspect of the running containers exited ${s.rc}`)
    const lines = s.out.split('\n').map((l) => l.trim()).filter(Boolean)
    if (lines.includes('docker-down')) return null
    return lines.map((l) => {
      const [id, name, restart, autoRemove] = l.split(' ')
      return { id, name: (name ?? '').replace(/^\//, ''), restart: restart ?? '', autoRemove: autoRemove === 'true' }
    })
  })
}

/** 'systemctl' or 'service' (the lab has a systemctl stand-in; hosts without systemd have `service`); null: neither. */
export function serviceManagerReader(): Reader<ServiceManager | null> {
  return reader('manager', `if command -v systemctl >/dev/null 2>&1; then echo systemctl; elif command -v service >/dev/null 2>&1; then echo service; else echo none; fi`, (s) => {
    const m = s.out.trim()
    return m === 'systemctl' || m === 'service' ? m : null
  })
}

/** dockerd's PID and argv (from /proc/PID/cmdline); null when it does not run. */
export function dockerdReader(): Reader<{ pid: number; args: string[] } | null> {
  const script =
    `p=$(cat /run/docker.pid 2>/dev/null || cat /var/run/docker.pid 2>/dev/null || pgrep -xo dockerd 2>/dev/null); ` +
    `if [ -n "$p" ] && [ -r "/proc/$p/cmdline" ]; then echo "$p"; tr '\\0' '\\n' < "/proc/$p/cmdline"; fi; true`
  return reader('dockerd', script, (s) => {
    const [pid, ...args] = s.out.split('\n').filter(Boolean)
    return pid ? { pid: Number(pid), args } : null
  })
}

/**
 * Restart docker (or only stop it), wait until it answers, then `docker start` every container of `ids`
 * that is not running (dockerd brings back only those with a restart policy). Leaves the ids it started
 * in $orch_started and those that no longer exist in $orch_gone (restartedReader prints them). POSIX sh;
 * runs in undo scripts without the controller.
 *
 * With live-restore, dockerd keeps running containers across the restart and then keeps the old network
 * configuration too ("There are old running containers, the network config will not take affect"): the
 * running containers are stopped first and started again afterwards.
 */
export function restartDockerScript(manager: ServiceManager, ids: string[], o: { stopOnly?: boolean; liveRestore?: boolean } = {}): string {
  // systemd refuses a 4th start of docker.service within 60 s (StartLimitBurst): an apply's restart and a
  // rollback's two come that close; reset-failed clears the count first.
  const svc = (action: string) => (manager === 'systemctl' ? sh`systemctl reset-failed docker 2>/dev/null; systemctl ${action} docker` : sh`service docker ${action}`)
  const must = (action: string) => `${svc(action)} >&2 || { echo "orch: docker ${action} failed" >&2; exit 5; }`
  if (o.stopOnly) return must('stop')
  const stopFirst = o.liveRestore
    ? `orch_live=$(docker ps -q --no-trunc 2>/dev/null); if [ -n "$orch_live" ]; then docker stop $orch_live >/dev/null || { echo "orch: stopping the containers before the restart failed" >&2; exit 5; }; fi; `
    : 'orch_live=; '
  return (
    stopFirst +
    `${must('restart')}; ` +
    `i=0; until docker info >/dev/null 2>&1; do i=$((i+1)); if [ $i -ge 600 ]; then echo "orch: docker does not answer 60 s after the restart" >&2; exit 6; fi; sleep 0.1; done; ` +
    `orch_started=; orch_gone=; ` +
    `for c in ${ids.length ? sh`${ids}` : ''} $orch_live; do ` +
    `case " $orch_started $orch_gone " in *" $c "*) continue ;; esac; ` +
    `if s=$(docker inspect --format '{{.State.Running}}' "$c" 2>/dev/null); then ` +
    `if [ "$s" != true ] && docker start "$c" >/dev/null; then orch_started="$orch_started $c"; fi; ` +
    `else orch_gone="$orch_gone $c"; fi; done`
  )
}

/** After restartDockerScript in the same script: the ids it started again and those gone. */
export function restartedReader(): Reader<{ started: string[]; gone: string[] }> {
  return reader('restarted', `printf '%s\\n%s\\n' "$orch_started" "$orch_gone"`, (s) => {
    const [started = '', gone = ''] = s.out.split('\n')
    return { started: started.trim().split(/\s+/).filter(Boolean), gone: gone.trim().split(/\s+/).filter(Boolean) }
  })
}

/** The default bridge as dockerd runs it, read after a restart (unparsable: empty, reported as a mismatch). */
export function bridgeAfterReader(): Reader<DefaultBridge> {
  return reader('bridge', BRIDGE_INSPECT, (s) => {
    try {
      return parseBridgeInspect(s.out)
    } catch {
      return {}
    }
  })
}

/** dockerd's PID (0 when none). */
export function dockerdPidReader(): Reader<number> {
  return reader('pid', `cat /run/docker.pid 2>/dev/null || cat /var/run/docker.pid 2>/dev/null || pgrep -xo dockerd || echo 0`, (s) => Number(s.out.trim()) || 0)
}

/** Which of these containers run (id → running). */
export function containersRunningReader(ids: string[]): Reader<Map<string, boolean>> {
  return reader('states', ids.length ? sh`docker inspect --format '{{.Id}} {{.State.Running}}' ${ids} 2>/dev/null; true` : 'true', (s) => {
    const m = new Map<string, boolean>()
    for (const l of s.out.split('\n')) {
      const [id, st] = l.trim().split(' ')
      if (id) m.set(id, st === 'true')
    }
    return m
  })
}
