// The lab's cached bare clone of a local Git repository (a user's clone of docker/buildx or moby/buildkit,
// a mirror), one per repository, keyed by a hash of its real path, fetched on demand; and the tree of one
// commit exported from it with `git archive` for a build. The repository is someone else's, so it is treated as hostile:
// - only the file transport, and only for the fetch from it (-c protocol.allow=never, protocol.file.allow
//   =always); no system or user config (credential helpers, url.insteadOf, hooks paths), no hooks, no
//   prompts, no fsmonitor, no submodules; objects are fsck-checked as they arrive (a tree entry named
//   `..` or `.git` is refused before anything is exported);
// - `safe.directory` names exactly the source (git refuses a repository another user owns, rightly, when
//   it would run in it; fetching from it only reads its objects). Git 2.39 (Debian 12's) takes it only from
//   the system or global config, not from -c: the fetch gets a global config file of the lab's holding just it;
// - every git command has a timeout; a symlink in the exported tree that leaves it is refused, so a
//   build cannot read files of the host as its sources.
// Fetches into one clone are serialised across processes by a lock; a process fetches a clone at most
// once (a full commit hash already in the clone needs no fetch at all).
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { childEnv, type LabConfig } from '../config.ts';
import { HarnessError, UsageError } from '../errors.ts';
import { run } from '../exec.ts';
import { resolveRevision, type GitRepo } from '../git/history.ts';
import { OncePerKey } from '../once.ts';
import { withHeartbeat, type ProgressSink } from '../progress.ts';
import { lastLines } from '../text.ts';
import { crossProcessLock } from './lock.ts';

export const GIT_FETCH_TIMEOUT_MS = 15 * 60_000;
const GIT_TIMEOUT_MS = 2 * 60_000;
const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/** The lab's clone of `source`: a bare repository under the cache, and the environment to run git in it. */
export interface GitClone extends GitRepo {
  /** the real path of the repository it mirrors */
  source: string;
}

/** Where the clone of a repository lives under the cache: named by a hash of its real path; pure. */
export function cloneDir(cacheDir: string, realSource: string): string {
  return path.join(cacheDir, 'git', `${createHash('sha256').update(realSource).digest('hex').slice(0, 24)}.git`);
}

/** git's environment: nothing from the system's or the user's config, no prompt, English messages; pure. */
export function hardenedGitEnv(base: Record<string, string>): Record<string, string> {
  return {
    ...base,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_PROTOCOL_FROM_USER: '0',
    GIT_NO_REPLACE_OBJECTS: '1',
    LC_ALL: 'C',
  };
}

/**
 * The settings every git command of the lab's clones runs with (before the subcommand); pure. The file
 * transport, the only one, only for the fetch from the source.
 */
export function hardenedGitConfig(opts: { fileTransport?: boolean } = {}): string[] {
  const pairs = [
    'core.hooksPath=/dev/null',
    'core.fsmonitor=false',
    'credential.helper=',
    'protocol.allow=never',
    ...(opts.fileTransport ? ['protocol.file.allow=always'] : []),
    'submodule.recurse=false',
    'fetch.recurseSubmodules=false',
    'transfer.fsckObjects=true',
    'gc.auto=0',
    'maintenance.auto=false',
    'log.showSignature=false',
  ];
  return pairs.flatMap((p) => ['-c', p]);
}

/** The first lines git said, for a message. */
const said = (r: { stderr: string; stdout: string }) => lastLines(`${r.stderr}\n${r.stdout}`.trim(), 6).trim();

async function git(clone: Pick<GitClone, 'dir' | 'env'>, args: readonly string[], opts: { fromSource?: { globalConfig: string }; timeoutMs?: number; signal?: AbortSignal } = {}) {
  const env = opts.fromSource ? { ...clone.env, GIT_CONFIG_GLOBAL: opts.fromSource.globalConfig } : clone.env;
  return run(['git', ...hardenedGitConfig({ fileTransport: opts.fromSource !== undefined }), '-C', clone.dir, ...args], {
    env,
    timeoutMs: opts.timeoutMs ?? GIT_TIMEOUT_MS,
    signal: opts.signal,
  });
}

/** A global config file that says only that the source (work tree or bare) is safe to read, written by git itself. */
async function safeDirectoryConfig(clone: GitClone): Promise<string> {
  const file = `${clone.dir}.safe-directory.gitconfig`;
  rmSync(file, { force: true });
  for (const dir of [clone.source, path.join(clone.source, '.git')]) {
    const r = await run(['git', 'config', '--file', file, '--add', 'safe.directory', dir], { env: clone.env, timeoutMs: GIT_TIMEOUT_MS });
    if (r.exitCode !== 0) throw new HarnessError(`writing ${file} failed: ${said(r)}`);
  }
  return file;
}

