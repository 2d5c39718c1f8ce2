/** What the engine and tasks see of a host's connection. Implemented by transport/connection.ts (ssh2). */

export interface ExecOptions {
  /** Kill the command (not the connection) after this long; result has timedOut=true, code 124. */
  timeoutMs?: number
  /**
   * Enforce timeoutMs on the controller only (the shell is abandoned when it passes), without wrapping the
   * command in the target's `timeout` (two processes more): for short scripts of builtins.
   */
  timeoutOnController?: boolean
  /** Bytes fed to the command's stdin. */
  stdin?: string | Buffer
  /** Run as root via sudo when the login user is not root (ansible_become). Default: the host's setting. */
  become?: boolean
}

export interface ExecResult {
  code: number
  stdout: string
  stderr: string
  durationMs: number
  timedOut?: boolean
}

/** Per connection: round trips on the wire (the handshake's share apart) and commands sent. */
export interface TransportStats {
  roundTrips: number
  handshakeRoundTrips: number
  /** Keepalive exchanges (not in roundTrips). */
  keepalives: number
  /** Commands sent over the shell (a batch of reads is one; an SFTP upload is one). */
  commands: number
}

export interface Connection {
  readonly hostName: string
  /** Run a shell script (POSIX sh) built with net/shell.ts `sh`/`argv`, through the persistent shell. */
  run(script: string, opts?: ExecOptions): Promise<ExecResult>
  /** Write a file on the target, binary safe, atomically (temp file + rename), with mode. */
  upload(remotePath: string, content: string | Buffer, mode?: number): Promise<void>
  /** True until the connection dropped or was closed. */
  readonly alive: boolean
  /**
   * True when commands without become already run as root (a root login), known once a command ran;
   * undefined when not known. Lets the engine send a root-only journal entry with a task's command.
   */
  readonly isRoot?: boolean
  /**
   * Several scripts in one round trip, in one subshell (each with its own stdin and result; one that
   * exits ends the batch: the later ones fail unrun). Optional: the engine sends reads ahead with it
   * (engine/readahead.ts) where the connection has it.
   */
  runBatch?(parts: Array<{ script: string; stdin?: string | Buffer }>, opts?: ExecOptions): Promise<ExecResult[]>
  /** Commands sent so far (a batch counts one): whether anything ran on the host since a read. */
  readonly commandsSent?: number
  /** What the connection cost on the wire so far (counted by the transport: roundtrips.ts). */
  readonly transportStats?: TransportStats
  /** `wait: false`: send the goodbye and return (a process about to exit need not wait for the server). */
  close(opts?: { wait?: boolean }): Promise<void>
}

export { BecomeError, HostKeyError, UnreachableError } from '../errors.ts'
