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
  it('says which BuildKit the lab chose for a cell, and why; a named one is in the name already', () => {
    const bk = (via: NonNullable<PlannedCell['buildkit']>['via']) => ({ ...cell('buildx=v0.20.1', 'fixed'), buildkit: { version: 'v0.19.0', via, reason: 'r' } });
    expect(
      listCells({ cells: [bk('of-its-day'), bk('lab-default'), bk('named')], requirements: {} })
        .split('\n')
        .slice(0, 3),
    ).toEqual([
      'bake-multiplatform-push > buildx=v0.20.1  (expected fixed; BuildKit v0.19.0, of its day)',
      "bake-multiplatform-push > buildx=v0.20.1  (expected fixed; BuildKit v0.19.0, the lab's default)",
      'bake-multiplatform-push > buildx=v0.20.1  (expected fixed)',
    ]);
  });
});
