/**
 * A Connection into a lab host that enters its namespaces directly (nsenter), without SSH.
 * For tests of task logic only: it runs the same scripts on the same kernel state as the ssh2
 * transport would, one process per command. orch itself always goes over SSH.
 */
import { sh } from '../net/shell.ts'
import type { Connection, ExecOptions, ExecResult } from '../transport/types.ts'
import { shLocal } from './exec.ts'
import type { Lab, LabHost } from './index.ts'

export function nsenterConnection(lab: Lab, host: LabHost): Connection {
  let open = true
  const conn: Connection = {
    hostName: host.name,
    get alive() {
      return open
    },
    async run(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
      const t0 = Date.now()
      const wrapped = opts.timeoutMs ? sh`timeout -s KILL ${Math.ceil(opts.timeoutMs / 1000)} sh -c ${script}` : script
      const r = await lab.exec(host, `cd /root && ${wrapped}`, opts.stdin === undefined ? undefined : String(opts.stdin))
      return { ...r, durationMs: Date.now() - t0, timedOut: opts.timeoutMs ? r.code === 137 : undefined }
    },
    async upload(path: string, content: string | Buffer, mode = 0o644): Promise<void> {
      const tmp = `${path}.orch-tmp`
      const b64 = Buffer.from(content).toString('base64')
      const r = await lab.exec(host, sh`base64 -d > ${tmp} && chmod ${mode.toString(8)} ${tmp} && mv -f ${tmp} ${path}`, b64)
      if (r.code !== 0) throw new Error(`upload ${path} on ${host.name}: ${r.stderr}`)
    },
    async close() {
      open = false
    },
  }
  return conn
}
