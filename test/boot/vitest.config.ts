/**
 * `npm run test:boot`: suites on booted lab hosts (test/boot/*.boot.ts; hosts that boot Debian 12
 * systemd under systemd-nspawn). Not part of `npm test` (whose config includes only *.test.ts): the
 * first run builds the image (minutes) and every host boots; .ci/run runs it after `npm test`.
 */
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['test/boot/**/*.boot.ts'],
    globalSetup: ['test/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 300_000,
    // The first lab:up --boot on a machine builds the image with debootstrap.
    hookTimeout: 1_800_000,
    reporters: ['default'],
  },
})
