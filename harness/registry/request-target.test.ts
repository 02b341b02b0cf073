import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRequestTarget } from './request-target.ts';

const ORIGIN = 'http://registry.invalid:5000';

/** What a URL resolver (the old forwarder's `new URL(target, upstream)`) would make of an accepted target. */
function staysHome(target: string, path: string): void {
  const u = new URL(target, ORIGIN);
  expect(u.origin).toBe(ORIGIN);
  expect(u.pathname).toBe(path); // nothing normalised away: what the journal and rules saw is what goes out
  expect(u.pathname.startsWith('/v2/')).toBe(true);
  for (const seg of decodeURIComponent(path).split('/')) expect(['.', '..']).not.toContain(seg);
}

describe('parseRequestTarget', () => {
  it.each([
    '/v2/',
    '/v2/lab/app/manifests/latest',
    '/v2/a/b/c/manifests/sha256:0123abcd',
    '/v2/lab/app/blobs/uploads/',
    '/v2/lab/app/blobs/uploads/5f1c-uuid?_state=l-zmF%3D%3D&digest=sha256%3Aabc',
    '/v2/lab/app/tags/list?n=100&last=v1.2',
    '/v2/lab/app/manifests/v1.0.0-rc.1',
    '/v2/lab/app/manifests/sha256%3Aabc',
  ])('accepts %s', (t) => {
    const v = parseRequestTarget('GET', t);
    expect(v).toMatchObject({ ok: true, path: t.split('?')[0], query: t.split('?')[1] ?? '' });
    staysHome(t, t.split('?')[0]!);
  });

  it.each([
    ['GET', 'http://127.0.0.1:1/v2/', /absolute form/],
    ['GET', 'HTTP://x/v2/', /absolute form/],
    ['GET', 'v2/', /absolute form/],
    ['CONNECT', '127.0.0.1:22', /CONNECT/],
    ['CONNECT', '/v2/', /CONNECT/],
    ['OPTIONS', '*', /asterisk/],
    ['GET', '//evil/v2/', /names a host/],
    ['GET', '/\\evil/v2/', /only \/v2\//],
    ['GET', '/v2', /only \/v2\//],
    ['GET', '/', /only \/v2\//],
    ['GET', '', /absolute form/],
    ['GET', '/v2/\\evil', /outside RFC 3986/],
    ['GET', '/v2/../x', /dot segments/],
    ['GET', '/v2/a/./b', /dot segments/],
    ['GET', '/v2/a/..', /dot segments/],
    ['GET', '/v2/%2e%2e/x', /escape %2e/],
    ['GET', '/v2/%2E./x', /escape %2E/],
    ['GET', '/v2/..%2fx', /escape %2f/],
    ['GET', '/v2/%5cx', /escape %5c/],
    ['GET', '/v2/%25', /escape %25/],
    ['GET', '/v2/%00', /escape %00/],
    ['GET', '/v2/%c3%a9', /escape %c3/],
    ['GET', '/v2/%zz', /bad % escape/],
    ['GET', '/v2/a%2', /bad % escape/],
    ['GET', '/v2//x', /empty path segments/],
    ['GET', '/v2/a?b#frag', /query/],
    ['GET', '/v2/a?%zz', /query/],
    ['GET', '/v2/é', /outside RFC 3986/],
  ])('%s %s is refused', (method, t, reason) => {
    const v = parseRequestTarget(method, t);
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.reason).toMatch(reason);
  });

  // Pieces that each fooled some resolver somewhere: separators, dot segments and their encodings, hosts.
  const piece = fc.constantFrom(
    '/',
    '//',
    '\\',
    '/\\',
    '.',
    '..',
    '%2e',
    '%2E',
    '%2e%2e',
    '%2f',
    '%2F',
    '%5c',
    '%25',
    '%00',
    '%',
    '%%',
    '?',
    '#',
    ';',
    '@',
    ':',
    'http:',
    'https://',
    'evil',
    'evil:1',
    '127.0.0.1',
    'v2',
    'lab',
    'app',
    'manifests',
    'blobs',
    'uploads',
    'sha256:ab',
    '~',
    ' ',
    '\t',
    'é',
  );
  const tricky = fc.tuple(fc.constantFrom('', '/', '/v2/', '/v2', '//', 'http://evil', '*'), fc.array(piece, { maxLength: 12 })).map(([a, b]) => a + b.join(''));

  it('property: whatever it accepts resolves to the registry, under /v2/, unchanged (tricky pieces)', () => {
    fc.assert(
      fc.property(tricky, fc.constantFrom('GET', 'HEAD', 'PUT', 'CONNECT', 'OPTIONS'), (t, m) => {
        const v = parseRequestTarget(m, t);
        if (v.ok) staysHome(t, v.path);
      }),
      { numRuns: 20_000 },
    );
  });

  it('property: never throws, and whatever it accepts stays home (any string)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (s) => {
        for (const t of [s, `/v2/${s}`]) {
          const v = parseRequestTarget('GET', t);
          if (v.ok) staysHome(t, v.path);
        }
      }),
      { numRuns: 20_000 },
    );
  });

  // distribution's grammar: path components [a-z0-9]+ joined by . _ __ or -+; tags \w[\w.-]{0,127}.
  const component = fc.stringMatching(/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/);
  const repo = fc.array(component, { minLength: 1, maxLength: 4 }).map((c) => c.join('/'));
  const tag = fc.stringMatching(/^\w[\w.-]{0,127}$/);
  const digest = fc.stringMatching(/^[0-9a-f]{64}$/).map((h) => `sha256:${h}`);

  it('property: every route a registry client sends is accepted', () => {
    fc.assert(
      fc.property(repo, tag, digest, (r, t, d) => {
        for (const p of [`/v2/${r}/manifests/${t}`, `/v2/${r}/manifests/${d}`, `/v2/${r}/blobs/${d}`, `/v2/${r}/blobs/uploads/`, `/v2/${r}/tags/list`]) {
          expect(parseRequestTarget('GET', p)).toMatchObject({ ok: true, path: p });
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
