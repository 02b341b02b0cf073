// Every shipped definition (scenarios/*.scenario.ts and fixtures/cases/*) planned on every matrix, running
// nothing: a definition that no longer loads, expands to no cell, declares no outcome for a cell of its own
// matrix, or names a requirement the plan does not hold, fails here in seconds instead of in CI's cell phase.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, scenarioModules } from './catalog.ts';
import { planRun } from './plan.ts';
import type { CellSource } from './run-spec.ts';
import type { Matrix } from '../scenario/definition.ts';

const MATRICES: readonly Matrix[] = ['quick', 'full', 'all'];

const cases: CellSource[] = readdirSync(path.join(ROOT, 'fixtures/cases'), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => ({ kind: 'case', dir: path.join(ROOT, 'fixtures/cases', d.name), trust: 'project' }));
const scenarios: CellSource[] = scenarioModules().map((module) => ({ kind: 'scenario', module }));
const label = (s: CellSource) => (s.kind === 'case' ? `case ${path.basename(s.dir)}` : s.module);

const plan = (source: CellSource, matrix: Matrix) =>
  planRun({
    command: 'run',
    argv: [],
    sources: [source],
    reportDir: '/nonexistent/reports',
    runId: 'plan-shipped',
    dockerHost: 'unix:///nonexistent.sock',
    matrix,
    filters: {},
    repeat: 1,
    jobs: 1,
  });

describe('every shipped definition plans on every matrix', () => {
  it('ships the definitions this test walks', () => {
    expect(scenarios.length).toBeGreaterThanOrEqual(3);
    expect(cases.length).toBeGreaterThanOrEqual(24);
  });

  for (const source of [...scenarios, ...cases])
    for (const matrix of MATRICES)
      it(`${label(source)} on matrix=${matrix}`, async () => {
        const spec = await plan(source, matrix);
        expect(spec.cells.length).toBeGreaterThan(0);
        const keys = spec.cells.map((c) => c.key);
        expect(new Set(keys).size, 'cell names are unique').toBe(keys.length);
        for (const cell of spec.cells) {
          expect(cell.expected.reason, `${cell.key} says why it expects ${cell.expected.outcome}`).not.toBe('');
          for (const id of cell.requires) expect(spec.requirements[id], `${cell.key} requires ${id}`).toBeDefined();
        }
      });
});
