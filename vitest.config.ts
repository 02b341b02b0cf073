import { defineConfig } from 'vitest/config';

// Projects against real engines: long timeouts, one file per worker process, never a retry (a retry
// turns a reproduced flake into a pass). Ryuk's image cannot be pulled offline; the lab labels and
// sweeps its own resources instead.
const againstRealEngines = {
  environment: 'node',
  pool: 'forks',
  testTimeout: 30 * 60_000,
  hookTimeout: 30 * 60_000,
  retry: 0,
  env: { TESTCONTAINERS_RYUK_DISABLED: 'true' },
} as const;

export default defineConfig({
  test: {
    projects: [
      // Pure logic beside the sources: no Docker.
      { test: { name: 'unit', include: ['harness/**/*.test.ts'], exclude: ['harness/**/*.itg.test.ts'], environment: 'node' } },
      // The lab's own machinery: provisioning, state reset, exposure, cleanup, the HTML report in a browser.
      { test: { name: 'integration', include: ['harness/**/*.itg.test.ts'], ...againstRealEngines } },
      // One test per matrix cell.
      { test: { name: 'scenarios', include: ['scenarios/**/*.test.ts'], fileParallelism: true, ...againstRealEngines } },
    ],
  },
});
