import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FAKE_AUTH, FAKE_SECRET, META, pullStreamCells, secretCell } from './fixtures.test-helpers.ts';
import { toHtml } from './html.ts';
import { toJsonReport } from './json.ts';
import { toJUnitXml } from './junit.ts';
import { toMarkdown } from './markdown.ts';
import { MASK, redactDeep, redactSecrets } from './redact.ts';
import { writeReports } from './write.ts';

describe('redactSecrets', () => {
  it.each([
    ['docker config auth', `{"auths":{"r":{"auth": "${FAKE_AUTH}"}}}`, `{"auths":{"r":{"auth": "${MASK}"}}}`],
    ['escaped JSON auth', `{\\"auth\\":\\"${FAKE_AUTH}\\"}`, `{\\"auth\\":\\"${MASK}\\"}`],
    ['identitytoken', '"identitytoken": "idtok-abc"', `"identitytoken": "${MASK}"`],
    ['basic header', `Authorization: Basic ${FAKE_AUTH}`, `Authorization: Basic ${MASK}`],
    ['bearer header', 'authorization: Bearer eyJhbGciOi.abc.def', `authorization: Bearer ${MASK}`],
    ['password=', `password=${FAKE_SECRET}&x=1`, `password=${MASK}&x=1`],
    ['--password value', `docker login --password ${FAKE_SECRET} r`, `docker login --password ${MASK} r`],
    ['--password=value', `--password=${FAKE_SECRET}`, `--password=${MASK}`],
    ['url credentials', `https://labuser:${FAKE_SECRET}@registry:5000/v2/`, `https://labuser:${MASK}@registry:5000/v2/`],
    ['bare base64 user:pass', `using ${FAKE_AUTH} now`, `using ${MASK} now`],
  ])('%s', (_name, input, want) => {
    expect(redactSecrets(input)).toBe(want);
  });

  it.each([
    ['password-stdin flag', 'docker login --password-stdin -u labuser registry:5000'],
    ['image reference with digest', 'registry:5000/moby/buildkit:v0.17.1@sha256:4976aa5e0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e'],
    ['hex digest', 'sha256:4976aa5e0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e'],
    ['registry path', 'GET /v2/moby/buildkit/manifests/v0.17.1 200'],
    ['ordinary error', 'ERROR: failed commit on ref "layer-sha256:4976": unexpected commit digest'],
    ['basic words', 'Basic authentication required'],
  ])('leaves %s alone', (_name, input) => {
    expect(redactSecrets(input)).toBe(input);
  });

  it('masks argv values after secret flags and secret-named keys', () => {
    const out = redactDeep({ argv: ['docker', 'login', '-u', 'u', '-p', FAKE_SECRET], cfg: { password: FAKE_SECRET, n: 1 } });
    expect(out).toEqual({ argv: ['docker', 'login', '-u', 'u', '-p', MASK], cfg: { password: MASK, n: 1 } });
  });
});

describe('no writer leaks the fake credential', () => {
  const results = [...pullStreamCells(), secretCell()];
  const meta = { ...META, argv: [...META.argv, '--password', FAKE_SECRET] };
  const outputs: Record<string, string> = {
    junit: toJUnitXml(results, { suiteName: 'lab' }),
    json: JSON.stringify(toJsonReport(results, meta)),
    markdown: toMarkdown(results, meta),
    html: toHtml(results, meta),
  };
  it.each(Object.keys(outputs))('%s', (kind) => {
    const text = outputs[kind]!;
    expect(text).not.toContain(FAKE_SECRET);
    expect(text).not.toContain(FAKE_AUTH);
    expect(text).not.toContain(FAKE_AUTH.replace(/=+$/, ''));
    expect(text).not.toContain('idtok-fake-123');
  });

  it('files written by writeReports', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lab-redact-'));
    try {
      const paths = await writeReports(dir, results, meta);
      for (const p of Object.values(paths)) {
        const text = await readFile(p, 'utf8');
        expect(text).not.toContain(FAKE_SECRET);
        expect(text).not.toContain(FAKE_AUTH.replace(/=+$/, ''));
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
