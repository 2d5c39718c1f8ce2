/**
 * `npm run test:vagrant`: the cross-host acceptance suite on Vagrant machines (test/vagrant/*.vagrant.ts).
 * Not part of `npm test` (whose config includes only *.test.ts): it needs vagrant, a provider, and
 * minutes. scripts/vagrant-test.ts runs it, inside a lab host for the docker provider; docs/vagrant.md.
 */
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['test/vagrant/**/*.vagrant.ts'],
    fileParallelism: false,
    // One orch run takes seconds on containers, a minute on slow VMs; `vagrant up` of VMs takes minutes.
    testTimeout: 600_000,
    hookTimeout: 3_600_000,
    reporters: ['default'],
  },
})
