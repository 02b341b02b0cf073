import { describe, expect, it } from 'vitest';
import type { JournalEntry } from '../model.ts';
import {
  Journal,
  JournalOverflowError,
  MAX_JOURNAL_FIELD,
  analyzePush,
  clientOf,
  describePush,
  isDigestReference,
  movedTag,
  parseRegistryPath,
  tagPuts,
  type ParsedRegistryPath,
  type TagPut,
} from './journal.ts';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const BUILDKIT = 'buildkit/v0.20.1';
const DOCKER = 'docker/26.1.5 go/go1.22.5 git-commit/411e817 kernel/6.8.0 os/linux arch/amd64 UpstreamClient(Docker-Client/26.1.5 \\(linux\\))';
const REPO = 'lab/app';
const TAG = 'latest';

const dg = (n: number) => `sha256:${String(n).padStart(2, '0').repeat(32)}`;

let seq = 0;
function entry(e: Partial<JournalEntry> & Pick<JournalEntry, 'method' | 'path'>): JournalEntry {
  const p = parseRegistryPath(e.path);
  seq++;
  return { seq, atMs: seq * 10, kind: p.kind, repository: p.repository, reference: p.reference, status: 200, requestBytes: 0, responseBytes: 0, durationMs: 1, ...e };
}
const put = (ua: string, mediaType: string, digest: string, extra: Partial<JournalEntry> = {}) =>
  entry({ method: 'PUT', path: `/v2/${REPO}/manifests/${TAG}`, status: 201, requestMediaType: mediaType, userAgent: ua, digest, requestBytes: 500, ...extra });

/** A real double push: buildkit pushes the index, then `docker push` with the containerd store re-pushes per platform. */
function doublePush(): JournalEntry[] {
  seq = 0;
  return [
    entry({ method: 'GET', path: '/v2/', status: 401, userAgent: BUILDKIT, responseBytes: 3_000 }),
    entry({ method: 'HEAD', path: `/v2/${REPO}/blobs/${dg(90)}`, status: 404, userAgent: BUILDKIT, responseBytes: 250 }),
    entry({ method: 'POST', path: `/v2/${REPO}/blobs/uploads/`, status: 202, userAgent: BUILDKIT }),
    entry({ method: 'PUT', path: `/v2/${REPO}/blobs/uploads/5f1c-uuid`, status: 201, userAgent: BUILDKIT, requestBytes: 10_000, digest: dg(90) }),
    put(BUILDKIT, OCI_INDEX, dg(1)),
    ...[2, 3, 4, 5, 6, 7].map((n) => put(DOCKER, OCI_MANIFEST, dg(n))),
    put(DOCKER, OCI_INDEX, dg(1)),
    entry({ method: 'PUT', path: `/v2/other/manifests/${TAG}`, status: 201, requestMediaType: OCI_MANIFEST, userAgent: DOCKER, requestBytes: 700 }),
    // reads of the tag and PUTs by digest do not write the tag
    entry({ method: 'HEAD', path: `/v2/${REPO}/manifests/${TAG}`, status: 200, userAgent: DOCKER }),
    entry({ method: 'PUT', path: `/v2/${REPO}/manifests/${dg(8)}`, status: 201, requestMediaType: OCI_MANIFEST, userAgent: DOCKER, requestBytes: 400 }),
  ];
}

