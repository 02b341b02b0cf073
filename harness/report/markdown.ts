// GitHub-flavoured summary (e.g. for $GITHUB_STEP_SUMMARY): headline, a matrix per scenario, cells to look at.
import type { CellResult } from '../model.ts';
import type { ReportMeta } from './json.ts';
import { redactDeep } from './redact.ts';
import { buildMatrix, byScenario, hasFailures, isFailure, lastErrorLine, stripAnsi, totalsLine, type MatrixCell } from './table.ts';

/** Text safe inside a GFM table cell or paragraph: GitHub renders inline HTML, so angle brackets are escaped too. */
export function escapeMarkdown(text: string): string {
  return stripAnsi(text)
    .replace(/\r?\n/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_{}[\]()#+!|~])/g, '\\$1');
}

/** A code span that survives backticks in its content. */
function codeSpan(text: string): string {
  const oneLine = stripAnsi(text).replace(/\r?\n/g, ' ').trim();
  const longest = Math.max(0, ...(oneLine.match(/`+/g) ?? []).map((m) => m.length));
  const fence = '`'.repeat(longest + 1);
  const pad = oneLine.startsWith('`') || oneLine.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${oneLine}${pad}${fence}`;
}

function cellWord(cell: MatrixCell | undefined): string {
  if (!cell) return '-';
  const n = cell.results.length > 1 ? ` (x${cell.results.length})` : '';
  const word = cell.pass ? cell.outcome : `**${cell.outcome}** (expected ${cell.expected})`;
  return word + n;
}

export function toMarkdown(results: readonly CellResult[], meta: ReportMeta): string {
  const safe = redactDeep([...results]);
  const m = redactDeep(meta);
  const out: string[] = [];
  out.push(`# buildx-lab run ${escapeMarkdown(m.runId)}`, '');
  out.push(`**${escapeMarkdown(totalsLine(buildMatrix(safe)))}** (${safe.length} results) - ${hasFailures(safe) ? 'NEEDS ATTENTION' : 'PASS'}`, '');
  const host = [`node ${m.host.node}`, m.host.engineVersion ? `engine ${m.host.engineVersion}` : ''].filter(Boolean).join(', ');
  out.push(`Started ${escapeMarkdown(m.startedAt)}, finished ${escapeMarkdown(m.finishedAt)}; ${escapeMarkdown(host)}.`, '');

  for (const [scenario, cells] of byScenario(safe)) {
    const matrix = buildMatrix(cells);
    out.push(`## ${escapeMarkdown(scenario)}`, '');
    out.push(`| configuration | ${matrix.versions.map(escapeMarkdown).join(' | ')} |`);
    out.push(`| --- | ${matrix.versions.map(() => '---').join(' | ')} |`);
    for (const row of matrix.rows) {
      out.push(`| ${escapeMarkdown(row.configuration)} | ${matrix.versions.map((v) => cellWord(row.cells[v])).join(' | ')} |`);
    }
    out.push('');
  }

  const attention = safe.filter(isFailure);
  out.push('## Cells that need attention', '');
  if (!attention.length) out.push('None.');
  for (const r of attention) {
    out.push(`- **${escapeMarkdown(r.name)}**: ${r.outcome} (expected ${r.expected}). ${escapeMarkdown(r.summary)}`);
    const line = lastErrorLine(r);
    if (line) out.push(`  - last error: ${codeSpan(line)}`);
  }
  out.push('');
  return out.join('\n');
}
