// merge-reports reads shards from elsewhere: a shard that is missing, not JSON or off the schema is bad
// input, so the command names the file and the field and exits 2, with no stack trace and nothing written.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../cli/main.ts';
import { META, pullStreamCells } from './fixtures.test-helpers.ts';
import { writeReports } from './write.ts';

const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

/** Runs the CLI; returns its exit code and what it printed on stderr. */
async function cli(argv: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    return { code: await main(argv), stderr };
  } finally {
    spy.mockRestore();
    out.mockRestore();
    process.exitCode = 0;
  }
}

async function shards(): Promise<{ root: string; good: string; bad: string }> {
  const root = await mkdtemp(join(tmpdir(), 'lab-merge-'));
  dirs.push(root);
  const good = join(root, 's1');
  const bad = join(root, 's2');
  await writeReports(good, pullStreamCells(), META);
  await writeReports(bad, pullStreamCells(), META);
  return { root, good, bad };
}

describe('merge-reports', () => {
  it('merges valid shards', async () => {
    const { root, good } = await shards();
    const { code, stderr } = await cli(['merge-reports', good, good, '--out', join(root, 'all')]);
    expect(stderr).toBe('');
    expect(code).toBe(1); // the fixture cells include an unexpected one
    expect(existsSync(join(root, 'all', 'results.json'))).toBe(true);
  });

  it.each([
    [
      'a field off the schema',
      (r: { results: { outcome: string }[] }) => {
        r.results[1]!.outcome = 'pwned';
      },
      /s2\/results\.json: not a valid buildx-lab\/report@1 file:\n {2}results\[1\]\.outcome: /,
    ],
    [
      'a missing field',
      (r: { counts?: unknown }) => {
        delete r.counts;
      },
      /s2\/results\.json: not a valid buildx-lab\/report@1 file:\n {2}counts: /,
    ],
  ])('refuses a shard with %s: exit 2, the file and the field, no stack', async (_what, change, want) => {
    const { root, good, bad } = await shards();
    const file = join(bad, 'results.json');
    const report = JSON.parse(await readFile(file, 'utf8'));
    change(report);
    await writeFile(file, JSON.stringify(report));
    const { code, stderr } = await cli(['merge-reports', good, bad, '--out', join(root, 'all')]);
    expect(stderr).toMatch(/^buildx-lab: usage error: /);
    expect(stderr).toMatch(want);
    expect(stderr).not.toMatch(/internal error|\n\s+at /);
    expect(code).toBe(2);
    expect(existsSync(join(root, 'all'))).toBe(false);
  });

  it('refuses a shard that is not JSON, or a directory without results.json, naming the fix', async () => {
    const { root, good, bad } = await shards();
    await writeFile(join(bad, 'results.json'), '{"schema":');
    const notJson = await cli(['merge-reports', good, bad, '--out', join(root, 'all')]);
    expect([notJson.code, notJson.stderr]).toEqual([2, expect.stringMatching(/^buildx-lab: usage error: .*s2\/results\.json: not JSON/)]);
    const empty = join(root, 'empty');
    await mkdir(empty);
    const missing = await cli(['merge-reports', good, empty, '--out', join(root, 'all')]);
    expect([missing.code, missing.stderr]).toEqual([
      2,
      expect.stringMatching(/^buildx-lab: usage error: .*empty\/results\.json: does not exist; give the report directory of a run or shard/),
    ]);
    await mkdir(join(empty, 'results.json'));
    expect((await cli(['merge-reports', empty, '--out', join(root, 'all')])).stderr).toMatch(/results\.json: is not a file; give the report directory/);
  });
});
