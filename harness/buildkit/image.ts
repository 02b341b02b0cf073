// BuildKit images for the docker-container and remote drivers: the official moby/buildkit when present or
// pullable, else buildkitd + buildctl built from the Go module proxy, with the lab's static runc, committed
// on engine-base, or (`buildkit: ["git:<repo>@<rev>"]`, BUILDX_LAB_BUILDKIT_GIT) built from a commit of a
// local Git repository (provision/git-tree.ts, as Buildx is), cached by its commit. Buildx checks a
// builder's readiness with `buildctl debug workers`, so buildctl is needed.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LabConfig } from '../config.ts';
import { UsageError } from '../errors.ts';
import { EngineBuilder, engineParts, type PartMeta } from '../engine/binaries.ts';
import { hostDefaultRelease } from '../engine/spec.ts';
import { buildkitRootlessSpec, buildkitSpec, type ImageSpec } from '../images/catalog.ts';
import { gitBuildTree, gitTreeText, gitTreeVersion, type GitTreeRef } from '../provision/git-tree.ts';
import { ensureImage, findOfficialImage, type ResolvedImage } from '../images/images.ts';
import type { ProgressSink } from '../progress.ts';
import { goModuleBuild, type CompileSlot } from '../provision/gobuild.ts';
import { ensureUnpackedDeb } from '../provision/debian.ts';
import { crossProcessLock } from '../provision/lock.ts';
import { ensureGoTool, type GoTool } from '../provision/go-tool.ts';

/** The version in the first bug report (moby/moby#49453), and a current release. */
export const BUILDKIT_VERSIONS = ['v0.17.1', 'v0.34.2'] as const;
export const DEFAULT_BUILDKIT = 'v0.17.1';

export function checkBuildkitVersion(version: string): string {
  if (!/^v\d+\.\d+\.\d+(-rc\d+)?$/.test(version)) throw new UsageError(`BuildKit version '${version}' is not of the form v0.17.1`);
  return version;
}

/** No netgo: cgo is off, so it changes nothing but the compile cache's keys (net and all above it apart from Buildx's). */
export const BUILDKIT_TAGS = ['osusergo', 'static_build'];

/** A BuildKit built from Git: where from, and whether from the tree's own vendor/. */
export interface BuildkitGitOrigin {
  repo: string;
  commit: string;
  tag?: string;
  mode: 'vendor' | 'mod';
}

interface BuildkitMeta {
  version: string;
  git?: BuildkitGitOrigin;
  sha256: Record<'buildkitd' | 'buildctl', string>;
  goVersion: string;
  sumdb: string;
  builtAt: string;
}

interface BuildOptions {
  slot?: CompileSlot;
  signal?: AbortSignal;
  /** build this commit (its label is the version) instead of the release from the Go module proxy */
  git?: GitTreeRef;
}

/** What a BuildKit's binaries were built from, for evidence and reports; pure. */
export function buildkitOriginText(meta: Pick<BuildkitMeta, 'version' | 'git' | 'goVersion'>): string {
  if (meta.git) return `${gitTreeText(meta.git)}, -mod=${meta.git.mode}, ${meta.goVersion}`;
  return `github.com/moby/buildkit@${meta.version} (the Go module proxy's source), ${meta.goVersion}`;
}

const sha256File = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
/** <cache>/buildkit/<version>, or git-<commit> for a build from Git (its label is no unique key: tags move). */
const binKey = (version: string, git?: Pick<GitTreeRef, 'commit'>) => (git ? `git-${git.commit}` : version);
const binDir = (config: LabConfig, version: string, git?: Pick<GitTreeRef, 'commit'>) => path.join(config.cacheDir, 'buildkit', binKey(version, git));

/** Whether the binaries of a BuildKit (a release, or a commit from Git) are in the cache. */
export function hasBuildkitBinaries(config: LabConfig, version: string, git?: Pick<GitTreeRef, 'commit'>): boolean {
  return cachedBinaries(config, version, git) !== undefined;
}

