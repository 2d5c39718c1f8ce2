/**
 * Every error class that crosses a module boundary, and the exit codes they map to. A leaf: it imports
 * nothing, so any layer (net, inventory, transport, engine, tasks, checks, cli, wizard) can throw and
 * catch these without importing the layer that defines the contract (which is what made the import
 * cycles checks <-> engine <-> net and wizard -> cli).
 *
 * Bad input (exit 5, nothing touched): ArgError / ArgErrors, PlaybookError, InventoryError, UsageError.
 */

/** Exit codes as Ansible's. */
export const EXIT = {
  OK: 0,
  ERROR: 1,
  FAILED_HOSTS: 2,
  UNREACHABLE_HOSTS: 4,
  BAD_INPUT: 5,
  INTERRUPTED: 99,
} as const

function show(v: unknown): string {
  let s: string
  try {
    s = v === undefined ? 'undefined' : JSON.stringify(v) ?? String(v)
  } catch {
    s = String(v)
  }
  return s.length > 200 ? s.slice(0, 200) + '…' : s
}

/** A bad argument or variable: names the host, the variable and what was expected. Exit code 5. */
export class ArgError extends Error {
  constructor(
    readonly variable: string,
    readonly expected: string,
    readonly got: unknown,
    public hostName?: string,
  ) {
    super('')
    this.name = 'ArgError'
    this.message = this.describe()
  }
  /** Names the host (the engine calls this when validation of a host's tasks fails). */
  forHost(hostName: string): this {
    if (!this.hostName) this.hostName = hostName
    this.message = this.describe()
    return this
  }
  /** "var: expected X, got Y", without the host (ArgErrors lists several under one host). */
  get problem(): string {
    return `${this.variable}: expected ${this.expected}, got ${show(this.got)}`
  }
  protected describe(): string {
    return `${this.hostName ? `${this.hostName}: ` : ''}${this.problem}`
  }
}

/**
 * Several bad arguments found at once (an argument spec reports all of them, not the first). An ArgError
 * itself, so every `instanceof ArgError` (exit 5, forHost) treats it alike; `variable` is the first one's.
 */
export class ArgErrors extends ArgError {
  constructor(
    readonly errors: readonly ArgError[],
    hostName?: string,
  ) {
    super(errors[0]?.variable ?? '?', errors[0]?.expected ?? '?', errors[0]?.got, hostName ?? errors[0]?.hostName)
    this.name = 'ArgErrors'
    if (this.hostName) for (const e of errors) e.forHost(this.hostName)
    this.message = this.describe()
  }
  override forHost(hostName: string): this {
    for (const e of this.errors) e.forHost(hostName)
    return super.forHost(hostName)
  }
  protected override describe(): string {
    // Called by ArgError's constructor before `errors` is set.
    if (!this.errors) return ''
    const lines = this.errors.map((e) => e.problem)
    return `${this.hostName ? `${this.hostName}: ` : ''}${lines.length} bad arguments:\n  ${lines.join('\n  ')}`
  }
  /** One error as itself, several as an ArgErrors, none as null. */
  static of(errors: readonly ArgError[], hostName?: string): ArgError | null {
    if (errors.length === 0) return null
    if (errors.length === 1) return hostName ? errors[0].forHost(hostName) : errors[0]
    return new ArgErrors(errors, hostName)
  }
}

/** A playbook file that cannot be loaded or has the wrong shape: names the file. Exit code 5. */
export class PlaybookError extends Error {
  constructor(
    message: string,
    readonly file?: string,
  ) {
    super(file ? `${file}: ${message}` : message)
    this.name = 'PlaybookError'
  }
}

/** A problem in an inventory file: names file and line. Exit code 5. */
export class InventoryError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    readonly line?: number,
  ) {
    super(file ? `${file}${line ? `:${line}` : ''}: ${message}` : message)
    this.name = 'InventoryError'
  }
}

/** A host pattern Ansible refuses at run time (a subscript out of range, an unreadable limit file, a bad regex): exit 1, as ansible-playbook. */
export class HostPatternError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'HostPatternError'
  }
}

/** No host left to target ("Specified inventory, host pattern and/or --limit leaves us with no hosts to target."): exit 1, as ansible-playbook. */
export class NoHostsMatchedError extends HostPatternError {
  constructor(
    message: string,
    readonly pattern: string,
  ) {
    super(message)
    this.name = 'NoHostsMatchedError'
  }
}

/** A vaulted file or value that cannot be decrypted (no password, wrong password, bad format): names the file (and line), never the plaintext. Exit code 5. */
export class VaultError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    readonly line?: number,
  ) {
    super(file ? `${file}${line ? `:${line}` : ''}: ${message}` : message)
    this.name = 'VaultError'
  }
}

/** A bad command line: names the option and what was expected. Exit code 5. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/** A task failed on purpose (non-zero exit of a command it needs): the message becomes the result's msg. */
export class TaskFailed extends Error {
  constructor(
    message: string,
    readonly result: { rc?: number; stdout?: string; stderr?: string } = {},
  ) {
    super(message)
    this.name = 'TaskFailed'
  }
}

/** Raised when a host cannot be reached (connect, auth, host key, dropped connection). */
export class UnreachableError extends Error {
  constructor(
    readonly hostName: string,
    message: string,
  ) {
    super(message)
    this.name = 'UnreachableError'
  }
}

/** Raised when a host key does not match known_hosts: never retried, never accepted. */
export class HostKeyError extends UnreachableError {
  constructor(hostName: string, message: string) {
    super(hostName, message)
    this.name = 'HostKeyError'
  }
}

/**
 * become (sudo) failed: wrong or missing password, not in sudoers, requiretty... The host is
 * reachable; the task fails. Never retried with the same password, never contains it.
 */
export class BecomeError extends Error {
  constructor(
    readonly hostName: string,
    message: string,
  ) {
    super(`${hostName}: become (sudo) failed: ${message}`)
    this.name = 'BecomeError'
  }
}

/** Gathering facts failed (the script did not run or printed no facts). */
export class FactsError extends Error {
  name = 'FactsError'
}

/** The run cannot start: some hosts are held by another run or were left mid-run. Exit 1, nothing touched. */
export class TransactionRefused extends Error {
  name = 'TransactionRefused'
}

export function isBadInput(e: unknown): boolean {
  return e instanceof UsageError || e instanceof ArgError || e instanceof PlaybookError || e instanceof InventoryError || e instanceof VaultError
}

export function exitCodeForError(e: unknown): number {
  return isBadInput(e) ? EXIT.BAD_INPUT : EXIT.ERROR
}
