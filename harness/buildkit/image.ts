// BuildKit images for the docker-container and remote drivers: the official moby/buildkit when present or
// pullable, else buildkitd + buildctl built from the Go module proxy, with the lab's static runc, committed
// on engine-base. Buildx checks a builder's readiness with `buildctl debug workers`, so buildctl is needed.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LabConfig } from '../config.ts';
import { UsageError } from '../errors.ts';
import { EngineBuilder, engineParts, type PartMeta } from '../engine/binaries.ts';
import { hostDefaultRelease } from '../engine/spec.ts';
import { buildkitRootlessSpec, buildkitSpec, type ImageSpec } from '../images/catalog.ts';
import { ensureImage, findOfficialImage, type ResolvedImage } from '../images/images.ts';
import type { ProgressSink } from '../progress.ts';
import { goModuleBuild, type CompileSlot } from '../provision/gobuild.ts';
import { PrivateApt } from '../provision/debian.ts';
import { crossProcessLock } from '../provision/lock.ts';
import { ensureGoTool, type GoTool } from '../provision/go-tool.ts';

/** The version in the first bug report (moby/moby#49453), and a current release. */
export const BUILDKIT_VERSIONS = ['v0.17.1', 'v0.34.2'] as const;
export const DEFAULT_BUILDKIT = 'v0.17.1';

export function checkBuildkitVersion(version: string): string {
  if (!/^v\d+\.\d+\.\d+(-rc\d+)?$/.test(version)) throw new UsageError(`BuildKit version '${version}' is not of the form v0.17.1`);
  return version;
}

interface BuildkitMeta {
  version: string;
  sha256: Record<'buildkitd' | 'buildctl', string>;
  goVersion: string;
  sumdb: string;
  builtAt: string;
}

interface BuildOptions {
  slot?: CompileSlot;
  signal?: AbortSignal;
}

const sha256File = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const binDir = (config: LabConfig, version: string) => path.join(config.cacheDir, 'buildkit', version);

