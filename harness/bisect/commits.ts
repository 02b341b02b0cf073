// Bisect over commits: the first-parent history between a good and a bad revision, so every step is one
// merge on the main branch and the answer is one pull request. Pure: the walk comes from harness/git, and
// the oracle (build Buildx at a commit, run the case on it) is injected; nothing here runs git or Docker.
// The step choice, skips and the flip message are release bisect's (bisect.ts), with commits as steps.
import { pullRequestOf, type Commit, type PullRequest } from '../git/log.ts';
import { showAsEscapes, unshownChars } from '../text.ts';
import { UsageError } from '../errors.ts';
import { bisect, renderBisect, type BisectResult, type Observation, type Probe } from './bisect.ts';

/**
 * What the lab saw at one commit: equal `behaviour` strings are the same behaviour; `unknown` (with no
 * behaviour) when the commit could not be judged, e.g. "could not be built here". The seam for the real
 * oracle: build Buildx from `git:<repo>@<sha>` and run the case or scenario on it (observationOf).
 */
export type CommitOracle = (commit: Commit) => Promise<Observation>;

/** The history to bisect: oldest first, the older endpoint first; good and bad are full hashes in it. */
export interface CommitWalk {
  commits: readonly Commit[];
  good: string;
  bad: string;
  /** false when the walk is not one line of first parents (then a step need not be one pull request) */
  firstParent: boolean;
}

export interface CommitBisectResult {
  result: BisectResult;
  lastGood: Commit;
  firstBad: Commit;
  /** the newer of the two: the commit whose change flipped the behaviour (broke or fixed it) */
  change: Commit;
  /** the walk's: whether a step is one merge of the main line */
  firstParent: boolean;
  /** the pull request `change` merged, when its message names one */
  pullRequest?: PullRequest;
  /** commits between them that could not be judged, oldest first */
  unknown: Commit[];
  /** oracle calls (each one build and one run), not counting commits `seen` already held */
  builds: number;
  ms: number;
}

/** A commit as people write it. */
export const shortSha = (sha: string): string => sha.slice(0, 12);

// Subjects and titles are the repository's text: their control and bidi characters are shown, not obeyed.
export const visible = (text: string): string => showAsEscapes(text, unshownChars());

export interface CommitBisectOptions {
  onProbe?: (p: Probe, c: Commit) => void;
  now?: () => number;
  /** what earlier walks saw, by hash: a commit is built and run once, however many walks probe it */
  seen?: Map<string, Promise<Observation>>;
}

export async function bisectCommits(walk: CommitWalk, oracle: CommitOracle, opts: CommitBisectOptions = {}): Promise<CommitBisectResult> {
  const { onProbe = () => undefined, now = Date.now, seen = new Map<string, Promise<Observation>>() } = opts;
  const bySha = new Map(walk.commits.map((c) => [c.sha, c]));
  if (bySha.size !== walk.commits.length) throw new UsageError('the commit walk lists a commit twice; it must be one line of history');
  const commitOf = (sha: string): Commit => {
    const c = bySha.get(sha);
    if (!c) throw new UsageError(`${shortSha(sha)} is not in the history between the good and the bad revision`);
    return c;
  };
  const t0 = now();
  let builds = 0;
  const result = await bisect(
    walk.commits.map((c) => c.sha),
    walk.good,
    walk.bad,
    (sha) => {
      let o = seen.get(sha);
      if (!o) {
        builds++;
        o = oracle(commitOf(sha));
        seen.set(sha, o);
      }
      return o;
    },
    (p) => onProbe(p, commitOf(p.version)),
    { cost: () => 0, label: shortSha },
  );
  const [lastGood, firstBad] = [commitOf(result.lastGood), commitOf(result.firstBad)];
  const change = walk.commits.indexOf(lastGood) > walk.commits.indexOf(firstBad) ? lastGood : firstBad;
  const pullRequest = pullRequestOf(change);
  return {
    result,
    lastGood,
    firstBad,
    change,
    firstParent: walk.firstParent,
    ...(pullRequest ? { pullRequest } : {}),
    unknown: result.unknown.map(commitOf),
    builds,
    ms: now() - t0,
  };
}

/**
 * For --no-first-parent: the merged branch of a merge commit, as the next walk's endpoints. The main line
 * before the merge (parents[0]) behaves like the side of the flip it came from; the branch head (parents[1])
 * is probed as the other endpoint.
 */
export function mergedBranch(merge: Commit): { base: string; head: string } | undefined {
  return merge.parents.length >= 2 ? { base: merge.parents[0]!, head: merge.parents[1]! } : undefined;
}

/** A commit on one line for people: short hash, date, subject (its invisible characters shown). */
export function commitLine(c: Commit): string {
  return `${shortSha(c.sha)} ${c.date} ${visible(c.subject)}`;
}

/** A bisect's time as people say it: "48 s", "3 min 12 s". */
export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** "pull request #N: title", the title's invisible characters shown. */
export function pullRequestText(pr: PullRequest): string {
  return `pull request #${pr.number}${pr.title ? `: ${visible(pr.title)}` : ''}`;
}

/** The answer: probes with evidence, then the two commits, the pull request, the skips, builds and time. */
export function renderCommitBisect(r: CommitBisectResult): string {
  const fixed = r.change === r.lastGood;
  const pr = r.pullRequest ? pullRequestText(r.pullRequest) : r.firstParent ? 'no pull request named in its message' : 'a commit inside a merged branch';
  const skipped = r.unknown.map((c) => `${shortSha(c.sha)} ${r.result.probes.find((p) => p.version === c.sha)?.note ?? 'was not tried'}`);
  return [
    renderBisect(r.result, shortSha).trimEnd(),
    '',
    `last good:  ${commitLine(r.lastGood)}`,
    `first bad:  ${commitLine(r.firstBad)}`,
    `${fixed ? 'fixed by' : 'broken by'}:${fixed ? '   ' : '  '}${shortSha(r.change.sha)}, ${pr}`,
    ...(skipped.length ? [`between:    ${skipped.join('; ')}`] : []),
    `builds:     ${r.builds}, ${duration(r.ms)}`,
    '',
  ].join('\n');
}
