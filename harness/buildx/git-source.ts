// Buildx built from a commit of a Git repository: `--buildx git:<repo>@<rev>`, `versions: ["git:…"]` in a
// case, the probes of `bisect --commits`, and (BUILDX_LAB_BUILDX_GIT) the release tags the Go module proxy
// refuses. The repository is a local path (or file:// URL): the lab fetches it into its own cached clone
// (provision/git-clone.ts), resolves the revision to a commit when the run is planned (so the run spec
// names the commit and replays it), exports the commit's tree, and builds ./cmd/buildx with the shared Go
// build cache: from the tree's own vendor/ when it has one, else in module mode through the proxy. A built
// commit is cached by its hash and never rebuilt; one that does not compile is recorded as releases are.
import semver from 'semver';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { LabConfig } from '../config.ts';
import { UsageError } from '../errors.ts';
import { run } from '../exec.ts';
import { formatGitRevision, parseGitRevision, type GitRevision } from '../git/revision.ts';
import type { ProgressSink } from '../progress.ts';
import { describeCommit, exportTree, hardenedGitConfig, openClone, resolveInClone, type GitClone } from '../provision/git-clone.ts';
import { goModuleBuild, type CompileSlot, type GoBuildResult } from '../provision/gobuild.ts';
import type { GitBuildxRef, ResolvedVersion } from './spec.ts';

export const BUILDX_MODULE = 'github.com/docker/buildx';

/** A Buildx git spec: a local repository only (the lab reaches no Git server); pure. */
export function parseGitBuildxSpec(spec: string): GitRevision {
  const r = parseGitRevision(spec);
  if (r.kind === 'url')
    throw new UsageError(
      `${spec}: Buildx is built from a local repository (a path or file:// URL), not fetched from a server; clone it first (git clone --mirror ${r.repo} /src/buildx.git) and write git:/src/buildx.git@${r.rev}`,
    );
  return r;
}

const RELEASE_TAG = /^v\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?$/;
const DESCRIBE = /^(v\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)-(\d+)-g[0-9a-f]{7,64}$/;

export interface GitBuildxNames {
  /** what `buildx version` reports (the ldflags' Version): the release tag on the commit, else the describe */
  version: string;
  label: string;
  tag?: string;
}

/**
 * How a commit is named, from the release-like tags on it and `git describe --tags --long`; pure. The tags
 * are the repository's text: only vX.Y.Z[-pre] that semver reads count, anything else is not used.
 */
export function gitBuildxNames(commit: string, found: { tags: readonly string[]; describe?: string }): GitBuildxNames {
  const short = commit.slice(0, 12);
  const tag = found.tags
    .filter((t) => RELEASE_TAG.test(t) && semver.valid(t))
    .sort(semver.rcompare)
    .at(0);
  const d = found.describe ? DESCRIBE.exec(found.describe) : null;
  const base = d && semver.valid(d[1]!) ? { tag: d[1]!, distance: Number(d[2]) } : undefined;
  const label = base ? `${base.tag}-${base.distance}-g${short}` : `g${short}`;
  const version = tag ?? (base ? `${base.tag}-${base.distance}-g${short}` : `v0.0.0-g${short}`);
  return { version, label, ...(tag ? { tag } : {}) };
}

/** A git spec resolved to a commit in the lab's clone (fetched as needed), named as the cells will name it. */
export async function resolveGitBuildx(config: LabConfig, spec: string, progress: ProgressSink, signal?: AbortSignal): Promise<ResolvedVersion> {
  const r = parseGitBuildxSpec(spec);
  const clone = await openClone(config, r.repo);
  const commit = await resolveInClone(config, clone, r.rev, progress, signal);
  const names = gitBuildxNames(commit, await describeCommit(clone, commit));
  const git: GitBuildxRef = { repo: clone.source, rev: r.rev, commit, label: names.label, ...(names.tag ? { tag: names.tag } : {}) };
  return { version: names.version, spec: formatGitRevision({ ...r, repo: clone.source }), via: 'git', git };
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

export interface GitBuildResult extends GoBuildResult {
  mode: 'vendor' | 'mod';
}

/** Builds ./cmd/buildx of `git.commit` into `out`; `workDir` is scratch under the install's stage (swept if killed). */
export async function buildGitBuildx(
  config: LabConfig,
  git: Pick<GitBuildxRef, 'repo' | 'commit'>,
  version: string,
  out: string,
  opts: { workDir: string; goArch: string; slot?: CompileSlot; signal?: AbortSignal },
  progress: ProgressSink,
): Promise<GitBuildResult> {
  const clone = await openClone(config, git.repo);
  // a replayed run spec names a commit the clone may lack yet (another machine, a cleaned cache)
  await resolveInClone(config, clone, git.commit, progress, opts.signal);
  const vendor = await hasVendor(clone, git.commit);
  const res = await goModuleBuild(
    config,
    {
      module: BUILDX_MODULE,
      version: git.commit,
      targets: [{ pkg: './cmd/buildx', out }],
      ldflagsX: { [`${BUILDX_MODULE}/version.Version`]: version, [`${BUILDX_MODULE}/version.Revision`]: '{{revision}}' },
      workDir: opts.workDir,
      goArch: opts.goArch,
      signal: opts.signal,
      tree: {
        revision: git.commit,
        vendor,
        fill: async (dir) => {
          await exportTree(clone, git.commit, dir, opts.signal);
          if (!existsSync(path.join(dir, 'cmd', 'buildx'))) throw new UsageError(`commit ${git.commit} of ${git.repo} has no cmd/buildx: is it a Buildx repository?`);
        },
      },
    },
    progress,
    opts.slot,
  );
  return { ...res, mode: vendor ? 'vendor' : 'mod' };
}
