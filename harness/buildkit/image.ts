// BuildKit images for the docker-container driver: the official moby/buildkit when present or
// pullable, else buildkitd + buildctl built from the Go module proxy onto a Debian image with runc.
// Buildx checks builder readiness with `buildctl debug workers`, so buildctl must be in the image.
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { LabConfig } from '../config.ts';
import { goModuleBuild, goVersion } from '../gobuild.ts';
import { ensureImage, type ResolvedImage } from '../images/images.ts';
import type { ImageSpec } from '../images/catalog.ts';
import type { ProgressSink } from '../progress.ts';
import { UsageError } from '../errors.ts';

/** The version in the first bug report (moby/moby#49453), and a current release. */
export const BUILDKIT_VERSIONS = ['v0.17.1', 'v0.34.2'] as const;
export const DEFAULT_BUILDKIT = 'v0.17.1';

export function buildkitImageSpec(version: string, goVer: string, binDir: string): ImageSpec {
  if (!/^v\d+\.\d+\.\d+(-rc\d+)?$/.test(version)) throw new UsageError(`BuildKit version '${version}' is not of the form v0.17.1`);
  return {
    id: `buildkit-${version}`,
    role: 'buildkit',
    description: `BuildKit ${version} (buildkitd, buildctl; runc from Debian trixie)`,
    official: [`moby/buildkit:${version}`],
    recipe: {
      suite: 'trixie',
      packages: ['runc', 'ca-certificates'],
      entrypoint: ['buildkitd'],
      cmd: [],
      files: {},
      builtFiles: { '/usr/bin/buildkitd': path.join(binDir, 'buildkitd'), '/usr/bin/buildctl': path.join(binDir, 'buildctl') },
      hashExtra: `buildkit ${version} ${goVer} static osusergo netgo`,
    },
  };
}

export async function ensureBuildkitImage(config: LabConfig, version: string, progress: ProgressSink): Promise<ResolvedImage> {
  const binDir = path.join(config.cacheDir, 'buildkit', version);
  const goVer = (await goVersion(config)) ?? 'no-go';
  const spec = buildkitImageSpec(version, goVer, binDir);
  return ensureImage(config, spec, progress, async () => {
    if (existsSync(path.join(binDir, 'buildkitd')) && existsSync(path.join(binDir, 'buildctl'))) return;
    const stage = `${binDir}.tmp-${process.pid}`;
    mkdirSync(stage, { recursive: true });
    try {
      await goModuleBuild(
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
          workDir: path.join(stage, 'work'),
        },
        progress,
      );
      rmSync(path.join(stage, 'work'), { recursive: true, force: true });
      try {
        renameSync(stage, binDir);
      } catch (e) {
        if (!['ENOTEMPTY', 'EEXIST'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
      }
    } finally {
      rmSync(stage, { recursive: true, force: true });
    }
  });
}
