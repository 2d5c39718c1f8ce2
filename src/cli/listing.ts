/**
 * `orch run --list-hosts / --list-tasks / --list-tags / --syntax-check`: the plan, printed as
 * ansible-playbook prints it, without connecting to any host. A TypeScript play builds its task list per
 * host (tasks(ctx)), so hosts whose lists differ get a "tasks for h1, h2:" block each.
 */
import type { PlannedPlay } from '../engine/runner.ts'
import { pyRepr } from '../inventory/render.ts'
import { playTags, taskName, taskTags } from '../engine/selection.ts'

export interface ListingOptions {
  listHosts?: boolean
  listTasks?: boolean
  listTags?: boolean
}

const tagsText = (tags: string[]) => `TAGS: [${tags.join(', ')}]`

/** The listing (stdout text) for plans made with planRun. */
export function renderListing(playbookPath: string, plans: PlannedPlay[], o: ListingOptions): string {
  const out: string[] = ['', `playbook: ${playbookPath}`]
  for (const p of plans) {
    out.push('', `  play #${p.index + 1} (${p.play.hosts}): ${p.play.name}\t${tagsText(playTags(p.play))}`)
    if (o.listHosts) {
      out.push(`    pattern: [${pyRepr(p.play.hosts)}]`, `    hosts (${p.hosts.length}):`)
      for (const h of p.hosts) out.push(`      ${h.name}`)
    }
    if (o.listTasks) {
      const groups = new Map<string, { hosts: string[]; lines: string[] }>()
      for (const h of p.hosts) {
        const lines = (p.tasks.get(h.name) ?? []).map((t) => `      ${taskName(t)}\t${tagsText(taskTags(p.play, t))}`)
        const key = lines.join('\n')
        const g = groups.get(key) ?? { hosts: [], lines }
        g.hosts.push(h.name)
        groups.set(key, g)
      }
      if (groups.size <= 1) out.push('    tasks:', ...([...groups.values()][0]?.lines ?? []))
      else for (const g of groups.values()) out.push(`    tasks for ${g.hosts.join(', ')}:`, ...g.lines)
    }
    if (o.listTags) {
      const all = new Set<string>()
      for (const ts of p.tasks.values()) for (const t of ts) for (const tag of taskTags(p.play, t)) all.add(tag)
      out.push(`      TASK ${tagsText([...all].sort())}`)
    }
  }
  return out.join('\n') + '\n'
}
