import { describe, expect, it } from 'vitest';
import { META, immutableTagCells, journal, makeCell, pullStreamCells } from './fixtures.test-helpers.ts';
import { escapeHtml, toHtml } from './html.ts';

describe('toHtml', () => {
  const results = [...pullStreamCells(), ...immutableTagCells()];
  const html = toHtml(results, META);

  it('is self-contained', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<style>');
    expect(html).toContain('<script>');
    expect(html).not.toMatch(/<(link|img|iframe)\b/);
    expect(html).not.toMatch(/\b(src|href)="(https?:)?\/\//);
  });

  it.each([
    ['v0.20.1', 'corrupt', 'reproduced'],
    ['v0.21.0', 'corrupt', 'fixed'],
    ['v0.21.1', 'corrupt', 'unexpected'],
    ['v0.22.0', 'corrupt', 'error'],
    ['v0.20.1', 'none', 'control'],
  ])('heatmap cell buildx=%s fault=%s has class outcome-%s', (buildx, fault, outcome) => {
    const name = results.find((r) => r.axes['buildx'] === buildx && r.axes['fault'] === fault)!.name;
    const td = html.match(new RegExp(`<td class="cell outcome-${outcome}[^"]*" data-cell-name="${name.replace(/>/g, '&gt;')}" data-outcome="${outcome}"`));
    expect(td).not.toBeNull();
  });

  it('marks repeated cells that disagree as flaky and skipped cells as skipped', () => {
    expect(html).toMatch(/<td class="cell outcome-flaky mismatch"[^>]*data-targets="ev-\d+ ev-\d+"/);
    expect(html).toContain('<td class="cell outcome-skipped"');
  });

  it('has a legend and one evidence block per result', () => {
    for (const o of ['reproduced', 'fixed', 'control', 'unexpected', 'error', 'skipped', 'flaky']) {
      expect(html).toContain(`<span class="outcome-${o}">${o}</span>`);
    }
    expect(html.match(/<details class="evidence"/g)).toHaveLength(results.length);
  });

  it('shows commands, engine log, journal and manifests', () => {
    const block = html.slice(html.indexOf('id="ev-0"'), html.indexOf('id="ev-1"'));
    expect(block).toContain('ERROR: Error response from daemon: No such image: registry:5000/moby/buildkit:v0.17.1');
    expect(block).toContain('exit <b>1</b>');
    expect(block).toContain('level=error msg=&quot;Error pulling image&quot;');
    expect(block).toMatch(/<table class="journal">.*<td>2<\/td><td>GET<\/td><td>\/v2\/moby\/buildkit\/blobs\/sha256:4976aa<\/td><td>200<\/td>.*<td>corrupt<\/td>/s);
    expect(block).toContain('&quot;schemaVersion&quot;: 2');
    expect(block).toContain('expected <span class="badge outcome-reproduced">reproduced</span>');
  });

  it('escapes untrusted text everywhere', () => {
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html.match(/<script>/g)).toHaveLength(1);
    const evil = makeCell({
      axes: { buildx: 'v1.0.0"><img src=x onerror=alert(1)>' },
      outcome: 'fixed',
      summary: '</pre></details><script>x()</script>',
      evidence: { commands: [], journal: [journal(1, { userAgent: '<svg onload=x>', path: '/v2/"\'&' })], manifests: { '<m>': { a: '</pre>' } }, facts: ['<b>'] },
    });
    const out = toHtml([evil], META);
    expect(out).not.toMatch(/<(img|svg|b)[ >]/);
    expect(out.match(/<script>/g)).toHaveLength(1);
    expect(out.match(/<\/pre>/g)?.length ?? 0).toBe(out.match(/<pre[ >]/g)?.length ?? 0);
  });
});

describe('escapeHtml', () => {
  it.each([
    ['<a href="x">\'&', '&lt;a href=&quot;x&quot;&gt;&#39;&amp;'],
    ['\u001b[1mbold\u001b[0m', 'bold'],
    ['bell\u0007', 'bell\\u0007'],
  ])('%j', (input, want) => expect(escapeHtml(input)).toBe(want));
});
