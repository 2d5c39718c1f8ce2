/**
 * The runtime renderer of a `unit` step (model/steps.ts UnitStep): an orch-owned systemd unit and the
 * script it runs, enabled as `systemctl enable` does (a symlink in each WantedBy target's .wants/), written
 * with plain file operations so it also works where systemd does not run (the netns lab, a chroot);
 * `systemctl daemon-reload` only where it runs. Nothing is started: the unit runs at the next boot (or
 * when its target starts again), the change it restores is already in place.
 */
import { sh } from '../net/shell.ts'
import type { Change } from '../engine/types.ts'
import { fileUndo, writeFileScript, type FileState } from '../engine/taskkit.ts'
import type { Undo } from '../engine/types.ts'
import type { UnitStep } from './steps.ts'

export const UNIT_DIR = '/etc/systemd/system'
const wantsDir = (target: string) => `${UNIT_DIR}/${target}.wants`
const RELOAD = `{ [ ! -d /run/systemd/system ] || systemctl daemon-reload; }`
const textOf = (f: FileState) => (f.kind === 'file' ? f.content.toString('utf8') : '')

export function describeUnit(s: UnitStep): Change[] {
  const out: Change[] = []
  if (textOf(s.before) !== s.content || s.before.kind !== 'file')
    out.push({ what: `${s.before.kind === 'absent' ? 'create' : 'content'} systemd unit ${s.path}`, before: textOf(s.before), after: s.content })
  if (textOf(s.script.before) !== s.script.content || s.script.before.kind !== 'file')
    out.push({ what: `${s.script.before.kind === 'absent' ? 'create' : 'content'} ${s.script.path} (run by ${s.name})`, before: textOf(s.script.before), after: s.script.content })
  const missing = s.wantedBy.filter((w) => !w.linked)
  if (missing.length) out.push({ what: `enable ${s.name} (wanted by ${missing.map((w) => w.target).join(', ')})` })
  return out
}

export function unitApply(s: UnitStep): string {
  const dirs = [s.dir.path, ...s.wantedBy.map((w) => wantsDir(w.target))]
  const parts = [
    sh`mkdir -p ${dirs}`,
    writeFileScript(s.script.path, '0755', undefined, Buffer.from(s.script.content)),
    writeFileScript(s.path, '0644', undefined, Buffer.from(s.content)),
    ...s.wantedBy.map((w) => sh`ln -sfn ${s.path} ${`${wantsDir(w.target)}/${s.name}`}`),
    RELOAD,
  ]
  return parts.join(' && ')
}

/**
 * Disable (the symlinks it added), the unit and script back as they were (removed when new), the
 * directories it made removed when empty, systemd reloaded. Safe to run twice.
 */
export function unitUndo(s: UnitStep): Undo {
  const lines: string[] = []
  const d: string[] = []
  const added = s.wantedBy.filter((w) => !w.linked)
  if (added.length) {
    lines.push(sh`rm -f ${added.map((w) => `${wantsDir(w.target)}/${s.name}`)}`)
    d.push(`disable ${s.name}`)
    const made = added.filter((w) => !w.dirExisted).map((w) => wantsDir(w.target))
    if (made.length) lines.push(sh`{ rmdir ${made} 2>/dev/null || true; }`)
  }
  for (const [path, before] of [
    [s.path, s.before],
    [s.script.path, s.script.before],
  ] as const) {
    const u = fileUndo(path, before)
    if (u) lines.push(u.script), d.push(u.description)
  }
  // The directory when it is empty now, and /etc/orch when this was its last concern.
  if (!s.dir.existed) lines.push(sh`{ rmdir ${s.dir.path} 2>/dev/null; rmdir ${s.dir.path.replace(/\/[^/]+$/, '')} 2>/dev/null; true; }`)
  lines.push(RELOAD)
  return { description: d.join('; '), script: lines.join(' && ') }
}
