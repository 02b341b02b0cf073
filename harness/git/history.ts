// A thin wrapper over the git CLI for a local repository (a user's clone, or later the lab's cached one):
// resolve a revision to a commit, and list the history between two commits. Every revision reaches git
// only as a full hash or after refProblem() accepted it, behind --end-of-options, so none can act as an
// option; git's output is parsed by log.ts.
import { HarnessError, UsageError } from '../errors.ts';
import { run } from '../exec.ts';
import { lastLines } from '../text.ts';
import { cherryPicksOf, LOG_FORMAT_ARGS, parseLog, type Commit } from './log.ts';
import { refProblem } from './revision.ts';

export interface GitRepo {
  /** absolute path of the repository (work tree or bare) */
  dir: string;
  /** a complete environment (childEnv); git's own settings are added to it */
  env: Record<string, string>;
}

export interface WalkBetween {
  older: Commit;
  newer: Commit;
  /** oldest first: `older`, then each commit of newer's history that older lacks, ending with `newer` */
  commits: Commit[];
  /**
   * 'linear': older is an ancestor of newer. 'diverged': neither holds the other (two release branches);
   * older is the one with fewer commits since the fork, and the walk is newer's history since the fork,
   * which lacks older's own commits (its backports): its first step is not one pull request.
   */
  ancestry: 'linear' | 'diverged';
}

const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/** git's argv: settings that change what log prints, or run programs, are pinned whatever the configs say. */
function gitArgv(dir: string, args: readonly string[]): string[] {
  return ['git', '--no-replace-objects', '-c', 'log.showSignature=false', '-c', 'core.fsmonitor=false', '-c', 'i18n.logOutputEncoding=UTF-8', '-C', dir, ...args];
}