const fetched = new OncePerKey<void>();

/** The lab's clone of the repository at `repo` (an absolute path), made empty when there is none yet. */
export async function openClone(config: Pick<LabConfig, 'cacheDir' | 'childPath' | 'home' | 'dockerHost'>, repo: string): Promise<GitClone> {
  let source: string;
  try {
    source = realpathSync(repo);
  } catch (e) {
    throw new UsageError(
      `${repo}: no such repository (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give the path of a local Git clone (of docker/buildx or moby/buildkit)`,
    );
  }
  if (!statSync(source).isDirectory()) throw new UsageError(`${repo} is not a directory; give the path of a local Git clone (of docker/buildx or moby/buildkit)`);
  const env = hardenedGitEnv(childEnv(config));
  const dir = cloneDir(config.cacheDir, source);
  if (!existsSync(path.join(dir, 'HEAD'))) {
    // Made beside its place and renamed, so a clone is either whole or absent (the sweep removes a left .tmp).
    const tmp = `${dir}.tmp-${process.pid}`;
    mkdirSync(path.dirname(dir), { recursive: true });
    rmSync(tmp, { recursive: true, force: true });
    const init = await run(['git', ...hardenedGitConfig(), 'init', '--bare', '-q', tmp], { env, timeoutMs: GIT_TIMEOUT_MS });
    if (init.exitCode !== 0) throw new HarnessError(`git init --bare ${tmp} failed: ${said(init)}`);
    try {
      renameSync(tmp, dir);
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      // another process made it first
      if (!existsSync(path.join(dir, 'HEAD'))) throw e;
    }
  }
  return { dir, env, source };
}

/** Branches, tags and remote-tracking branches (origin/feature in a user's clone): what a revision names by default. */
const DEFAULT_REFSPECS = ['+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*', '+refs/remotes/*:refs/remotes/*'];

/** The refspecs that fetch what `rev` names: one ref written in full (refs/pull/3023/head) on its own, else the default ones; pure. */
export function refspecsFor(rev: string): string[] {
  return rev.startsWith('refs/') ? [`+${rev}:${rev}`] : DEFAULT_REFSPECS;
}

/**
 * Fetches refs of the source into the clone (once per process and refspecs): by default every branch, tag
 * and remote-tracking branch, and then points the clone's HEAD where the source's points, so that "HEAD"
 * means the source's default branch there too. A pull request's head is fetched by its full ref name
 * (a mirror of GitHub holds thousands; only the one asked for is fetched).
 */
