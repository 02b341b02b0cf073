// Compares a candidate Buildx version against a baseline, cell by cell: cells pair up by scenario and
// configuration (the cell name minus the buildx axis), and each pair's observed behaviour is compared.
// Pure; the verdict is `go` only when nothing regressed and at least one pair could be compared.
import type { CellResult } from '../model.ts';
import { cellErrorLine } from '../report/evidence.ts';
import { buildMatrix } from '../report/matrix.ts';

export type Change = 'improvement' | 'regression' | 'changed' | 'unknown';

export interface PairDiff {
  scenario: string;
  configuration: string;
  baseline: string;
  candidate: string;
  change: Change;
  /** the candidate's summaries and last error lines (the baseline's too for regressions) */
  evidence: string[];
}

export interface Qualification {
  baseline: string;
  candidate: string;
  /** pairs where both sides ran and were judged */
  compared: number;
  /** pairs whose behaviour differs, or that could not be compared */
  diffs: PairDiff[];
  verdict: 'go' | 'no-go';
}

const NOT_RUN = new Set(['missing', 'skipped']);
const BROKEN = new Set(['unexpected', 'error', 'flaky']);

/** What the cell showed: its judge's `observed`, else its outcome (error, skipped); repeats that disagree are 'flaky'. */
export function behaviourOf(results: readonly CellResult[] | undefined): string {
  const seen = new Set((results ?? []).map((r) => r.observed ?? r.outcome));
  return seen.size === 0 ? 'missing' : seen.size > 1 ? 'flaky' : [...seen][0]!;
}

/** undefined when the behaviour did not change. */
export function classifyChange(baseline: string, candidate: string): Change | undefined {
  if (baseline === candidate) return undefined;
  if (NOT_RUN.has(candidate)) return 'unknown';
  if (BROKEN.has(candidate)) return 'regression';
  if (NOT_RUN.has(baseline)) return 'unknown';
  if (baseline === 'reproduced' && (candidate === 'fixed' || candidate === 'control')) return 'improvement';
  if ((baseline === 'fixed' || baseline === 'control') && candidate === 'reproduced') return 'regression';
  return 'changed';
}

function evidenceOf(side: string, results: readonly CellResult[] | undefined): string[] {
  return (results ?? []).map((r) => {
    const err = cellErrorLine(r);
    return `${side}: ${r.summary}${err ? ` | last error: ${err}` : ''}`;
  });
}

export function qualify(results: readonly CellResult[], baseline: string, candidate: string): Qualification {
  const diffs: PairDiff[] = [];
  let compared = 0;
  for (const row of buildMatrix(results).rows) {
    const base = row.cells[baseline]?.results;
    const cand = row.cells[candidate]?.results;
    const [b, c] = [behaviourOf(base), behaviourOf(cand)];
    if (!NOT_RUN.has(b) && !NOT_RUN.has(c)) compared++;
    const change = classifyChange(b, c);
    if (!change) continue;
    const evidence = change === 'regression' ? [...evidenceOf('baseline', base), ...evidenceOf('candidate', cand)] : evidenceOf('candidate', cand);
    diffs.push({ scenario: row.scenario, configuration: row.configuration, baseline: b, candidate: c, change, evidence });
  }
  const regressions = diffs.filter((d) => d.change === 'regression').length;
  return { baseline, candidate, compared, diffs, verdict: regressions === 0 && compared > 0 ? 'go' : 'no-go' };
}

const ORDER: Change[] = ['regression', 'improvement', 'changed', 'unknown'];
const COUNTED: Record<Change, string> = { regression: 'regressions', improvement: 'improvements', changed: 'other changes', unknown: 'not compared' };
const HEADINGS: Record<Change, string> = { ...COUNTED, unknown: 'not compared (skipped or missing on one side)' };

export function renderQualification(q: Qualification): string {
  const count = (c: Change) => q.diffs.filter((d) => d.change === c).length;
  const lines = [`qualify ${q.baseline} -> ${q.candidate}: ${q.compared} configurations compared, ${ORDER.map((c) => `${count(c)} ${COUNTED[c]}`).join(', ')}`];
  for (const change of ORDER) {
    const ds = q.diffs.filter((d) => d.change === change);
    if (!ds.length) continue;
    lines.push('', `${HEADINGS[change]}:`);
    for (const d of ds) {
      lines.push(`  ${d.scenario}  ${d.configuration}  ${d.baseline} -> ${d.candidate}`);
      if (change === 'regression') for (const e of d.evidence) lines.push(`      ${e}`);
    }
  }
  const regressions = count('regression');
  lines.push('', `verdict: ${q.verdict}${q.verdict === 'go' ? '' : regressions ? ` (${regressions} regression${regressions > 1 ? 's' : ''})` : ' (nothing could be compared)'}`);
  return lines.join('\n') + '\n';
}
