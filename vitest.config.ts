import { defineConfig } from 'vitest/config';

// Two projects: unit tests of pure logic (no Docker) beside the sources, and the scenarios against
// real engines, with long timeouts, one file per worker process, and never a retry.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['harness/**/*.test.ts'],
          exclude: ['harness/**/*.itg.test.ts'],
          environment: 'node',
        },
      },
      {
        // The lab's own machinery against real engines: provisioning, state reset, exposure, cleanup.
        test: {
          name: 'integration',
          include: ['harness/**/*.itg.test.ts'],
          environment: 'node',
          pool: 'forks',
          testTimeout: 30 * 60_000,
          hookTimeout: 30 * 60_000,
          retry: 0,
          env: { TESTCONTAINERS_RYUK_DISABLED: 'true' },
        },
      },
      {
        test: {
          name: 'scenarios',
          include: ['scenarios/**/*.test.ts'],
          environment: 'node',
          pool: 'forks',
          testTimeout: 30 * 60_000,
          hookTimeout: 30 * 60_000,
          retry: 0,
          // Ryuk's image cannot be pulled offline; the lab labels and sweeps its own resources.
          env: { TESTCONTAINERS_RYUK_DISABLED: 'true' },
          fileParallelism: true,
        },
      },
    ],
  },
});
