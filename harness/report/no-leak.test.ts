// No writer lets a credential through: the fake credential of secretCell(), in every form the redactor
// promises to mask, through every report and the cell files. (The redactor's own table of secret shapes
// and look-alikes is harness/redact/redact.test.ts.)
import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { redactDeep } from '../redact/redact.ts';
import { cellResultJson, readCellResults } from './cell-file.ts';
import { FAKE_AUTH, FAKE_SECRET, META, pullStreamCells, secretCell } from './fixtures.test-helpers.ts';
import { toHtml } from './html.ts';
import { mergeReports, parseJsonReport, toJsonReport } from './json.ts';
import { toJUnitXml } from './junit.ts';
import { toMarkdown } from './markdown.ts';
import { writeReports } from './write.ts';

const LEAKS = [FAKE_SECRET, FAKE_AUTH, FAKE_AUTH.replace(/=+$/, ''), 'idtok-fake-123', 'ghp_'];

function expectNoLeak(text: string): void {
  for (const leak of LEAKS) expect(text).not.toContain(leak);
}

describe('no writer leaks the fake credential', () => {
  const results = [...pullStreamCells(), secretCell()];
  const meta = { ...META, argv: [...META.argv, '--password', FAKE_SECRET] };
  const safe = redactDeep(results);
  const safeMeta = redactDeep(meta);
  const outputs: Record<string, string> = {
    junit: toJUnitXml(safe, { suiteName: 'lab' }),
    json: JSON.stringify(toJsonReport(safe, safeMeta)),
    markdown: toMarkdown(safe, safeMeta),
    html: toHtml(safe, safeMeta),
    cell: cellResultJson(secretCell()),
  };
  it.each(Object.keys(outputs))('%s', (kind) => expectNoLeak(outputs[kind]!));

  it('files written by writeReports', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lab-redact-'));
    try {
      const paths = await writeReports(dir, results, meta);
      for (const p of Object.values(paths)) expectNoLeak(await readFile(p, 'utf8'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a shard that carries secrets is redacted when merged', () => {
    // a results.json written by an older lab, or by hand, is not trusted to be redacted
    const raw = JSON.parse(JSON.stringify(toJsonReport(redactDeep(pullStreamCells()), redactDeep(META))));
    raw.results[0].evidence.commands[0].stderr = `GITHUB_TOKEN=ghp_${'a1B2c3D4e5'.repeat(3)}a1B2c3 password: ${FAKE_SECRET}`;
    const merged = mergeReports([parseJsonReport(JSON.stringify(raw), 'shard.json')]);
    expectNoLeak(JSON.stringify(merged));
  });

  it('a cell file is written with every rule (secret keys and argv flags too) and read back validated', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lab-cells-'));
    try {
      await mkdir(join(dir, 'cells'));
      const text = cellResultJson(secretCell());
      expectNoLeak(text);
      await writeFile(join(dir, 'cells', 'a.json'), text);
      const [back] = readCellResults(dir);
      expect(back!.evidence.commands[0]!.argv).toEqual(['docker', 'login', 'registry:5000', '-u', 'labuser', '--password', '[REDACTED]']);
      expect(await readdir(join(dir, 'cells'))).toEqual(['a.json']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
