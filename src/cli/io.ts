/** What the CLI talks to: streams, cwd, signals, exit. Real process by default; fakes in tests. */
export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number }
  stderr: NodeJS.WritableStream & { isTTY?: boolean }
  cwd: string
  onSigint(fn: () => void): void
  offSigint(fn: () => void): void
  exit(code: number): never
}

export function processIo(): Io {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    cwd: process.cwd(),
    onSigint: (fn) => void process.on('SIGINT', fn),
    offSigint: (fn) => void process.off('SIGINT', fn),
    exit: (code) => process.exit(code),
  }
}
