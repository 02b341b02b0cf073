// One self-contained HTML file: a heatmap per scenario; clicking a cell opens its evidence.
// Everything shown comes from command output, registries and (for merged reports) other machines'
// files, so markup is built only with the `html` tag below: it escapes every interpolated value,
// numbers included, unless the value is markup that `html` itself built. A Content-Security-Policy
// allows only this file's own style and script (by hash) and nothing from anywhere else.
import { createHash } from 'node:crypto';
import type { CellResult, JournalEntry } from '../model.ts';
import { OUTCOMES } from '../model.ts';
import type { Redacted } from '../redact/redact.ts';
import { findErrorLine, shellJoin } from '../text.ts';
import type { ReportMeta } from './json.ts';
import { manifestTree } from './manifest-tree.ts';
import { SafeHtml, html } from './markup.ts';
import { requestTimeline } from './timeline.ts';

export { escapeHtml } from './markup.ts';
import { buildMatrix, byScenario, hasFailures, totalsLine, type CellOutcome, type ReportCell } from './matrix.ts';

/** Longest text kept in one <pre>; the full text stays in results.json. */
const MAX_PRE = 200_000;

function pre(text: string, cls = ''): SafeHtml {
  const t = text.length > MAX_PRE ? `[... ${text.length - MAX_PRE} characters cut; see results.json ...]\n${text.slice(-MAX_PRE)}` : text;
  return html`<pre class="${cls}">${t}</pre>`;
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
details.log,details.fold{margin:.3rem 0}details.log>summary,details.fold>summary{cursor:pointer}
.error-line{color:#b00020;font-family:ui-monospace,monospace;font-weight:600}.last-line{font-family:ui-monospace,monospace}
figure{margin:.5rem 0}figcaption{font-size:12px;color:#444;margin-bottom:.2rem}
svg.timeline{max-width:100%;height:auto;font:11px ui-monospace,monospace;background:#fff;border:1px solid #ddd}
svg.timeline .lane-bg{fill:#fafafa}svg.timeline .lane-bg.odd{fill:#f0f3f6}svg.timeline .lane-label{fill:#333;font-weight:600}
svg.timeline .tick{stroke:#ccc}svg.timeline .tick-label{fill:#666}
svg.timeline .req rect{fill:#9aa5b1}svg.timeline .req.kind-manifests rect{fill:#5b9bd5}svg.timeline .req.kind-blobs rect,svg.timeline .req.kind-uploads rect{fill:#c3ccd5}
svg.timeline .req.tag-put rect{fill:#f0b429;stroke:#7a5a00;stroke-width:1}svg.timeline .tag-label{fill:#7a5a00;font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:3px}
svg.timeline .req.refused rect{fill:#d64545;stroke:#700;stroke-width:1.5}svg.timeline .refused-label{fill:#b00020;font-weight:600}
.key span{display:inline-block;padding:0 .4rem;margin-left:.3rem;border-radius:2px}.key-tag{background:#f0b429}.key-refused{background:#d64545;color:#fff}.key-blob{background:#c3ccd5}.key-manifest{background:#5b9bd5;color:#fff}
ul.tree,ul.tree ul{list-style:none;margin:0;padding-left:1.2rem;border-left:1px solid #bbb}ul.tree{border:0;padding-left:0}
ul.tree li{margin:.15rem 0;font-size:13px}ul.tree .node{font-weight:600}ul.tree .detail{color:#555}ul.tree code{font-size:12px}
ul.tree li.missing{color:#b00020}ul.tree li.missing>.node{text-decoration:line-through}.missing-mark{font-weight:600}
ul.tree li.attestation>.node{font-style:italic}
`;

// Opens the evidence of the clicked cell (all repeats of it) and scrolls there; no data is interpolated here.
const JS = `
function openEvidence(ev) {
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
}
document.addEventListener('click', openEvidence);
document.addEventListener('keydown', function (ev) { if (ev.key === 'Enter' || ev.key === ' ') openEvidence(ev); });
`;

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** Nothing from outside: no fetch, image, font, frame, form target or base URL; only this file's style and script. */
export const CONTENT_SECURITY_POLICY = ["default-src 'none'", `style-src ${sha256(CSS)}`, `script-src ${sha256(JS)}`, "base-uri 'none'", "form-action 'none'"].join('; ');

function heatmapCell(cell: ReportCell | undefined, ids: Map<CellResult, string>): SafeHtml {
  if (!cell) return html`<td class="cell empty">-</td>`;
  const targets = cell.results.map((r) => ids.get(r)!).join(' ');
  const title = cell.results.map((r) => `${r.outcome} (expected ${r.expected}): ${r.summary}`).join('\n');
  const label = `${cell.outcome}${cell.results.length > 1 ? ` x${cell.results.length}` : ''}`;
  return html`<td class="cell outcome-${cell.outcome}${cell.pass ? '' : ' mismatch'}" data-cell-name="${cell.results[0]!.name}" data-outcome="${cell.outcome}" data-expected="${cell.expected}" data-targets="${targets}" title="${title}" tabindex="0"><a href="#${ids.get(cell.results[0]!)!}">${label}</a></td>`;
}

const badge = (o: string) => html`<span class="badge outcome-${o}">${o}</span>`;

function journalTable(entries: readonly JournalEntry[]): SafeHtml {
  if (!entries.length) return html`<p>No registry requests recorded.</p>`;
  const head = ['seq', 'method', 'path', 'status', 'media type', 'user agent', 'intervention'];
  const rows = entries.map((e) => {
    const media = [e.requestMediaType && `req: ${e.requestMediaType}`, e.responseMediaType && `resp: ${e.responseMediaType}`].filter(Boolean).join('\n');
    const cells = [e.seq, e.method, e.path, e.status, media, e.userAgent, e.intervention];
    return html`<tr>${cells.map((v) => html`<td>${v}</td>`)}</tr>`;
  });
  return html`<table class="journal"><thead><tr>${head.map((h) => html`<th>${h}</th>`)}</tr></thead><tbody>${rows}</tbody></table>`;
}

/** Longer logs than this are folded, their error line shown first. */
const FOLD_LINES = 25;

/** A log: short ones as they are; long ones folded under their error line (else their last line). */
function log(text: string, what: string): SafeHtml {
  const lines = text.split('\n').length;
  if (lines <= FOLD_LINES && text.length < 4000) return html`<p>${what}</p>${pre(text)}`;
  const err = findErrorLine(text);
  const head = err ?? text.trimEnd().split('\n').at(-1) ?? '';
  return html`<details class="log"><summary>${what}, ${lines} lines: <span class="${err ? 'error-line' : 'last-line'}">${head}</span></summary>${pre(text)}</details>`;
}

/** Folded when long: the journal and the raw manifests are read by a person only to check a detail. */
function folded(summary: string, count: number, body: SafeHtml): SafeHtml {
  return count > FOLD_LINES ? html`<details class="fold"><summary>${summary}</summary>${body}</details>` : body;
}

function evidenceBlock(r: CellResult, id: string): SafeHtml {
  const ev = r.evidence;
  const t = r.timings;
  const commands = ev.commands.map(
    (c, i) =>
      html`<div class="command"><p><b>#${i + 1}</b> exit <b>${c.exitCode}</b> in ${c.durationMs} ms</p>${pre(shellJoin(c.argv), 'argv')}${c.stdout && log(c.stdout, 'stdout')}${c.stderr && log(c.stderr, 'stderr')}</div>`,
  );
  const manifests = Object.entries(ev.manifests).map(([ref, body]) => html`<p>${ref}</p>${pre(JSON.stringify(body, null, 2) ?? String(body))}`);
  const manifestLines = Object.values(ev.manifests).reduce<number>((n, b) => n + (JSON.stringify(b, null, 2) ?? '').split('\n').length, 0);
  return html`<details class="evidence" id="${id}" data-cell-name="${r.name}" data-outcome="${r.outcome}"><summary>${r.name}: ${badge(r.outcome)}</summary>
<p>${r.summary}</p>
<p>expected ${badge(r.expected)} (${r.expectedReason}), actual ${badge(r.outcome)}</p>
${r.error && html`<h4>Harness error (${r.error.kind})</h4>${pre(r.error.message)}`}
${ev.facts.length > 0 && html`<h4>Facts</h4><ul>${ev.facts.map((f) => html`<li>${f}</li>`)}</ul>`}
<p>timings: start ${t.startMs} ms, buildx ${t.buildxMs} ms, verify ${t.verifyMs} ms, total ${t.totalMs} ms; started ${r.startedAt}</p>
${ev.journal.length > 0 && html`<h4>Request timeline</h4>${requestTimeline(ev.journal)}`}
${manifests.length > 0 && html`<h4>Manifest tree</h4>${manifestTree(ev.manifests)}`}
${commands.length > 0 && html`<h4>Commands</h4>${commands}`}
${ev.engineLog && html`<h4>Engine log</h4>${log(ev.engineLog, 'engine log')}`}
<h4>Registry journal</h4>${folded(`${ev.journal.length} requests`, ev.journal.length, journalTable(ev.journal))}
${manifests.length > 0 && html`<h4>Manifests</h4>${folded(`${manifests.length} manifest(s) as the registry returned them`, manifestLines, html`${manifests}`)}`}</details>`;
}

/** The report page; takes only redacted input (write.ts redacts once for all writers). */
export function toHtml(results: Redacted<readonly CellResult[]>, meta: Redacted<ReportMeta>): string {
  const ids = new Map<CellResult, string>(results.map((r, i) => [r, `ev-${i}`]));
  const failed = hasFailures(results);
  const sections = [...byScenario(results)].map(([scenario, cells]) => {
    const matrix = buildMatrix(cells);
    const rows = matrix.rows.map((row) => html`<tr><th>${row.configuration}</th>${matrix.versions.map((v) => heatmapCell(row.cells[v], ids))}</tr>`);
    return html`<section class="scenario" data-scenario="${scenario}"><h2>${scenario}</h2><p>${totalsLine(matrix)}</p>
<table class="matrix"><thead><tr><th>configuration</th>${matrix.versions.map((v) => html`<th>${v}</th>`)}</tr></thead><tbody>${rows}</tbody></table>
<h3>Evidence</h3>${cells.map((r) => html`${evidenceBlock(r, ids.get(r)!)}\n`)}</section>\n`;
  });
  const host = `node ${meta.host.node}${meta.host.engineVersion ? `, engine ${meta.host.engineVersion}` : ''}`;
  const legend = [...OUTCOMES, 'flaky'].map((o) => html`<span class="outcome-${o}">${o}</span>`);
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${CONTENT_SECURITY_POLICY}">
<meta name="viewport" content="width=device-width,initial-scale=1"><meta name="referrer" content="no-referrer">
<title>buildx-lab ${meta.runId}</title><style>${new SafeHtml(CSS)}</style></head>
<body>
<h1>buildx-lab run ${meta.runId}</h1>
<p class="${failed ? 'status-fail' : 'status-pass'}">${totalsLine(buildMatrix(results))}: ${failed ? 'NEEDS ATTENTION' : 'PASS'}</p>
<p>${`${meta.startedAt} to ${meta.finishedAt}; ${host}; ${meta.argv.join(' ')}`}</p>
<p class="legend">${legend}</p>
<p>A heavy outline marks a cell whose outcome differs from the scenario declaration. Click a cell for its evidence.</p>
${sections}<script>${new SafeHtml(JS)}</script>
</body></html>
`.markup;
}
