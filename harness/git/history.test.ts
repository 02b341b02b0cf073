// Against a real repository made in a temp directory (git on the host; no engine, no network).
import { describe, expect, it } from 'vitest';
import { HarnessError, UsageError } from '../errors.ts';
import { run } from '../exec.ts';
import { history, isAncestor, mergeBringing, resolveRevision, tagsCarrying, walkBetween } from './history.ts';
import { cherryPicksOf, pullRequestOf } from './log.ts';
import { GIT_TIMEOUT, type SyntheticRepo, useSyntheticRepo } from './synthetic-repo.test-helpers.ts';

let repo: SyntheticRepo;
useSyntheticRepo((r) => {
  repo = r;
});

describe('resolveRevision', { timeout: GIT_TIMEOUT }, () => {
  it('resolves tags, branches and abbreviated hashes to the full hash', async () => {
    const tag = await resolveRevision(repo, 'v0.21.1');
    expect(tag).toMatch(/^[0-9a-f]{40}$/);
    expect(await resolveRevision(repo, 'main')).toBe(tag);
    expect(await resolveRevision(repo, tag.slice(0, 10))).toBe(tag);
  });

  it('names an unknown revision and the repository', async () => {
    await expect(resolveRevision(repo, 'v9.9.9')).rejects.toThrow(`"v9.9.9" is no commit, tag or branch in ${repo.dir}`);
  });

  it('refuses option-like revisions before git sees them', async () => {
    await expect(resolveRevision(repo, '--output=/tmp/x')).rejects.toThrow(UsageError);
  });

  it('says why git cannot read a directory that is no repository', async () => {
    await expect(resolveRevision({ ...repo, dir: '/' }, 'main')).rejects.toThrow(/git cannot read the repository: fatal: not a git repository/);
    await expect(resolveRevision({ ...repo, dir: `${repo.dir}/missing` }, 'main')).rejects.toThrow(/cannot change to/);
  });

  it('passes on the whole of git refusing a repository another user owns, since it names the fix', async (ctx) => {
    // safe.directory is read from the global config: here an empty one, with the repository owned by someone else
    const owner = await run(['stat', '-c', '%u', repo.dir], { env: repo.env });
    if (process.getuid?.() !== 0 || owner.stdout.trim() !== '0') ctx.skip(); // chown needs root
    await run(['chown', '12345', repo.dir], { env: repo.env });
    try {
      await expect(resolveRevision(repo, 'main')).rejects.toThrow(/dubious ownership[\s\S]*safe\.directory/);
    } finally {
      await run(['chown', '0', repo.dir], { env: repo.env });
    }
  });
});

describe('history and walkBetween', { timeout: GIT_TIMEOUT }, () => {
  it('walks the first-parent line: one merge per step, each naming its pull request', async () => {
    const w = await walkBetween(repo, 'v0.21.1', 'v0.20.1', { firstParent: true });
    expect(w.ancestry).toBe('linear');
    expect(w.older.subject).toBe('the v0.20.1 tree');
    expect(w.commits.map((c) => c.subject)).toEqual(['the v0.20.1 tree', ...repo.merged.map((n) => `Merge pull request #${n} from dev/topic-${n}`)]);
    expect(w.commits.slice(1).map((c) => pullRequestOf(c))).toEqual(repo.merged.map((n) => ({ number: n, title: `title of #${n}`, from: `dev/topic-${n}` })));
    // a merge's second parent is its branch's head
    expect(w.commits.slice(1).map((c) => c.parents[1])).toEqual(repo.merged.map((n) => repo.heads.get(n)));
    expect(w.commits.at(-1)!.date).toMatch(/^2025-01-0\dT\d\d:00:00\+00:00$/);
  });

  it('lists the merged branches too without --first-parent, parents before children', async () => {
    const w = await walkBetween(repo, 'v0.20.1', 'v0.21.1', { firstParent: false });
    expect(w.commits).toHaveLength(1 + 5 + 6);
    const index = new Map(w.commits.map((c, i) => [c.sha, i]));
    for (const c of w.commits) for (const p of c.parents) expect(index.get(p) ?? -1).toBeLessThan(index.get(c.sha)!);
  });

  it('walks a merged branch alone, from the main line before the merge to its head', async () => {
    const merge = (await walkBetween(repo, 'v0.20.1', 'v0.21.1', { firstParent: true })).commits[3]!;
    const branch = await history(repo, merge.parents[0]!, merge.parents[1]!, { firstParent: true });
    expect(branch.map((c) => c.subject)).toEqual(['prepare the fix', 'fix the truncated pull']);
  });

  it('walks between two release branches, the older by fewer commits since the fork (not by date), and reads the backport line', async () => {
    const w = await walkBetween(repo, 'v0.21.1', 'v0.20.2', { firstParent: true });
    expect(w.ancestry).toBe('diverged');
    expect(w.older.subject).toBe('fix the truncated pull');
    expect(cherryPicksOf(w.older)).toEqual([repo.heads.get(103)]);
    expect(w.commits.slice(1).map((c) => pullRequestOf(c)?.number)).toEqual(repo.merged);
  });

  it('refuses the same commit twice', async () => {
    await expect(walkBetween(repo, 'main', 'v0.21.1', { firstParent: true })).rejects.toThrow('are the same commit');
  });

  it('checks ancestry, and takes only full hashes there', async () => {
    const [old, now] = [await resolveRevision(repo, 'v0.20.1'), await resolveRevision(repo, 'v0.21.1')];
    expect([await isAncestor(repo, old, now), await isAncestor(repo, now, old)]).toEqual([true, false]);
    await expect(isAncestor(repo, 'main', now)).rejects.toThrow(HarnessError);
  });
});

describe('tagsCarrying', { timeout: GIT_TIMEOUT }, () => {
  it('finds the tags holding a fix and the release branch carrying its cherry-pick', async () => {
    const fix = repo.heads.get(103)!;
    const carriers = await tagsCarrying(repo, [fix]);
    const pick = await resolveRevision(repo, 'v0.20.2');
    expect(carriers).toEqual([
      { tag: 'v0.20.2', via: 'cherry-pick', commits: [pick] },
      { tag: 'v0.20.3', via: 'cherry-pick', commits: [pick] },
      { tag: 'v0.21.1', via: 'history', commits: [fix] },
    ]);
    expect((await tagsCarrying(repo, [repo.heads.get(101)!])).map((c) => [c.tag, c.via])).toEqual([
      ['v0.20.3', 'cherry-pick'],
      ['v0.21.1', 'history'],
    ]);
  });
});

describe('mergeBringing', { timeout: GIT_TIMEOUT }, () => {
  it('finds the main-line merge that brought a branch commit in, a main-line commit itself, nothing off the main line', async () => {
    const merge = await mergeBringing(repo, repo.heads.get(103)!, 'main');
    expect(merge?.subject).toBe('Merge pull request #103 from dev/topic-103');
    const root = await resolveRevision(repo, 'v0.20.1');
    expect((await mergeBringing(repo, root, 'main'))?.sha).toBe(root);
    const m101 = (await walkBetween(repo, 'v0.20.1', 'v0.21.1', { firstParent: true })).commits[1]!.sha;
    expect((await mergeBringing(repo, m101, 'main'))?.sha).toBe(m101);
    expect(await mergeBringing(repo, await resolveRevision(repo, 'v0.20.2'), 'main')).toBeUndefined();
  });
});
