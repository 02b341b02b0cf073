import { describe, expect, it } from 'vitest';
import { doublePushCell, journal } from './fixtures.test-helpers.ts';
import { MAX_DRAWN, isRefused, isTagPut, laneOf, requestTimeline } from './timeline.ts';

describe('laneOf', () => {
  it.each([
    [{ userAgent: 'buildkit/v0.17.1' }, 'BuildKit'],
    [{ userAgent: 'docker/26.1.5 go/go1.22.5 os/linux' }, 'engine'],
    [{ userAgent: 'containerd/v1.7.20' }, 'engine'],
    [{ userAgent: 'buildx-lab-verify' }, 'verifier'],
    [{ userAgent: 'Go-http-client/1.1', client: '127.0.0.1' }, 'verifier'],
    [{ userAgent: 'curl/8.5.0' }, 'curl'],
    [{}, 'no user agent'],
  ])('%j -> %s', (e, lane) => expect(laneOf(e)).toBe(lane));
});

describe('requestTimeline', () => {
  const cell = doublePushCell();
  const svg = requestTimeline(cell.evidence.journal).markup;

  it('draws one lane per client, in the order BuildKit, engine, verifier', () => {
    expect([...svg.matchAll(/data-lane="([^"]+)"/g)].map((m) => m[1])).toEqual(['BuildKit', 'engine', 'verifier']);
  });

  it('marks the PUTs to the tag and the refused one, and counts them', () => {
    expect(cell.evidence.journal.filter(isTagPut).map((e) => e.seq)).toEqual([5, 6, 7]);
    expect(cell.evidence.journal.filter(isRefused).map((e) => e.seq)).toEqual([6]);
    expect(svg.match(/<g class="[^"]*tag-put/g)).toHaveLength(3);
    expect(svg).toMatch(/<g class="req kind-manifests method-put tag-put refused intervened" data-seq="6">/);
    expect(svg).toContain('3 PUT(s) to a tag (BuildKit, engine); 1 refused');
  });

  it('labels a tag PUT only where the label has room (the tooltip keeps every one)', () => {
    expect([...svg.matchAll(/<text class="tag-label" data-seq="(\d+)"/g)].map((m) => m[1])).toEqual(['5', '6']);
    // the labels come after every mark: drawn on top
    expect(svg.lastIndexOf('<g class="req')).toBeLessThan(svg.indexOf('<g class="labels">'));
    expect(svg).toMatch(/data-seq="7"><title>#7 PUT \/v2\/lab\/bake\/app\/manifests\/v1&lt;script&gt;/);
  });

  it('places requests by time: the engine PUT after the BuildKit one', () => {
    const xOf = (seq: number) => Number(new RegExp(`data-seq="${seq}"><title>[^<]*</title><rect x="([\\d.]+)"`).exec(svg)![1]);
    expect(xOf(1)).toBe(96);
    expect(xOf(5)).toBeLessThan(xOf(7));
    expect(xOf(10)).toBeGreaterThan(xOf(7));
  });

  it('escapes the tag, paths and user agents', () => {
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('PUT :v1&lt;script&gt;');
  });

  it('draws at most MAX_DRAWN requests, the tag PUTs and refusals among them', () => {
    const many = Array.from({ length: MAX_DRAWN + 500 }, (_, i) => journal(i + 1, { atMs: i, kind: 'blobs', method: 'GET' }));
    many.push(journal(MAX_DRAWN + 501, { atMs: MAX_DRAWN + 600, method: 'PUT', kind: 'manifests', reference: 'latest', status: 500 }));
    const out = requestTimeline(many).markup;
    expect(out.match(/<g class="req/g)).toHaveLength(MAX_DRAWN);
    expect(out).toContain(`data-seq="${MAX_DRAWN + 501}"`);
    expect(out).toContain('501 not drawn');
  });

  it('is empty for no requests', () => expect(requestTimeline([]).markup).toBe(''));
});
