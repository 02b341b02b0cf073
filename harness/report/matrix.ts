// The matrix model every writer shares: rows are scenario x configuration, columns are Buildx versions.
// Pure: no rendering here (terminal.ts, html.ts, markdown.ts render it).
import semver from 'semver';
import { OUTCOMES, type CellResult, type Outcome } from '../model.ts';

/** A cell's displayed outcome: repeats that disagree are 'flaky'. */
export type CellOutcome = Outcome | 'flaky';

/** One cell of the report matrix: every result of one scenario x configuration x Buildx version.
 * (Not the runner's ReportCell, which is one cell of a scenario's matrix before it runs.) */
export interface ReportCell {
  scenario: string;
  configuration: string;
  buildx: string;
  /** every result for this cell (several with --repeat), in input order */
  results: CellResult[];
  outcome: CellOutcome;
  expected: Outcome;
  /** false when any result counts as a failure (see isFailure) */
  pass: boolean;
}

export interface MatrixRow {
  scenario: string;
  configuration: string;
  /** keyed by buildx version label; absent when the cell was not run */
  cells: Record<string, ReportCell | undefined>;
}

export interface Matrix {
  /** buildx version labels, semver order, non-semver labels last */
  versions: string[];
  rows: MatrixRow[];
}

/** Label used when a result has no buildx axis. */
export const NO_BUILDX = '(none)';

/** Axes except buildx as `k=v` joined by `/`, keys sorted, so rows line up across versions. */
export function configurationOf(r: CellResult): string {
  const parts = Object.keys(r.axes)
    .filter((k) => k !== 'buildx')
    .sort()
    .map((k) => `${k}=${r.axes[k]}`);
  return parts.length ? parts.join('/') : '(default)';
}

export function buildxOf(r: CellResult): string {
  return r.axes['buildx'] ?? NO_BUILDX;
}

/** Orders Buildx version labels as column headers: semver order, then labels that are not semver
 * (`master`, `(none)`) alphabetically. (buildx/spec.ts's compareVersions orders release specs.) */
export function compareVersionLabels(a: string, b: string): number {
  const va = semver.valid(a);
  const vb = semver.valid(b);
  if (va && vb) return semver.compare(va, vb) || a.localeCompare(b);
  if (va) return -1;
  if (vb) return 1;
  return a.localeCompare(b);
}

/** A result the run should not pass with. Skipped cells are not failures: a missing requirement says nothing about Buildx. */
export function isFailure(r: CellResult): boolean {
  if (r.outcome === 'unexpected' || r.outcome === 'error') return true;
  if (r.outcome === 'skipped') return false;
  return r.outcome !== r.expected;
}

export function hasFailures(results: readonly CellResult[]): boolean {
  return results.some(isFailure);
}

export function countOutcomes(results: readonly CellResult[]): Record<Outcome, number> {
  const counts = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
  for (const r of results) counts[r.outcome]++;
  return counts;
}

/** Results grouped by scenario id, scenarios in first-seen order. */
export function byScenario(results: readonly CellResult[]): Map<string, CellResult[]> {
  const map = new Map<string, CellResult[]>();
  for (const r of results) {
    const list = map.get(r.scenario);
    if (list) list.push(r);
    else map.set(r.scenario, [r]);
  }
  return map;
}

export function buildMatrix(results: readonly CellResult[]): Matrix {
  const versions = new Set<string>();
  const rows = new Map<string, MatrixRow>();
  for (const r of results) {
    const configuration = configurationOf(r);
    const buildx = buildxOf(r);
    versions.add(buildx);
    const rowKey = `${r.scenario}\u0000${configuration}`;
    let row = rows.get(rowKey);
    if (!row) {
      row = { scenario: r.scenario, configuration, cells: {} };
      rows.set(rowKey, row);
    }
    const cell = row.cells[buildx];
    if (cell) cell.results.push(r);
    else row.cells[buildx] = { scenario: r.scenario, configuration, buildx, results: [r], outcome: r.outcome, expected: r.expected, pass: true };
  }
  for (const row of rows.values()) {
    for (const cell of Object.values(row.cells)) {
      if (!cell) continue;
      const distinct = new Set(cell.results.map((r) => r.outcome));
      cell.outcome = distinct.size > 1 ? 'flaky' : cell.results[0]!.outcome;
      cell.pass = !cell.results.some(isFailure);
    }
  }
  const sortedRows = [...rows.values()].sort((a, b) => a.scenario.localeCompare(b.scenario) || a.configuration.localeCompare(b.configuration));
  return { versions: [...versions].sort(compareVersionLabels), rows: sortedRows };
}

export function matrixCells(matrix: Matrix): ReportCell[] {
  return matrix.rows.flatMap((row) => matrix.versions.map((v) => row.cells[v]).filter((c): c is ReportCell => !!c));
}

/** `42 cells: 20 reproduced, 18 fixed, 4 control, 0 unexpected, 0 error` (+ skipped/flaky when present). */
export function totalsLine(matrix: Matrix): string {
  const cells = matrixCells(matrix);
  const n = (o: CellOutcome) => cells.filter((c) => c.outcome === o).length;
  const parts = (['reproduced', 'fixed', 'control', 'unexpected', 'error'] as const).map((o) => `${n(o)} ${o}`);
  for (const o of ['skipped', 'flaky'] as const) if (n(o)) parts.push(`${n(o)} ${o}`);
  return `${cells.length} cells: ${parts.join(', ')}`;
}
