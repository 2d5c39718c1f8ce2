/**
 * The public API of orch, for playbooks: `import { playbook, sysctl, sh } from 'orch'`.
 */
export { playbook, task } from './engine/types.ts'
export { ArgError, ArgErrors, TaskFailed, PlaybookError, UnreachableError } from './errors.ts'
export type {
  Playbook,
  PlaybookContext,
  Task,
  TaskOptions,
  TaskContext,
  TaskResult,
  Resource,
  Change,
  Undo,
  ApplyOutcome,
  Status,
} from './engine/types.ts'
export type { Host, Vars } from './inventory/types.ts'
export { sh, argv, quote, raw } from './net/shell.ts'
export * from './tasks/index.ts'
export { hostPing, hostTcp, gatewayPing, commandCheck, containerMatrix, type Check, type CheckResult } from './checks/index.ts'
export { pathMtu, type PathMtuOptions } from './checks/pathmtu.ts'
export * from './crosshost/index.ts'
