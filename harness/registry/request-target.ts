// Which request-targets the fault proxy forwards. Pure, so it can be tested on its own and fuzzed.
//
// The proxy forwards to one registry, so only origin-form targets under /v2/ are meaningful (RFC 9112 §3.2).
// Absolute form (`GET http://host/x`), authority form (CONNECT), asterisk form (`OPTIONS *`) and anything that
// a URL resolver could turn into another host or another path (`//host`, `/\host`, dot segments, encoded
// slashes or dots) are refused, so the target can never choose where a request goes.

export type TargetVerdict =
  | {
      ok: true;
      /** the path as received (no query); what the journal records and rules match */
      path: string;
      /** the query without its '?', as received ('' when none) */
      query: string;
    }
  | { ok: false; reason: string };

// RFC 3986 pchar, minus '%' (escapes are checked on their own) plus '/'.
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;
const QUERY_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$/;
const ESCAPE = /%([0-9A-Fa-f]{2})/g;
// What an escape must never decode to in a path: separators, dots (dot segments), and the escape char itself.
const FORBIDDEN_DECODED = new Set(['/', '\\', '.', '%']);

function refuse(reason: string): TargetVerdict {
  return { ok: false, reason };
}

/** Checks a raw request-target (req.url as Node received it). */
export function parseRequestTarget(method: string, raw: string): TargetVerdict {
  if (method === 'CONNECT') return refuse('authority form (CONNECT) is not forwarded');
  if (raw === '*') return refuse('asterisk form is not forwarded');
  if (!raw.startsWith('/')) return refuse('absolute form is not forwarded: only paths on this registry are');
  if (raw.startsWith('//')) return refuse('a target starting with // names a host');
  const q = raw.indexOf('?');
  const path = q === -1 ? raw : raw.slice(0, q);
  const query = q === -1 ? '' : raw.slice(q + 1);
  if (!path.startsWith('/v2/')) return refuse('only /v2/ paths are forwarded');
  if (!PATH_CHARS.test(path.replace(ESCAPE, ''))) return refuse('path holds characters outside RFC 3986 (or a bad % escape)');
  if (!QUERY_CHARS.test(query) || /%(?![0-9A-Fa-f]{2})/.test(query)) return refuse('query holds characters outside RFC 3986 (or a bad % escape)');
  for (const [, hex] of path.matchAll(ESCAPE)) {
    const c = String.fromCharCode(Number.parseInt(hex!, 16));
    if (FORBIDDEN_DECODED.has(c) || c < ' ' || c > '~') return refuse(`path escape %${hex} would decode to a separator, dot or control character`);
  }
  const segments = path.slice(1).split('/');
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    if (s === '.' || s === '..') return refuse('dot segments are not forwarded');
    if (s === '' && i < segments.length - 1) return refuse('empty path segments are not forwarded');
  }
  return { ok: true, path, query };
}
