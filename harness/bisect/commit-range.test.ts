// bisect --commits over a real repository made in a temp directory (git on the host; no engine): the
// oracle reads each commit's tree, so the walk, the skips and the named pull request come from git itself.
import { describe, expect, it, vi } from 'vitest';
import { main } from '../cli/main.ts';
import { run } from '../exec.ts';
import { GIT_TIMEOUT, type SyntheticRepo, useSyntheticRepo } from '../git/synthetic-repo.test-helpers.ts';
import type { Observation } from './bisect.ts';
import { bisectCommand } from './command.ts';
import { bisectCommitRange, renderCommitRange } from './commit-range.ts';
import { shortSha, type CommitOracle } from './commits.ts';

let repo: SyntheticRepo;
useSyntheticRepo((r) => {
  repo = r;
});

/** The bug is absent where the tree holds `file` (fix.txt: pull request #103's second commit); `unbuildable` are skipped. */
function treeOracle(unbuildable: string[] = [], file = 'fix.txt') {
  const asked: string[] = [];
  const oracle: CommitOracle = async (c): Promise<Observation> => {
    asked.push(c.sha);
    if (unbuildable.includes(c.sha)) return { unknown: 'could not be built here', evidence: [] };
    const r = await run(['git', '-C', repo.dir, 'cat-file', '-e', `${c.sha}:${file}`], { env: repo.env });
    const behaviour = r.exitCode === 0 ? 'absent' : 'present';
    return { behaviour, evidence: [`case: ${behaviour}`] };
  };
  return { oracle, asked };
}

describe('bisectCommitRange', { timeout: GIT_TIMEOUT }, () => {
  it('names the merge of the pull request that fixed it', async () => {
    const { oracle, asked } = treeOracle();
    const r = await bisectCommitRange(repo, 'v0.21.1', 'v0.20.1', oracle, { firstParent: true });
    expect(r.main.pullRequest).toEqual({ number: 103, title: 'title of #103', from: 'dev/topic-103' });
    expect(r.main.change.parents[1]).toBe(repo.heads.get(103));
    expect(r.builds).toBe(asked.length);
    const text = renderCommitRange(r);
    expect(text).toContain(`fixed by:   ${shortSha(r.main.change.sha)}, pull request #103: title of #103\n`);
    expect(text).toMatch(/builds: {5}\d+, \d+ s\n/);
    expect(text).not.toContain('in all');
  });

  it('with --no-first-parent, steps into the merged branch and names its commit, building no commit twice', async () => {
    const { oracle, asked } = treeOracle();
    const ok = await bisectCommitRange(repo, 'v0.21.1', 'v0.20.1', oracle, { firstParent: false });
    expect(ok.branch?.change.sha).toBe(repo.heads.get(103));
    expect(ok.branch?.change.subject).toBe('fix the truncated pull');
    expect(ok.branch?.firstBad.subject).toBe('prepare the fix');
    expect(renderCommitRange(ok)).toContain(`inside the merged branch of ${shortSha(ok.main.change.sha)}:`);
    expect(renderCommitRange(ok)).toMatch(new RegExp(`in all: {5}${ok.builds} builds, \\d+ s\n`));
    expect(renderCommitRange(ok)).toContain(`fixed by:   ${shortSha(repo.heads.get(103)!)}, a commit inside a merged branch`);
    const second = asked.slice(asked.length - ok.builds);
    expect(new Set(second).size).toBe(second.length);
  });

  it('takes "good" as whatever the good revision shows: the older one good names the change that broke it', async () => {
    const r = await bisectCommitRange(repo, 'v0.20.1', 'v0.21.1', treeOracle().oracle, { firstParent: false });
    expect([r.main.pullRequest?.number, r.branch?.change.subject]).toEqual([103, 'fix the truncated pull']);
    expect(renderCommitRange(r)).toContain(`broken by:  ${shortSha(r.main.change.sha)}, pull request #103: title of #103\n`);
  });

  it('traces a fix found on a release branch, a backport, to the pull request that merged the original', async () => {
    const r = await bisectCommitRange(repo, 'v0.20.2', 'v0.20.1', treeOracle().oracle, { firstParent: true });
    expect(r.main.change.subject).toBe('fix the truncated pull');
    expect(r.originals).toEqual([
      {
        picked: repo.heads.get(103),
        merge: expect.objectContaining({ subject: 'Merge pull request #103 from dev/topic-103' }),
        pullRequest: { number: 103, title: 'title of #103', from: 'dev/topic-103' },
      },
    ]);
    expect(renderCommitRange(r)).toContain(`backport of: ${shortSha(repo.heads.get(103)!)}, brought into the main line by pull request #103: title of #103\n`);
    // a main line without the original: said so
    const off = await bisectCommitRange(repo, 'v0.20.2', 'v0.20.1', treeOracle().oracle, { firstParent: true, mainline: 'v0.20.1' });
    expect(renderCommitRange(off)).toContain(`backport of: ${shortSha(repo.heads.get(103)!)}, which the main line does not hold\n`);
  });

  it('lists the backports a cherry-pick merge holds, and with --no-first-parent names the one', async () => {
    const r = await bisectCommitRange(repo, 'v0.20.3', 'v0.20.2', treeOracle([], 'part-101.txt').oracle, { firstParent: true });
    expect(r.main.pullRequest).toMatchObject({ number: 106, title: '[v0.20] cherry-picks for v0.20.3' });
    expect([r.originalsOfBranch, r.originals?.map((o) => o.pullRequest?.number)]).toEqual([true, [101]]);
    expect(renderCommitRange(r)).toContain(
      `the merge's branch holds backports (one of them made the change; --no-first-parent tells which):\nbackport of: ${shortSha(repo.heads.get(101)!)}, brought into the main line by pull request #101: title of #101\n`,
    );
    const exact = await bisectCommitRange(repo, 'v0.20.3', 'v0.20.2', treeOracle([], 'part-101.txt').oracle, { firstParent: false });
    expect([exact.branch?.change.subject, exact.originalsOfBranch, exact.originals?.map((o) => o.pullRequest?.number)]).toEqual(['part 101', undefined, [101]]);
  });

  it('steps around a merge that does not build, names it, and does not guess a branch', async () => {
    const m103 = (await bisectCommitRange(repo, 'v0.21.1', 'v0.20.1', treeOracle().oracle, { firstParent: true })).main.change.sha;
    const r = await bisectCommitRange(repo, 'v0.21.1', 'v0.20.1', treeOracle([m103]).oracle, { firstParent: false });
    expect(r.main.unknown.map((c) => c.sha)).toEqual([m103]);
    expect(r.main.result.message).toContain(`${shortSha(m103)} could not be built here`);
    expect([r.main.firstBad.subject, r.main.lastGood.subject]).toEqual(['Merge pull request #102 from dev/topic-102', 'Merge pull request #104 from dev/topic-104']);
    expect(r.branchNote).toContain('not exact');
  });

  it('says so when the merged branch head cannot be judged', async () => {
    const r = await bisectCommitRange(repo, 'v0.21.1', 'v0.20.1', treeOracle([repo.heads.get(103)!]).oracle, { firstParent: false });
    expect(r.branch).toBeUndefined();
    expect(r.branchNote).toMatch(/merged branch's head .* could not be built here.*comes with the merge itself/);
  });
});

/** Runs `bisect` in this process with the given oracle; returns what it printed. */
async function bisectWith(oracle: CommitOracle, ...args: string[]): Promise<string> {
  const out: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
    out.push(String(s));
    return true;
  });
  try {
    await bisectCommand({ commitOracle: () => oracle })
      .exitOverride()
      .parseAsync(args, { from: 'user' });
    return out.join('');
  } finally {
    vi.restoreAllMocks();
    process.exitCode = 0;
  }
}

