import { describe, expect, it } from 'vitest';
import type { CellResult } from '../model.ts';
import { immutableTagCells, makeCell, pullStreamCells } from './fixtures.test-helpers.ts';
import { buildMatrix, compareVersionLabels, configurationOf, countOutcomes, hasFailures, totalsLine } from './matrix.ts';

const pull = pullStreamCells();
const immutable = immutableTagCells();

describe('buildMatrix', () => {
  const m = buildMatrix([...pull, ...immutable]);

  it('orders buildx columns by semver with non-semver labels last', () => {
    expect(m.versions).toEqual(['v0.9.1', 'v0.19.3', 'v0.20.1', 'v0.21.0', 'v0.21.1', 'v0.22.0', 'master']);
  });

  it('keys rows by scenario and sorted non-buildx axes', () => {
    expect(m.rows.map((r) => `${r.scenario} ${r.configuration}`)).toEqual([
      'immutable-tags-push driver=docker-container/engine=27.5.1/registry=immutable-tags/store=classic',
      'pull-stream-errors driver=docker/engine=26.1.5/fault=corrupt/store=containerd',
      'pull-stream-errors driver=docker/engine=26.1.5/fault=none/store=containerd',
    ]);
    expect(configurationOf(makeCell({ axes: { buildx: 'v1.0.0' }, outcome: 'fixed' }))).toBe('(default)');
  });

  it.each([
    ['pull-stream-errors', 'fault=corrupt', 'v0.20.1', 'reproduced', true, 1],
    ['pull-stream-errors', 'fault=corrupt', 'v0.21.0', 'fixed', true, 1],
    ['pull-stream-errors', 'fault=corrupt', 'v0.21.1', 'unexpected', false, 1],
    ['pull-stream-errors', 'fault=corrupt', 'v0.22.0', 'error', false, 1],
    ['pull-stream-errors', 'fault=none', 'v0.20.1', 'control', true, 1],
    ['immutable-tags-push', 'store=classic', 'v0.19.3', 'flaky', false, 2],
    ['immutable-tags-push', 'store=classic', 'master', 'skipped', true, 1],
  ])('%s %s %s is %s (pass=%s, %i results)', (scenario, config, version, outcome, pass, n) => {
    const row = m.rows.find((r) => r.scenario === scenario && r.configuration.includes(config))!;
    const cell = row.cells[version]!;
    expect(cell.outcome).toBe(outcome);
    expect(cell.pass).toBe(pass);
    expect(cell.results).toHaveLength(n);
  });

  it('leaves cells that were not run empty', () => {
    const row = m.rows.find((r) => r.configuration.includes('fault=none'))!;
    expect(row.cells['v0.21.0']).toBeUndefined();
  });
});

describe('compareVersionLabels', () => {
  it.each([
    ['v0.9.1', 'v0.10.0', -1],
    ['v0.21.0-rc1', 'v0.21.0', -1],
    ['master', 'v99.0.0', 1],
    ['latest', 'master', -1],
  ])('%s vs %s', (a, b, sign) => expect(Math.sign(compareVersionLabels(a, b))).toBe(sign));
});

describe('failures', () => {
  const cell = (outcome: CellResult['outcome'], expected: CellResult['expected']) => makeCell({ axes: { buildx: 'v1.0.0' }, outcome, expected });
  it.each([
    ['reproduced as declared', false, cell('reproduced', 'reproduced')],
    ['fixed as declared', false, cell('fixed', 'fixed')],
    ['control', false, cell('control', 'control')],
    ['skipped', false, cell('skipped', 'reproduced')],
    ['reproduced where fixed declared', true, cell('reproduced', 'fixed')],
    ['unexpected', true, cell('unexpected', 'fixed')],
    ['error', true, cell('error', 'fixed')],
  ])('%s -> failing=%s', (_n, failing, r) => expect(hasFailures([r])).toBe(failing));

  it('counts outcomes', () => {
    expect(countOutcomes(pull)).toEqual({ reproduced: 1, fixed: 1, control: 1, unexpected: 1, error: 1, skipped: 0 });
  });
});

describe('totalsLine', () => {
  it('totals line matches the documented format', () => {
    expect(totalsLine(buildMatrix(pull.slice(0, 2)))).toBe('2 cells: 1 reproduced, 1 fixed, 0 control, 0 unexpected, 0 error');
  });
});
