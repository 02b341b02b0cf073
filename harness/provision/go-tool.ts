// A pinned Go program the lab runs beside its images (rootlesskit in the rootless BuildKit image, versitygw
// behind ${s3}, the OpenTelemetry Collector behind ${otlp}, k3s in the Kubernetes node): built once through
// goModuleBuild (the machine's one compile slot, the shared Go build cache), kept under the cache by name and
// version, behind a cross-process lock so two runs never build it twice. A build that fails leaves nothing
// behind. The source is the module's zip from the Go module proxy (adjusted by `prepare` when the module's
// own build adds files), or a tree the lab writes (`tree`: the collector's shipped sources).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LabConfig } from '../config.ts';
import type { ProgressSink } from '../progress.ts';
import { goModuleBuild, type CompileSlot, type GoBuildRequest } from './gobuild.ts';
import { crossProcessLock } from './lock.ts';

export interface GoTool {
  /** the name of the binary and of its cache directory */
  name: string;
  /** the module path (a tree's own name), for messages and compile-failure records */
  module: string;
  version: string;
  /** the package to build, relative to the module (./cmd/x) */
  pkg: string;
  /** more binaries built beside it, from the same source and flags (k3s: containerd's shim, of k3s's containerd) */
  also?: { name: string; pkg: string }[];
  tags?: string[];
  ldflagsX?: Record<string, string>;
  /** the cache folder its directory sits in (default tools; rootlesskit keeps the buildkit one it always had) */
  under?: string;
  /** the directory's name in that folder (default NAME-VERSION) */
  dir?: string;
  /** what progress lines call it (default the name) */
  label?: string;
  /** the source is this tree, not the module's zip: `fill` writes it into the directory given */
  tree?: { revision: string; fill: (dir: string) => Promise<void> };
  /** adjusts the module's source before the build, as the module's own build script would (may throw) */
  prepare?: (src: string) => void;
  /** cgo (default off), with the module's own C flags */
  cgo?: GoBuildRequest['cgo'];
  /** false keeps build paths in the binary (default true) */
  trimpath?: boolean;
}

export interface GoToolBinary {
  path: string;
  sha256: string;
  /** the Go that built it (absent for a cached build from before build.json recorded it) */
  goVersion?: string;
  /** the build's times when this call built it; absent when it came from the cache */
  built?: { durationMs: number; downloadMs: number; compileMs: number; goVersion: string };
}

export interface GoToolOptions {
  slot?: CompileSlot;
  signal?: AbortSignal;
}

const sha256File = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

/** Where the tool's binary lives in the cache; pure. */
export function goToolPath(config: Pick<LabConfig, 'cacheDir'>, tool: Pick<GoTool, 'name' | 'version' | 'under' | 'dir'>): string {
  return path.join(config.cacheDir, tool.under ?? 'tools', tool.dir ?? `${tool.name}-${tool.version}`, tool.name);
}

/** What a cached build recorded: build.json, or the meta.json the collector wrote before. */
function recorded(dir: string): { goVersion?: string; sha256?: string; size?: number } {
  for (const f of ['build.json', 'meta.json']) {
    try {
      const r = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Record<string, unknown>;
      const pick = <T>(k: string, type: string) => (typeof r[k] === type ? { [k]: r[k] as T } : {});
      return { ...pick<string>('goVersion', 'string'), ...pick<string>('sha256', 'string'), ...pick<number>('size', 'number') };
    } catch {
      /* next */
    }
  }
  return {};
}

export async function ensureGoTool(config: LabConfig, tool: GoTool, progress: ProgressSink, opts: GoToolOptions = {}): Promise<GoToolBinary> {
  const bin = goToolPath(config, tool);
  const dir = path.dirname(bin);
  const label = tool.label ?? tool.name;
  const hit = (): GoToolBinary | undefined => {
    if (!existsSync(bin) || tool.also?.some((a) => !existsSync(path.join(dir, a.name)))) return undefined;
    const r = recorded(dir);
    // the recorded hash while the size holds (k3s is 250 MB: hashing it costs seconds on every run)
    const sha256 = r.sha256 && r.size === statSync(bin).size ? r.sha256 : sha256File(bin);
    return { path: bin, sha256, ...(r.goVersion ? { goVersion: r.goVersion } : {}) };
  };
  return (
    hit() ??
    crossProcessLock(
      path.join(config.cacheDir, 'locks', path.basename(dir)),
      `${label} ${tool.version}`,
      progress,
      async () => {
        const again = hit();
        if (again) return again;
        const stage = `${dir}.tmp-${process.pid}`;
        // One build directory per tool, the same every time (the lock holds it): without -trimpath a
        // package's path is part of its compile's cache key, so a rebuild finds its packages compiled.
        const work = `${dir}.work`;
        rmSync(stage, { recursive: true, force: true });
        mkdirSync(stage, { recursive: true });
        const from = tool.tree ? "the lab's sources (their dependencies from the Go module proxy)" : 'the Go module proxy';
        progress(`building ${label} ${tool.version} from ${from}; once per machine`);
        try {
          const r = await goModuleBuild(
            config,
            {
              module: tool.module,
              version: tool.version,
              targets: [tool, ...(tool.also ?? [])].map((t) => ({ pkg: t.pkg, out: path.join(stage, t.name) })),
              ldflagsX: tool.ldflagsX ?? {},
              tags: tool.tags ?? ['osusergo'], // no netgo: cgo is off, and the tag only splits the compile cache
              workDir: work,
              signal: opts.signal,
              ...(tool.tree ? { tree: { ...tool.tree, vendor: false } } : {}),
              ...(tool.prepare ? { inspectSource: tool.prepare } : {}),
              ...(tool.cgo ? { cgo: tool.cgo } : {}),
              ...(tool.trimpath === false ? { trimpath: false } : {}),
            },
            progress,
            opts.slot,
          );
          const out = path.join(stage, tool.name);
          const record = { sha256: sha256File(out), size: statSync(out).size };
          writeFileSync(
            path.join(stage, 'build.json'),
            `${JSON.stringify({ ...tool, tree: undefined, prepare: undefined, ...record, revision: r.revision, goVersion: r.goVersion, sumdb: r.sumdb, durationMs: r.durationMs }, null, 2)}\n`,
          );
          rmSync(dir, { recursive: true, force: true });
          mkdirSync(path.dirname(dir), { recursive: true });
          renameSync(stage, dir);
          progress(`${label} ${tool.version}: built in ${(r.durationMs / 1000).toFixed(0)} s (compile ${(r.compileMs / 1000).toFixed(0)} s, ${r.goVersion})`);
          return { ...hit()!, built: { durationMs: r.durationMs, downloadMs: r.downloadMs, compileMs: r.compileMs, goVersion: r.goVersion } };
        } finally {
          rmSync(stage, { recursive: true, force: true });
          rmSync(work, { recursive: true, force: true });
        }
      },
      opts.signal,
    )
  );
}
