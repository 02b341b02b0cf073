import { describe, expect, it } from 'vitest';
import type { Commit } from '../git/log.ts';
import type { Observation } from './bisect.ts';
import { bisectCommits, commitLine, mergedBranch, renderCommitBisect, shortSha, type CommitOracle } from './commits.ts';

const sha = (i: number) => i.toString(16).padStart(2, '0').repeat(20);
/** A main line: a root commit, then merges of pull requests #101, #102, ... (oldest first). */
function mainLine(n: number): Commit[] {
  return Array.from({ length: n }, (_, i) =>
    i === 0
      ? { sha: sha(0), parents: [], date: '2025-01-01T00:00:00Z', subject: 'v0.20.1', body: '' }
      : {
          sha: sha(i),
          parents: [sha(i - 1), sha(100 + i)],
          date: `2025-01-${String(i + 1).padStart(2, '0')}T00:00:00Z`,
          subject: `Merge pull request #${100 + i} from dev/topic-${i}`,
          body: `change number ${i}\n\ndetails`,
        },
  );
}
const seen = (behaviour: string): Observation => ({ behaviour, evidence: [`case: ${behaviour}`] });

/** The bug is present before commit `fixedAt` and absent from it on; `unbuildable` commits are skipped. */
function fakeOracle(commits: readonly Commit[], fixedAt: number, unbuildable: number[] = []) {
  const order: number[] = [];
  const oracle: CommitOracle = async (c) => {
    const i = commits.indexOf(c);
    order.push(i);
    if (unbuildable.includes(i)) return { unknown: 'could not be built here', evidence: ['go build: undefined: foo'] };
    return seen(i >= fixedAt ? 'absent' : 'present');
  };
  return { oracle, order };
}

let clock = 0;
const tick = () => (clock += 61_000);

describe('bisectCommits', () => {
  const commits = mainLine(9);

  it('names the merge that fixed it when the good revision is the newer one', async () => {
    const { oracle, order } = fakeOracle(commits, 5);
    const r = await bisectCommits({ commits, good: sha(8), bad: sha(0), firstParent: true }, oracle, { now: tick });
    expect([r.firstBad.sha, r.lastGood.sha, r.change.sha]).toEqual([sha(4), sha(5), sha(5)]);
    expect(r.pullRequest).toEqual({ number: 105, title: 'change number 5', from: 'dev/topic-5' });
    expect(r.result.message).toBe(`the flip is exact: ${shortSha(sha(4))} (bad) is followed directly by ${shortSha(sha(5))} (good)`);
    expect(order.slice(0, 2)).toEqual([8, 0]);
    expect(r.builds).toBe(order.length);
    expect(order.length).toBeLessThanOrEqual(2 + Math.ceil(Math.log2(8)));
  });

  it('names the merge that broke it when the good revision is the older one', async () => {
    const { oracle } = fakeOracle(commits, 3);
    // here "absent" is good: the bug appears at commit 3
    const flipped: CommitOracle = async (c) => {
      const o = await oracle(c);
      return o.behaviour ? seen(o.behaviour === 'absent' ? 'present' : 'absent') : o;
    };
    const r = await bisectCommits({ commits, good: sha(0), bad: sha(8), firstParent: true }, flipped, { now: tick });
    expect([r.lastGood.sha, r.firstBad.sha, r.change.sha, r.pullRequest?.number]).toEqual([sha(2), sha(3), sha(3), 103]);
    expect(renderCommitBisect(r)).toContain(`broken by:  ${shortSha(sha(3))}, pull request #103: change number 3`);
  });

  it('steps around commits that do not build and names them', async () => {
    const { oracle } = fakeOracle(commits, 5, [4, 5]);
    const r = await bisectCommits({ commits, good: sha(8), bad: sha(0), firstParent: true }, oracle, { now: tick });
    expect([r.firstBad.sha, r.lastGood.sha, r.unknown.map((c) => c.sha)]).toEqual([sha(3), sha(6), [sha(4), sha(5)]]);
    expect(r.result.message).toBe(
      `the flip lies between ${shortSha(sha(3))} (bad) and ${shortSha(sha(6))} (good); ${shortSha(sha(4))}, ${shortSha(sha(5))} could not be built here`,
    );
    expect(renderCommitBisect(r)).toContain(`between:    ${shortSha(sha(4))} could not be built here; ${shortSha(sha(5))} could not be built here`);
  });

  it('reports each probe with its commit', async () => {
    const { oracle } = fakeOracle(commits, 5);
    const seenProbes: string[] = [];
    await bisectCommits({ commits, good: sha(8), bad: sha(0), firstParent: true }, oracle, { onProbe: (p, c) => seenProbes.push(`${c.subject}: ${p.class}`), now: tick });
    expect(seenProbes.slice(0, 2)).toEqual(['Merge pull request #108 from dev/topic-8: good', 'v0.20.1: bad']);
  });

  it('refuses endpoints outside the walk, one commit twice, and endpoints that behave alike', async () => {
    const { oracle } = fakeOracle(commits, 5);
    await expect(bisectCommits({ commits, good: sha(50), bad: sha(0), firstParent: true }, oracle)).rejects.toThrow(`${shortSha(sha(50))} is not in the list`);
    await expect(bisectCommits({ commits: [...commits, commits[0]!], good: sha(8), bad: sha(0), firstParent: true }, oracle)).rejects.toThrow('lists a commit twice');
    await expect(bisectCommits({ commits, good: sha(8), bad: sha(6), firstParent: true }, oracle)).rejects.toThrow('show the same behaviour');
  });
});

