// A cell's registry requests on a time axis, drawn as inline SVG: one lane per client (BuildKit, the
// engine, the lab's verifier, anything else by its user agent), PUTs to a tag and refused requests
// marked. The double push of a bake is one glance here: two tag PUTs in two lanes. Pure: the journal in,
// markup out, every value through the `html` tag (paths, tags and user agents are the clients').
import type { JournalEntry } from '../model.ts';
import { clientOf, isDigestReference } from '../registry/journal.ts';
import { html, type SafeHtml } from './markup.ts';

/** More requests than this are not all drawn (a journal may hold 200 000); the table below has them all. */
export const MAX_DRAWN = 2_000;
const MAX_LANES = 6;

/** The lane a request is drawn in: who sent it, by its user agent (and loopback: the lab itself). */
export function laneOf(e: Pick<JournalEntry, 'userAgent' | 'client'>): string {
  const ua = e.userAgent ?? '';
  const who = clientOf(ua);
  if (who === 'buildkit') return 'BuildKit';
  if (who === 'docker' || /^containerd\//i.test(ua)) return 'engine';
  if (/^buildx-lab/i.test(ua) || /^(?:127\.|::1$|::ffff:127\.)/.test(e.client ?? '')) return 'verifier';
  // another client by its product token (Buildx's imagetools, curl, ...), cut to a label
  const product = /^[\w.+-]{1,24}/.exec(ua)?.[0];
  return product ? product : 'no user agent';
}

/** A PUT of a manifest by tag (not by digest): what moves the tag a user pulls. */
export const isTagPut = (e: JournalEntry): boolean => e.method === 'PUT' && e.kind === 'manifests' && e.reference !== undefined && !isDigestReference(e.reference);
/** Refused or cut: an error status, or none (status 0). A 404 to a GET or HEAD is an answer (not there), not a refusal. */
export const isRefused = (e: JournalEntry): boolean => e.status === 0 || (e.status >= 400 && !(e.status === 404 && (e.method === 'GET' || e.method === 'HEAD')));

const LANE_ORDER = ['BuildKit', 'engine', 'verifier'];
const W = 960;
const LEFT = 96;
const RIGHT = 16;
const LANE_H = 30;
const TOP = 8;
const AXIS_H = 26;
/** Width of one character of an 11px monospace label, and the longest label drawn. */
const CHAR_W = 6.7;
const MAX_LABEL = 40;

/** A time in ms for an axis label: 850 ms, 12.4 s. */
function timeLabel(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

/** A number a report read from disk should hold; anything else (a report that skipped validation) is 0. */
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** The timeline of one cell's journal, with a line of counts above it. */
export function requestTimeline(journal: readonly JournalEntry[]): SafeHtml {
  if (!journal.length) return html``;
  const entries = journal.map((e) => ({ ...e, atMs: num(e.atMs), durationMs: Math.max(0, num(e.durationMs)), status: num(e.status) }));
  const tagPuts = entries.filter(isTagPut);
  const refused = entries.filter(isRefused);
  // what matters is drawn first when the journal is longer than the drawing holds
  const drawn = [...new Set([...tagPuts, ...refused, ...entries])].slice(0, MAX_DRAWN).sort((a, b) => a.atMs - b.atMs || a.seq - b.seq);
  const seen = [...new Set(drawn.map(laneOf))];
  const named = seen.filter((l) => LANE_ORDER.includes(l)).sort((a, b) => LANE_ORDER.indexOf(a) - LANE_ORDER.indexOf(b));
  const others = seen.filter((l) => !LANE_ORDER.includes(l));
  const lanes = [...named, ...others].slice(0, MAX_LANES);
  const overflow = [...named, ...others].length > MAX_LANES;
  if (overflow) lanes[MAX_LANES - 1] = 'other';
  const laneIndex = (e: JournalEntry) => {
    const i = lanes.indexOf(laneOf(e));
    return i >= 0 ? i : lanes.length - 1;
  };
  const t0 = Math.min(...drawn.map((e) => e.atMs));
  const t1 = Math.max(...drawn.map((e) => e.atMs + e.durationMs));
  const span = Math.max(t1 - t0, 1);
  const x = (t: number) => LEFT + ((t - t0) / span) * (W - LEFT - RIGHT);
  const height = TOP + lanes.length * LANE_H + AXIS_H;
  const laneRows = lanes.map(
    (l, i) =>
      html`<g class="lane" data-lane="${l}"><rect class="lane-bg${i % 2 ? ' odd' : ''}" x="0" y="${TOP + i * LANE_H}" width="${W}" height="${LANE_H}"></rect><text class="lane-label" x="6" y="${TOP + i * LANE_H + LANE_H / 2 + 4}">${l}</text></g>`,
  );
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const tx = LEFT + f * (W - LEFT - RIGHT);
    const y = TOP + lanes.length * LANE_H;
    return html`<line class="tick" x1="${tx}" y1="${TOP}" x2="${tx}" y2="${y + 4}"></line><text class="tick-label" x="${tx}" y="${y + 18}" text-anchor="${f === 0 ? 'start' : f === 1 ? 'end' : 'middle'}">${timeLabel(f * span)}</text>`;
  });
  // a label only where it has room: the next mark's label in the lane would write over it (the tooltip keeps it all)
  const labelEnd = new Map<number, number>();
  const label = (lane: number, at: number, text: string): string | undefined => {
    const shown = text.length > MAX_LABEL ? `${text.slice(0, MAX_LABEL - 1)}…` : text;
    if (at < (labelEnd.get(lane) ?? 0) || at + shown.length * CHAR_W > W) return undefined;
    labelEnd.set(lane, at + shown.length * CHAR_W + 4);
    return shown;
  };
  const labels: SafeHtml[] = [];
  const marks = drawn.map((e) => {
    const y = TOP + laneIndex(e) * LANE_H;
    const bx = x(e.atMs);
    const bw = Math.max(2, x(e.atMs + e.durationMs) - bx);
    const tag = isTagPut(e);
    const bad = isRefused(e);
    const cls = [
      'req',
      `kind-${/^[a-z]+$/.test(e.kind) ? e.kind : 'other'}`,
      `method-${/^[A-Z]+$/.test(e.method) ? e.method.toLowerCase() : 'other'}`,
      tag && 'tag-put',
      bad && 'refused',
      e.intervention && 'intervened',
    ]
      .filter(Boolean)
      .join(' ');
    const title = `#${e.seq} ${e.method} ${e.path} -> ${e.status} in ${e.durationMs} ms at ${timeLabel(e.atMs - t0)}${e.intervention ? ` [${e.intervention}]` : ''}${e.userAgent ? `\n${e.userAgent}` : ''}`;
    const top = tag ? y + 3 : y + 8;
    const h = tag ? LANE_H - 6 : LANE_H - 16;
    // labels go in a layer above every mark, so a later mark cannot hide one
    const tagText = tag ? label(laneIndex(e), bx + bw + 3, `PUT :${e.reference}`) : undefined;
    const badText = bad ? label(laneIndex(e) + MAX_LANES, bx + bw + 3, String(e.status || 'cut')) : undefined;
    if (tagText) labels.push(html`<text class="tag-label" data-seq="${e.seq}" x="${(bx + bw + 3).toFixed(1)}" y="${y + 12}">${tagText}</text>`);
    if (badText) labels.push(html`<text class="refused-label" data-seq="${e.seq}" x="${(bx + bw + 3).toFixed(1)}" y="${y + LANE_H - 5}">${badText}</text>`);
    return html`<g class="${cls}" data-seq="${e.seq}"><title>${title}</title><rect x="${bx.toFixed(1)}" y="${top}" width="${bw.toFixed(1)}" height="${h}"></rect></g>`;
  });
  const counts = [
    `${entries.length} request(s)`,
    `${tagPuts.length} PUT(s) to a tag${tagPuts.length ? ` (${[...new Set(tagPuts.map(laneOf))].join(', ')})` : ''}`,
    `${refused.length} refused`,
    ...(drawn.length < entries.length ? [`${entries.length - drawn.length} not drawn (the journal below has them all)`] : []),
  ].join('; ');
  return html`<figure class="timeline"><figcaption>Registry requests over time: ${counts}. <span class="key"><span class="key-tag">tag PUT</span> <span class="key-refused">refused</span> <span class="key-blob">blob</span> <span class="key-manifest">manifest</span></span></figcaption>
<svg class="timeline" viewBox="0 0 ${W} ${height}" width="${W}" height="${height}" role="img" aria-label="registry requests over time, one lane per client">${laneRows}${ticks}${marks}<g class="labels">${labels}</g></svg></figure>`;
}