async function cli(...argv: string[]): Promise<{ code: number; err: string }> {
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
    err.push(String(s));
    return true;
  });
  try {
    return { code: await main(argv), err: err.join('') };
  } finally {
    vi.restoreAllMocks();
    process.exitCode = 0;
  }
}

describe('bisect --commits', { timeout: GIT_TIMEOUT }, () => {
  it('walks the commits with the injected oracle and prints the pull request, each probe, builds and time', async () => {
    const out = await bisectWith(treeOracle().oracle, 'smoke', '--commits', '--good', `git:${repo.dir}@v0.21.1`, '--bad', 'v0.20.1');
    const m103 = (await bisectCommitRange(repo, 'v0.21.1', 'v0.20.1', treeOracle().oracle, { firstParent: true })).main.change.sha;
    expect(out).toContain(`bisect smoke over the commits of ${repo.dir}: good v0.21.1, bad v0.20.1\n`);
    expect(out).toMatch(new RegExp(`bisect: ${shortSha(m103)} 2025-\\S+ Merge pull request #103 from dev/topic-103 -> good: absent\n`));
    expect(out).toContain(`fixed by:   ${shortSha(m103)}, pull request #103: title of #103\n`);
    expect(out).toMatch(/builds: {5}\d+, \d+ s\n/);
  });

  it.each([
    [['--commits', '--good', 'git:src/buildx@v0.21.1', '--bad', 'v0.20.1'], 'absolute local path, a file:// URL or an http(s) URL'],
    [['--commits', '--good', 'git:/src/buildx@v0.21.1', '--bad', '--upload-pack=x'], 'must start with a letter or digit'],
    [['--commits', '--good', 'git:/src/a@v0.21.1', '--bad', 'git:/src/b@v0.20.1'], 'two repositories'],
    [['--commits', '--good', 'git:https://example.com/buildx.git@v0.21.1', '--bad', 'v0.20.1'], 'needs a local clone for now'],
    [['--commits', '--good', 'v0.21.1', '--bad', 'v0.20.1'], 'needs --good or --bad as git:<repo>@<rev>'],
    [['--commits', '--axis', 'engine', '--good', 'git:/src/buildx@v0.21.1', '--bad', 'v0.20.1'], 'drop --axis engine'],
    [['--no-first-parent', '--good', 'v0.21.1', '--bad', 'v0.20.1'], '--no-first-parent goes with --commits'],
  ])('refuses bad input as a usage error (exit 2): %j', async (args, message) => {
    const { code, err } = await cli('bisect', 'smoke', ...args);
    expect(err).toContain(message);
    expect(code).toBe(2);
  });
});
