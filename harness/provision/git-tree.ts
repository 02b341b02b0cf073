// A Go program's tree from a commit of a local Git repository, as Buildx (buildx/git-source.ts) and BuildKit
// (buildkit/git-source.ts) are built from one: the `git:<repo>@<rev>` spec resolved to a commit in the
// lab's cached clone (git-clone.ts) and named (the release tag on it, else `git describe`), and the tree
// handed to goModuleBuild: exported at that commit, built from its own vendor/ when it carries one.
import semver from 'semver';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { LabConfig } from '../config.ts';
import { UsageError } from '../errors.ts';
import { run } from '../exec.ts';
import { formatGitRevision, parseGitRevision, type GitRevision } from '../git/revision.ts';
import type { ProgressSink } from '../progress.ts';
import { describeCommit, exportTree, hardenedGitConfig, openClone, resolveInClone, type GitClone } from './git-clone.ts';
import type { GoBuildRequest } from './gobuild.ts';

/** A tree to build from a commit of a Git repository, as resolved when the run was planned. */
export interface GitTreeRef {
  /** the real path of the repository the lab fetched from */
  repo: string;
  /** the revision as given (tag, branch or hash) */
  rev: string;
  /** the full commit hash: what is built, and the cache key */
  commit: string;
  /** the release tag on that commit, if any (v0.21.0-rc2): the version whose expectations apply */
  tag?: string;
  /** the axis label: `git describe --tags --long` with 12 hex digits (v0.20.1-45-g3f82aadc1d2e), or g<hash> */
  label: string;
}

/** A git spec resolved: the version the binary reports, the spec as the lab writes it, and the commit. */
export interface ResolvedGitTree {
  version: string;
  spec: string;
  git: GitTreeRef;
}

/** A git spec of `product` (Buildx, BuildKit): a local repository only (the lab reaches no Git server); pure. */
export function parseLocalGitSpec(spec: string, product: string): GitRevision {
  const r = parseGitRevision(spec);
  if (r.kind === 'url') {
    const dir = `/src/${product.toLowerCase()}.git`;
    throw new UsageError(
      `${spec}: ${product} is built from a local repository (a path or file:// URL), not fetched from a server; clone it first (git clone --mirror ${r.repo} ${dir}) and write git:${dir}@${r.rev}`,
    );
  }
  return r;
}

const RELEASE_TAG = /^v\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?$/;
const DESCRIBE = /^(v\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)-(\d+)-g[0-9a-f]{7,64}$/;

export interface GitTreeNames {
  /** what the binary's version reports (the ldflags' Version): the release tag on the commit, else the describe */
  version: string;
  label: string;
  tag?: string;
}

/**
 * How a commit is named, from the release-like tags on it and `git describe --tags --long`; pure. The tags
 * are the repository's text: only vX.Y.Z[-pre] that semver reads count, anything else is not used.
 */
export function gitTreeNames(commit: string, found: { tags: readonly string[]; describe?: string }): GitTreeNames {
  const short = commit.slice(0, 12);
  const tag = found.tags
    .filter((t) => RELEASE_TAG.test(t) && semver.valid(t))
    .sort(semver.rcompare)
    .at(0);
  const d = found.describe ? DESCRIBE.exec(found.describe) : null;
  const base = d && semver.valid(d[1]!) ? { tag: d[1]!, distance: Number(d[2]) } : undefined;
  const label = base ? `${base.tag}-${base.distance}-g${short}` : `g${short}`;
  return { version: gitTreeVersion({ label, tag }), label, ...(tag ? { tag } : {}) };
}

/** The version a build from Git reports: the release tag on its commit, else its label (v0.0.0-g<hash> without a tag in reach); pure. */
export function gitTreeVersion(git: { label: string; tag?: string }): string {
  return git.tag ?? (git.label.startsWith('v') ? git.label : `v0.0.0-${git.label}`);
}

/** A git spec resolved to a commit in the lab's clone (fetched as needed), named as the cells will name it. */
export async function resolveGitTree(config: LabConfig, spec: string, product: string, progress: ProgressSink, signal?: AbortSignal): Promise<ResolvedGitTree> {
  const r = parseLocalGitSpec(spec, product);
  const clone = await openClone(config, r.repo);
  const commit = await resolveInClone(config, clone, r.rev, progress, signal);
  const names = gitTreeNames(commit, await describeCommit(clone, commit));
  const git: GitTreeRef = { repo: clone.source, rev: r.rev, commit, label: names.label, ...(names.tag ? { tag: names.tag } : {}) };
  return { version: names.version, spec: formatGitRevision({ ...r, repo: clone.source }), git };
}

/** The commit of the text a tree reference ends in: "commit <sha> (tag v1) of <repo>"; pure. */
export function gitTreeText(git: Pick<GitTreeRef, 'commit' | 'tag' | 'repo'>): string {
  return `git commit ${git.commit}${git.tag ? ` (tag ${git.tag})` : ''} of ${git.repo}`;
}

/**
 * Whether a tree carries its dependencies: vendor/modules.txt and vendored code beside it (a module zip, and
 * so a tree made from one, keeps modules.txt alone, which -mod=vendor cannot build from).
 */
async function hasVendor(clone: GitClone, commit: string): Promise<boolean> {
  const r = await run(['git', ...hardenedGitConfig(), '-C', clone.dir, 'ls-tree', '-z', '--name-only', '--end-of-options', commit, 'vendor/'], {
    env: clone.env,
    timeoutMs: 60_000,
  });
  return isVendored(r.exitCode === 0 ? r.stdout.split('\0').filter(Boolean) : []);
}

/** From the entries of vendor/ (git ls-tree names): modules.txt and at least one vendored module; pure. */
export function isVendored(entries: readonly string[]): boolean {
  return entries.includes('vendor/modules.txt') && entries.some((e) => e !== 'vendor/modules.txt');
}

/**
 * goModuleBuild's `tree` for `git.commit` (fetched into the lab's clone first: a replayed run spec names a
 * commit the clone may lack yet), and whether it builds from vendor/. `mustHave` (cmd/buildx) is a
 * directory the product's tree has: a repository of something else is named as such.
 */
export async function gitBuildTree(
  config: LabConfig,
  git: Pick<GitTreeRef, 'repo' | 'commit'>,
  o: { product: string; mustHave: string; progress: ProgressSink; signal?: AbortSignal },
): Promise<{ mode: 'vendor' | 'mod'; tree: NonNullable<GoBuildRequest['tree']> }> {
  const clone = await openClone(config, git.repo);
  await resolveInClone(config, clone, git.commit, o.progress, o.signal);
  const vendor = await hasVendor(clone, git.commit);
  return {
    mode: vendor ? 'vendor' : 'mod',
    tree: {
      revision: git.commit,
      vendor,
      fill: async (dir) => {
        await exportTree(clone, git.commit, dir, o.signal);
        if (!existsSync(path.join(dir, o.mustHave))) throw new UsageError(`commit ${git.commit} of ${git.repo} has no ${o.mustHave}: is it a ${o.product} repository?`);
      },
    },
  };
}
