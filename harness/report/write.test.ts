import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { META, journal, makeCell, pullStreamCells, secretCell } from './fixtures.test-helpers.ts';
import { readJsonReport, writeReports } from './write.ts';

describe('writeReports', () => {
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('writes the four reports and reads the JSON one back', async () => {
    const root = await mkdtemp(join(tmpdir(), 'lab-report-'));
    dirs.push(root);
    const dir = join(root, 'nested', 'run');
    const paths = await writeReports(dir, pullStreamCells(), META);
    expect(
      Object.values(paths)
        .map((p) => basename(p))
        .sort(),
    ).toEqual(['junit.xml', 'report.html', 'results.json', 'summary.md']);
    const report = await readJsonReport(paths.json);
    expect(report.results).toEqual(pullStreamCells());
    expect(report.meta.runId).toBe(META.runId);
    expect(await readFile(paths.junit, 'utf8')).toMatch(/^<\?xml/);
    expect(await readFile(paths.markdown, 'utf8')).toContain('# buildx-lab run');
    expect(await readFile(paths.html, 'utf8')).toContain('outcome-unexpected');
  });

  it('rejects a file that is not a report', async () => {
    const root = await mkdtemp(join(tmpdir(), 'lab-report-'));
    dirs.push(root);
    const paths = await writeReports(root, [], META);
    await expect(readJsonReport(paths.junit)).rejects.toThrow();
  });

  it("reads back whatever it writes, such as a client's long Accept list in the journal", async () => {
    const root = await mkdtemp(join(tmpdir(), 'lab-report-'));
    dirs.push(root);
    const accept = Array.from({ length: 8 }, (_, i) => `application/vnd.example.type-${i}.v1+json; q=0.${i}`).join(', ');
    const cell = makeCell({
      axes: { buildx: 'v0.21.1' },
      outcome: 'fixed',
      evidence: { commands: [], journal: [journal(1, { requestMediaType: accept, intervention: accept })], manifests: {}, facts: [] },
    });
    const paths = await writeReports(root, [cell, secretCell()], META);
    const back = await readJsonReport(paths.json);
    expect(back.results[0]!.evidence.journal[0]!.requestMediaType).toBe(accept);
  });
});