export function fetchClone(
  config: Pick<LabConfig, 'cacheDir'>,
  clone: GitClone,
  progress: ProgressSink,
  signal?: AbortSignal,
  refspecs: readonly string[] = DEFAULT_REFSPECS,
): Promise<void> {
  return fetched.get(`${clone.dir} ${refspecs.join(' ')}`, () =>
    crossProcessLock(
      path.join(config.cacheDir, 'locks', `git-${path.basename(clone.dir, '.git')}`),
      `git fetch ${clone.source}`,
      progress,
      async () => {
        const fromSource = { globalConfig: await safeDirectoryConfig(clone) };
        const f = await withHeartbeat(progress, `git: fetching ${clone.source} into the lab's clone`, () =>
          git(clone, ['fetch', '--quiet', '--prune', '--no-recurse-submodules', '--no-write-fetch-head', '--end-of-options', clone.source, ...refspecs], {
            fromSource,
            timeoutMs: GIT_FETCH_TIMEOUT_MS,
            signal,
          }),
        );
        if (f.exitCode !== 0) {
          const why = said(f);
          if (/does not appear to be a git repository|not a git repository|dubious ownership/i.test(why))
            throw new UsageError(`${clone.source} is not a Git repository git can read: ${why}. Give the path of a local Git clone (of docker/buildx or moby/buildkit)`);
          if (/couldn't find remote ref/i.test(why)) throw new UsageError(`${clone.source} has no ${refspecs[0]!.replace(/^\+([^:]+):.*$/, '$1')}; check the name (git show-ref)`);
          throw new HarnessError(`git fetch from ${clone.source} failed (exit ${f.exitCode}): ${why}`);
        }
        if (refspecs !== DEFAULT_REFSPECS) return;
        const head = await git(clone, ['ls-remote', '--symref', '--end-of-options', clone.source, 'HEAD'], { fromSource, signal });
        const ref = /^ref: (refs\/heads\/[A-Za-z0-9._/-]+)\tHEAD$/m.exec(head.stdout)?.[1];
        if (head.exitCode === 0 && ref) await git(clone, ['symbolic-ref', 'HEAD', ref]);
      },
      signal,
    ),
  );
}

/** The full hash of `rev` in the clone; a full hash it already holds needs no fetch, anything else fetches first. */
export async function resolveInClone(config: Pick<LabConfig, 'cacheDir'>, clone: GitClone, rev: string, progress: ProgressSink, signal?: AbortSignal): Promise<string> {
  if (SHA.test(rev)) {
    const has = await git(clone, ['cat-file', '-e', '--end-of-options', `${rev}^{commit}`], { signal });
    if (has.exitCode === 0) return rev;
  }
  await fetchClone(config, clone, progress, signal, refspecsFor(rev));
  try {
    return await resolveRevision(clone, rev);
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(e.message.replaceAll(clone.dir, clone.source));
    throw e;
  }
}

/** What names a commit: the release-like tags on it, and `git describe --tags --long` from it (absent when no tag is reachable). */
export async function describeCommit(clone: GitClone, sha: string): Promise<{ tags: string[]; describe?: string }> {
  if (!SHA.test(sha)) throw new HarnessError(`expected a full commit hash, got ${JSON.stringify(sha.slice(0, 80))}`);
  const tags = await git(clone, ['tag', '--list', '--points-at', sha, 'v[0-9]*']);
  if (tags.exitCode !== 0) throw new HarnessError(`git tag --points-at failed in ${clone.dir}: ${said(tags)}`);
  const d = await git(clone, ['describe', '--tags', '--long', '--abbrev=12', '--match', 'v[0-9]*', '--end-of-options', sha]);
  return {
    tags: tags.stdout
      .split('\n')
      .map((t) => t.trim())
      .filter(Boolean),
    ...(d.exitCode === 0 && d.stdout.trim() ? { describe: d.stdout.trim() } : {}),
  };
}

/**
 * Symlinks under `root` that lead out of it (relative to root): by their text, or, where they resolve, by
 * where they really end (a link to "." makes "link/.." leave the tree while its text stays inside).
 */
export function escapingSymlinks(dir: string): string[] {
  const root = realpathSync(dir);
  const inside = (p: string) => p === root || p.startsWith(`${root}${path.sep}`);
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      const st = lstatSync(p);
      if (st.isSymbolicLink()) {
        let real: string | undefined;
        try {
          // the system's realpath: Node's own resolves "link/.." in a link's text before following the link
          real = realpathSync.native(p);
        } catch {
          real = undefined; // dangling: there is nothing to read through it
        }
        if (!inside(path.resolve(path.dirname(p), readlinkSync(p))) || (real !== undefined && !inside(real))) out.push(path.relative(root, p));
      } else if (st.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out;
}

/** The tree of commit `sha` as files in `dest` (made; it must not exist), with git archive and tar. */
export async function exportTree(clone: GitClone, sha: string, dest: string, signal?: AbortSignal): Promise<void> {
  if (!SHA.test(sha)) throw new HarnessError(`expected a full commit hash, got ${JSON.stringify(sha.slice(0, 80))}`);
  mkdirSync(dest, { recursive: true });
  const tar = `${dest}.tar`;
  try {
    // (the tree's own .gitattributes may drop files or fill $Format$ placeholders: as in a release tarball)
    const a = await git(clone, ['archive', '--format=tar', `--output=${tar}`, '--end-of-options', sha], { timeoutMs: GIT_FETCH_TIMEOUT_MS, signal });
    if (a.exitCode !== 0) throw new HarnessError(`git archive of ${sha} failed in ${clone.dir}: ${said(a)}`);
    const x = await run(['tar', '-x', '-f', tar, '-C', dest, '--no-same-owner', '--no-same-permissions'], { env: clone.env, timeoutMs: GIT_FETCH_TIMEOUT_MS, signal });
    if (x.exitCode !== 0) throw new HarnessError(`unpacking the tree of ${sha} failed: ${said(x)}`);
  } finally {
    rmSync(tar, { force: true });
  }
  const escaping = escapingSymlinks(dest);
  if (escaping.length)
    throw new UsageError(`the tree of ${sha} in ${clone.source} holds symlinks that point outside it (${escaping.slice(0, 5).join(', ')}); the lab does not build it`);
}
