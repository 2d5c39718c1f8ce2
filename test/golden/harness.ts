/**
 * Golden task cases, pyinfra's tests/operations/<op>/<case>.json style: a case's arguments, the host
 * output its read got on a real lab host, and what the task then planned, applied and would undo.
 * record.ts writes them (proving each on the lab: apply, a second run changes nothing, the undo brings
 * the host back to its snapshot); the unit test replays them through a replaying connection.
 */
import type { Host } from '../../src/inventory/types.ts'
import type { Change, Task, TaskContext, Undo } from '../../src/engine/types.ts'
import type { ExecOptions, ExecResult } from '../../src/transport/types.ts'
import { forwardAccept } from '../../src/tasks/forward.ts'
import { masquerade } from '../../src/tasks/nat.ts'
import { route } from '../../src/tasks/route.ts'
import { sysctl } from '../../src/tasks/sysctl.ts'
import { vxlan } from '../../src/tasks/vxlan.ts'
import { dockerBip } from '../../src/tasks/dockerBip.ts'
import { wireguard, wireguardKey } from '../../src/tasks/wireguard.ts'

/** The tasks golden cases exist for, by module name. */
export const TASKS: Record<string, (args: any) => Task<any>> = {
  sysctl: (a) => sysctl(a),
  route: (a) => route(a),
  masquerade: (a) => masquerade(a),
  forwardAccept: (a) => forwardAccept(a),
  vxlan: (a) => vxlan(a),
  dockerBip: (a) => dockerBip(a),
  wireguardKey: (a) => wireguardKey(a),
  wireguard: (a) => wireguard(a),
}

export interface RecordedRun {
  phase: 'read' | 'apply'
  script: string
  stdin?: string
  code: number
  stdout: string
  stderr: string
}

export interface Golden {
  task: string
  case: string
  /** What the case is about. */
  about: string
  /** Run on the lab host before the case (documents the host state the output came from). */
  setup: string
  args: unknown
  runs: RecordedRun[]
  /** Steps of the plan (JSON; a file's old content as base64). */
  plan: unknown
  /** Persisted steps (written at commit; here, without a transaction, with the change). */
  persist?: unknown
  changes: Change[]
  undo: Undo | null
  /** What apply reported (msg, data, failed): a task that checks the host after its change says so here. */
  outcome?: unknown
  /** The read of a second run, after apply: it must plan nothing. */
  second: RecordedRun[]
}

/** Temp file names are random (transport/framing newMarker): compared as one token. */
export const normalize = (s: string): string => s.replace(/\.orch\.[0-9a-f]{32}/g, '.orch.TMP')

/** The plan as JSON (a Buffer as { base64 }). */
export function planJson(plan: unknown): unknown {
  return JSON.parse(
    JSON.stringify(plan, function (this: unknown, _k, v) {
      if (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) return { base64: Buffer.from((v as { data: number[] }).data).toString('base64') }
      return v
    }),
  )
}

export function ctxFor(hostName: string, run: (script: string, o?: ExecOptions) => Promise<ExecResult>): TaskContext {
  const host: Host = { name: hostName, vars: {}, groups: ['all'] }
  return { host, vars: {}, check: false, diff: true, conn: undefined as never, run, registered: {}, facts: {}, runId: 'golden', log: () => {} }
}

export interface Outcome {
  runs: RecordedRun[]
  plan: unknown
  persist?: unknown
  changes: Change[]
  undo: Undo | null
  outcome?: unknown
}

/** The engine's order on one host: validate, read, diff, undo, apply (when there is something to change). */
export async function drive(t: Task<any>, hostName: string, exec: (script: string, o?: ExecOptions) => Promise<ExecResult>, apply = true): Promise<Outcome> {
  const runs: RecordedRun[] = []
  let phase: RecordedRun['phase'] = 'read'
  const ctx = ctxFor(hostName, async (script, o) => {
    const r = await exec(script, o)
    runs.push({ phase, script, ...(o?.stdin !== undefined ? { stdin: String(o.stdin) } : {}), code: r.code, stdout: r.stdout, stderr: r.stderr })
    return r
  })
  const res = t.resource
  res.validate?.(ctx.host, ctx.vars)
  const state = await res.read(ctx)
  const changes = res.diff(state, ctx)
  const undo = changes.length ? (res.undo?.(state, changes, ctx) ?? null) : null
  let outcome: unknown
  if (changes.length && apply) {
    phase = 'apply'
    outcome = JSON.parse(JSON.stringify((await res.apply(ctx, state, changes)) ?? {}))
  }
  const persist = (state as { persist?: unknown[] }).persist
  return { runs, plan: planJson((state as { steps?: unknown }).steps ?? null), ...(persist?.length ? { persist: planJson(persist) } : {}), changes, undo, ...(outcome !== undefined ? { outcome } : {}) }
}
