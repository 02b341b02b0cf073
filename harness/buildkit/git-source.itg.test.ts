// BuildKit built from a Git repository, end to end and for real: a small repository made from BuildKit
// v0.17.1's release source (the Go module proxy serves it; the lab builds that release already), one pull
// request merged on top. `repro --buildkit git:<repo>@main` resolves the branch to the merge, builds
// buildkitd and buildctl at that commit (module mode, the shared Go build cache), makes the BuildKit image
// from them, and runs a shipped docker-container case on it in a real engine: the cell is named by the
// commit, and its evidence says what the BuildKit was built from. The build time is printed. Then a
// commit that vendors its dependencies, built with -mod=vendor; and a release the module proxy does not
// serve, tagged there, built from that tag (BUILDX_LAB_BUILDKIT_GIT).
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv, labConfig } from '../config.ts';
import { runChecked } from '../exec.ts';
import { committerEnv, releaseRepo } from '../git/synthetic-repo.test-helpers.ts';
import type { CellResult } from '../model.ts';
import { goEnvFor } from '../provision/gobuild.ts';
import { CLI } from '../runner/cli.test-helpers.ts';

const config = labConfig();
// build --check on a Dockerfile error: v0.15.1 exits 1 (fixed), on a docker-container builder
const CASE = new URL('../../fixtures/cases/2518-check-exit-code', import.meta.url).pathname;
let dir: string;
let merge: string;

