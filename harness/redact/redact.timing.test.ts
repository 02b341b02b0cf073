// How fast redaction is on a report's worth of text. Kept apart from redact.test.ts so that mutation
// testing (vitest.mutation.config.ts) leaves it out: its bounds are for the real code.
import { describe, expect, it } from 'vitest';
import { redactDeep, redactSecrets } from './redact.ts';

describe('speed', () => {
  it('redacts 5 MB of Buildx output quickly', () => {
    const lines = [
      '#5 [internal] load metadata for docker.io/library/alpine:3.20',
      '#7 sha256:4976aa5e0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e 3.15MB / 3.62MB 0.4s',
      'time="2025-11-27T02:50:00.123Z" level=debug msg="fetch response received" url="https://registry:5000/v2/moby/buildkit/manifests/v0.17.1"',
      '#12 [stage-1 3/4] RUN apk add --no-cache curl ca-certificates && rm -rf /var/cache/apk/*',
      '\u001b[34m#15 pushing layers\u001b[0m 1.2s done',
      '#16 ERROR: failed to push registry:5000/lab/app:latest: unexpected status: 401 Unauthorized',
    ];
    let text = '';
    for (let i = 0; text.length < 5 * 1024 * 1024; i++) text += `${lines[i % lines.length]}${i % 5000 === 0 ? ' Authorization: Bearer abcdef0123456789' : ''}\n`;
    redactSecrets(text.slice(0, 100_000)); // warm the regexps
    const t0 = performance.now();
    const out = redactSecrets(text);
    const ms = performance.now() - t0;
    console.info(`redaction: 5 MB of Buildx output in ${ms.toFixed(0)} ms`);
    expect(out).not.toContain('abcdef0123456789');
    // a generous bound for a loaded 2-core CI machine; ~300 ms when idle
    expect(ms).toBeLessThan(3000);
  });

  it('redacts a report of many short strings quickly (journal fields, keys)', () => {
    // 100 cells x 200 journal entries: ~400k strings, as a quarter of the full matrices would hold
    const entry = (i: number, j: number) => ({
      seq: j,
      method: 'GET',
      path: `/v2/lab/app/blobs/sha256:${i}-${j}`,
      kind: 'blobs',
      status: 200,
      userAgent: 'containerd/v1.7.20',
      responseMediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    });
    const cells = Array.from({ length: 100 }, (_, i) => ({ name: `cell ${i}`, journal: Array.from({ length: 200 }, (_, j) => entry(i, j)) }));
    const t0 = performance.now();
    const out = redactDeep(cells);
    const ms = performance.now() - t0;
    console.info(`redaction: 100 cells x 200 journal entries (~400k strings) in ${ms.toFixed(0)} ms`);
    expect(out).toEqual(cells);
    expect(ms).toBeLessThan(5000);
  });

  // Redaction reads hostile text: no rule may take quadratic time on a long run of what it skips over
  // (a YAML key followed by 20,000 spaces took 5.7 s, a `-uuu…` token of 20,000 letters 1.3 s).
  it.each([
    ['a YAML key followed by spaces', `password:${' '.repeat(40_000)}x`],
    ['a long run of short-flag letters', ` -${'u'.repeat(40_000)}`],
    ['an env name/value with spaces', `name: DB_PASS${' '.repeat(40_000)}x`],
    ['an unclosed flow list', `tokens: [${'"a'.repeat(20_000)}`],
    ['an unclosed quoted curl password', `curl -u 'a:${'b'.repeat(40_000)}`],
    // (these two were quadratic before the new rules: 80 KB took 1.8 s and 0.7 s)
    ["key-value pairs nested in each other's values", 'token='.repeat(40_000)],
    ['private key BEGIN lines with no END', '-----BEGIN PRIVATE KEY-----'.repeat(8_000)],
  ])('stays linear on %s', (_name, text) => {
    redactSecrets(text.slice(0, 1000));
    const t0 = performance.now();
    redactSecrets(text);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
