import { describe, expect, it } from 'vitest';
import { META, immutableTagCells, pullStreamCells } from './fixtures.test-helpers.ts';
import { JSON_REPORT_SCHEMA, mergeReports, parseJsonReport, toJsonReport } from './json.ts';

describe('toJsonReport', () => {
  it('carries meta, counts, failure flag and whole results', () => {
    const results = pullStreamCells();
    const report = toJsonReport(results, META);
    expect(report.schema).toBe(JSON_REPORT_SCHEMA);
    expect(report.meta).toEqual(META);
    expect(report.counts).toEqual({ reproduced: 1, fixed: 1, control: 1, unexpected: 1, error: 1, skipped: 0 });
    expect(report.failed).toBe(true);
    expect(report.results).toEqual(results);
    expect(toJsonReport(results.slice(0, 2), META).failed).toBe(false);
  });

  it('round-trips through JSON text', () => {
    const report = toJsonReport(pullStreamCells(), META);
    expect(parseJsonReport(JSON.stringify(report))).toEqual(report);
  });

  it.each([['{}'], ['null'], ['{"schema":"other","results":[],"meta":{}}'], ['[1]']])('rejects %s', (text) => {
    expect(() => parseJsonReport(text, 'x.json')).toThrow(/x\.json/);
  });
});

describe('mergeReports', () => {
  const [a, b, c, d, e] = pullStreamCells();
  const shard1 = toJsonReport([a!, b!, c!], { ...META, runId: 'shard-1', finishedAt: '2025-11-27T03:10:00.000Z' });
  const shard2 = toJsonReport([c!, d!, e!, ...immutableTagCells()], { ...META, runId: 'shard-2', startedAt: '2025-11-27T02:40:00.000Z' });

  it('dedupes by cell name and start and recomputes counts', () => {
    const merged = mergeReports([shard1, shard2]);
    expect(merged.results).toHaveLength(9);
    expect(merged.counts).toEqual({ reproduced: 3, fixed: 2, control: 1, unexpected: 1, error: 1, skipped: 1 });
    expect(merged.meta).toMatchObject({ runId: 'shard-1+shard-2', startedAt: '2025-11-27T02:40:00.000Z', finishedAt: '2025-11-27T03:10:00.000Z' });
    expect(merged.failed).toBe(true);
  });

  it('keeps repeats of one cell that started at different times', () => {
    const merged = mergeReports([shard2, shard2]);
    expect(merged.results.filter((r) => r.axes['buildx'] === 'v0.19.3')).toHaveLength(2);
    expect(merged.meta.runId).toBe('shard-2');
  });

  it('refuses an empty list', () => expect(() => mergeReports([])).toThrow());
});
