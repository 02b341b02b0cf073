import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../errors.ts';
import { META, pullStreamCells } from '../report/fixtures.test-helpers.ts';
import { writeReports } from '../report/write.ts';
import { PassThrough } from 'node:stream';
import { labConfig } from '../config.ts';
import { ProgressBoard } from '../progress-board.ts';
import { REPORT_MARKER, claimReportDir, cleanReportSubdir, foreignDirProblem, newRunId, prepareRun } from './launch.ts';
import { runSpecSchema, type RunSpec } from './run-spec.ts';

let root: string;
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'lab-launch-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const at = (...p: string[]) => path.join(root, ...p);
function tree(dir: string, files: Record<string, string>): void {
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    writeFileSync(path.join(dir, f), text);
  }
}

describe('claimReportDir', () => {
  it('claims a new or empty directory, and one it claimed before, by its marker', () => {
    expect(claimReportDir(at('new', 'run'))).toBe(at('new', 'run'));
    expect(existsSync(at('new', 'run', REPORT_MARKER))).toBe(true);
    mkdirSync(at('empty'));
    claimReportDir(at('empty'));
    tree(at('empty'), { 'cells/a.json': '{}', 'results.json': '{}' });
    expect(claimReportDir(at('empty'))).toBe(at('empty'));
  });

  it('refuses a directory with files that are not a lab report (qualify --report-dir harness), touching nothing', () => {
    tree(at('src'), { 'harness/lab.ts': 'code', 'qualify/keep.ts': 'code' });
    expect(() => claimReportDir(at('src'))).toThrow(UsageError);
    expect(() => claimReportDir(at('src'))).toThrow(/not a lab report/);
    expect(readFileSync(at('src', 'qualify', 'keep.ts'), 'utf8')).toBe('code');
    expect(existsSync(at('src', REPORT_MARKER))).toBe(false);
  });

  it('refuses a file', () => {
    writeFileSync(at('f'), 'x');
    expect(() => claimReportDir(at('f'))).toThrow(/not a directory/);
  });

  it('refuses reports/latest, as the link a run left or before any run: the link keeps following new runs and never points at itself', async () => {
    const run1 = claimReportDir(at('reports', 'r1'));
    await writeReports(run1, pullStreamCells(), META);
    expect(readlinkSync(at('reports', 'latest'))).toBe('r1');
    expect(() => claimReportDir(at('reports', 'latest'))).toThrow(/where the link to the newest run goes/);
    // the link is intact (no ELOOP), and the next run moves it
    expect(JSON.parse(readFileSync(at('reports', 'latest', 'results.json'), 'utf8')).meta.runId).toBe(META.runId);
    await writeReports(claimReportDir(at('reports', 'r2')), pullStreamCells(), META);
    expect(readlinkSync(at('reports', 'latest'))).toBe('r2');
    rmSync(at('reports', 'latest'));
    expect(() => claimReportDir(at('reports', 'latest'))).toThrow(UsageError);
    expect(existsSync(at('reports', 'latest'))).toBe(false);
  });

  it('refuses any other symlink', () => {
    mkdirSync(at('real'));
    symlinkSync('real', at('link'));
    expect(() => claimReportDir(at('link'))).toThrow(/is a symlink/);
    expect(lstatSync(at('link')).isSymbolicLink()).toBe(true);
  });
});

describe('cleanReportSubdir', () => {
  it('removes a subdirectory of a marked report directory, and nothing beside it', () => {
    const dir = claimReportDir(at('r'));
    tree(dir, { 'cells/a.json': '{}', 'results.json': '{}' });
    cleanReportSubdir(dir, 'cells');
    expect(existsSync(path.join(dir, 'cells'))).toBe(false);
    expect(existsSync(path.join(dir, 'results.json'))).toBe(true);
  });

  it('deletes nothing in a directory without the marker', () => {
    tree(at('src'), { 'qualify/keep.ts': 'code' });
    expect(() => cleanReportSubdir(at('src'), 'qualify')).toThrow(/not a lab report directory/);
    expect(readFileSync(at('src', 'qualify', 'keep.ts'), 'utf8')).toBe('code');
  });
});

describe('newRunId', () => {
  it('is unique even for runs started in the same millisecond with the same pid (another pid namespace)', () => {
    const ids = Array.from({ length: 200 }, () => newRunId());
    expect(new Set(ids).size).toBe(200);
    for (const id of ids) expect(runSpecSchema.shape.runId.safeParse(id).success).toBe(true);
  });
});

describe('a report directory of someone else', () => {
  it.each([
    ['another owner', { uid: 65534, mode: 0o40755 }, /belongs to uid 65534, not to this user \(0\)/],
    ['writable by everyone', { uid: 0, mode: 0o40777 }, /writable by everyone \(mode 777\)/],
  ])('is refused: %s', (_what, st, why) => {
    expect(foreignDirProblem(st, 0)).toMatch(why);
  });
  it("is fine when it is the user's own, group-writable too (umask 002)", () => {
    expect(foreignDirProblem({ uid: 0, mode: 0o40755 }, 0)).toBeUndefined();
    expect(foreignDirProblem({ uid: 0, mode: 0o40775 }, 0)).toBeUndefined();
  });
  it('claimReportDir refuses an empty world-writable directory (its owner could swap the run spec after the gate)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bxl-shared-'));
    chmodSync(dir, 0o777);
    expect(() => claimReportDir(dir)).toThrow(/writable by everyone/);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('prepareRun on a replayed spec', () => {
  it("refuses an untrusted cell's git requirement on a repository the user did not name, before any engine or fetch", async () => {
    const commit = 'a'.repeat(40);
    const caseDir = at('their-case');
    mkdirSync(caseDir);
    const replay = {
      cells: [{ source: { kind: 'case', dir: caseDir, trust: 'project' }, requires: ['buildkit:g0123456789ab'] }],
      requirements: {
        'buildkit:g0123456789ab': { kind: 'buildkit', version: 'g0123456789ab', git: { repo: '/home/alice/src/private', rev: 'main', commit, label: 'g0123456789ab' } },
      },
    } as unknown as RunSpec;
    // no engine answers at this DOCKER_HOST: the refusal must come first
    const config = labConfig({ ...process.env, DOCKER_HOST: `unix://${at('no-engine.sock')}`, BUILDX_LAB_BUILDKIT_GIT: '', BUILDX_LAB_BUILDX_GIT: '' });
    const board = new ProgressBoard({ live: false, stream: new PassThrough() as unknown as NodeJS.WriteStream });
    const run = prepareRun(
      config,
      { replay, sources: [], argv: ['run', '--spec'], command: 'run', matrix: 'full', filters: {}, repeat: 1, jobs: 1, reportDir: at('reports') },
      board,
    );
    await expect(run).rejects.toThrow(UsageError);
    await expect(run).rejects.toThrow(/refusing the untrusted case .*their-case: it builds from git:\/home\/alice\/src\/private@a{40}/);
  });
});
