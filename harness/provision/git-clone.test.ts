import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../errors.ts';
import { runChecked } from '../exec.ts';
import { silentProgress } from '../progress.ts';
import { GIT_TIMEOUT, useSyntheticRepo, type SyntheticRepo } from '../git/synthetic-repo.test-helpers.ts';
import { cloneDir, describeCommit, escapingSymlinks, exportTree, hardenedGitConfig, openClone, refspecsFor, resolveInClone } from './git-clone.ts';

let repo: SyntheticRepo;
useSyntheticRepo((r) => {
  repo = r;
});
let cache: string;
const config = () => ({ cacheDir: cache, childPath: process.env.PATH ?? '/usr/bin:/bin', home: cache, dockerHost: 'unix:///nonexistent' });
beforeAll(async () => {
  cache = mkdtempSync(path.join(os.tmpdir(), 'buildx-lab-clones-'));
  // a pull request's head as GitHub keeps it, and a remote-tracking branch as a user's clone has them
  await git(repo.dir, 'update-ref', 'refs/pull/104/head', repo.heads.get(104)!);
  await git(repo.dir, 'update-ref', 'refs/remotes/origin/topic-105', repo.heads.get(105)!);
});
afterAll(() => rmSync(cache, { recursive: true, force: true }));

const git = (dir: string, ...args: string[]) =>
  runChecked(['git', '-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: dir, GIT_CONFIG_NOSYSTEM: '1' },
  });

describe('cloneDir and the hardened settings', () => {
  it('keys a clone by a hash of the real path, under <cache>/git', () => {
    expect(cloneDir('/c', '/src/buildx')).toMatch(/^\/c\/git\/[0-9a-f]{24}\.git$/);
    expect(cloneDir('/c', '/src/buildx')).not.toBe(cloneDir('/c', '/src/buildx2'));
  });

  it('allows the file transport only with a source, and trusts only that source', () => {
    expect(hardenedGitConfig()).toContain('protocol.allow=never');
    expect(hardenedGitConfig()).not.toContain('protocol.file.allow=always');
    expect(hardenedGitConfig({ fileTransport: true })).toEqual(expect.arrayContaining(['protocol.file.allow=always', 'core.hooksPath=/dev/null', 'credential.helper=']));
  });
});

describe("the lab's clone of a repository", { timeout: GIT_TIMEOUT }, () => {
  it('fetches on demand, resolves tags, branches and hashes, and names a commit by its tags and describe', async () => {
    const clone = await openClone(config(), repo.dir);
    expect(clone.dir).toBe(cloneDir(cache, repo.dir));
    const tag = await resolveInClone(config(), clone, 'v0.21.1', silentProgress);
    expect(await resolveInClone(config(), clone, 'main', silentProgress)).toBe(tag);
    expect(await resolveInClone(config(), clone, tag, silentProgress)).toBe(tag);
    expect(await describeCommit(clone, tag)).toEqual({ tags: ['v0.21.1'], describe: `v0.21.1-0-g${tag.slice(0, 12)}` });
    const pr = repo.heads.get(103)!;
    expect((await describeCommit(clone, pr)).describe).toMatch(/^v0\.20\.1-\d+-g[0-9a-f]{12}$/);
    await expect(resolveInClone(config(), clone, 'v9.9.9', silentProgress)).rejects.toThrow(`"v9.9.9" is no commit, tag or branch in ${repo.dir}`);
  });

  it("fetches a pull request's head by its full ref name, and a remote-tracking branch", async () => {
    expect(refspecsFor('refs/pull/3023/head')).toEqual(['+refs/pull/3023/head:refs/pull/3023/head']);
    expect(refspecsFor('main')).toContain('+refs/heads/*:refs/heads/*');
    const clone = await openClone(config(), repo.dir);
    expect(await resolveInClone(config(), clone, 'refs/pull/104/head', silentProgress)).toBe(repo.heads.get(104));
    expect(await resolveInClone(config(), clone, 'origin/topic-105', silentProgress)).toBe(repo.heads.get(105));
    await expect(resolveInClone(config(), clone, 'refs/pull/999/head', silentProgress)).rejects.toThrow(`${repo.dir} has no refs/pull/999/head`);
  });

  it('exports the tree of a commit', async () => {
    const clone = await openClone(config(), repo.dir);
    const dest = path.join(cache, 'tree');
    await exportTree(clone, await resolveInClone(config(), clone, 'v0.21.1', silentProgress), dest);
    expect(readFileSync(path.join(dest, 'fix.txt'), 'utf8')).toBe('fix the truncated pull\n');
    expect(existsSync(path.join(dest, '.git'))).toBe(false);
  });

  it("fetches from a repository another user owns, and runs none of its config's programs", async () => {
    const foreign = path.join(cache, 'foreign');
    await runChecked(['cp', '-a', repo.dir, foreign], { env: { PATH: process.env.PATH ?? '' } });
    const marker = path.join(cache, 'pwned');
    await git(foreign, 'config', 'uploadpack.packObjectsHook', `touch ${marker}`);
    await git(foreign, 'config', 'core.fsmonitor', `touch ${marker}`);
    writeFileSync(path.join(foreign, '.git', 'hooks', 'post-checkout'), `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
    chownR(foreign, 65534);
    const clone = await openClone(config(), foreign);
    expect(await resolveInClone(config(), clone, 'v0.20.3', silentProgress)).toMatch(/^[0-9a-f]{40}$/);
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses a path that is no repository, and a tree whose symlink leaves it', async () => {
    const plain = path.join(cache, 'plain');
    mkdirSync(plain);
    await expect(resolveInClone(config(), await openClone(config(), plain), 'main', silentProgress)).rejects.toThrow(UsageError);
    await expect(openClone(config(), path.join(cache, 'missing'))).rejects.toThrow('no such repository');
    const evil = path.join(cache, 'evil');
    mkdirSync(evil);
    await git(evil, 'init', '-q', '-b', 'main');
    symlinkSync('/etc', path.join(evil, 'etc'));
    await git(evil, 'add', 'etc');
    await git(evil, 'commit', '-qm', 'a link out');
    const clone = await openClone(config(), evil);
    await expect(exportTree(clone, await resolveInClone(config(), clone, 'main', silentProgress), path.join(cache, 'evil-tree'))).rejects.toThrow(
      'holds symlinks that point outside it (etc)',
    );
  });
});

describe('escapingSymlinks', () => {
  it('finds links out by their text, and by where they end (a link to "." then ".."); links inside are fine', () => {
    const d = mkdtempSync(path.join(os.tmpdir(), 'buildx-lab-links-'));
    try {
      mkdirSync(path.join(d, 'a'));
      symlinkSync('a', path.join(d, 'in'));
      symlinkSync('../../etc', path.join(d, 'a', 'out'));
      symlinkSync('.', path.join(d, 'self'));
      symlinkSync('self/..', path.join(d, 'up'));
      symlinkSync('nowhere', path.join(d, 'dangling'));
      expect(escapingSymlinks(d).sort()).toEqual(['a/out', 'up']);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

function chownR(p: string, uid: number): void {
  chownSync(p, uid, uid);
  for (const e of readdirSync(p, { withFileTypes: true })) {
    if (e.isDirectory()) chownR(path.join(p, e.name), uid);
    else if (!e.isSymbolicLink()) chownSync(path.join(p, e.name), uid, uid);
  }
}