describe('parseRegistryPath', () => {
  it.each<[string, ParsedRegistryPath]>([
    ['/v2/', { kind: 'base' }],
    ['/v2/lab/app/manifests/latest', { kind: 'manifests', repository: 'lab/app', reference: 'latest' }],
    ['/v2/a/b/c/manifests/sha256:abc', { kind: 'manifests', repository: 'a/b/c', reference: 'sha256:abc' }],
    ['/v2/lab/app/blobs/sha256:abc', { kind: 'blobs', repository: 'lab/app', reference: 'sha256:abc' }],
    ['/v2/lab/app/blobs/uploads/', { kind: 'uploads', repository: 'lab/app' }],
    ['/v2/lab/app/blobs/uploads/uuid-1?_state=x&digest=sha256:1', { kind: 'uploads', repository: 'lab/app', reference: 'uuid-1' }],
    ['/v2/lab/app/tags/list', { kind: 'tags', repository: 'lab/app' }],
    ['/v2', { kind: 'base' }],
    ['/v2/?service=registry', { kind: 'base' }],
    ['/v2/lab/app/referrers/sha256:abc', { kind: 'other', repository: 'lab/app', reference: 'sha256:abc' }],
    ['/v2/lab/app/manifests/', { kind: 'other' }],
    ['/v2/lab/app/manifests/a/b', { kind: 'other' }],
    ['/v2/lab/app/tags/list?n=10', { kind: 'tags', repository: 'lab/app' }],
    ...['manifests/latest', 'blobs/sha256:abc', 'blobs/uploads/u', 'tags/list', 'referrers/sha256:abc'].map((route): [string, ParsedRegistryPath] => [
      `/proxy/v2/lab/app/${route}`,
      { kind: 'other' },
    ]),
    ['/v2/lab/app/blobs/uploads/uuid/x', { kind: 'other' }],
    ['/v2/lab/app/blobs/sha256:abc/x', { kind: 'other' }],
    ['/v2/lab/app/tags/list/x', { kind: 'other' }],
    ['/v2/lab/app/referrers/sha256:abc/x', { kind: 'other' }],
    ['/v2/_catalog', { kind: 'other' }],
    ['/healthz', { kind: 'other' }],
  ])('%s', (path, expected) => expect(parseRegistryPath(path)).toEqual(expected));
});

describe('clientOf', () => {
  it.each([
    [BUILDKIT, 'buildkit'],
    [DOCKER, 'docker'],
    ['BuildKit/v0.20.1', 'buildkit'],
    ['Docker/27.0', 'docker'],
    ['containerd/v1.7.20', 'other'],
    ['moby-buildkit/v0.20', 'other'],
    ['not docker/26', 'other'],
    [undefined, 'other'],
  ] as const)('%s -> %s', (ua, client) => expect(clientOf(ua)).toBe(client));
});

describe('isDigestReference', () => {
  it.each([
    ['sha256:abc', true],
    ['latest', false],
    ['v1.2.3', false],
  ])('%s -> %s', (ref, want) => expect(isDigestReference(ref)).toBe(want));
});

describe('movedTag', () => {
  const tagPut = (status: number, intervention?: string): TagPut => ({ seq: 1, client: 'docker', status, isIndex: false, ...(intervention ? { intervention } : {}) });
  it.each<[number, string | undefined, boolean]>([
    [199, undefined, false],
    [200, undefined, true],
    [201, 'immutable-tags', true],
    [299, undefined, true],
    [300, undefined, false],
    [409, 'immutable-tags', false],
    [201, 'known-index-not-retagged', false],
    [201, 'late-blob-visibility+known-index-not-retagged', false],
  ])('status %i, intervention %s -> %s', (status, intervention, want) => expect(movedTag(tagPut(status, intervention))).toBe(want));
});

