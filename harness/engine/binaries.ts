// A Docker engine's binaries, built from the Go module proxy at the versions its release pins:
// dockerd + docker-proxy, containerd + containerd-shim-runc-v2, runc, and the docker CLI. Each part is
// built once and cached under <cache>/engine/parts/<part>/ (engines that pin the same containerd or runc
// share it); an engine is the set of its parts, assembled under <cache>/engine/<version>/bin.
// runc needs cgo: it links libseccomp statically from Debian's libseccomp-dev (unpacked, not installed);
// where that cannot be had, runc is built without seccomp and the engine runs containers unconfined.
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { childEnv, type LabConfig } from '../config.ts';
import { ProvisionError } from '../errors.ts';
import { run } from '../exec.ts';
import type { ProgressSink } from '../progress.ts';
import { goModuleBuild, type CompileSlot, type GoBuildRequest, type Replacement } from '../provision/gobuild.ts';
import { crossProcessLock } from '../provision/lock.ts';
import { PrivateApt, hostSuite } from '../provision/debian.ts';
import type { EngineRelease } from './spec.ts';

export type PartKind = 'daemon' | 'containerd' | 'runc' | 'cli';

export interface EnginePart {
  kind: PartKind;
  /** cache key, e.g. "containerd-v1.7.18" */
  id: string;
  module: string;
  version: string;
  binaries: string[];
}

export interface PartMeta {
  id: string;
  kind: PartKind;
  module: string;
  version: string;
  binaries: { name: string; sha256: string; size: number }[];
  /** what `<binary> --version` printed */
  reports: string;
  goVersion: string;
  sumdb: string;
  replacements: Replacement[];
  /** runc only: built with libseccomp */
  seccomp?: boolean;
  builtAt: string;
  durationMs: number;
  compileMs: number;
}

export interface EngineBinaries {
  version: string;
  /** every binary of the engine, side by side */
  binDir: string;
  parts: PartMeta[];
  /** false when runc has no seccomp: the engine must run containers with seccomp unconfined */
  seccomp: boolean;
}

const containerdModule = (v: string) => (v.startsWith('v1.') ? 'github.com/containerd/containerd' : 'github.com/containerd/containerd/v2');

/** The parts of an engine release, in build order (the daemon is the largest and warms the Go cache most). Pure. */
export function engineParts(r: EngineRelease): EnginePart[] {
  return [
    { kind: 'daemon', id: `dockerd-${r.version}`, module: r.daemon.module, version: r.daemon.version, binaries: ['dockerd', 'docker-proxy'] },
    { kind: 'containerd', id: `containerd-${r.containerd}`, module: containerdModule(r.containerd), version: r.containerd, binaries: ['containerd', 'containerd-shim-runc-v2'] },
    { kind: 'runc', id: `runc-${r.runc}`, module: 'github.com/opencontainers/runc', version: r.runc, binaries: ['runc'] },
    { kind: 'cli', id: `docker-cli-${r.cli.version.replace(/\+incompatible$/, '')}`, module: r.cli.module, version: r.cli.version, binaries: ['docker'] },
  ];
}

/** `ARG CONTAINERD_VERSION=v1.7.18` and `ARG RUNC_VERSION=…` of moby's Dockerfile; pure. */
export function dockerfilePins(dockerfile: string): { containerd?: string; runc?: string } {
  const arg = (name: string) => new RegExp(`^ARG ${name}=(\\S+)`, 'm').exec(dockerfile)?.[1];
  return { containerd: arg('CONTAINERD_VERSION'), runc: arg('RUNC_VERSION') };
}