async function git(repo: GitRepo, args: readonly string[]) {
  // no prompt for credentials, no system config, messages in English so they can be shown as they are
  return run(gitArgv(repo.dir, args), { env: { ...repo.env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', LC_ALL: 'C', GIT_OPTIONAL_LOCKS: '0' }, timeoutMs: 120_000 });
}

const firstLine = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .find(Boolean) ?? '';

/** The full hash of the commit a tag, branch or (abbreviated) hash names; a UsageError when there is none. */
export async function resolveRevision(repo: GitRepo, rev: string): Promise<string> {
  const problem = refProblem(rev);
  if (problem) throw new UsageError(`the revision ${JSON.stringify(rev)} ${problem}; give a tag, a branch or a hex commit`);
  const r = await git(repo, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`]);
  const sha = r.stdout.trim();
  if (r.exitCode === 0 && SHA.test(sha)) return sha;
  // with --quiet, an unknown revision exits 1 silently; a broken or foreign repository says why on stderr
  // (for another user's repository git names the fix on its next lines: all of them are shown)
  const why = lastLines(r.stderr, 6).trim();
  throw new UsageError(
    why
      ? `${repo.dir}: git cannot read the repository: ${why}`
      : `${JSON.stringify(rev)} is no commit, tag or branch in ${repo.dir}; check the name (git tag -l, git branch -a) or fetch it first`,
  );
}

/** Whether `a` is an ancestor of (or equal to) `b`; both full hashes. */
export async function isAncestor(repo: GitRepo, a: string, b: string): Promise<boolean> {
  const r = await git(repo, ['merge-base', '--is-ancestor', '--end-of-options', fullSha(a), fullSha(b)]);
  if (r.exitCode === 0 || r.exitCode === 1) return r.exitCode === 0;
  throw new HarnessError(`git merge-base --is-ancestor failed in ${repo.dir} (exit ${r.exitCode}): ${firstLine(r.stderr)}`);
}

function fullSha(sha: string): string {
  if (!SHA.test(sha)) throw new HarnessError(`expected a full commit hash, got ${JSON.stringify(sha.slice(0, 80))}`);
  return sha;
}

async function log(repo: GitRepo, args: readonly string[]): Promise<Commit[]> {
  const r = await git(repo, ['log', ...LOG_FORMAT_ARGS, ...args]);
  if (r.exitCode !== 0) throw new HarnessError(`git log failed in ${repo.dir} (exit ${r.exitCode}): ${firstLine(r.stderr)}`);
  return parseLog(r.stdout);
}

/** One commit by its full hash. */
export async function commitOf(repo: GitRepo, sha: string): Promise<Commit> {
  const [c] = await log(repo, ['-n', '1', '--end-of-options', fullSha(sha)]);
  if (!c) throw new HarnessError(`git log printed nothing for ${sha} in ${repo.dir}`);
  return c;
}

/**
 * The commits of `newer` that `older` lacks, oldest first (`older` itself not included). First-parent:
 * only the main line, each step one merge; otherwise every commit, in topological order.
 */
export async function history(repo: GitRepo, older: string, newer: string, opts: { firstParent: boolean }): Promise<Commit[]> {
  const order = opts.firstParent ? ['--first-parent'] : ['--topo-order'];
  return (await log(repo, [...order, '--end-of-options', `${fullSha(older)}..${fullSha(newer)}`])).reverse();
}

/** How many commits `sha` holds that `other` does not. */
async function countOnly(repo: GitRepo, sha: string, other: string): Promise<number> {
  const r = await git(repo, ['rev-list', '--count', '--end-of-options', fullSha(sha), `^${fullSha(other)}`]);
  const n = Number(r.stdout.trim());
  if (r.exitCode !== 0 || !Number.isInteger(n)) throw new HarnessError(`git rev-list --count failed in ${repo.dir} (exit ${r.exitCode}): ${firstLine(r.stderr)}`);
  return n;
}

/** The walk between two revisions, in either order: which is older comes from ancestry, else from the fork. */
export async function walkBetween(repo: GitRepo, revA: string, revB: string, opts: { firstParent: boolean }): Promise<WalkBetween> {
  const [a, b] = [await resolveRevision(repo, revA), await resolveRevision(repo, revB)];
  if (a === b) throw new UsageError(`${revA} and ${revB} are the same commit (${a.slice(0, 12)}); give two different revisions`);
  const [ca, cb] = [await commitOf(repo, a), await commitOf(repo, b)];
  let ancestry: WalkBetween['ancestry'] = 'linear';
  let older: Commit;
  if (await isAncestor(repo, a, b)) older = ca;
  else if (await isAncestor(repo, b, a)) older = cb;
  else {
    // Two release branches: the older line is the one with fewer commits since the fork (a branch forked
    // earlier carries only its backports), whatever the dates (a patch release may come after a newer minor).
    ancestry = 'diverged';
    const [onlyA, onlyB] = [await countOnly(repo, a, b), await countOnly(repo, b, a)];
    if (onlyA === onlyB)
      throw new UsageError(`${revA} and ${revB} are on different branches with as many commits each since they forked; give revisions where one contains the other`);
    older = onlyA < onlyB ? ca : cb;
  }
  const newer = older === ca ? cb : ca;
  return { older, newer, commits: [older, ...(await history(repo, older.sha, newer.sha, opts))], ancestry };
}

/** A tag that carries a change, and how: in its history, or by commits cherry-picked from the change's (-x). */
export interface Carrier {
  tag: string;
  via: 'history' | 'cherry-pick';
  /** the commits in the tag that carry it: the change's own, or the picks */
  commits: string[];
}

async function tagsContaining(repo: GitRepo, sha: string): Promise<string[]> {
  const r = await git(repo, ['tag', '--list', '--contains', fullSha(sha)]);
  if (r.exitCode !== 0) throw new HarnessError(`git tag --contains failed in ${repo.dir} (exit ${r.exitCode}): ${firstLine(r.stderr)}`);
  return r.stdout
    .split('\n')
    .map((t) => t.trim())
    .filter(Boolean);
}

/**
 * The tags that carry any of `shas` (a pull request's merge and its branch's commits), by git tag --contains
 * and by the "(cherry picked from commit <sha>)" lines of commits on any ref; sorted by tag name.
 */
export async function tagsCarrying(repo: GitRepo, shas: readonly string[]): Promise<Carrier[]> {
  const byTag = new Map<string, Carrier>();
  const add = (tag: string, via: Carrier['via'], commit: string) => {
    const c = byTag.get(tag);
    if (!c || (c.via === 'cherry-pick' && via === 'history')) byTag.set(tag, { tag, via, commits: [commit] });
    else if (c.via === via && !c.commits.includes(commit)) c.commits.push(commit);
  };
  for (const sha of shas) {
    for (const tag of await tagsContaining(repo, sha)) add(tag, 'history', sha);
    // a fixed-string grep finds the candidates; the parsed line confirms each (not a mention in prose)
    const picks = (await log(repo, ['--all', '-F', `--grep=(cherry picked from commit ${fullSha(sha)})`])).filter((c) => cherryPicksOf(c).includes(sha));
    for (const p of picks) for (const tag of await tagsContaining(repo, p.sha)) add(tag, 'cherry-pick', p.sha);
  }
  return [...byTag.values()].sort((a, b) => a.tag.localeCompare(b.tag));
}

/**
 * The commit on `mainline`'s first-parent line that brought `sha` in (for a pull request's commit: its
 * merge; for a main-line commit: itself), or undefined when the main line does not hold it. `mainline` is a revision (default HEAD, the
 * default branch of a clone).
 */
export async function mergeBringing(repo: GitRepo, sha: string, mainline = 'HEAD'): Promise<Commit | undefined> {
  const main = await resolveRevision(repo, mainline);
  if (!(await isAncestor(repo, sha, main))) return undefined;
  if (main === sha) return commitOf(repo, sha);
  // the main-line commits that descend from sha, oldest first: the first is where it arrived
  const [first] = await log(repo, ['--first-parent', '--ancestry-path', '--reverse', '--end-of-options', `${fullSha(sha)}..${main}`]);
  // its first parent being sha means sha is on the main line itself (no merge brought it)
  return first?.parents[0] === sha ? commitOf(repo, sha) : first;
}
