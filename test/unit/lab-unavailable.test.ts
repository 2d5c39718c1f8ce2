import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { repoRoot } from '../../src/lab/index.ts'

// The lab's own check, run as an unprivileged user: it must say why it cannot start (so lab suites are
// reported skipped with that reason), not fail half-way.
describe.skipIf(process.getuid?.() !== 0)('lab without root', () => {
  it('says it needs root', () => {
    const script = `import('${repoRoot}/src/lab/index.ts').then(async (m) => console.log(await m.labUnavailableReason()))`
    const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--import', 'tsx', '-e', script], {
      cwd: repoRoot,
      env: { ...process.env, HOME: '/tmp' },
    }).toString()
    expect(out.trim()).toBe('the lab needs root (network, mount and pid namespaces)')
  })
})