describe('Journal', () => {
  it('keeps seq order, marks and filters', () => {
    const j = new Journal();
    const a = j.reserveSeq();
    const b = j.reserveSeq();
    const mark = j.mark();
    expect(mark).toBe(3);
    const base = { atMs: 0, kind: 'manifests', status: 200, requestBytes: 0, responseBytes: 0, durationMs: 0 };
    j.append({ ...base, seq: b, method: 'GET', path: '/v2/x/manifests/b', repository: 'x' });
    j.append({ ...base, seq: a, method: 'GET', path: '/v2/y/manifests/a', repository: 'y' }); // finished later, arrived first
    j.append({ ...base, method: 'GET', path: '/v2/x/manifests/c', repository: 'x' });
    expect(j.entries().map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(j.since(mark).map((e) => e.path)).toEqual(['/v2/x/manifests/c']);
    expect(j.forRepository('x').map((e) => e.seq)).toEqual([2, 3]);
    expect(j.mark()).toBe(4);
    expect(j.size).toBe(3);
  });

  it('hands out the next seq to an entry without one, and returns the entry', () => {
    const j = new Journal();
    const base = { atMs: 0, kind: 'blobs', status: 200, requestBytes: 0, responseBytes: 0, durationMs: 0, method: 'GET', path: '/v2/x/blobs/a' };
    expect(j.append(base)).toEqual({ ...base, seq: 1 });
    expect(j.append({ ...base, seq: 7 }).seq).toBe(7);
    expect(j.append(base).seq).toBe(2);
    expect(j.entries().map((e) => e.seq)).toEqual([1, 2, 7]);
    // a copy: the caller cannot change the journal
    j.entries().pop();
    expect(j.size).toBe(3);
  });

  const base = { atMs: 0, kind: 'blobs', status: 200, requestBytes: 0, responseBytes: 0, durationMs: 0, method: 'GET' };

  it('keeps at most maxEntries, dropping the oldest, and since() refuses a mark it can no longer honour', () => {
    const j = new Journal({ maxEntries: 100 });
    const first = j.mark();
    for (let i = 0; i < 250; i++) j.append({ ...base, path: `/v2/x/blobs/${i}` });
    expect(j.size).toBe(100);
    expect(j.dropped).toBe(150);
    expect(j.entries()[0]!.seq).toBe(151);
    expect(() => j.since(first)).toThrow(JournalOverflowError);
    expect(() => j.since(150)).toThrow(/dropped requests since mark 150.*incomplete/);
    expect(j.since(151)).toHaveLength(100);
    const mark = j.mark();
    j.append({ ...base, path: '/v2/x/blobs/new' });
    expect(j.since(mark).map((e) => e.path)).toEqual(['/v2/x/blobs/new']);
  });

  it('keeps at most maxBytes, counting strings, and cuts a hostile field', () => {
    const j = new Journal({ maxBytes: 64 * 1024 });
    const long = `/v2/${'a'.repeat(100_000)}`;
    const e = j.append({ ...base, path: long, userAgent: 'u'.repeat(50_000) });
    expect(e.path.length).toBeLessThan(MAX_JOURNAL_FIELD + 32);
    expect(e.path).toMatch(/…\(100004 chars\)$/);
    for (let i = 0; i < 1000; i++) j.append({ ...base, path: long });
    expect(j.bytes).toBeLessThanOrEqual(64 * 1024);
    expect(j.size).toBeGreaterThan(10);
    expect(j.dropped).toBeGreaterThan(900);
  });

  it('a request that finishes late still lands in seq order when the journal is full', () => {
    const j = new Journal({ maxEntries: 3 });
    const early = j.reserveSeq();
    for (let i = 0; i < 3; i++) j.append({ ...base, path: `/v2/x/blobs/${i}` });
    j.append({ ...base, seq: early, path: '/v2/x/blobs/early' });
    expect(j.entries().map((e) => e.seq)).toEqual([2, 3, 4]);
    expect(() => j.since(early)).toThrow(JournalOverflowError);
  });

  it('compacts as it drops, so a long run does not keep dropped entries alive', () => {
    const j = new Journal({ maxEntries: 10 });
    for (let i = 0; i < 50_000; i++) j.append({ ...base, path: '/v2/x/blobs/y' });
    expect(j.size).toBe(10);
    expect(j.entries().map((e) => e.seq)).toEqual(Array.from({ length: 10 }, (_, i) => 49_991 + i));
  });
});

describe('tagPuts / analyzePush', () => {
  it('lists the PUTs to the tag in order with their clients', () => {
    const puts = tagPuts(doublePush(), REPO, TAG);
    expect(puts.map((p) => [p.client, p.isIndex])).toEqual([['buildkit', true], ...Array(6).fill(['docker', false]), ['docker', true]]);
    expect(puts[0]).toMatchObject({ seq: 5, mediaType: OCI_INDEX, digest: dg(1), userAgent: BUILDKIT, status: 201 });
    // in arrival order, however the entries are listed
    expect(tagPuts(doublePush().reverse(), REPO, TAG).map((p) => p.seq)).toEqual(puts.map((p) => p.seq));
  });

  const cases: { name: string; entries: () => JournalEntry[]; expected: Partial<ReturnType<typeof analyzePush>>; final?: number }[] = [
    {
      name: 'double push: single manifests land on the tag',
      entries: doublePush,
      expected: { tagPutCount: 8, pushers: ['buildkit', 'docker'], everSingleManifest: true, totalRequests: 13, totalBytes: 14_650 },
      final: 12,
    },
    {
      name: 'index only',
      entries: () => doublePush().slice(0, 5),
      expected: { tagPutCount: 1, pushers: ['buildkit'], everSingleManifest: false },
      final: 5,
    },
    {
      name: 'manifest PUTs refused by immutable tags do not count',
      entries: () => doublePush().map((e) => (e.seq > 5 && e.repository === REPO ? { ...e, status: 409, intervention: 'immutable-tags' } : e)),
      expected: { tagPutCount: 8, everSingleManifest: false },
      final: 5,
    },
    {
      name: 'known-index-not-retagged: the final index PUT did not move the tag',
      entries: () => doublePush().map((e) => (e.seq === 12 ? { ...e, intervention: 'known-index-not-retagged' } : e)),
      expected: { everSingleManifest: true },
      final: 11,
    },
    { name: 'nothing pushed', entries: () => [], expected: { tagPutCount: 0, pushers: [], everSingleManifest: false, totalRequests: 0 } },
  ];
  it.each(cases)('$name', ({ entries, expected, final }) => {
    const a = analyzePush(entries(), REPO, TAG);
    expect(a).toMatchObject(expected);
    expect(a.finalTagWrite?.seq).toBe(final);
  });
});

describe('describePush', () => {
  it('summarises a double push', () => {
    const lines = describePush(analyzePush(doublePush(), REPO, TAG));
    expect(lines[0]).toBe('8 PUTs to the tag: 1 index by buildkit, then 6 manifests + 1 index by docker');
    expect(lines).toContain('a single-platform manifest was written to the tag at least once');
    expect(lines).toContain('final tag write: #12 index sha256:010101010101 by docker');
    expect(lines.at(-1)).toBe('13 requests, 14650 bytes for lab/app');
  });

  it('names refusals and swallowed PUTs', () => {
    const entries = doublePush().map((e) =>
      e.seq === 6 ? { ...e, status: 409, intervention: 'immutable-tags' } : e.seq === 12 ? { ...e, intervention: 'known-index-not-retagged' } : e,
    );
    const lines = describePush(analyzePush(entries, REPO, TAG));
    expect(lines).toContain('1 tag PUT refused: #6 409 (immutable-tags) by docker');
    expect(lines).toContain('1 tag PUT answered 201 by known-index-not-retagged without moving the tag');
    expect(lines).toContain('final tag write: #11 manifest sha256:070707070707 by docker');
  });

  it('counts in the singular, names indexes in the plural, and says when no PUT moved the tag', () => {
    seq = 0;
    const refused = { status: 409, intervention: 'immutable-tags' };
    const entries = [put(BUILDKIT, OCI_INDEX, dg(1), refused), put(BUILDKIT, OCI_INDEX, dg(2), { status: 500 })];
    expect(describePush(analyzePush(entries, REPO, TAG))).toEqual([
      '2 PUTs to the tag: 2 indexes by buildkit',
      '2 tag PUTs refused: #1 409 (immutable-tags) by buildkit, #2 500 by buildkit',
      'no PUT moved the tag',
      '2 requests, 1000 bytes for lab/app',
    ]);
    seq = 0;
    expect(describePush(analyzePush([put(DOCKER, OCI_MANIFEST, 'sha256:short', { status: 200 })], REPO, TAG))).toEqual([
      '1 PUT to the tag: 1 manifest by docker',
      'a single-platform manifest was written to the tag at least once',
      'final tag write: #1 manifest sha256:short by docker',
      '1 request, 500 bytes for lab/app',
    ]);
  });

  it('does not count a refused PUT as swallowed, and names an unknown digest', () => {
    seq = 0;
    const entries = [put(DOCKER, OCI_INDEX, dg(1), { status: 409, intervention: 'known-index-not-retagged' }), put(DOCKER, OCI_INDEX, '', { status: 201 })];
    const lines = describePush(analyzePush(entries, REPO, TAG));
    expect(lines.some((l) => l.includes('without moving the tag'))).toBe(false);
    expect(lines).toContain('final tag write: #2 index unknown digest by docker');
  });

  it('says when nothing was pushed', () => {
    expect(describePush(analyzePush([], REPO, TAG))).toEqual(['no PUTs to lab/app:latest (0 requests for the repository)']);
  });
});
