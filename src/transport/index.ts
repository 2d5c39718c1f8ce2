export * from './types.ts'
export { connect, SshConnection, verifyHostKey, type RawExecResult, type ConnectDeps } from './connection.ts'
export { ConnectionPool, type PoolOptions } from './pool.ts'
export { connectLocal } from './local.ts'
export {
  resolveTarget,
  parseSshArgs,
  shellSplit,
  type ConnectOptions,
  type HostKeyChecking,
  type PassphraseSource,
  type ResolvedHop,
} from './options.ts'
export { SshArgsError, mapSshArgs } from './sshargs.ts'
export { SshConfigError } from './sshconfig.ts'
export { knownHostsName, hashHostName, fingerprint, checkHostKey } from './known-hosts.ts'
