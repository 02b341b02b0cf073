import { describe, expect, it } from 'vitest';
import { HOSTILE_CHARS, HOSTILE_TEXT, META, command, doublePushCell, immutableTagCells, journal, makeCell, pullStreamCells } from './fixtures.test-helpers.ts';
import { createHash } from 'node:crypto';
import { CONTENT_SECURITY_POLICY, escapeHtml, toHtml } from './html.ts';
import { redactDeep } from '../redact/redact.ts';

describe('toHtml', () => {
  const results = [...pullStreamCells(), ...immutableTagCells()];
  const html = toHtml(redactDeep(results), redactDeep(META));

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
    const out = toHtml(redactDeep([evil]), redactDeep(META));
    // (the one svg is the report's own timeline)
    expect(out).not.toMatch(/<(img|b)[ >]|<svg(?! class="timeline" viewBox)/);
    expect(out.match(/<script>/g)).toHaveLength(1);
    expect(out.match(/<\/pre>/g)?.length ?? 0).toBe(out.match(/<pre[ >]/g)?.length ?? 0);
  });
});

describe('toHtml shows hostile characters instead of passing them on', () => {
  it('in names, summaries, errors and command output', () => {
    const cell = makeCell({
      scenario: HOSTILE_TEXT,
      axes: { buildx: HOSTILE_TEXT },
      outcome: 'error',
      summary: HOSTILE_TEXT,
      error: { kind: 'harness', message: HOSTILE_TEXT },
      evidence: { commands: [command(['docker', HOSTILE_TEXT], 1, `${HOSTILE_TEXT}\nERROR: ${HOSTILE_TEXT}`, HOSTILE_TEXT)], journal: [], manifests: {}, facts: [HOSTILE_TEXT] },
    });
    const out = toHtml(redactDeep([cell]), redactDeep(META));
    // (a CR is whitespace to HTML and stays, as in a <pre> of Windows output)
    expect(out.replace(/\r/g, '')).not.toMatch(HOSTILE_CHARS);
    expect(out).toContain('ok\\u202egnp.exe\\u202c');
  });
});

describe('escapeHtml', () => {
  it.each([
    ['<a href="x">\'&', '&lt;a href=&quot;x&quot;&gt;&#39;&amp;'],
    ['\u001b[1mbold\u001b[0m', 'bold'],
    ['bell\u0007', 'bell\\u0007'],
  ])('%j', (input, want) => expect(escapeHtml(input)).toBe(want));
});

describe('toHtml escapes every interpolation, numbers included', () => {
  // A report that skipped validation (the schema refuses these): the page must stay inert anyway.
  const payload = '<img src=x onerror="window.__pwned=1">';
  const hostile = makeCell({ axes: { buildx: 'v1.0.0' }, outcome: 'unexpected', expected: 'fixed' });
  const spoiled = JSON.parse(JSON.stringify(hostile));
  spoiled.evidence.commands = [{ argv: ['x'], exitCode: payload, stdout: '', stderr: '', durationMs: payload }];
  spoiled.evidence.journal = [{ ...journal(1), seq: payload, status: payload }];
  spoiled.timings = { startMs: payload, buildxMs: payload, verifyMs: payload, totalMs: payload };
  spoiled.outcome = `fixed" onmouseover="window.__pwned=1`;
  const out = toHtml(redactDeep([spoiled]), redactDeep({ ...META, host: { node: payload, engineVersion: payload }, argv: [payload] }));

  it('leaves no markup from the data', () => {
    expect(out).not.toContain('<img');
    // no tag carries an event handler: with the quoted attribute values taken out, no `on…=` is left
    // (the payload's text is there, escaped, inside values)
    const tags = [...out.matchAll(/<[a-z][^<>]*>/gi)].map((m) => m[0].replace(/"[^"]*"/g, '""'));
    expect(tags.filter((t) => /\son\w+=/i.test(t))).toEqual([]);
    expect(out).toContain('exit <b>&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;</b>');
  });
});

describe('Content-Security-Policy', () => {
  const out = toHtml(redactDeep(pullStreamCells()), redactDeep(META));
  const sha = (t: string) => `'sha256-${createHash('sha256').update(t).digest('base64')}'`;

  it('is the first thing in <head> and forbids everything from outside', () => {
    const csp = /<head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(out)?.[1]?.replace(/&#39;/g, "'");
    expect(csp).toBe(CONTENT_SECURITY_POLICY);
    expect(csp).toMatch(/^default-src 'none'; /);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*|data:/);
  });

  it("allows exactly this file's own style and script, by hash", () => {
    const style = /<style>([\s\S]*?)<\/style>/.exec(out)![1]!;
    const script = /<script>([\s\S]*?)<\/script>/.exec(out)![1]!;
    expect(CONTENT_SECURITY_POLICY).toContain(`style-src ${sha(style)}`);
    expect(CONTENT_SECURITY_POLICY).toContain(`script-src ${sha(script)}`);
  });
});

describe('toHtml draws the evidence a person reads first', () => {
  const out = toHtml(redactDeep([doublePushCell()]), redactDeep(META));

  it('a request timeline and the manifest tree, before the commands', () => {
    expect(out.indexOf('<svg class="timeline"')).toBeGreaterThan(0);
    expect(out.indexOf('<figure class="manifest-tree">')).toBeGreaterThan(out.indexOf('<svg class="timeline"'));
    expect(out.indexOf('<h4>Commands</h4>')).toBeGreaterThan(out.indexOf('<figure class="manifest-tree">'));
  });

  it('folds a long log under its error line', () => {
    expect(out).toMatch(
      /<details class="log"><summary>stderr, 402 lines: <span class="error-line">ERROR: failed to push lab\/bake\/app:v1&lt;script&gt;window.__pwned=&quot;tag&quot;&lt;\/script&gt;: tag is immutable &lt;script&gt;/,
    );
    expect(out.match(/<script>/g)).toHaveLength(1);
  });

  it('leaves a short log open', () => {
    const short = toHtml(redactDeep(pullStreamCells()), redactDeep(META));
    expect(short).not.toContain('<details class="log">');
  });
});
