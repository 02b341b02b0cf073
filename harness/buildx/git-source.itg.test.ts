// Buildx built from a Git repository, end to end and for real: a small repository made from Buildx
// v0.20.1's release source (the Go module proxy serves it; the zip has no vendor/, so the build runs in
// module mode), one pull request merged on top. `repro --buildx git:<repo>@main` resolves the branch to
// the merge, builds that commit (one Go build, with the shared Go build cache), and runs a shipped case
// with it: the cell is named by the commit and its evidence says where the binary came from.
// The repository's path and commit dates are fixed, so its commits are the same on every run: the lab's
// clone of it and the binary (cached by commit) are made once per cache, not once per run.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv, labConfig } from '../config.ts';
import { releaseRepo } from '../git/synthetic-repo.test-helpers.ts';
import { goEnvFor } from '../provision/gobuild.ts';
import { CLI } from '../runner/cli.test-helpers.ts';
import type { CellResult } from '../model.ts';
import { buildxCacheRoot } from './provision.ts';

const config = labConfig();
const CASE = new URL('../../fixtures/cases/2969-ls-json-duplicates', import.meta.url).pathname;
let dir: string;
let merge: string;

beforeAll(async () => {
  ({ dir, merge } = await releaseRepo('github.com/docker/buildx', 'v0.20.1', 'buildx-lab-gitsrc-v0.20.1', childEnv(config, goEnvFor(config))));
}, 600_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('Buildx from a Git repository', () => {
  it('builds the commit a branch names (module mode), names it in buildx version, and runs a case cell with it', async () => {
    const reportDir = path.join(os.tmpdir(), `bxl-gitsrc-${Date.now()}`);
    const r = await execa('node', [CLI, 'repro', CASE, '--buildx', `git:${dir}@main`, '--report-dir', reportDir], { reject: false, all: true, timeout: 1_800_000 });
    const label = `v0.20.1-2-g${merge.slice(0, 12)}`;
    expect(r.all, r.all).toContain(`buildx=${label}`);
    const cells = readdirSync(path.join(reportDir, 'cells')).map((f) => JSON.parse(readFileSync(path.join(reportDir, 'cells', f), 'utf8')) as CellResult);
    expect(cells).toHaveLength(1);
    const [cell] = cells;
    // v0.20.1's tree lists the default builder twice: the commit shows the bug, and nothing is declared for it
    expect(cell!.axes.buildx).toBe(label);
    expect(cell!.observed).toBe('reproduced');
    expect(cell!.outcome).toBe('reproduced');
    // built by this run, or by an earlier one (the commit is the cache key)
    expect(cell!.evidence.facts.join('\n')).toContain(`buildx ${label} (source build, git commit ${merge} of ${dir}, -mod=mod`);
    expect(r.all).toMatch(new RegExp(`buildx ${label}: (?:installed from git|done)`));
    const buildx = path.join(buildxCacheRoot(config), `git-${merge}`, 'docker-buildx');
    expect((await execa(buildx, ['version'])).stdout).toBe(`github.com/docker/buildx ${label} ${merge}`);
    expect(r.exitCode, r.all).toBe(0);
    rmSync(reportDir, { recursive: true, force: true });
  }, 1_800_000);
});
