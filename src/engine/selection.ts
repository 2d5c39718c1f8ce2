/**
 * Which tasks of a play run: `--tags`, `--skip-tags` and `--start-at-task`, with Ansible's rules
 * (ansible/playbook/taggable.py evaluate_tags; PlayIterator's start-at-task). Pure: planRun calls it
 * for every host's task list; --list-tasks and --list-tags print what it keeps.
 */
import type { Playbook, Task } from './types.ts'
import { UsageError } from '../errors.ts'
import { globToRegExp } from '../inventory/pattern.ts'

export interface TaskSelection {
  /** --tags (default: all). Comma lists are split; repeated flags add up. */
  tags?: string[]
  /** --skip-tags. */
  skipTags?: string[]
  /** --start-at-task: a task name or a glob (fnmatch, as Ansible). */
  startAt?: string
}

const UNTAGGED = 'untagged'

/** `['a,b', ' c']` → `['a', 'b', 'c']` (Ansible splits each --tags value on commas). */
export function splitTags(values: readonly string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(',')).map((t) => t.trim()).filter(Boolean)
}

function tagList(v: unknown, what: string): string[] {
  if (v === undefined || v === null) return []
  const list = Array.isArray(v) ? v : [v]
  for (const t of list) if (typeof t !== 'string' && typeof t !== 'number') throw new UsageError(`${what}: tags must be strings, got ${JSON.stringify(t)}`)
  return splitTags(list.map(String))
}

/** A play's own tags, sorted and unique. */
export function playTags(play: Pick<Playbook, 'tags'>): string[] {
  return [...new Set(tagList(play.tags, 'play'))].sort()
}

/** A task's tags: its own and its play's (inherited, as Ansible's parent tags), sorted and unique. */
export function taskTags(play: Pick<Playbook, 'tags'>, task: Task): string[] {
  return [...new Set([...tagList(play.tags, 'play'), ...tagList(task.opts?.tags, task.opts?.name ?? task.resource.name)])].sort()
}

/** Ansible's evaluate_tags: whether a task with these tags runs under --tags `only` and --skip-tags `skip`. */
export function shouldRun(tags: readonly string[], only: readonly string[], skip: readonly string[]): boolean {
  const t = new Set(tags.length ? tags : [UNTAGGED])
  const untagged = tags.length === 0
  const meets = (s: readonly string[]) => s.some((x) => t.has(x))
  let run = true
  if (only.length) {
    if (t.has('always')) run = true
    else if (only.includes('all') && !t.has('never')) run = true
    else if (meets(only)) run = true
    else if (only.includes('tagged') && !untagged && !t.has('never')) run = true
    else run = false
  }
  if (run && skip.length) {
    if (skip.includes('all')) {
      if (!t.has('always') || skip.includes('always')) run = false
    } else if (meets(skip)) run = false
    else if (skip.includes('tagged') && !untagged) run = false
  }
  return run
}

/** fnmatch as Python's (`*`, `?`, `[seq]`, `[!seq]`), whole string, case-sensitive on POSIX. */
export const fnmatch = (name: string, pattern: string): boolean => globToRegExp(pattern).test(name)

export const taskName = (t: Task): string => t.opts?.name ?? t.resource.name

/** The tasks of one host's list that --tags / --skip-tags keep (start-at-task is applied by startAtTask). */
export function selectByTags(play: Pick<Playbook, 'tags'>, tasks: Task[], sel: TaskSelection): Task[] {
  const only = sel.tags?.length ? sel.tags : ['all']
  const skip = sel.skipTags ?? []
  return tasks.filter((t) => shouldRun(taskTags(play, t), only, skip))
}

/**
 * --start-at-task across a playbook, as Ansible's iterator: plays before the first match run nothing,
 * the matching play runs from that task on, every later play runs whole. `lists[p]` maps host → tasks of
 * play p; returns the same shape with the skipped tasks cut, and whether the task was found.
 */
export function startAtTask(lists: Array<Map<string, Task[]>>, pattern: string | undefined): { lists: Array<Map<string, Task[]>>; found: boolean } {
  if (pattern === undefined) return { lists, found: true }
  const hit = (t: Task) => taskName(t) === pattern || fnmatch(taskName(t), pattern)
  let found = false
  const out = lists.map((byHost) => {
    if (found) return byHost
    const cut = new Map<string, Task[]>()
    for (const [h, ts] of byHost) {
      const i = ts.findIndex(hit)
      cut.set(h, i < 0 ? [] : ts.slice(i))
      if (i >= 0) found = true
    }
    return cut
  })
  return { lists: out, found }
}
