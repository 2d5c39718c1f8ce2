/** orch's command line run in this process, with an Io that keeps what it writes (no terminal, no exit). */
import { main } from '../../src/cli/main.ts'
import type { Io } from '../../src/cli/io.ts'

export type FakeIo = Io & { out: string; err: string }

export function fakeIo(cwd: string): FakeIo {
  const io = {
    out: '',
    err: '',
    stdout: { write: (s: string) => ((io.out += s), true), isTTY: false } as never,
    stderr: { write: (s: string) => ((io.err += s), true) } as never,
    cwd,
    onSigint: () => {},
    offSigint: () => {},
    exit: (code: number): never => {
      throw new Error(`exit ${code}`)
    },
  }
  return io
}

/** `orch ARGS...` in `cwd`: its exit code and what it wrote. */
export async function runOrch(cwd: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = fakeIo(cwd)
  const code = await main(['node', 'orch', ...args], io)
  return { code, out: io.out, err: io.err }
}
