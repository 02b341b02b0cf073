// The outcome table printed at the end of a run, aligned, optionally coloured.
import { showAsEscapes, unshownChars } from '../text.ts';
import { matrixCells, totalsLine, type CellOutcome, type Matrix, type MatrixRow, type ReportCell } from './matrix.ts';

const COLORS: Record<CellOutcome, string> = {
  reproduced: '\u001b[33m',
  fixed: '\u001b[32m',
  control: '\u001b[36m',
  unexpected: '\u001b[1;35m',
  error: '\u001b[1;31m',
  skipped: '\u001b[2m',
  flaky: '\u001b[35m',
};
const RESET = '\u001b[0m';

// Scenario names, configurations and version labels come from results (a merged shard is any file):
// their control and bidi characters are shown, not sent to the terminal, which would obey an escape
// sequence or reorder the row; a line break would break the table.
const CONTROL = unshownChars();
const visible = (text: string) => showAsEscapes(text, CONTROL);

/** The words of `repro`: a case's symptom was present, absent, or the lab could not tell. */
export const REPRO_WORDS: Readonly<Partial<Record<CellOutcome, string>>> = { reproduced: 'present', fixed: 'absent', unexpected: 'inconclusive' };

function cellText(cell: ReportCell | undefined, words: Readonly<Partial<Record<CellOutcome, string>>>): string {
  if (!cell) return '-';
  const n = cell.results.length;
  // '*' marks a cell whose outcome is not what the scenario declares
  return `${words[cell.outcome] ?? cell.outcome}${n > 1 ? ` x${n}` : ''}${cell.pass ? '' : '*'}`;
}

export function renderTerminalTable(matrix: Matrix, opts: { color: boolean; words?: Readonly<Partial<Record<CellOutcome, string>>> }): string {
  const header = ['scenario', 'configuration', ...matrix.versions.map(visible)];
  const body = matrix.rows.map((row) => [visible(row.scenario), visible(row.configuration), ...matrix.versions.map((v) => cellText(row.cells[v], opts.words ?? {}))]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const fmt = (cols: string[], row?: MatrixRow) =>
    cols
      .map((text, i) => {
        const padded = text.padEnd(widths[i]!);
        const cell = row && i >= 2 ? row.cells[matrix.versions[i - 2]!] : undefined;
        return opts.color && cell ? `${COLORS[cell.outcome]}${padded}${RESET}` : padded;
      })
      .join('  ')
      .trimEnd();
  const lines = [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map((r, i) => fmt(r, matrix.rows[i]))];
  const totals = totalsLine(matrix);
  lines.push('', totals);
  if (matrixCells(matrix).some((c) => !c.pass)) lines.push('* outcome differs from the scenario declaration');
  return lines.join('\n') + '\n';
}