beforeAll(async () => {
  ({ dir, merge } = await releaseRepo('github.com/moby/buildkit', 'v0.17.1', 'buildx-lab-gitsrc-buildkit-v0.17.1', childEnv(config, goEnvFor(config))));
}, 600_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('BuildKit from a Git repository', () => {
  it('builds the commit a branch names into a BuildKit image, and runs a docker-container case cell on it', async () => {
    const reportDir = path.join(os.tmpdir(), `bxl-gitsrc-bk-${Date.now()}`);
    const bin = path.join(config.cacheDir, 'buildkit', `git-${merge}`);
    const cached = readdirSync(path.dirname(bin)).includes(path.basename(bin));
    const t0 = Date.now();
    const r = await execa('node', [CLI, 'repro', CASE, '--buildx', '0.15.1', '--buildkit', `git:${dir}@main`, '--report-dir', reportDir], {
      reject: false,
      all: true,
      timeout: 1_800_000,
    });
    const label = `v0.17.1-2-g${merge.slice(0, 12)}`;
    process.stderr.write(`BuildKit from Git: repro with ${cached ? 'cached binaries' : 'a fresh build'} took ${Math.round((Date.now() - t0) / 1000)} s\n`);
    expect(r.all, r.all).toContain(`buildkit=${label}`);
    const cells = readdirSync(path.join(reportDir, 'cells')).map((f) => JSON.parse(readFileSync(path.join(reportDir, 'cells', f), 'utf8')) as CellResult);
    expect(cells).toHaveLength(1);
    const [cell] = cells;
    expect(cell!.axes.buildkit).toBe(label);
    // v0.15.1 fixed the exit code: the symptom is absent, on the BuildKit built from the commit
    expect(cell!.outcome, JSON.stringify(cell!.evidence.facts)).toBe('fixed');
    const facts = cell!.evidence.facts.join('\n');
    expect(facts).toContain(`BuildKit ${label} (named): named`);
    expect(facts).toContain(`built from git commit ${merge} of ${dir}`);
    expect(facts).toMatch(new RegExp(`BuildKit ${label} built from git commit ${merge} of ${dir}, -mod=mod, go1\\.`));
    // the binaries name the commit
    expect((await execa(path.join(bin, 'buildkitd'), ['--version'])).stdout).toContain(`${label} ${merge}`);
    const meta = JSON.parse(readFileSync(path.join(bin, 'meta.json'), 'utf8')) as { git?: { commit: string; mode: string } };
    expect(meta.git).toMatchObject({ commit: merge, mode: 'mod' });
    expect(r.exitCode, r.all).toBe(0);
    rmSync(reportDir, { recursive: true, force: true });
  }, 1_800_000);

  it("builds from the tree's own vendor/ when it carries one (-mod=vendor, no module download)", async () => {
    const env = committerEnv(dir, 1738000000);
    const git = async (...args: string[]) => (await runChecked(['git', '-C', dir, ...args], { env, timeoutMs: 300_000 })).stdout.trim();
    await git('checkout', '-q', '-b', 'vendored', 'main');
    // from the module cache alone (the release build filled it): no network
    await runChecked(['go', 'mod', 'vendor'], { env: childEnv(config, { ...goEnvFor(config), GOPROXY: 'off', GOFLAGS: '-mod=mod' }), cwd: dir, timeoutMs: 600_000 });
    await git('add', '-A', 'vendor');
    await git('commit', '-q', '-m', 'vendor the dependencies');
    await git('checkout', '-q', 'main');
    const vendored = await git('rev-parse', 'vendored');
    const label = `v0.17.1-3-g${vendored.slice(0, 12)}`;
    const reportDir = path.join(os.tmpdir(), `bxl-gitsrc-bk-vendor-${Date.now()}`);
    const t0 = Date.now();
    const r = await execa('node', [CLI, 'repro', CASE, '--buildx', '0.15.1', '--buildkit', `git:${dir}@vendored`, '--report-dir', reportDir], {
      reject: false,
      all: true,
      timeout: 1_800_000,
    });
    process.stderr.write(`BuildKit from Git, vendor/: repro took ${Math.round((Date.now() - t0) / 1000)} s\n`);
    const [cell] = readdirSync(path.join(reportDir, 'cells')).map((f) => JSON.parse(readFileSync(path.join(reportDir, 'cells', f), 'utf8')) as CellResult);
    expect(cell!.axes.buildkit).toBe(label);
    expect(cell!.outcome, r.all).toBe('fixed');
    expect(cell!.evidence.facts.join('\n')).toContain(`BuildKit ${label} built from git commit ${vendored} of ${dir}, -mod=vendor`);
    expect(r.exitCode, r.all).toBe(0);
    rmSync(reportDir, { recursive: true, force: true });
  }, 1_800_000);

  it('builds a release the Go module proxy does not serve from its tag in BUILDX_LAB_BUILDKIT_GIT, and the cell says so', async () => {
    // v0.99.0 does not exist: the proxy refuses it; the tag on the merge (built above, cached by commit) stands in
    await runChecked(['git', '-C', dir, 'tag', 'v0.99.0', merge], { env: committerEnv(dir, 1738000000) });
    const reportDir = path.join(os.tmpdir(), `bxl-gitsrc-bk-tag-${Date.now()}`);
    const r = await execa('node', [CLI, 'repro', CASE, '--buildx', '0.15.1', '--buildkit', 'v0.99.0', '--report-dir', reportDir], {
      reject: false,
      all: true,
      timeout: 1_800_000,
      env: { BUILDX_LAB_BUILDKIT_GIT: dir },
    });
    expect(r.all, r.all).toContain(`BuildKit v0.99.0: the Go module proxy refuses it; building its tag, commit ${merge}, from ${dir} (BUILDX_LAB_BUILDKIT_GIT)`);
    const [cell] = readdirSync(path.join(reportDir, 'cells')).map((f) => JSON.parse(readFileSync(path.join(reportDir, 'cells', f), 'utf8')) as CellResult);
    // the cell keeps the release's name; its evidence names the commit and the tag
    expect(cell!.axes.buildkit).toBe('v0.99.0');
    expect(cell!.outcome, JSON.stringify(cell!.evidence.facts)).toBe('fixed');
    expect(cell!.evidence.facts.join('\n')).toContain(`BuildKit v0.99.0 built from git commit ${merge} (tag v0.99.0) of ${dir}, -mod=mod`);
    expect(r.exitCode, r.all).toBe(0);
    rmSync(reportDir, { recursive: true, force: true });
  }, 1_800_000);
});
