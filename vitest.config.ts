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

/**
 * Cells vitest starts at once (they then wait for their requirements and an engine, which the lab's engine
 * pool hands out at --jobs at a time): the CLI sets twice --jobs, so the pool can choose which cell reuses an
 * idle engine. A project does not take the CLI's inline maxConcurrency, hence the variable; not a whole
 * number from 1 to 1000: vitest's default, 5.
 */
export function cellsAdmitted(value = process.env.BUILDX_LAB_CELLS_ADMITTED): number {
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 && n <= 1000 ? n : 5;
}

/** Pure logic beside the sources: no Docker. Mutation testing runs this project alone (vitest.mutation.config.ts). */
export const unitProject: TestProjectInlineConfiguration = {
  test: { name: 'unit', include: ['harness/**/*.test.ts', 'scenarios/**/*.test.ts'], exclude: ['harness/**/*.itg.test.ts'], environment: 'node' },
};

export default defineConfig({
  test: {
    projects: [
      unitProject,
      // The lab's own machinery against real engines: provisioning, state reset, exposure, cleanup, reports in a browser.
      { test: { name: 'integration', include: ['harness/**/*.itg.test.ts'], fileParallelism: false, ...againstRealEngines } },
      // One test per matrix cell; the run spec comes from the CLI, or from the global setup when run directly.
      {
        test: {
          name: 'scenarios',
          include: ['harness/runner/cells.vitest.ts'],
          globalSetup: ['harness/runner/vitest-setup.ts'],
          maxConcurrency: cellsAdmitted(),
          ...againstRealEngines,
        },
      },
    ],
  },
});
