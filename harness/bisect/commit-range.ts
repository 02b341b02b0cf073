// `bisect --commits`: from two revisions of a local repository to the pull request that flipped a
// behaviour. Lists the first-parent walk with harness/git, bisects it (commits.ts) with the injected
// oracle, and with --no-first-parent then walks into the merged branch of the merge it named.
import { UsageError } from '../errors.ts';
import { history, mergeBringing, resolveRevision, walkBetween, type GitRepo, type WalkBetween } from '../git/history.ts';
import { cherryPicksOf, pullRequestOf, type Commit, type PullRequest } from '../git/log.ts';
import type { Observation, Probe } from './bisect.ts';
import { bisectCommits, commitLine, duration, mergedBranch, pullRequestText, renderCommitBisect, shortSha, type CommitBisectResult, type CommitOracle } from './commits.ts';

export interface CommitRangeOptions {
  /** false: after the main line names a merge, bisect the commits of its merged branch too */
  firstParent: boolean;
  onProbe?: (p: Probe, c: Commit) => void;
  now?: () => number;
  /** where a cherry-picked change's original is looked up (default HEAD: the clone's default branch) */
  mainline?: string;
}

/** A cherry-picked change traced to its original: the commit it was picked from and the main-line merge that brought that in. */
export interface Original {
  picked: string;
  merge?: Commit;
  pullRequest?: PullRequest;
}

export interface CommitRangeResult {
  walk: WalkBetween;
  main: CommitBisectResult;
  /** the bisect inside the merged branch (--no-first-parent), when there was one */
  branch?: CommitBisectResult;
  /** why the merged branch was not (fully) bisected */
  branchNote?: string;
  /**
   * Where backported commits came from (cherry-pick -x lines): of the commit found, or, when the main line
   * named a merge that was not stepped into, of every commit of its branch (one of which made the change).
   */
  originals?: Original[];
  /** the originals are the merged branch's, not the one commit's */
  originalsOfBranch?: boolean;
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
  const done = async (extra: Partial<CommitRangeResult> = {}): Promise<CommitRangeResult> => {
    const found = (extra.branch ?? main).change;
    const merged = !extra.branch && mergedBranch(found);
    // a cherry-pick merge ("[v0.20.1] cherry picks") holds its picks on the branch, not in its own message
    const carriers = merged ? await history(repo, merged.base, merged.head, { firstParent: false }) : [found];
    const originals = await originalsOf(repo, carriers, opts.mainline ?? 'HEAD');
    const builds = main.builds + (extra.branch?.builds ?? 0);
    return { walk, main, ...extra, ...(originals.length ? { originals, ...(merged ? { originalsOfBranch: true } : {}) } : {}), builds, ms: now() - t0 };
  };
  if (opts.firstParent) return done();

  const branch = mergedBranch(main.change);
  if (!branch) return done({ branchNote: `${shortSha(main.change.sha)} is no merge: there is no branch to step into` });
  if (main.unknown.length) return done({ branchNote: 'the flip on the main line is not exact (commits between could not be judged), so no single merge to step into' });
  // The main line before the merge has the behaviour of the side the merge flipped away from.
  const fixed = main.change === main.lastGood;
  // On an exact flip the merge's first parent is the walk's step before it, unless the walk began on another branch.
  const base = walk.commits.find((c) => c.sha === branch.base);
  if (!base)
    return done({ branchNote: `the first parent of ${shortSha(main.change.sha)} is not on the walk (the good and bad revisions are on different branches); bisect again from it` });
  const commits = [base, ...(await history(repo, branch.base, branch.head, { firstParent: true }))];
  const [g, b] = fixed ? [branch.head, branch.base] : [branch.base, branch.head];
  try {
    return done({ branch: await bisectCommits({ commits, good: g, bad: b, firstParent: false }, oracle, { onProbe: opts.onProbe, now, seen }) });
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    // The branch head behaves like the main line, or cannot be judged: the merge itself made the change.
    return done({
      branchNote: `the merged branch's head ${shortSha(branch.head)} was not bisected: ${e.message}. The flip comes with the merge itself (its conflict resolution, or the branch together with the main line)`,
    });
  }
}

/** The commits the given ones were picked from, each with the main-line merge (and pull request) that brought it. */
async function originalsOf(repo: GitRepo, commits: readonly Commit[], mainline: string): Promise<Original[]> {
  const out: Original[] = [];
  for (const picked of new Set(commits.flatMap(cherryPicksOf))) {
    // an abbreviated or unknown hash in a message is the author's; such an original cannot be traced here
    const full = await resolveRevision(repo, picked).catch(() => undefined);
    const merge = full ? await mergeBringing(repo, full, mainline) : undefined;
    const pullRequest = merge ? pullRequestOf(merge) : undefined;
    out.push({ picked, ...(merge ? { merge } : {}), ...(pullRequest ? { pullRequest } : {}) });
  }
  return out;
}

function originalLine(o: Original): string {
  if (!o.merge) return `backport of: ${shortSha(o.picked)}, which the main line does not hold`;
  const pr = o.pullRequest ? pullRequestText(o.pullRequest) : commitLine(o.merge);
  return `backport of: ${shortSha(o.picked)}, brought into the main line by ${pr}`;
}

export function renderCommitRange(r: CommitRangeResult): string {
  const lines = [renderCommitBisect(r.main)];
  if (r.walk.ancestry === 'diverged')
    lines.push(
      `note: ${shortSha(r.walk.older.sha)} is on another branch than ${shortSha(r.walk.newer.sha)}; the walk is ${shortSha(r.walk.newer.sha)}'s history since they forked, so its first step also undoes ${shortSha(r.walk.older.sha)}'s own commits (backports)\n`,
    );
  if (r.branch) lines.push(`inside the merged branch of ${shortSha(r.main.change.sha)}:\n`, renderCommitBisect(r.branch));
  if (r.branchNote) lines.push(`merged branch: ${r.branchNote}\n`);
  const originals = (r.originals ?? []).map((o) => `${originalLine(o)}\n`);
  if (originals.length)
    lines.push(`${r.originalsOfBranch ? "the merge's branch holds backports (one of them made the change; --no-first-parent tells which):\n" : ''}${originals.join('')}`);
  if (r.branch) lines.push(`in all:     ${r.builds} builds, ${duration(r.ms)}\n`);
  return lines.join('\n');
}
