// What a scenario file declares, and how it expands into cells. A scenario reads top-down:
// links and symptom, matrix, expected outcome per version range (data), one body, one judge.
import { loadReleases, resolveSpecs, type ResolvedVersion } from '../buildx/spec.ts';
import { UsageError } from '../errors.ts';
import type { LabConfig } from '../config.ts';
import type { Axes, CellEvidence, JournalEntry, Outcome } from '../model.ts';
import type { Lab } from '../lab.ts';
import type { CellSandbox } from './sandbox.ts';
import { applyFilters, crossProduct, cellName, expectationFor, validateAxes, type Expectation, type MatrixAxes, type MatrixCell } from './matrix.ts';

export interface Verdict {
  /** what the evidence shows, independent of what was declared */
  observed: Extract<Outcome, 'reproduced' | 'fixed' | 'control'> | 'unexpected';
  summary: string;
}

export interface CellContext {
  axes: Axes;
  lab: Lab;
  sandbox: CellSandbox;
  evidence: CellEvidence;
  /** unique, DNS- and repository-safe id of this cell */
  cellId: string;
  /** times a phase for the cell's timing split */
  phase<T>(name: 'buildx' | 'verify', work: () => Promise<T>): Promise<T>;
  /** registry requests of this cell's engine since a journal mark (other cells may run concurrently) */
  requestsSince(mark: number): JournalEntry[];
}

export interface Scenario<O> {
  id: string;
  title: string;
  /** upstream issue / PR links */
  links: string[];
  symptom: string;
  /** the full matrix (the test suite) */
  axes: MatrixAxes;
  /** the main job's default matrix; axes not listed keep the full values */
  quick?: Partial<MatrixAxes>;
  /** fixture directory (under fixtures/) copied into every cell's build context before observe */
  fixture?: string;
  /** values of the scenario's `fault` axis */
  faults?: readonly string[];
  /** a reason when a combination is meaningless (the cell is not generated) */
  exclude?: (axes: Axes) => string | undefined;
  expectations: readonly Expectation[];
  observe(ctx: CellContext): Promise<O>;
  judge(observation: O, axes: Axes): Verdict;
  timeoutMs?: number;
}

export interface ExpandedCell extends MatrixCell {
  scenario: string;
  buildx: ResolvedVersion;
}

/** Axis label of a resolved version: Debian's patched builds are told apart from upstream's. */
export function buildxLabel(r: ResolvedVersion): string {
  return r.via === 'alias' && r.spec.startsWith('debian-') ? `${r.version}-debian` : r.version;
}

export function labelVersion(label: string): string {
  return label.replace(/-debian$/, '');
}

export function expandScenario<O>(s: Scenario<O>, config: Pick<LabConfig, 'matrix' | 'axisFilters'>): ExpandedCell[] {
  const base: MatrixAxes = config.matrix === 'quick' && s.quick ? ({ ...s.axes, ...s.quick } as MatrixAxes) : s.axes;
  const axes = applyFilters(s.id, base, config.axisFilters, s.axes);
  if (!axes) return [];
  const { buildx: specs, ...rest } = axes;
  validateAxes(s.id, rest, s.faults);
  const resolved = resolveSpecs(specs, loadReleases(), { includePrerelease: specs.some((x) => /-rc\d/.test(x)) });
  const byLabel = new Map(resolved.map((r) => [buildxLabel(r), r]));
  const cells: ExpandedCell[] = [];
  for (const combo of crossProduct({ buildx: [...byLabel.keys()], ...rest })) {
    if (s.exclude?.(combo)) continue;
    const expected = expectationFor(combo, s.expectations, labelVersion);
    if (!expected) throw new UsageError(`scenario ${s.id}: no expectation covers ${cellName(combo)}; add one to its expectations`);
    cells.push({ scenario: s.id, axes: combo, name: cellName(combo), expected, buildx: byLabel.get(combo.buildx!)! });
  }
  return cells;
}
