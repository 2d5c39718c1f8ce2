/** Task factories: each returns a Task (a Resource plus options; add options with `.with({...})`). */
export { command, type CommandArgs } from './command.ts'
export { shell, type ShellArgs } from './shell.ts'
export { file, type FileArgs } from './file.ts'
export { lineinfile, type LineInFileArgs } from './lineinfile.ts'
export { directory, type DirectoryArgs } from './directory.ts'
export { sysctl, type SysctlArgs } from './sysctl.ts'
export { service, type ServiceArgs, type ServiceState } from './service.ts'
