// Buildx built from a commit of a Git repository: `--buildx git:<repo>@<rev>`, `versions: ["git:…"]` in a
// case, the probes of `bisect --commits`, and (BUILDX_LAB_BUILDX_GIT) the release tags the Go module proxy
// refuses. The repository is a local path (or file:// URL): the lab fetches it into its own cached clone
// (provision/git-clone.ts), resolves the revision to a commit when the run is planned (so the run spec
// names the commit and replays it), exports the commit's tree, and builds ./cmd/buildx with the shared Go
// build cache: from the tree's own vendor/ when it has one, else in module mode through the proxy
// (provision/git-tree.ts, shared with BuildKit). A built commit is cached by its hash and never rebuilt;
// one that does not compile is recorded as releases are.
import type { LabConfig } from '../config.ts';
import type { GitRevision } from '../git/revision.ts';
import type { ProgressSink } from '../progress.ts';
import { gitBuildTree, parseLocalGitSpec, resolveGitTree } from '../provision/git-tree.ts';
import { goModuleBuild, type CompileSlot, type GoBuildResult } from '../provision/gobuild.ts';
import type { GitBuildxRef, ResolvedVersion } from './spec.ts';

export const BUILDX_MODULE = 'github.com/docker/buildx';

/** A Buildx git spec: a local repository only (the lab reaches no Git server); pure. */
export function parseGitBuildxSpec(spec: string): GitRevision {
  return parseLocalGitSpec(spec, 'Buildx');
}

/** A git spec resolved to a commit in the lab's clone (fetched as needed), named as the cells will name it. */
export async function resolveGitBuildx(config: LabConfig, spec: string, progress: ProgressSink, signal?: AbortSignal): Promise<ResolvedVersion> {
  return { ...(await resolveGitTree(config, spec, 'Buildx', progress, signal)), via: 'git' };
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
  const { mode, tree } = await gitBuildTree(config, git, { product: 'Buildx', mustHave: 'cmd/buildx', progress, signal: opts.signal });
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
      tree,
    },
    progress,
    opts.slot,
  );
  return { ...res, mode };
}
