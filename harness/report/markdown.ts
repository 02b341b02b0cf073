// GitHub-flavoured summary (e.g. for $GITHUB_STEP_SUMMARY): headline, a matrix per scenario, cells to look at.
import type { CellResult } from '../model.ts';
import type { Redacted } from '../redact/redact.ts';
import { showAsEscapes, stripAnsi, unshownChars } from '../text.ts';
import { cellErrorLine } from './evidence.ts';
import type { ReportMeta } from './json.ts';
import { buildMatrix, byScenario, hasFailures, isFailure, totalsLine, type ReportCell } from './matrix.ts';

// Line breaks would end a table row or a list item; other control and bidi characters are shown, not
// passed on (a bidi override reorders what the reader of a summary sees).
const CONTROL = unshownChars('\t');
function oneLine(text: string): string {
  return showAsEscapes(stripAnsi(text).replace(/[\r\n]+/g, ' '), CONTROL);
}

/** Text safe inside a GFM table cell or paragraph: GitHub renders inline HTML (so angle brackets are
 * escaped too) and `$…$` math, and every other markdown punctuation is escaped. */
export function escapeMarkdown(text: string): string {
  return oneLine(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_{}[\]()#+!|~$])/g, '\\$1');
}

/** A code span that survives backticks in its content (GitHub renders no markup inside one). */
function codeSpan(text: string): string {
  const line = oneLine(text).trim();
  const longest = Math.max(0, ...(line.match(/`+/g) ?? []).map((m) => m.length));
  const fence = '`'.repeat(longest + 1);
  const pad = line.startsWith('`') || line.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${line}${pad}${fence}`;
}

function cellWord(cell: ReportCell | undefined): string {
  if (!cell) return '-';
  const n = cell.results.length > 1 ? ` (x${cell.results.length})` : '';
  const word = cell.pass ? escapeMarkdown(cell.outcome) : `**${escapeMarkdown(cell.outcome)}** (expected ${escapeMarkdown(cell.expected)})`;
  return word + n;
}

/** The job summary; takes only redacted input (write.ts redacts once for all writers). */
export function toMarkdown(safe: Redacted<readonly CellResult[]>, m: Redacted<ReportMeta>): string {
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
    out.push(`- **${escapeMarkdown(r.name)}**: ${escapeMarkdown(r.outcome)} (expected ${escapeMarkdown(r.expected)}). ${escapeMarkdown(r.summary)}`);
    const line = cellErrorLine(r);
    if (line) out.push(`  - last error: ${codeSpan(line)}`);
  }
  out.push('');
  return out.join('\n');
}