function cachedBinaries(config: LabConfig, version: string, git?: Pick<GitTreeRef, 'commit'>): BuildkitMeta | undefined {
  const dir = binDir(config, version, git);
  try {
    return existsSync(path.join(dir, 'buildkitd')) && existsSync(path.join(dir, 'buildctl'))
      ? (JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8')) as BuildkitMeta)
      : undefined;
  } catch {
    return undefined;
  }
}

/** buildkitd and buildctl of `version` (or of the commit `opts.git`), built once into <cache>/buildkit/<version or git-commit>/. */
export async function ensureBuildkitBinaries(config: LabConfig, version: string, progress: ProgressSink, opts: BuildOptions = {}): Promise<BuildkitMeta> {
  const { git } = opts;
  if (!git) checkBuildkitVersion(version);
  const hit = cachedBinaries(config, version, git);
  if (hit) return hit;
  const dir = binDir(config, version, git);
  return crossProcessLock(
    path.join(config.cacheDir, 'locks', `buildkit-${binKey(version, git)}`),
    `BuildKit ${version}`,
    progress,
    async () => {
      const again = cachedBinaries(config, version, git);
      if (again) return again;
      const stage = `${dir}.tmp-${process.pid}`;
      rmSync(stage, { recursive: true, force: true });
      mkdirSync(stage, { recursive: true });
      try {
        const fromGit = git ? await gitBuildTree(config, git, { product: 'BuildKit', mustHave: 'cmd/buildkitd', progress, signal: opts.signal }) : undefined;
        const res = await goModuleBuild(
          config,
          {
            module: 'github.com/moby/buildkit',
            version: git ? git.commit : version,
            targets: [
              { pkg: './cmd/buildkitd', out: path.join(stage, 'buildkitd') },
              { pkg: './cmd/buildctl', out: path.join(stage, 'buildctl') },
            ],
            ldflagsX: {
              'github.com/moby/buildkit/version.Version': git ? gitTreeVersion(git) : version,
              'github.com/moby/buildkit/version.Revision': '{{revision}}',
              'github.com/moby/buildkit/version.Package': 'github.com/moby/buildkit',
            },
            tags: BUILDKIT_TAGS,
            workDir: path.join(stage, '.work'),
            signal: opts.signal,
            ...(fromGit ? { tree: fromGit.tree } : {}),
          },
          progress,
          opts.slot,
        );
        rmSync(path.join(stage, '.work'), { recursive: true, force: true });
        const meta: BuildkitMeta = {
          version,
          ...(git && fromGit ? { git: { repo: git.repo, commit: git.commit, ...(git.tag ? { tag: git.tag } : {}), mode: fromGit.mode } } : {}),
          sha256: { buildkitd: sha256File(path.join(stage, 'buildkitd')), buildctl: sha256File(path.join(stage, 'buildctl')) },
          goVersion: res.goVersion,
          sumdb: res.sumdb,
          builtAt: new Date().toISOString(),
        };
        writeFileSync(path.join(stage, 'meta.json'), JSON.stringify(meta, null, 2));
        rmSync(dir, { recursive: true, force: true });
        renameSync(stage, dir);
        return meta;
      } finally {
        rmSync(stage, { recursive: true, force: true });
      }
    },
    opts.signal,
  );
}

/** runc of the BuildKit images: the lab's static build at the host engine's pin (the binary its engines use). */
function runcPart() {
  const release = hostDefaultRelease();
  return { release, part: engineParts(release).find((p) => p.kind === 'runc')! };
}

function specOf(config: LabConfig, version: string, meta: BuildkitMeta, runc: PartMeta, runcPath: string): ImageSpec {
  const dir = binDir(config, version, meta.git);
  return buildkitSpec(
    version,
    {
      buildkitd: { path: path.join(dir, 'buildkitd'), sha256: meta.sha256.buildkitd },
      buildctl: { path: path.join(dir, 'buildctl'), sha256: meta.sha256.buildctl },
      runc: { path: runcPath, sha256: runc.binaries[0]!.sha256 },
    },
    {
      'buildx-lab.buildkit.version': version,
      'buildx-lab.runc.version': runc.version,
      'buildx-lab.go.version': meta.goVersion,
      ...(meta.git ? { 'buildx-lab.buildkit.git.commit': meta.git.commit } : {}),
    },
    meta.git ? { git: gitTreeText(meta.git) } : {},
  );
}

/**
 * The specs of the local BuildKit images whose binaries are cached: releases and builds from Git (a
 * git-<commit> directory; its meta names the version its image carries), for `images prune` to keep.
 */
export function cachedBuildkitImageSpecs(config: LabConfig, progress: ProgressSink): ImageSpec[] {
  const root = path.join(config.cacheDir, 'buildkit');
  const builder = new EngineBuilder(config, progress);
  const { part } = runcPart();
  const runc = builder.cachedPart(part);
  if (!runc || !existsSync(root)) return [];
  return readdirSync(root).flatMap((d) => {
    const git = /^git-([0-9a-f]{40}|[0-9a-f]{64})$/.exec(d);
    if (!git && !/^v\d+\.\d+\.\d+(-rc\d+)?$/.test(d)) return [];
    const meta = git ? cachedBinaries(config, '', { commit: git[1]! }) : cachedBinaries(config, d);
    return meta ? [specOf(config, meta.version, meta, runc, path.join(builder.partDir(part), 'runc'))] : [];
  });
}

/** A BuildKit image, and what its BuildKit was built from (evidence and reports say it). */
export interface BuildkitImage extends ResolvedImage {
  from: string;
  /** the binaries' directory in the cache (none for an official image) */
  binaries?: string;
}

export async function ensureBuildkitImage(config: LabConfig, version: string, progress: ProgressSink, opts: BuildOptions & { rootless?: boolean } = {}): Promise<BuildkitImage> {
  if (!opts.git) {
    checkBuildkitVersion(version);
    // An official image that is present (or pullable) needs no build at all; never for a commit from Git.
    const ref = `moby/buildkit:${version}${opts.rootless ? '-rootless' : ''}`;
    const official = await findOfficialImage(config, [ref], progress);
    if (official) return { ...official, from: `the official image ${ref}` };
  }
  const meta = await ensureBuildkitBinaries(config, version, progress, opts);
  const { release, part } = runcPart();
  const builder = new EngineBuilder(config, progress);
  const runc = await builder.ensurePart(release, part, opts);
  const spec = specOf(config, version, meta, runc, path.join(builder.partDir(part), 'runc'));
  // binaries are cached by commit: the evidence names the commit as this run resolved it (a tag added since)
  const named = opts.git && meta.git ? { ...meta, git: { ...meta.git, ...(opts.git.tag ? { tag: opts.git.tag } : {}) } } : meta;
  const built = { from: buildkitOriginText(named), binaries: binDir(config, version, meta.git) };
  if (!opts.rootless || spec.recipe.kind !== 'layer') return { ...(await ensureImage(config, spec, progress, opts)), ...built };
  const [rootlesskit, uidmap] = await Promise.all([ensureRootlesskit(config, progress, opts), ensureUidmap(config, progress, opts.signal)]);
  const rootless = buildkitRootlessSpec(
    version,
    {
      ...fileOf(spec, 'buildkitd'),
      ...fileOf(spec, 'buildctl'),
      ...fileOf(spec, 'runc'),
      rootlesskit: { path: rootlesskit.path, sha256: rootlesskit.sha256 },
      newuidmap: { path: path.join(uidmap.dir, 'usr/bin/newuidmap'), sha256: sha256File(path.join(uidmap.dir, 'usr/bin/newuidmap')) },
      newgidmap: { path: path.join(uidmap.dir, 'usr/bin/newgidmap'), sha256: sha256File(path.join(uidmap.dir, 'usr/bin/newgidmap')) },
    },
    { ...spec.recipe.labels, 'buildx-lab.rootlesskit.version': ROOTLESSKIT.version, 'buildx-lab.uidmap.version': uidmap.version },
    meta.git ? { git: gitTreeText(meta.git) } : {},
  );
  return { ...(await ensureImage(config, rootless, progress, opts)), ...built };
}

/** rootlesskit of the rootless images: pure Go, from the Go module proxy (the release upstream's Dockerfile pinned last). */
const ROOTLESSKIT: GoTool = { name: 'rootlesskit', module: 'github.com/rootless-containers/rootlesskit/v2', version: 'v2.3.6', pkg: './cmd/rootlesskit', under: 'buildkit' };

function ensureRootlesskit(config: LabConfig, progress: ProgressSink, opts: BuildOptions): Promise<{ path: string; sha256: string }> {
  return ensureGoTool(config, ROOTLESSKIT, progress, opts);
}

/** Debian trixie's uidmap (setuid newuidmap/newgidmap, as the engine-base image's libc wants), unpacked, not installed. */
function ensureUidmap(config: LabConfig, progress: ProgressSink, signal?: AbortSignal): Promise<{ dir: string; version: string }> {
  return ensureUnpackedDeb(config, { name: 'uidmap', suite: 'trixie', ready: 'usr/bin/newuidmap' }, progress, signal);
}

/** A binary of the BuildKit image's recipe, as the rootless recipe takes it. */
function fileOf(spec: ImageSpec, name: 'buildkitd' | 'buildctl' | 'runc'): Record<typeof name, { path: string; sha256: string }> {
  const f = spec.recipe.kind === 'layer' ? spec.recipe.files[`/usr/bin/${name}`] : undefined;
  if (!f?.sha256) throw new Error(`BuildKit image spec lacks ${name}`);
  return { [name]: { path: f.source, sha256: f.sha256 } } as Record<typeof name, { path: string; sha256: string }>;
}

/** Each BuildKit version cached here, with the Go that built it. */
export function cachedBuildkitGo(config: LabConfig): Map<string, string> {
  const root = path.join(config.cacheDir, 'buildkit');
  if (!existsSync(root)) return new Map();
  return new Map(
    readdirSync(root)
      .filter((v) => /^v\d+\.\d+\.\d+(-rc\d+)?$/.test(v))
      .flatMap((v) => {
        const meta = cachedBinaries(config, v);
        return meta ? [[v, meta.goVersion] as const] : [];
      }),
  );
}
