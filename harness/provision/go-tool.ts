// A pinned Go program the lab runs beside its images (rootlesskit in the rootless BuildKit image, versitygw
// behind ${s3}): built once from the Go module proxy through goModuleBuild (the machine's one compile
// slot, the shared Go build cache), kept under the cache by module version, behind a cross-process lock
// so two runs never build it twice. A build that fails leaves nothing behind.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LabConfig } from '../config.ts';
import type { ProgressSink } from '../progress.ts';
import { goModuleBuild, type CompileSlot } from './gobuild.ts';
import { crossProcessLock } from './lock.ts';

export interface GoTool {
  /** the name of the binary and of its cache directory */
  name: string;
  module: string;
  version: string;
  /** the package to build, relative to the module (./cmd/x) */
  pkg: string;
  tags?: string[];
  ldflagsX?: Record<string, string>;
  /** the cache folder its directory sits in (default tools; rootlesskit keeps the buildkit one it always had) */
  under?: string;
}

export interface GoToolBinary {
  path: string;
  sha256: string;
  /** the build's times when this call built it; absent when it came from the cache */
  built?: { durationMs: number; downloadMs: number; compileMs: number; goVersion: string };
}

export interface GoToolOptions {
  slot?: CompileSlot;
  signal?: AbortSignal;
}

const sha256File = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

/** Where the tool's binary lives in the cache; pure. */
export function goToolPath(config: Pick<LabConfig, 'cacheDir'>, tool: GoTool): string {
  return path.join(config.cacheDir, tool.under ?? 'tools', `${tool.name}-${tool.version}`, tool.name);
}

export async function ensureGoTool(config: LabConfig, tool: GoTool, progress: ProgressSink, opts: GoToolOptions = {}): Promise<GoToolBinary> {
  const bin = goToolPath(config, tool);
  const dir = path.dirname(bin);
  const hit = () => (existsSync(bin) ? { path: bin, sha256: sha256File(bin) } : undefined);
  return (
    hit() ??
    crossProcessLock(
      path.join(config.cacheDir, 'locks', `${tool.name}-${tool.version}`),
      `${tool.name} ${tool.version}`,
      progress,
      async () => {
        const again = hit();
        if (again) return again;
        const stage = `${dir}.tmp-${process.pid}`;
        rmSync(stage, { recursive: true, force: true });
        mkdirSync(stage, { recursive: true });
        try {
          const r = await goModuleBuild(
            config,
            {
              module: tool.module,
              version: tool.version,
              targets: [{ pkg: tool.pkg, out: path.join(stage, tool.name) }],
              ldflagsX: tool.ldflagsX ?? {},
              tags: tool.tags ?? ['osusergo'], // no netgo: cgo is off, and the tag only splits the compile cache
              workDir: path.join(stage, '.work'),
              signal: opts.signal,
            },
            progress,
            opts.slot,
          );
          rmSync(path.join(stage, '.work'), { recursive: true, force: true });
          writeFileSync(
            path.join(stage, 'build.json'),
            `${JSON.stringify({ ...tool, revision: r.revision, goVersion: r.goVersion, sumdb: r.sumdb, durationMs: r.durationMs }, null, 2)}\n`,
          );
          rmSync(dir, { recursive: true, force: true });
          mkdirSync(path.dirname(dir), { recursive: true });
          renameSync(stage, dir);
          progress(
            `${tool.name} ${tool.version}: built from the Go module proxy in ${(r.durationMs / 1000).toFixed(0)} s (compile ${(r.compileMs / 1000).toFixed(0)} s, ${r.goVersion})`,
          );
          return { ...hit()!, built: { durationMs: r.durationMs, downloadMs: r.downloadMs, compileMs: r.compileMs, goVersion: r.goVersion } };
        } finally {
          rmSync(stage, { recursive: true, force: true });
        }
      },
      opts.signal,
    )
  );
}