describe('bisectCommits with commits seen before', () => {
  it('asks the oracle once per commit and counts only those builds', async () => {
    const commits = mainLine(9);
    const { oracle, order } = fakeOracle(commits, 5);
    const seen = new Map<string, Promise<Observation>>();
    const first = await bisectCommits({ commits, good: sha(8), bad: sha(0), firstParent: true }, oracle, { seen });
    const again = await bisectCommits({ commits, good: sha(8), bad: sha(0), firstParent: true }, oracle, { seen });
    expect(again.change.sha).toBe(first.change.sha);
    expect([first.builds, again.builds, order.length]).toEqual([order.length, 0, new Set(order).size]);
  });
});

describe('renderCommitBisect', () => {
  it('gives both commits, the pull request, builds and time, with the repository text made visible', async () => {
    const commits = mainLine(3);
    commits[2] = { ...commits[2]!, body: 'evil \u001b[31mred\u202e title' };
    commits[0] = { ...commits[0]!, subject: 'v0.20.1\u0007\u2066' };
    const { oracle } = fakeOracle(commits, 2);
    clock = 0;
    const r = await bisectCommits({ commits, good: sha(2), bad: sha(0), firstParent: true }, oracle, { now: tick });
    const text = renderCommitBisect(r);
    expect(text).toContain(`last good:  ${shortSha(sha(2))} 2025-01-03T00:00:00Z Merge pull request #102 from dev/topic-2\n`);
    expect(text).toContain(`first bad:  ${shortSha(sha(1))} 2025-01-02T00:00:00Z Merge pull request #101 from dev/topic-1\n`);
    expect(text).toContain(`fixed by:   ${shortSha(sha(2))}, pull request #102: evil \\u001b[31mred\\u202e title\n`);
    expect(text).toContain('builds:     3, 1 min 1 s\n');
    expect(commitLine(commits[0]!)).toBe(`${shortSha(sha(0))} 2025-01-01T00:00:00Z v0.20.1\\u0007\\u2066`);
    expect(text).toContain(`  ${shortSha(sha(2))}  good\n      case: absent\n`);
  });

  it('says when the changing commit names no pull request', async () => {
    const commits = mainLine(2).map((c) => ({ ...c, subject: 'plain commit' }));
    const inBranch = await bisectCommits({ commits, good: sha(1), bad: sha(0), firstParent: false }, fakeOracle(commits, 1).oracle, { now: tick });
    expect(renderCommitBisect(inBranch)).toContain(`fixed by:   ${shortSha(sha(1))}, a commit inside a merged branch`);
    const onMain = await bisectCommits({ commits, good: sha(1), bad: sha(0), firstParent: true }, fakeOracle(commits, 1).oracle, { now: tick });
    expect(renderCommitBisect(onMain)).toContain(`fixed by:   ${shortSha(sha(1))}, no pull request named in its message`);
  });
});

describe('mergedBranch', () => {
  it('gives the main line before a merge and the merged head, nothing for a plain commit', () => {
    expect(mergedBranch(mainLine(3)[2]!)).toEqual({ base: sha(1), head: sha(102) });
    expect(mergedBranch(mainLine(1)[0]!)).toBeUndefined();
  });
});
