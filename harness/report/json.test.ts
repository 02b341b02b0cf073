import { describe, expect, it } from 'vitest';
import { META, immutableTagCells, pullStreamCells } from './fixtures.test-helpers.ts';
import { mergeReports, parseJsonReport, toJsonReport } from './json.ts';
import { JSON_REPORT_SCHEMA } from './schema.ts';
import { redactDeep } from '../redact/redact.ts';

// biome-ignore lint/suspicious/noExplicitAny: these tests write wrong types into the parsed JSON on purpose
type Spoilable = any;

describe('toJsonReport', () => {
  it('carries meta, counts, failure flag and whole results', () => {
    const results = pullStreamCells();
    const report = toJsonReport(redactDeep(results), redactDeep(META));
    expect(report.schema).toBe(JSON_REPORT_SCHEMA);
    expect(report.meta).toEqual(META);
    expect(report.counts).toEqual({ reproduced: 1, fixed: 1, control: 1, unexpected: 1, error: 1, skipped: 0 });
    expect(report.failed).toBe(true);
    expect(report.results).toEqual(results);
    expect(toJsonReport(redactDeep(results.slice(0, 2)), redactDeep(META)).failed).toBe(false);
  });

  it('round-trips through JSON text', () => {
    const report = toJsonReport(redactDeep(pullStreamCells()), redactDeep(META));
    expect(parseJsonReport(JSON.stringify(report))).toEqual(report);
  });

  it.each([['{}'], ['null'], ['{"schema":"other","results":[],"meta":{}}'], ['[1]']])('rejects %s', (text) => {
    expect(() => parseJsonReport(text, 'x.json')).toThrow(/x\.json/);
  });
});

describe('mergeReports', () => {
  const [a, b, c, d, e] = pullStreamCells();
  const shard1 = toJsonReport(redactDeep([a!, b!, c!]), redactDeep({ ...META, runId: 'shard-1', finishedAt: '2025-11-27T03:10:00.000Z' }));
  const shard2 = toJsonReport(redactDeep([c!, d!, e!, ...immutableTagCells()]), redactDeep({ ...META, runId: 'shard-2', startedAt: '2025-11-27T02:40:00.000Z' }));

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

describe('parseJsonReport validates every field', () => {
  const good = () => JSON.parse(JSON.stringify(toJsonReport(redactDeep(pullStreamCells()), redactDeep(META))));
  const parse = (data: unknown) => () => parseJsonReport(JSON.stringify(data), 'shard-2/results.json');

  it.each([
    [
      'an exit code that is markup',
      (d: Spoilable) => (d.results[0].evidence.commands[0].exitCode = '<img src=x onerror=alert(1)>'),
      /results\[0\]\.evidence\.commands\[0\]\.exitCode/,
    ],
    ['a duration that is a string', (d: Spoilable) => (d.results[1].timings.totalMs = '1</td><script>x()</script>'), /results\[1\]\.timings\.totalMs/],
    ['a journal status that is markup', (d: Spoilable) => (d.results[0].evidence.journal[0].status = '<b>'), /results\[0\]\.evidence\.journal\[0\]\.status/],
    ['an unknown outcome', (d: Spoilable) => (d.results[2].outcome = 'pwned" onclick="x()'), /results\[2\]\.outcome/],
    ['an unknown expected outcome', (d: Spoilable) => (d.results[2].expected = 'flaky'), /results\[2\]\.expected/],
    ['an overlong version label', (d: Spoilable) => (d.results[0].axes.buildx = 'v'.repeat(300)), /results\[0\]\.axes\.buildx/],
    ['an axis name that is markup', (d: Spoilable) => (d.results[0].axes['<svg onload=x>'] = '1'), /results\[0\]\.axes/],
    ['a field the model does not have', (d: Spoilable) => (d.results[0].html = '<script>'), /results\[0\]/],
    ['a start time that is not a time', (d: Spoilable) => (d.results[0].startedAt = '<i>now</i>'), /results\[0\]\.startedAt/],
    ['a negative count', (d: Spoilable) => (d.counts.fixed = -1), /counts\.fixed/],
    ['meta argv that is not strings', (d: Spoilable) => (d.meta.argv = [1, 2]), /meta\.argv\[0\]/],
    [
      'too many commands',
      (d: Spoilable) => (d.results[0].evidence.commands = Array.from({ length: 1001 }, () => d.results[0].evidence.commands[0])),
      /results\[0\]\.evidence\.commands/,
    ],
  ])('refuses %s, naming the file and the field', (_name, spoil, field) => {
    const data = good();
    spoil(data);
    expect(parse(data)).toThrow(/^shard-2\/results\.json: not a valid buildx-lab\/report@1 file/);
    expect(parse(data)).toThrow(field);
  });

  it('names the file when it is not JSON', () => {
    expect(() => parseJsonReport('{"schema":', 'x/results.json')).toThrow(/^x\/results\.json: not JSON/);
  });

  it('keeps the message short when everything is wrong', () => {
    const data = good();
    for (const r of data.results) r.outcome = r.expected = 'nope';
    const message = (() => {
      try {
        parse(data)();
      } catch (e) {
        return (e as Error).message;
      }
      return '';
    })();
    expect(message.split('\n').length).toBeLessThanOrEqual(7);
    expect(message).toContain('... and');
  });
});