function cachedBinaries(config: LabConfig, version: string): BuildkitMeta | undefined {
  const dir = binDir(config, version);
  try {
    return existsSync(path.join(dir, 'buildkitd')) && existsSync(path.join(dir, 'buildctl'))
      ? (JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8')) as BuildkitMeta)
      : undefined;
  } catch {
    return undefined;
  }
}

/** buildkitd and buildctl of `version`, built once into <cache>/buildkit/<version>/. */
export async function ensureBuildkitBinaries(config: LabConfig, version: string, progress: ProgressSink, opts: BuildOptions = {}): Promise<BuildkitMeta> {
  checkBuildkitVersion(version);
  const hit = cachedBinaries(config, version);
  if (hit) return hit;
  const dir = binDir(config, version);
  return crossProcessLock(
    path.join(config.cacheDir, 'locks', `buildkit-${version}`),
    `BuildKit ${version}`,
    progress,
    async () => {
      const again = cachedBinaries(config, version);
      if (again) return again;
      const stage = `${dir}.tmp-${process.pid}`;
      rmSync(stage, { recursive: true, force: true });
      mkdirSync(stage, { recursive: true });
      try {
        const res = await goModuleBuild(
          config,
          {
            module: 'github.com/moby/buildkit',
            version,
            targets: [
              { pkg: './cmd/buildkitd', out: path.join(stage, 'buildkitd') },
              { pkg: './cmd/buildctl', out: path.join(stage, 'buildctl') },
            ],
            ldflagsX: {
              'github.com/moby/buildkit/version.Version': version,
              'github.com/moby/buildkit/version.Revision': '{{revision}}',
              'github.com/moby/buildkit/version.Package': 'github.com/moby/buildkit',
            },
            tags: ['osusergo', 'netgo', 'static_build'],
            workDir: path.join(stage, '.work'),
            signal: opts.signal,
          },
          progress,
          opts.slot,
        );
        rmSync(path.join(stage, '.work'), { recursive: true, force: true });
        const meta: BuildkitMeta = {
          version,
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
  const dir = binDir(config, version);
  return buildkitSpec(
    version,
    {
      buildkitd: { path: path.join(dir, 'buildkitd'), sha256: meta.sha256.buildkitd },
      buildctl: { path: path.join(dir, 'buildctl'), sha256: meta.sha256.buildctl },
      runc: { path: runcPath, sha256: runc.binaries[0]!.sha256 },
    },
    { 'buildx-lab.buildkit.version': version, 'buildx-lab.runc.version': runc.version, 'buildx-lab.go.version': meta.goVersion },
  );
}

/** The local BuildKit image's spec, when its binaries are cached (else undefined). */
export function buildkitImageSpec(config: LabConfig, version: string, progress: ProgressSink): ImageSpec | undefined {
  const meta = cachedBinaries(config, version);
  const builder = new EngineBuilder(config, progress);
  const { part } = runcPart();
  const runc = builder.cachedPart(part);
  return meta && runc ? specOf(config, version, meta, runc, path.join(builder.partDir(part), 'runc')) : undefined;
}

export async function ensureBuildkitImage(config: LabConfig, version: string, progress: ProgressSink, opts: BuildOptions & { rootless?: boolean } = {}): Promise<ResolvedImage> {
  checkBuildkitVersion(version);
  // An official image that is present (or pullable) needs no build at all.
  const official = await findOfficialImage(config, [`moby/buildkit:${version}${opts.rootless ? '-rootless' : ''}`], progress);
  if (official) return official;
  const meta = await ensureBuildkitBinaries(config, version, progress, opts);
  const { release, part } = runcPart();
  const builder = new EngineBuilder(config, progress);
  const runc = await builder.ensurePart(release, part, opts);
  const spec = specOf(config, version, meta, runc, path.join(builder.partDir(part), 'runc'));
  if (!opts.rootless || spec.recipe.kind !== 'layer') return ensureImage(config, spec, progress, opts);
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
  );
  return ensureImage(config, rootless, progress, opts);
}

/** rootlesskit of the rootless images: pure Go, from the Go module proxy (the release upstream's Dockerfile pinned last). */
const ROOTLESSKIT: GoTool = { name: 'rootlesskit', module: 'github.com/rootless-containers/rootlesskit/v2', version: 'v2.3.6', pkg: './cmd/rootlesskit', under: 'buildkit' };

function ensureRootlesskit(config: LabConfig, progress: ProgressSink, opts: BuildOptions): Promise<{ path: string; sha256: string }> {
  return ensureGoTool(config, ROOTLESSKIT, progress, opts);
}

/** Debian trixie's uidmap (setuid newuidmap/newgidmap, as the engine-base image's libc wants), unpacked, not installed. */
async function ensureUidmap(config: LabConfig, progress: ProgressSink, signal?: AbortSignal): Promise<{ dir: string; version: string }> {
  const dir = path.join(config.cacheDir, 'tools', 'uidmap-trixie');
  const versionFile = path.join(dir, '.deb-version');
  const hit = () => (existsSync(path.join(dir, 'usr/bin/newuidmap')) && existsSync(versionFile) ? { dir, version: readFileSync(versionFile, 'utf8').trim() } : undefined);
  return (
    hit() ??
    crossProcessLock(
      path.join(config.cacheDir, 'locks', 'uidmap-trixie'),
      'uidmap',
      progress,
      async () => {
        const again = hit();
        if (again) return again;
        const version = await new PrivateApt(config, progress).unpack('uidmap', 'trixie', dir, signal);
        writeFileSync(versionFile, `${version}\n`);
        return { dir, version };
      },
      signal,
    )
  );
}

/** A binary of the BuildKit image's recipe, as the rootless recipe takes it. */
function fileOf(spec: ImageSpec, name: 'buildkitd' | 'buildctl' | 'runc'): Record<typeof name, { path: string; sha256: string }> {
  const f = spec.recipe.kind === 'layer' ? spec.recipe.files[`/usr/bin/${name}`] : undefined;
  if (!f?.sha256) throw new Error(`BuildKit image spec lacks ${name}`);
  return { [name]: { path: f.source, sha256: f.sha256 } } as Record<typeof name, { path: string; sha256: string }>;
}

/** BuildKit versions whose binaries are cached here (not the staging directory of a build under way). */
export function cachedBuildkitVersions(config: LabConfig): string[] {
  return [...cachedBuildkitGo(config).keys()];
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
