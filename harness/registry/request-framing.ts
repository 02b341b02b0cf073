// How a request's body is framed, as the fault proxy accepts it. Pure, so it can be tested on its own.
//
// The proxy re-frames every body it forwards (Node decodes it, and the proxy encodes it again for the
// registry), so any framing the two ends could read differently is refused instead: a body on a method that
// has none (Node would send it upstream unframed, and the registry would read it as further requests:
// request smuggling), Content-Length with Transfer-Encoding, more than one Content-Length, and any
// Transfer-Encoding but chunked alone. Node's strict parser already refuses some of these; checking again here
// keeps them refused if a parser option (--insecure-http-parser) ever lets them through.

import type http from 'node:http';

/** Methods whose requests carry no body (RFC 9110 §9.3): a body on one is refused, not forwarded. */
const NO_BODY = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE']);

export type Framing = { ok: true; body: 'none' } | { ok: true; body: 'length'; length: number } | { ok: true; body: 'chunked' } | { ok: false; reason: string };

/** How many times a header field occurs, from Node's raw [name, value, ...] list (joined values hide this). */
function occurrences(rawHeaders: readonly string[], name: string): number {
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === name) n++;
  return n;
}

export function checkFraming(req: Pick<http.IncomingMessage, 'method' | 'httpVersion' | 'rawHeaders' | 'headers'>): Framing {
  const method = (req.method ?? '').toUpperCase();
  const cl = req.headers['content-length'];
  const te = req.headers['transfer-encoding'];
  const clCount = occurrences(req.rawHeaders, 'content-length');
  const teCount = occurrences(req.rawHeaders, 'transfer-encoding');
  if (clCount && teCount) return { ok: false, reason: 'Content-Length and Transfer-Encoding together' };
  if (clCount > 1 || teCount > 1) return { ok: false, reason: `${clCount > 1 ? 'Content-Length' : 'Transfer-Encoding'} more than once` };
  if (te !== undefined) {
    // Transfer codings are case-insensitive (RFC 9112 §7), as in Go's net/http on the registry's side.
    if (te.trim().toLowerCase() !== 'chunked') return { ok: false, reason: `Transfer-Encoding "${te.slice(0, 64)}" (only chunked alone is forwarded)` };
    if (req.httpVersion !== '1.1') return { ok: false, reason: `Transfer-Encoding in an HTTP/${req.httpVersion} request (RFC 9112 §6.1)` };
    if (NO_BODY.has(method)) return { ok: false, reason: `a ${method} request has no body, but this one is chunked` };
    return { ok: true, body: 'chunked' };
  }
  if (cl === undefined) return { ok: true, body: 'none' };
  if (!/^\d{1,15}$/.test(cl)) return { ok: false, reason: `Content-Length "${cl.slice(0, 64)}" is not one decimal number` };
  const length = Number(cl);
  if (length === 0) return { ok: true, body: 'none' };
  if (NO_BODY.has(method)) return { ok: false, reason: `a ${method} request has no body, but this one declares ${length} bytes` };
  return { ok: true, body: 'length', length };
}
