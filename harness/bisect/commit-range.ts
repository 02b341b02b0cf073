// `bisect --commits`: from two revisions of a local repository to the pull request that flipped a
// behaviour. Lists the first-parent walk with harness/git, bisects it (commits.ts) with the injected
// oracle, and with --no-first-parent then walks into the merged branch of the merge it named.
import { UsageError } from '../errors.ts';
import { history, resolveRevision, walkBetween, type GitRepo, type WalkBetween } from '../git/history.ts';
import type { Commit } from '../git/log.ts';
import type { Observation, Probe } from './bisect.ts';
import { bisectCommits, duration, mergedBranch, renderCommitBisect, shortSha, type CommitBisectResult, type CommitOracle } from './commits.ts';

export interface CommitRangeOptions {
  /** false: after the main line names a merge, bisect the commits of its merged branch too */
  firstParent: boolean;
  onProbe?: (p: Probe, c: Commit) => void;
  now?: () => number;
}

export interface CommitRangeResult {
  walk: WalkBetween;
  main: CommitBisectResult;
  /** the bisect inside the merged branch (--no-first-parent), when there was one */
  branch?: CommitBisectResult;
  /** why the merged branch was not (fully) bisected */
  branchNote?: string;
  builds: number;
  ms: number;
}

export async function bisectCommitRange(repo: GitRepo, goodRev: string, badRev: string, oracle: CommitOracle, opts: CommitRangeOptions): Promise<CommitRangeResult> {
  const now = opts.now ?? Date.now;
  const t0 = now();
  const [good, bad] = [await resolveRevision(repo, goodRev), await resolveRevision(repo, badRev)];
  const walk = await walkBetween(repo, good, bad, { firstParent: true });
  const seen = new Map<string, Promise<Observation>>();
  const main = await bisectCommits({ commits: walk.commits, good, bad, firstParent: true }, oracle, { onProbe: opts.onProbe, now, seen });
  const done = (extra: Partial<CommitRangeResult> = {}): CommitRangeResult => ({ walk, main, ...extra, builds: main.builds + (extra.branch?.builds ?? 0), ms: now() - t0 });
  if (opts.firstParent) return done();

  const branch = mergedBranch(main.change);
  if (!branch) return done({ branchNote: `${shortSha(main.change.sha)} is no merge: there is no branch to step into` });
  if (main.unknown.length) return done({ branchNote: 'the flip on the main line is not exact (commits between could not be judged), so no single merge to step into' });
  // The main line before the merge has the behaviour of the side the merge flipped away from.
  const fixed = main.change === main.lastGood;
  // On an exact flip the merge's first parent is the walk's step before it, unless the walk began on another branch.
  const base = walk.commits.find((c) => c.sha === branch.base);
  if (!base) return done({ branchNote: `the first parent of ${shortSha(main.change.sha)} is not on the walk (the good and bad revisions are on different branches); bisect again from it` });
  const commits = [base, ...(await history(repo, branch.base, branch.head, { firstParent: true }))];
  const [g, b] = fixed ? [branch.head, branch.base] : [branch.base, branch.head];
  try {
    return done({ branch: await bisectCommits({ commits, good: g, bad: b, firstParent: false }, oracle, { onProbe: opts.onProbe, now, seen }) });
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    // The branch head behaves like the main line, or cannot be judged: the merge itself made the change.
    return done({ branchNote: `the merged branch's head ${shortSha(branch.head)} was not bisected: ${e.message}. The flip comes with the merge itself (its conflict resolution, or the branch together with the main line)` });
  }
}

export function renderCommitRange(r: CommitRangeResult): string {
  const lines = [renderCommitBisect(r.main)];
  if (r.walk.ancestry === 'diverged') lines.push(`note: ${shortSha(r.walk.older.sha)} is on another branch than ${shortSha(r.walk.newer.sha)}; the walk is ${shortSha(r.walk.newer.sha)}'s history since they forked, so its first step also undoes ${shortSha(r.walk.older.sha)}'s own commits (backports)\n`);
  if (r.branch) lines.push(`inside the merged branch of ${shortSha(r.main.change.sha)}:\n`, renderCommitBisect(r.branch));
  if (r.branchNote) lines.push(`merged branch: ${r.branchNote}\n`);
  if (r.branch) lines.push(`in all:     ${r.builds} builds, ${duration(r.ms)}\n`);
  return lines.join('\n');
}
