// A small real Git repository for tests, made with the git on the host: a release, pull requests merged
// into main as GitHub merges them ("Merge pull request #N from ..." with the title on the body's first
// line), a later release, and a release branch carrying a cherry-picked backport (v0.20.2) and a merged
// pull request of picks (v0.20.3). And a repository made from a real release's source (releaseRepo).
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { runChecked } from '../exec.ts';
import type { GitRepo } from './history.ts';

export interface SyntheticRepo extends GitRepo {
  /** pull request number -> the head commit of its branch */
  heads: Map<number, string>;
  /** the pull requests merged, in order; #103's branch holds two commits, the second adds fix.txt */
  merged: number[];
}

/** Dozens of git processes a test file: generous bounds, since the 2 cores here are shared with engine work. */
export const GIT_TIMEOUT = 60_000;

/** One synthetic repository for a test file, handed to `use` before its tests and removed after them. */
export function useSyntheticRepo(use: (repo: SyntheticRepo) => void): void {
  let made: SyntheticRepo | undefined;
  beforeAll(async () => {
    made = await syntheticRepo();
    use(made);
  }, GIT_TIMEOUT);
  afterAll(() => {
    if (made) rmSync(made.dir, { recursive: true, force: true });
  });
}

/**
 * git's environment for making a test repository in `dir`: HOME is that directory (no user or global
 * config takes part), and every commit has the given time (seconds), so its hash is the same on every run.
 */
export function committerEnv(dir: string, seconds: number): Record<string, string> {
  const date = `${seconds} +0000`;
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'Lab',
    GIT_AUTHOR_EMAIL: 'lab@example.invalid',
    GIT_COMMITTER_NAME: 'Lab',
    GIT_COMMITTER_EMAIL: 'lab@example.invalid',
    GIT_AUTHOR_DATE: date,
    GIT_COMMITTER_DATE: date,
  };
}

export async function syntheticRepo(): Promise<SyntheticRepo> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'buildx-lab-git-'));
  let t = Date.UTC(2025, 0, 1) / 1000;
  const env = () => {
    t += 3600;
    return committerEnv(dir, t);
  };
  const git = async (...args: string[]) => (await runChecked(['git', '-C', dir, ...args], { env: env() })).stdout.trim();
  const commitFile = async (file: string, message: string) => {
    writeFileSync(path.join(dir, file), `${message}\n`);
    await git('add', file);
    await git('commit', '-q', '-m', message);
    return git('rev-parse', 'HEAD');
  };

  await git('init', '-q', '-b', 'main');
  await commitFile('README', 'the v0.20.1 tree');
  await git('tag', 'v0.20.1');
  const heads = new Map<number, string>();
  const merged = [101, 102, 103, 104, 105];
  for (const n of merged) {
    await git('checkout', '-q', '-b', `topic-${n}`, 'main');
    if (n === 103) await commitFile('prepare.txt', 'prepare the fix');
    heads.set(n, await commitFile(n === 103 ? 'fix.txt' : `part-${n}.txt`, n === 103 ? 'fix the truncated pull' : `part ${n}`));
    await git('checkout', '-q', 'main');
    await git('merge', '-q', '--no-ff', `topic-${n}`, '-m', `Merge pull request #${n} from dev/topic-${n}`, '-m', `title of #${n}`);
  }
  await git('tag', 'v0.21.1');
  // the backport: the fix picked onto the v0.20 release branch with -x
  await git('checkout', '-q', '-b', 'release-v0.20', 'v0.20.1');
  await git('cherry-pick', '-x', heads.get(103)!);
  await git('tag', 'v0.20.2');
  // and a later backport as GitHub release branches get them: a pull request of picks, merged
  await git('checkout', '-q', '-b', 'picks-v0.20.3');
  await git('cherry-pick', '-x', heads.get(101)!);
  await git('checkout', '-q', 'release-v0.20');
  await git('merge', '-q', '--no-ff', 'picks-v0.20.3', '-m', 'Merge pull request #106 from dev/picks-v0.20.3', '-m', '[v0.20] cherry-picks for v0.20.3');
  await git('tag', 'v0.20.3');
  await git('checkout', '-q', 'main');
  return { dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir }, heads, merged };
}

function writable(p: string): void {
  chmodSync(p, statSync(p).mode | 0o200);
  if (statSync(p).isDirectory()) for (const e of readdirSync(p)) writable(path.join(p, e));
}

export interface ReleaseRepo {
  dir: string;
  /** the merge of the one pull request on top of the release: what `main` names */
  merge: string;
}

/**
 * A repository made from a release's source as the Go module proxy serves it (the zip has no vendor/, so a
 * build from it runs in module mode): the release's tree as one commit tagged with its version, then one
 * pull request that changes no code, merged as GitHub merges (#9001). Its path and commit dates are fixed,
 * so its commits are the same on every run, and the lab's clone of it and the binaries (cached by commit)
 * are made once per cache, not once per run.
 */
export async function releaseRepo(module: string, version: string, dirName: string, goEnv: Record<string, string>): Promise<ReleaseRepo> {
  const dl = await runChecked(['go', 'mod', 'download', '-json', `${module}@${version}`], { env: { ...goEnv, GO111MODULE: 'on' }, cwd: os.tmpdir(), timeoutMs: 600_000 });
  const zipDir = (JSON.parse(dl.stdout) as { Dir: string }).Dir;
  const dir = path.join(os.tmpdir(), dirName);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  cpSync(zipDir, dir, { recursive: true });
  writable(dir);
  const env = committerEnv(dir, 1738000000);
  const git = async (...args: string[]) => (await runChecked(['git', '-C', dir, ...args], { env, timeoutMs: 120_000 })).stdout.trim();
  await git('init', '-q', '-b', 'main');
  await git('add', '-A');
  await git('commit', '-q', '-m', `the ${version} tree`);
  await git('tag', version);
  await git('checkout', '-q', '-b', 'topic');
  writeFileSync(path.join(dir, 'NOTES.md'), 'a pull request that changes no code\n');
  await git('add', 'NOTES.md');
  await git('commit', '-q', '-m', 'notes');
  await git('checkout', '-q', 'main');
  await git('merge', '-q', '--no-ff', 'topic', '-m', 'Merge pull request #9001 from lab/notes', '-m', 'notes');
  return { dir, merge: await git('rev-parse', 'HEAD') };
}
