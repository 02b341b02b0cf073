import { describe, expect, it } from 'vitest';
import type { CellResult } from '../model.ts';
import { immutableTagCells, makeCell, pullStreamCells } from './fixtures.test-helpers.ts';
import {
  buildMatrix,
  compareVersions,
  configurationOf,
  countOutcomes,
  hasFailures,
  lastErrorLine,
  renderTerminalTable,
  shellQuote,
  stripAnsi,
  totalsLine,
} from './table.ts';

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

describe('compareVersions', () => {
  it.each([
    ['v0.9.1', 'v0.10.0', -1],
    ['v0.21.0-rc1', 'v0.21.0', -1],
    ['master', 'v99.0.0', 1],
    ['latest', 'master', -1],
  ])('%s vs %s', (a, b, sign) => expect(Math.sign(compareVersions(a, b))).toBe(sign));
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

describe('renderTerminalTable', () => {
  const m = buildMatrix([...pull, ...immutable]);
  it('prints aligned columns and the totals line', () => {
    const text = renderTerminalTable(m, { color: false });
    const lines = text.split('\n');
    const header = lines[0]!;
    // every version column starts at the same offset on every row
    const col = header.indexOf('v0.21.0');
    for (const line of lines.slice(2, 2 + m.rows.length)) expect(line.length === 0 || line.length >= col).toBe(true);
    expect(lines[3]!.slice(col).startsWith('fixed ')).toBe(true);
    expect(text).toContain('8 cells: 2 reproduced, 1 fixed, 1 control, 1 unexpected, 1 error, 1 skipped, 1 flaky');
    expect(text).toContain('flaky x2*');
    expect(text).not.toContain('\u001b[');
  });

  it('colours cells only when asked, without breaking alignment', () => {
    const plain = renderTerminalTable(m, { color: false });
    const colored = renderTerminalTable(m, { color: true });
    expect(colored).toContain('\u001b[33m');
    expect(stripAnsi(colored).split('\n').map((l) => l.trimEnd())).toEqual(plain.split('\n').map((l) => l.trimEnd()));
  });

  it('totals line matches the documented format', () => {
    expect(totalsLine(buildMatrix(pull.slice(0, 2)))).toBe('2 cells: 1 reproduced, 1 fixed, 0 control, 0 unexpected, 0 error');
  });
});

describe('shellQuote', () => {
  it.each([
    [['docker', 'buildx', 'build', '-t', 'registry:5000/a:b', '.'], 'docker buildx build -t registry:5000/a:b .'],
    [['sh', '-c', "echo 'hi' there"], `sh -c 'echo '\\''hi'\\'' there'`],
    [['x', ''], "x ''"],
  ])('%j', (argv, want) => expect(shellQuote(argv)).toBe(want));
});

describe('lastErrorLine', () => {
  it.each([
    [0, 'ERROR: Error response from daemon: No such image: registry:5000/moby/buildkit:v0.17.1'],
    [1, 'ERROR: failed commit on ref "layer-sha256:4976aa5e": unexpected commit digest sha256:0000, expected sha256:4976aa5e: failed precondition'],
    [3, 'engine-start: dockerd exited with code 1'],
    [2, undefined],
  ])('cell %i', (i, line) => expect(lastErrorLine(pull[i]!)).toBe(line));
});
