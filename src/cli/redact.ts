/** An Io whose stdout and stderr write every string with the vaulted values masked (src/inventory/secret.ts). */
import { redact } from '../inventory/secret.ts'
import type { Io } from './io.ts'

function redactingStream<T extends NodeJS.WritableStream>(s: T): T {
  const write = (chunk: unknown, ...rest: unknown[]): boolean =>
    (s.write as (...a: unknown[]) => boolean).call(s, typeof chunk === 'string' ? redact(chunk) : chunk, ...rest)
  return new Proxy(s, {
    get(target, prop) {
      if (prop === 'write') return write
      const v = Reflect.get(target, prop, target)
      return typeof v === 'function' ? v.bind(target) : v
    },
  })
}

export function redactingIo(io: Io): Io {
  return { ...io, stdout: redactingStream(io.stdout), stderr: redactingStream(io.stderr) }
}
