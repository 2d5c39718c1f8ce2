/** service: start/stop/restart/reload a service via systemctl, else `service`, else /etc/init.d. */
import { argv, quote } from '../net/shell.ts'
import { ArgError, TaskFailed, task, type Resource, type Task, type Undo } from '../engine/types.ts'
import { mustSucceed } from '../engine/taskkit.ts'
import { argSpec, parseArgs } from '../argspec.ts'

export type ServiceState = 'started' | 'stopped' | 'restarted' | 'reloaded'
export interface ServiceArgs {
  name: string
  state: ServiceState
}

type Manager = 'systemctl' | 'service' | 'initd'
interface SvcState {
  manager: Manager
  active: boolean
}

const ACTION: Record<ServiceState, string> = { started: 'start', stopped: 'stop', restarted: 'restart', reloaded: 'reload' }

export function serviceCommand(manager: Manager, name: string, action: string): string {
  if (manager === 'systemctl') return argv(['systemctl', action, name])
  if (manager === 'service') return argv(['service', name, action])
  return argv([`/etc/init.d/${name}`, action])
}

export const SERVICE_SPEC = argSpec('service', {
  name: {
    type: 'str',
    required: true,
    pattern: /^[A-Za-z0-9_][A-Za-z0-9@._:+-]*$/,
    check: (n: string) => (n.includes('..') ? "a service name like 'docker' or 'openvswitch-switch'" : undefined),
    expected: "a service name like 'docker' or 'openvswitch-switch'",
  },
  state: { type: 'str', choices: ['started', 'stopped', 'restarted', 'reloaded'], required: true },
})

export function service(args: ServiceArgs): Task<SvcState> {
  const a = args ?? ({} as ServiceArgs)
  const resource: Resource<SvcState> = {
    module: 'service',
    name: `service ${a.name} ${a.state}`,
    validate() {
      parseArgs(SERVICE_SPEC, a)
    },
    async read(ctx) {
      const n = quote(a.name)
      const initd = quote(`/etc/init.d/${a.name}`)
      const script =
        `if command -v systemctl >/dev/null 2>&1; then echo systemctl; systemctl is-active ${n} >/dev/null 2>&1; echo $?; ` +
        `elif command -v service >/dev/null 2>&1; then echo service; service ${n} status >/dev/null 2>&1; echo $?; ` +
        `elif [ -x ${initd} ]; then echo initd; ${initd} status >/dev/null 2>&1; echo $?; ` +
        `else echo none; fi`
      const out = mustSucceed(await ctx.run(script), `checking service ${a.name}`).stdout.trim().split('\n')
      if (out[0] === 'none') throw new TaskFailed(`no service manager on ${ctx.host.name} (no systemctl, no service, no /etc/init.d/${a.name})`)
      return { manager: out[0] as Manager, active: out[1]?.trim() === '0' }
    },
    diff(s) {
      switch (a.state) {
        case 'started':
          return s.active ? [] : [{ what: `start ${a.name}`, before: 'inactive', after: 'active' }]
        case 'stopped':
          return s.active ? [{ what: `stop ${a.name}`, before: 'active', after: 'inactive' }] : []
        case 'restarted':
          return [{ what: `restart ${a.name}`, before: s.active ? 'active' : 'inactive', after: 'active' }]
        case 'reloaded':
          return [{ what: `reload ${a.name}` }]
      }
    },
    undo(s): Undo | null {
      if (a.state === 'started' && !s.active) return { description: `stop ${a.name} (it was not running)`, script: serviceCommand(s.manager, a.name, 'stop') }
      if (a.state === 'stopped' && s.active) return { description: `start ${a.name} (it was running)`, script: serviceCommand(s.manager, a.name, 'start') }
      return null
    },
    async apply(ctx, s) {
      const r = mustSucceed(await ctx.run(serviceCommand(s.manager, a.name, ACTION[a.state])), `${ACTION[a.state]} ${a.name}`)
      return { rc: r.code, stdout: r.stdout, stderr: r.stderr }
    },
  }
  return task(resource)
}
