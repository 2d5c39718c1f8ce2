import { defineConfig } from 'vitest/config'

// Two projects: `npm run test:unit` (pure logic, replayed host output: files in parallel, no lab) and the
// lab / integration suites (real sshd, namespaces, dockerd, OVS). `npm test` runs both.
export default defineConfig({
  test: {
    reporters: ['default'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          fileParallelism: true,
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'lab',
          include: ['test/lab/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/vagrant/**/*.test.ts'],
          globalSetup: ['test/global-setup.ts'],
          // Lab tests share one machine's kernel: files run one after another, so two
          // files never fight over CPU-heavy dockerd restarts or time out each other.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
})
