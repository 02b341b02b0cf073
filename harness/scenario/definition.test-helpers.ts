// Scenarios for the tests of the definition and of its expansion.
import { defineScenario, type AxesDecl, type Expectation } from './definition.ts';

/** A scenario with only a matrix, whose every cell is expected fixed. */
export const bare = <const D extends AxesDecl>(axes: D) =>
  defineScenario({
    id: 'bare',
    title: 't',
    links: [],
    symptom: 's',
    axes,
    expectations: [{ when: { buildx: '*' } as Expectation<D>['when'], outcome: 'fixed', reason: 'r' }],
    observe: async () => ({}),
    judge: () => ({ observed: 'fixed', summary: '' }),
  });
