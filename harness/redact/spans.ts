// Detectors report spans; masking happens once at the end. Rules therefore never see each other's
// masks, overlapping findings merge, and the result does not depend on the order of the rules.

/** What a secret is replaced with. */
export const MASK = '[REDACTED]';

/** Half-open [start, end) range of characters to mask. */
export interface Span {
  start: number;
  end: number;
}

/** Replaces each (merged) span of `text` with `mask`. */
export function maskSpans(text: string, spans: readonly Span[], mask: string): string {
  const sorted = spans.filter((s) => s.end > s.start).sort((a, b) => a.start - b.start || b.end - a.end);
  if (!sorted.length) return text;
  let out = '';
  let pos = 0;
  let cur: Span | undefined;
  for (const s of sorted) {
    if (cur && s.start <= cur.end) {
      cur.end = Math.max(cur.end, s.end);
      continue;
    }
    if (cur) {
      out += text.slice(pos, cur.start) + mask;
      pos = cur.end;
    }
    cur = { start: Math.max(s.start, pos), end: s.end };
  }
  if (cur) {
    out += text.slice(pos, cur.start) + mask;
    pos = cur.end;
  }
  return out + text.slice(pos);
}

// ANSI escape sequences (CSI with parameters, and OSC strings), as Buildx's tty progress prints them.
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[@-Z\\-_]/g;

/**
 * The text as the rules should read it: ANSI sequences removed, with a map from each plain index back
 * to the original text, so that `Authorization: \e[1mBearer\e[0m abc` is still seen as one header
 * while the stored output keeps its colours.
 */
export interface PlainView {
  plain: string;
  /** original index of plain[i]; toOriginal[plain.length] is text.length */
  toOriginal(i: number): number;
}

export function plainView(text: string): PlainView {
  if (!text.includes('\u001b')) return { plain: text, toOriginal: (i) => i };
  const map: number[] = [];
  let plain = '';
  let pos = 0;
  for (const m of text.matchAll(ANSI)) {
    for (let i = pos; i < m.index; i++) map.push(i);
    plain += text.slice(pos, m.index);
    pos = m.index + m[0].length;
  }
  for (let i = pos; i < text.length; i++) map.push(i);
  plain += text.slice(pos);
  map.push(text.length);
  return { plain, toOriginal: (i) => map[i]! };
}

/** Spans found in the plain view, moved back onto the original text (an end maps past the sequence it precedes). */
export function toOriginalSpans(view: PlainView, spans: readonly Span[]): Span[] {
  return spans.map((s) => ({ start: view.toOriginal(s.start), end: s.end > s.start ? view.toOriginal(s.end - 1) + 1 : view.toOriginal(s.start) }));
}

/** Index of the last entry of ascending `starts` that is <= `pos` (0 when none is): which line, or which
 * string of a batch, holds a position. */
export function lastAtOrBefore(starts: readonly number[], pos: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= pos) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
