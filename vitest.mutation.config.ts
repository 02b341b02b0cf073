// Mutation testing (stryker.config.mjs) runs the unit tests in the folders of the mutated modules, and
// related mode narrows each mutant to the test files that import its module. The integration and
// scenario projects never run (they start engines: a mutant must not reach Docker), nor do the timing
// tests (their bounds are for the real code, not for code instrumented with every mutant).
import { defineConfig } from 'vitest/config';
import { unitProject } from './vitest.config.ts';

/** The folders of stryker.config.mjs's `mutate` list. */
const MUTATED = ['runner', 'scenario', 'buildx', 'engine', 'oci', 'registry', 'repro', 'kit', 'redact'];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...unitProject.test,
          // the scenarios' judges are mutated too: their table tests sit beside them
          include: [...MUTATED.map((dir) => `harness/${dir}/*.test.ts`), 'scenarios/*.test.ts'],
          exclude: [...(unitProject.test?.exclude ?? []), '**/*.timing.test.ts'],
        },
      },
    ],
  },
});
