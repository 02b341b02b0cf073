// cells/*.json are read back into every report: a file off the schema, or one that cannot be read, is
// refused as bad input (UsageError: exit 2), naming the file and the field.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UsageError } from '../errors.ts';
import { cellResultJson, readCellResults } from './cell-file.ts';
import { pullStreamCells } from './fixtures.test-helpers.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function reportDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'lab-cells-'));
  dirs.push(d);
  mkdirSync(path.join(d, 'cells'));
  writeFileSync(path.join(d, 'cells', 'a.json'), cellResultJson(pullStreamCells()[0]!));
  return d;
}

const thrown = (f: () => unknown): unknown => {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('nothing thrown');
};

describe('readCellResults', () => {
  it('refuses a cell file off the schema as bad input, naming the file and the field', () => {
    const d = reportDir();
    writeFileSync(path.join(d, 'cells', 'b.json'), JSON.stringify({ ...pullStreamCells()[0]!, timings: { startMs: 'soon' } }));
    const e = thrown(() => readCellResults(d));
    expect(e).toBeInstanceOf(UsageError);
    expect((e as Error).message).toMatch(/cells\/b\.json: not a valid cell result:\n {2}timings\.startMs: /);
  });
  it('refuses a cell file that cannot be read, naming it and the fix', () => {
    const d = reportDir();
    mkdirSync(path.join(d, 'cells', 'c.json'));
    const e = thrown(() => readCellResults(d));
    expect(e).toBeInstanceOf(UsageError);
    expect((e as Error).message).toMatch(/cells\/c\.json: cannot be read as a cell result \(EISDIR.*\); remove it from the report directory/);
  });
});
