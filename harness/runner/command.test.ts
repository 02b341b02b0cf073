import { describe, expect, it } from 'vitest';
import { listCells } from './command.ts';
import type { PlannedCell } from './run-spec.ts';

const cell = (name: string, outcome: PlannedCell['expected']['outcome'], attempt = 0): PlannedCell => ({
  key: `${name}#${attempt}`,
  scenario: 'bake-multiplatform-push',
  source: { kind: 'scenario', module: 'scenarios/3070-bake-multiplatform-push.scenario.ts' },
  name,
  axes: {},
  expected: { outcome, reason: 'r' },
  attempt,
  requires: [],
});

describe('listCells', () => {
  it('names every cell with its declared outcome and repeat, then the requirements sorted', () => {
    const out = listCells({
      cells: [cell('buildx=v0.21.1/engine=26.1.5', 'reproduced'), cell('buildx=v0.21.1/engine=26.1.5', 'reproduced', 1), cell('buildx=v0.22.0/engine=26.1.5', 'fixed')],
      requirements: { 'engine:26.1.5': { kind: 'engine' } as never, 'buildx:v0.21.1': { kind: 'buildx' } as never },
    });
    expect(out.split('\n')).toEqual([
      'bake-multiplatform-push > buildx=v0.21.1/engine=26.1.5  (expected reproduced)',
      'bake-multiplatform-push > buildx=v0.21.1/engine=26.1.5 #2  (expected reproduced)',
      'bake-multiplatform-push > buildx=v0.22.0/engine=26.1.5  (expected fixed)',
      '',
      '3 cells; 2 requirements: buildx:v0.21.1, engine:26.1.5',
    ]);
  });
});
