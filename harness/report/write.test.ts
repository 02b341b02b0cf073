import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { META, pullStreamCells } from './fixtures.test-helpers.ts';
import { readJsonReport, writeReports } from './write.ts';

describe('writeReports', () => {
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('writes the four reports and reads the JSON one back', async () => {
    const root = await mkdtemp(join(tmpdir(), 'lab-report-'));
    dirs.push(root);
    const dir = join(root, 'nested', 'run');
    const paths = await writeReports(dir, pullStreamCells(), META);
    expect(Object.values(paths).map((p) => basename(p)).sort()).toEqual(['junit.xml', 'report.html', 'results.json', 'summary.md']);
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
});