/** The go build of one part; pure apart from the paths it names. */
export function partBuildRequest(release: EngineRelease, part: EnginePart, outDir: string, workDir: string, seccompEnv?: Record<string, string>): GoBuildRequest {
  const bare = part.version.replace(/^v/, '').replace(/\+incompatible$/, '');
  const out = (name: string) => path.join(outDir, name);
  switch (part.kind) {
    case 'daemon': {
      const pkg = part.module;
      return {
        module: part.module,
        version: part.version,
        vendorMod: release.daemon.vendorMod,
        workDir,
        targets: [
          { pkg: './cmd/dockerd', out: out('dockerd') },
          { pkg: './cmd/docker-proxy', out: out('docker-proxy') },
        ],
        tags: ['osusergo', 'static_build', 'exclude_graphdriver_btrfs', 'exclude_graphdriver_devicemapper', 'exclude_graphdriver_zfs'],
        ldflagsX: { [`${pkg}/dockerversion.Version`]: release.version, [`${pkg}/dockerversion.GitCommit`]: '{{revision}}' },
        inspectSource: (dir) => {
          const file = path.join(dir, 'Dockerfile');
          if (!existsSync(file)) return;
          const pins = dockerfilePins(readFileSync(file, 'utf8'));
          for (const [what, want] of [
            ['containerd', release.containerd],
            ['runc', release.runc],
          ] as const) {
            if (pins[what] && pins[what] !== want) {
              throw new ProvisionError(`Docker ${release.version}'s Dockerfile pins ${what} ${pins[what]}, but harness/engine/releases.json says ${want}; fix the list`);
            }
          }
        },
      };
    }
    case 'containerd':
      return {
        module: part.module,
        version: part.version,
        workDir,
        targets: [
          { pkg: './cmd/containerd', out: out('containerd') },
          { pkg: './cmd/containerd-shim-runc-v2', out: out('containerd-shim-runc-v2') },
        ],
        tags: ['no_btrfs', 'no_devmapper', 'no_zfs', 'urfave_cli_no_docs', 'osusergo', 'static_build'],
        ldflagsX: { [`${part.module}/version.Version`]: part.version, [`${part.module}/version.Revision`]: '{{revision}}', [`${part.module}/version.Package`]: part.module },
      };
    case 'runc':
      return {
        module: part.module,
        version: part.version,
        workDir,
        targets: [{ pkg: '.', out: out('runc') }],
        // netgo only here, the one cgo build: without cgo Go's resolver is the only one anyway, and the tag
        // would compile net and everything above it apart from the Buildx builds' shared cache
        tags: [...(seccompEnv ? ['seccomp'] : []), 'netgo', 'osusergo'],
        cgo: { env: seccompEnv ?? {} },
        ldflagsX: { 'main.version': bare, 'main.gitCommit': '{{revision}}' },
      };
    case 'cli':
      return {
        module: part.module,
        version: part.version,
        vendorMod: release.cli.vendorMod,
        workDir,
        targets: [{ pkg: './cmd/docker', out: out('docker') }],
        tags: ['osusergo', 'static_build'],
        ldflagsX: { 'github.com/docker/cli/cli/version.Version': release.version, 'github.com/docker/cli/cli/version.GitCommit': '{{revision}}' },
        // The CLI pins docker/docker at a commit the proxy may refuse; the same release's daemon module stands in.
        preferredReplacements: release.daemon.module === 'github.com/docker/docker' ? { 'github.com/docker/docker': release.daemon.version } : {},
      };
  }
}

const VERSION_ARGS: Record<string, string[]> = { dockerd: ['--version'], containerd: ['--version'], runc: ['--version'], docker: ['--version'] };

function sha256File(p: string): string {
  return createHash('sha256').update(readFileSync(p)).digest('hex');
}

function readMeta<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export interface EngineBuildOptions {
  slot?: CompileSlot;
  signal?: AbortSignal;
}

export class EngineBuilder {
  readonly root: string;
  constructor(
    private readonly config: LabConfig,
    private readonly progress: ProgressSink,
  ) {
    this.root = path.join(config.cacheDir, 'engine');
  }

  partDir(part: EnginePart): string {
    return path.join(this.root, 'parts', part.id);
  }

  cachedPart(part: EnginePart): PartMeta | undefined {
    const meta = readMeta<PartMeta>(path.join(this.partDir(part), 'meta.json'));
    return meta && part.binaries.every((b) => existsSync(path.join(this.partDir(part), b))) ? meta : undefined;
  }

  cached(release: EngineRelease): EngineBinaries | undefined {
    const metas = engineParts(release).map((p) => this.cachedPart(p));
    if (metas.some((m) => !m)) return undefined;
    const binDir = path.join(this.root, release.version, 'bin');
    if (!existsSync(binDir)) return undefined;
    return { version: release.version, binDir, parts: metas as PartMeta[], seccomp: metas.find((m) => m!.kind === 'runc')?.seccomp !== false };
  }

  /** Builds what is missing, part by part, then assembles the engine's bin directory. */
  async ensure(release: EngineRelease, opts: EngineBuildOptions = {}): Promise<EngineBinaries> {
    const hit = this.cached(release);
    if (hit) return hit;
    const parts: PartMeta[] = [];
    for (const part of engineParts(release)) parts.push(await this.ensurePart(release, part, opts));
    const binDir = path.join(this.root, release.version, 'bin');
    const stage = `${binDir}.tmp-${process.pid}`;
    rmSync(stage, { recursive: true, force: true });
    mkdirSync(stage, { recursive: true });
    for (const part of engineParts(release)) {
      for (const b of part.binaries) {
        const from = path.join(this.partDir(part), b);
        try {
          linkSync(from, path.join(stage, b));
        } catch {
          copyFileSync(from, path.join(stage, b));
        }
      }
    }
    writeFileSync(path.join(stage, '..', 'engine.json'), JSON.stringify({ version: release.version, parts }, null, 2));
    rmSync(binDir, { recursive: true, force: true });
    renameSync(stage, binDir);
    return { version: release.version, binDir, parts, seccomp: parts.find((m) => m.kind === 'runc')?.seccomp !== false };
  }

