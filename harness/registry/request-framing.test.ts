// The framing rules on their own; fault-proxy.framing.test.ts holds the proxy to them over real sockets.
import { describe, expect, it } from 'vitest';
import { checkFraming } from './request-framing.ts';

/** A request as Node's parser leaves it: joined headers, and the raw list that still shows repeats. */
function req(method: string, raw: [string, string][], httpVersion = '1.1') {
  const headers: Record<string, string> = {};
  for (const [k, v] of raw) headers[k.toLowerCase()] = headers[k.toLowerCase()] === undefined ? v : `${headers[k.toLowerCase()]}, ${v}`;
  return { method, httpVersion, rawHeaders: raw.flat(), headers };
}

describe('checkFraming', () => {
  it.each<[string, ReturnType<typeof req>, ReturnType<typeof checkFraming>]>([
    ['a GET without a body', req('GET', []), { ok: true, body: 'none' }],
    ['a GET with Content-Length: 0', req('GET', [['Content-Length', '0']]), { ok: true, body: 'none' }],
    ['a PUT with a length', req('PUT', [['Content-Length', '12']]), { ok: true, body: 'length', length: 12 }],
    ['a PATCH, chunked', req('PATCH', [['Transfer-Encoding', 'chunked']]), { ok: true, body: 'chunked' }],
    ['chunked in capitals (codings are case-insensitive)', req('PUT', [['Transfer-Encoding', 'Chunked']]), { ok: true, body: 'chunked' }],
    ['a POST without a body', req('POST', []), { ok: true, body: 'none' }],
  ])('takes %s', (_, r, want) => expect(checkFraming(r)).toEqual(want));

  it.each<[string, ReturnType<typeof req>, RegExp]>([
    ['a chunked GET', req('GET', [['Transfer-Encoding', 'chunked']]), /GET request has no body/],
    ['a HEAD with a length', req('HEAD', [['Content-Length', '3']]), /HEAD request has no body, but this one declares 3 bytes/],
    ['a chunked TRACE', req('TRACE', [['Transfer-Encoding', 'chunked']]), /TRACE request has no body/],
    [
      'Content-Length with Transfer-Encoding',
      req('PUT', [
        ['Content-Length', '3'],
        ['Transfer-Encoding', 'chunked'],
      ]),
      /together/,
    ],
    [
      'Content-Length twice, even equal',
      req('PUT', [
        ['Content-Length', '3'],
        ['content-length', '3'],
      ]),
      /Content-Length more than once/,
    ],
    [
      'Transfer-Encoding twice',
      req('PUT', [
        ['Transfer-Encoding', 'chunked'],
        ['Transfer-Encoding', 'chunked'],
      ]),
      /Transfer-Encoding more than once/,
    ],
    ['a coding before chunked', req('PUT', [['Transfer-Encoding', 'gzip, chunked']]), /only chunked alone/],
    ['identity', req('PUT', [['Transfer-Encoding', 'identity']]), /only chunked alone/],
    ['chunked on HTTP/1.0', req('PUT', [['Transfer-Encoding', 'chunked']], '1.0'), /HTTP\/1\.0 request/],
    ['a signed length', req('PUT', [['Content-Length', '+3']]), /not one decimal number/],
    ['a length list', req('PUT', [['Content-Length', '3, 3']]), /not one decimal number/],
  ])('refuses %s', (_, r, reason) => {
    const f = checkFraming(r);
    expect(f.ok).toBe(false);
    if (!f.ok) expect(f.reason).toMatch(reason);
  });
});
