// One self-contained HTML file: a heatmap per scenario; clicking a cell opens its evidence.
// Everything shown comes from command output and registries, so every text goes through escapeHtml.
import type { CellResult, JournalEntry } from '../model.ts';
import { OUTCOMES } from '../model.ts';
import type { ReportMeta } from './json.ts';
import { redactDeep } from './redact.ts';
import { escapeMarkup } from '../text.ts';
import { buildMatrix, byScenario, hasFailures, shellQuote, totalsLine, type CellOutcome, type MatrixCell } from './table.ts';

/** Longest text kept in one <pre>; the full text stays in results.json. */
const MAX_PRE = 200_000;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g;

export function escapeHtml(text: string): string {
  return escapeMarkup(text, CONTROL, '&#39;');
}

function pre(text: string, cls = ''): string {
  const t = text.length > MAX_PRE ? `[... ${text.length - MAX_PRE} characters cut; see results.json ...]\n${text.slice(-MAX_PRE)}` : text;
  return `<pre${cls ? ` class="${cls}"` : ''}>${escapeHtml(t)}</pre>`;
}

const COLOURS: Record<CellOutcome, string> = {
  reproduced: '#f0b429',
  fixed: '#3fa66b',
  control: '#5b9bd5',
  unexpected: '#b03adf',
  error: '#d64545',
  skipped: '#b8b8b8',
  flaky: '#e07b39',
};

const CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2rem}
.status-fail{color:#d64545;font-weight:bold}.status-pass{color:#3fa66b;font-weight:bold}
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
table.matrix th{background:#f4f4f4;font-weight:600}
td.cell{cursor:pointer;text-align:center;min-width:6rem}td.cell a{color:inherit;text-decoration:none;display:block}
td.cell.mismatch{outline:3px solid #222;outline-offset:-3px;font-weight:bold}td.cell.empty{background:#fafafa;color:#aaa;cursor:default}
${(Object.keys(COLOURS) as CellOutcome[]).map((o) => `.outcome-${o}{background:${COLOURS[o]}}`).join('\n')}
.legend span{display:inline-block;padding:.15rem .6rem;margin-right:.4rem;border-radius:3px}
details.evidence{border:1px solid #ccc;border-radius:4px;margin:.5rem 0;padding:.3rem .6rem}
details.evidence[open]{border-color:#555}details.evidence.highlight{box-shadow:0 0 0 3px #5b9bd5}
details.evidence>summary{cursor:pointer;font-weight:600}
pre{background:#f6f8fa;padding:.5rem;overflow:auto;max-height:30rem;white-space:pre-wrap;word-break:break-all}
.badge{padding:.1rem .4rem;border-radius:3px}
table.journal td,table.journal th{font-size:12px;font-family:ui-monospace,monospace}
`;

// Opens the evidence of the clicked cell (all repeats of it) and scrolls there; no data is interpolated here.
const JS = `
document.addEventListener('click', function (ev) {
  var td = ev.target.closest && ev.target.closest('td.cell[data-targets]');
  if (!td) return;
  ev.preventDefault();
  var ids = td.getAttribute('data-targets').split(' ');
  document.querySelectorAll('details.evidence.highlight').forEach(function (d) { d.classList.remove('highlight'); });
  ids.forEach(function (id, i) {
    var d = document.getElementById(id);
    if (!d) return;
    d.open = true;
    d.classList.add('highlight');
    if (i === 0) d.scrollIntoView({ behavior: 'smooth', block: 'start' });
  });
});
`;

function heatmapCell(cell: MatrixCell | undefined, ids: Map<CellResult, string>): string {
  if (!cell) return '<td class="cell empty">-</td>';
  const targets = cell.results.map((r) => ids.get(r)!).join(' ');
  const cls = `cell outcome-${escapeHtml(cell.outcome)}${cell.pass ? '' : ' mismatch'}`;
  const title = cell.results.map((r) => `${r.outcome} (expected ${r.expected}): ${r.summary}`).join('\n');
  const label = `${cell.outcome}${cell.results.length > 1 ? ` x${cell.results.length}` : ''}`;
  const name = cell.results[0]!.name;
  return (
    `<td class="${cls}" data-cell-name="${escapeHtml(name)}" data-outcome="${escapeHtml(cell.outcome)}" data-expected="${escapeHtml(cell.expected)}"` +
    ` data-targets="${targets}" title="${escapeHtml(title)}" tabindex="0"><a href="#${ids.get(cell.results[0]!)!}">${escapeHtml(label)}</a></td>`
  );
}

// Outcomes are typed, but a report read back from disk is not: escape them like any text.
const badge = (o: string) => `<span class="badge outcome-${escapeHtml(o)}">${escapeHtml(o)}</span>`;

function journalTable(entries: JournalEntry[]): string {
  if (!entries.length) return '<p>No registry requests recorded.</p>';
  const head = ['seq', 'method', 'path', 'status', 'media type', 'user agent', 'intervention'];
  const rows = entries.map((e) => {
    const media = [e.requestMediaType && `req: ${e.requestMediaType}`, e.responseMediaType && `resp: ${e.responseMediaType}`].filter(Boolean).join('\n');
    return `<tr>${[String(e.seq), e.method, e.path, String(e.status), media, e.userAgent ?? '', e.intervention ?? '']
      .map((v) => `<td>${escapeHtml(v)}</td>`)
      .join('')}</tr>`;
  });
  return `<table class="journal"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function evidenceBlock(r: CellResult, id: string): string {
  const ev = r.evidence;
  const parts: string[] = [];
  parts.push(`<p>${escapeHtml(r.summary)}</p>`);
  parts.push(
    `<p>expected ${badge(r.expected)} (${escapeHtml(r.expectedReason)}), actual ${badge(r.outcome)}</p>`,
  );
  if (r.error) parts.push(`<h4>Harness error (${escapeHtml(r.error.kind)})</h4>${pre(r.error.message)}`);
  if (ev.facts.length) parts.push(`<h4>Facts</h4><ul>${ev.facts.map((f) => `<li>${escapeHtml(f)}</li>`).join('')}</ul>`);
  const t = r.timings;
  parts.push(`<p>timings: start ${t.startMs} ms, buildx ${t.buildxMs} ms, verify ${t.verifyMs} ms, total ${t.totalMs} ms; started ${escapeHtml(r.startedAt)}</p>`);
  if (ev.commands.length) {
    parts.push('<h4>Commands</h4>');
    ev.commands.forEach((c, i) => {
      parts.push(
        `<div class="command"><p><b>#${i + 1}</b> exit <b>${c.exitCode}</b> in ${c.durationMs} ms</p>${pre(shellQuote(c.argv), 'argv')}` +
          (c.stdout ? `<p>stdout</p>${pre(c.stdout)}` : '') +
          (c.stderr ? `<p>stderr</p>${pre(c.stderr)}` : '') +
          '</div>',
      );
    });
  }
  if (ev.engineLog) parts.push(`<h4>Engine log</h4>${pre(ev.engineLog)}`);
  parts.push(`<h4>Registry journal</h4>${journalTable(ev.journal)}`);
  const manifests = Object.entries(ev.manifests);
  if (manifests.length) {
    parts.push('<h4>Manifests</h4>');
    for (const [ref, body] of manifests) parts.push(`<p>${escapeHtml(ref)}</p>${pre(JSON.stringify(body, null, 2) ?? String(body))}`);
  }
  return (
    `<details class="evidence" id="${id}" data-cell-name="${escapeHtml(r.name)}" data-outcome="${escapeHtml(r.outcome)}">` +
    `<summary>${escapeHtml(r.name)}: ${badge(r.outcome)}</summary>${parts.join('\n')}</details>`
  );
}

export function toHtml(results: readonly CellResult[], meta: ReportMeta): string {
  const safe = redactDeep([...results]);
  const m = redactDeep(meta);
  const ids = new Map<CellResult, string>(safe.map((r, i) => [r, `ev-${i}`]));
  const failed = hasFailures(safe);
  const legend = [...OUTCOMES, 'flaky'].map((o) => `<span class="outcome-${o}">${o}</span>`).join('');
  const sections: string[] = [];
  for (const [scenario, cells] of byScenario(safe)) {
    const matrix = buildMatrix(cells);
    const head = `<tr><th>configuration</th>${matrix.versions.map((v) => `<th>${escapeHtml(v)}</th>`).join('')}</tr>`;
    const rows = matrix.rows.map(
      (row) => `<tr><th>${escapeHtml(row.configuration)}</th>${matrix.versions.map((v) => heatmapCell(row.cells[v], ids)).join('')}</tr>`,
    );
    sections.push(
      `<section class="scenario" data-scenario="${escapeHtml(scenario)}"><h2>${escapeHtml(scenario)}</h2>` +
        `<p>${escapeHtml(totalsLine(matrix))}</p>` +
        `<table class="matrix"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>` +
        `<h3>Evidence</h3>${cells.map((r) => evidenceBlock(r, ids.get(r)!)).join('\n')}</section>`,
    );
  }
  const host = `node ${m.host.node}${m.host.engineVersion ? `, engine ${m.host.engineVersion}` : ''}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>buildx-lab ${escapeHtml(m.runId)}</title><style>${CSS}</style></head>
<body>
<h1>buildx-lab run ${escapeHtml(m.runId)}</h1>
<p class="${failed ? 'status-fail' : 'status-pass'}">${escapeHtml(totalsLine(buildMatrix(safe)))}: ${failed ? 'NEEDS ATTENTION' : 'PASS'}</p>
<p>${escapeHtml(`${m.startedAt} to ${m.finishedAt}; ${host}; ${m.argv.join(' ')}`)}</p>
<p class="legend">${legend}</p>
<p>A heavy outline marks a cell whose outcome differs from the scenario declaration. Click a cell for its evidence.</p>
${sections.join('\n')}
<script>${JS}</script>
</body></html>
`;
}
