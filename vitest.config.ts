import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';

// Projects against real engines: long timeouts, never a retry (a retry turns a reproduced flake into a
// pass). Ryuk's image cannot be pulled offline; the lab labels and sweeps its own resources instead.
const againstRealEngines = {
  environment: 'node',
  pool: 'forks',
  testTimeout: 60 * 60_000,
  hookTimeout: 90 * 60_000,
  retry: 0,
  env: { TESTCONTAINERS_RYUK_DISABLED: 'true' },
} as const;

/** Pure logic beside the sources: no Docker. Mutation testing runs this project alone (vitest.mutation.config.ts). */
export const unitProject: TestProjectInlineConfiguration = { test: { name: 'unit', include: ['harness/**/*.test.ts', 'scenarios/**/*.test.ts'], exclude: ['harness/**/*.itg.test.ts'], environment: 'node' } };

export default defineConfig({
  test: {
    projects: [
      unitProject,
      // The lab's own machinery against real engines: provisioning, state reset, exposure, cleanup, reports in a browser.
      { test: { name: 'integration', include: ['harness/**/*.itg.test.ts'], fileParallelism: false, ...againstRealEngines } },
      // One test per matrix cell; the run spec comes from the CLI, or from the global setup when run directly.
      { test: { name: 'scenarios', include: ['harness/runner/cells.vitest.ts'], globalSetup: ['harness/runner/vitest-setup.ts'], ...againstRealEngines } },
    ],
  },
});