  /** One part, under its own lock so that two processes never build it twice. */
  async ensurePart(release: EngineRelease, part: EnginePart, opts: EngineBuildOptions = {}): Promise<PartMeta> {
    const hit = this.cachedPart(part);
    if (hit) return hit;
    return crossProcessLock(
      path.join(this.config.cacheDir, 'locks', `engine-part-${part.id}`),
      `engine part ${part.id}`,
      this.progress,
      async () => {
        const again = this.cachedPart(part);
        if (again) return again;
        return this.buildPart(release, part, opts);
      },
      opts.signal,
    );
  }

  private async buildPart(release: EngineRelease, part: EnginePart, opts: EngineBuildOptions): Promise<PartMeta> {
    const t0 = Date.now();
    const dir = this.partDir(part);
    const stage = `${dir}.tmp-${process.pid}`;
    rmSync(stage, { recursive: true, force: true });
    mkdirSync(stage, { recursive: true });
    try {
      const seccompEnv = part.kind === 'runc' ? await this.seccompEnv(opts.signal) : undefined;
      const req = partBuildRequest(release, part, stage, path.join(stage, '.work'), seccompEnv);
      const res = await goModuleBuild(this.config, { ...req, signal: opts.signal }, this.progress, opts.slot);
      rmSync(path.join(stage, '.work'), { recursive: true, force: true });
      const reports = await this.checkVersions(part, stage, release);
      const meta: PartMeta = {
        id: part.id,
        kind: part.kind,
        module: part.module,
        version: part.version,
        binaries: part.binaries.map((b) => {
          chmodSync(path.join(stage, b), 0o755);
          return { name: b, sha256: sha256File(path.join(stage, b)), size: statSync(path.join(stage, b)).size };
        }),
        reports,
        goVersion: res.goVersion,
        sumdb: res.sumdb,
        replacements: res.replacements,
        ...(part.kind === 'runc' ? { seccomp: seccompEnv !== undefined } : {}),
        builtAt: new Date().toISOString(),
        durationMs: Date.now() - t0,
        compileMs: res.compileMs,
      };
      writeFileSync(path.join(stage, 'meta.json'), JSON.stringify(meta, null, 2));
      rmSync(dir, { recursive: true, force: true });
      renameSync(stage, dir);
      const size = meta.binaries.reduce((n, b) => n + b.size, 0);
      this.progress(
        `engine part ${part.id}: built in ${Math.round(meta.durationMs / 1000)} s (compile ${Math.round(meta.compileMs / 1000)} s), ${(size / 1e6).toFixed(0)} MB${meta.replacements.length ? `, replaced ${meta.replacements.map((r) => `${r.module}@${r.from} -> ${r.to}`).join(', ')}` : ''}`,
      );
      return meta;
    } finally {
      rmSync(stage, { recursive: true, force: true });
    }
  }

  /** Every binary must run and name the version it was built as; returns what they printed. */
  private async checkVersions(part: EnginePart, dir: string, release: EngineRelease): Promise<string> {
    const lines: string[] = [];
    const want = part.kind === 'daemon' || part.kind === 'cli' ? release.version : part.version.replace(/^v/, '');
    for (const b of part.binaries.filter((x) => VERSION_ARGS[x])) {
      const r = await run([path.join(dir, b), ...VERSION_ARGS[b]!], { env: childEnv(this.config), timeoutMs: 30_000 });
      const out = (r.stdout + r.stderr).trim().split('\n')[0] ?? '';
      if (r.exitCode !== 0 || !out.includes(want)) throw new ProvisionError(`${b} of ${part.id} does not report ${want}: exit ${r.exitCode}, "${out}"`);
      lines.push(out);
    }
    return lines.join('; ');
  }

  /** PKG_CONFIG settings for a static libseccomp from Debian's libseccomp-dev, or undefined when it cannot be had. */
  private async seccompEnv(signal?: AbortSignal): Promise<Record<string, string> | undefined> {
    // The static library must match the host's libc, so it comes from the host's own suite.
    const suite = hostSuite();
    if (!suite) {
      this.progress('runc: not a Debian host, so no static libseccomp; building runc without seccomp (the engine then runs containers unconfined)');
      return undefined;
    }
    const dir = path.join(this.config.cacheDir, 'tools', `libseccomp-dev-${suite}`);
    const pc = () => findFile(dir, 'libseccomp.pc');
    if (!pc()) {
      await crossProcessLock(
        path.join(this.config.cacheDir, 'locks', `libseccomp-${suite}`),
        'libseccomp-dev',
        this.progress,
        async () => {
          if (!pc()) await new PrivateApt(this.config, this.progress).unpack('libseccomp-dev', suite, dir, signal);
        },
        signal,
      );
    }
    const file = pc();
    if (!file) throw new ProvisionError(`libseccomp-dev from Debian ${suite} has no libseccomp.pc`);
    return { PKG_CONFIG_PATH: path.dirname(file), PKG_CONFIG_SYSROOT_DIR: dir };
  }
}

function findFile(dir: string, name: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isFile() && entry.name === name) return p;
    if (entry.isDirectory()) {
      const hit = findFile(p, name);
      if (hit) return hit;
    }
  }
  return undefined;
}
