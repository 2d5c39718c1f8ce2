/**
 * apply's context when its undo rides along with apply's first command (journal.prefix): one round trip
 * instead of two per changed task. The entry is written, whole, before anything of that command runs,
 * and the command does not run when it could not be written. A command that cannot carry it (not in the
 * root shell the journal uses, or an upload, or a call on ctx.conn) waits for the entry written on its
 * own first; so does every command after the first, until the entry is known written.
 */
import type { ExecOptions, ExecResult } from '../transport/types.ts'
import { JOURNAL_FAILED, JOURNAL_FAILED_RC, type JournalPrefix } from './journal.ts'
import { applyCommand } from './readstage.ts'
import type { Exec } from './taskctx.ts'
import type { TaskContext } from './types.ts'

export function carrying(x: Exec, pre: JournalPrefix): TaskContext {
  const { conn, host } = x
  let written: Promise<void> | null = null
  const sameShell = (eo: ExecOptions) => eo.become === true || conn.isRoot === true
  const alone = (): Promise<void> =>
    (written ??= pre.recordAlone(conn).then(
      () => pre.done(true),
      (e) => {
        pre.done(false)
        throw e
      },
    ))
  const run = async (script: string, ro: ExecOptions = {}): Promise<ExecResult> => {
    const eo = x.execOpts(ro)
    if (!eo) return x.timeUp()
    if (written || !sameShell(eo)) {
      await alone()
      return conn.run(script, eo)
    }
    let settle!: (e?: Error) => void
    written = new Promise<void>((res, rej) => (settle = (e) => (e ? rej(e) : res())))
    written.catch(() => undefined)
    let r: ExecResult
    try {
      r = await applyCommand(x, pre.script + script, eo)
    } catch (e) {
      // Unreachable mid-command: whether the entry got written is unknown; the task fails anyway.
      pre.done(false)
      settle(e as Error)
      throw e
    }
    if (r.code === JOURNAL_FAILED_RC && r.stderr.includes(JOURNAL_FAILED)) {
      pre.done(false)
      const err = new Error(`could not journal the undo on ${host.name} (rc=${r.code}): ${r.stderr.trim()}`)
      settle(err)
      throw err
    }
    pre.done(true)
    settle()
    return r
  }
  // Anything else on the connection (upload, a call on ctx.conn) waits for the entry written alone.
  const guarded = new Proxy(conn, {
    get(target, key) {
      if (key === 'run' || key === 'upload' || key === 'runRaw') {
        const f = Reflect.get(target, key, target) as (...a: unknown[]) => Promise<unknown>
        return async (...args: unknown[]) => {
          await alone()
          return f.apply(target, args)
        }
      }
      const v = Reflect.get(target, key, target)
      return typeof v === 'function' ? v.bind(target) : v
    },
  })
  return { ...x.ctx, conn: guarded, run }
}
