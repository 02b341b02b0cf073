// Makes a Buildx version available on the host, trying sources in order and recording which one served:
// cache, official release download, build from the Go module proxy, Debian package; or, for a git spec,
// a build of its commit (git-source.ts), cached by the commit's hash.
// Every binary is verified by running `buildx version`, and enters the cache by an atomic rename.
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { childEnv, type LabConfig } from '../config.ts';
import { HarnessError, ProvisionError, RequirementError } from '../errors.ts';
import { OncePerKey } from '../once.ts';
import { run } from '../exec.ts';
import { pidsInAnyNamespace } from '../ownership/owner.ts';
import { goModuleBuild, type CompileSlot } from '../provision/gobuild.ts';
import { buildxInUse } from '../provision/in-use.ts';
import { judgeTempDir, matchTempDir, type TempVerdict } from '../provision/temp-dirs.ts';
import { crossProcessLock } from '../provision/lock.ts';
import type { ProgressSink } from '../progress.ts';
import { buildxArch, goEnv, type BuildxArch } from './arch.ts';
import { parseVersionOutput, sameVersion, type BuildxBinary, type BuildxMeta, type BuildxSource } from './buildx.ts';
import { fetchDebianBuildx, type DebianSuite } from './debian.ts';
import { buildGitBuildx } from './git-source.ts';
import { downloadRelease } from './release-download.ts';
import { loadReleases, resolveSpecs, type ResolvedVersion } from './spec.ts';

type Origin = Exclude<BuildxSource, 'cache'>;

/** A source that cannot serve here (unreachable, not offered, tool missing), as opposed to one that failed. */
export function isUnavailable(e: HarnessError): boolean {
  return e instanceof RequirementError || /cannot download|not found:|ENOTFOUND|EAI_AGAIN|not available|403 Forbidden|410 Gone|could not provide/.test(e.message);
}

export function buildxCacheRoot(config: LabConfig, arch: BuildxArch = buildxArch()): string {
  return path.join(config.cacheDir, 'buildx', `linux-${arch}`);
}

/** Name of a version's directory in the cache; Debian's builds are patched, so they do not share upstream's slot. */
export function cacheKey(version: string, origin: Exclude<Origin, 'git'>): string {
  return origin === 'debian' ? `${version}-debian` : version;
}

/** A build from Git is cached by its commit: one directory per commit, whatever the spec that named it. */
export function gitCacheKey(commit: string): string {
  return `git-${commit}`;
}

/** The cache directory's name of a resolved version from one source; pure. */
export function cacheKeyOf(resolved: { version: string; git?: { commit: string } }, origin: Origin): string {
  if (origin !== 'git') return cacheKey(resolved.version, origin);
  if (!resolved.git) throw new HarnessError(`buildx ${resolved.version}: a build from Git needs its commit`);
  return gitCacheKey(resolved.git.commit);
}

/** Source order for a resolved spec; pure. Debian aliases ask for Debian's build first; a git spec has one source. */
export function sourceOrder(resolved: Pick<ResolvedVersion, 'spec' | 'via'>, offline: boolean): Origin[] {
  if (resolved.via === 'git') return ['git'];
  const debianFirst = resolved.via === 'alias' && resolved.spec.startsWith('debian-');
  if (debianFirst) return ['debian'];
  return offline ? ['go'] : ['release', 'go'];
}

function sha256File(p: string): string {
  return createHash('sha256').update(readFileSync(p)).digest('hex');
}

function readMeta(dir: string): BuildxMeta | undefined {
  try {
    return JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8')) as BuildxMeta;
  } catch {
    return undefined;
  }
}

function toBinary(dir: string, meta: BuildxMeta, source: BuildxSource, spec?: string): BuildxBinary {
  return {
    version: meta.version,
    path: path.join(dir, 'docker-buildx'),
    source,
    origin: meta.origin,
    sha256: meta.sha256,
    size: meta.size,
    arch: meta.arch,
    spec,
    ...(meta.git ? { git: meta.git } : {}),
  };
}

export async function verifyBinary(config: LabConfig, file: string, expected: string): Promise<string> {
  const r = await run([file, 'version'], { env: childEnv(config), timeoutMs: 30_000 });
  const got = parseVersionOutput(r.stdout);
  if (r.exitCode !== 0 || !got) throw new ProvisionError(`${file} does not run as Buildx (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim()}`);
  if (!sameVersion(got, expected)) throw new ProvisionError(`${file} reports ${r.stdout.trim()}, not the requested ${expected}; refusing it`);
  return r.stdout.trim();
}

export interface InstallOptions {
  /** the ordered compile slot of a provisioning plan (default: the machine-wide compile lock) */
  slot?: CompileSlot;
  signal?: AbortSignal;
}

export class BuildxProvisioner {
  private readonly arch: BuildxArch;
  constructor(
    private readonly config: LabConfig,
    private readonly progress: ProgressSink,
  ) {
    this.arch = buildxArch();
  }

  get root(): string {
    return buildxCacheRoot(this.config, this.arch);
  }

  /** Resolves specs ("0.21.1", "^0.21", "latest", "debian-sid") and installs each. */
  async installSpecs(specs: readonly string[], opts: { includePrerelease?: boolean } = {}): Promise<BuildxBinary[]> {
    const resolved = resolveSpecs(specs, loadReleases(), opts);
    const out: BuildxBinary[] = [];
    for (const r of resolved) out.push(await this.install(r));
    return out;
  }

  cached(resolved: ResolvedVersion): BuildxBinary | undefined {
    for (const origin of sourceOrder(resolved, false)) {
      const dir = path.join(this.root, cacheKeyOf(resolved, origin));
      const meta = readMeta(dir);
      if (meta && existsSync(path.join(dir, 'docker-buildx'))) return toBinary(dir, meta, 'cache', resolved.spec);
    }
    return undefined;
  }

  private readonly installs = new OncePerKey<BuildxBinary>();

  /**
   * Installs once per process per version (concurrent callers share the install) and once per machine
   * (a second process waits on the version's lock, then finds it cached).
   */
  install(resolved: ResolvedVersion, opts: InstallOptions = {}): Promise<BuildxBinary> {
    return this.installs.get(`${resolved.spec}@${resolved.version}@${resolved.git?.commit ?? ''}`, () => this.installLocked(resolved, opts));
  }

  private async installLocked(resolved: ResolvedVersion, opts: InstallOptions): Promise<BuildxBinary> {
    const hit = this.cached(resolved);
    if (hit) return hit;
    mkdirSync(this.root, { recursive: true });
    return crossProcessLock(
      path.join(
        this.config.cacheDir,
        'locks',
        resolved.git ? `buildx-${gitCacheKey(resolved.git.commit)}` : `buildx-${resolved.version}-${resolved.spec.startsWith('debian-') ? 'debian' : 'upstream'}`,
      ),
      `buildx ${resolved.version}`,
      this.progress,
      async () => {
        return this.cached(resolved) ?? this.installUncached(resolved, opts);
      },
      opts.signal,
    );
  }

  private async installUncached(resolved: ResolvedVersion, opts: InstallOptions): Promise<BuildxBinary> {
    const failures: string[] = [];
    let onlyUnavailable = true;
    for (const origin of sourceOrder(resolved, this.config.offline)) {
      try {
        return await this.installFrom(origin, resolved, opts);
      } catch (e) {
        if (!(e instanceof HarnessError)) throw e;
        if (!isUnavailable(e)) onlyUnavailable = false;
        failures.push(`${origin}: ${e.message.split('\n').slice(0, 4).join(' / ')}`);
        this.progress(`buildx ${resolved.version}: source '${origin}' failed${origin === 'debian' ? '' : ', trying the next'} (${e.message.split('\n')[0]})`);
      }
    }
    const message = `no source could provide Buildx ${resolved.version} (from '${resolved.spec}'). Tried:\n${failures.map((f) => `  - ${f}`).join('\n')}`;
    // Nothing here can be had (no download reachable, the module proxy does not serve it, no Go):
    // a missing requirement of this host, not a failure of the lab or of Buildx.
    throw onlyUnavailable ? new RequirementError(message) : new ProvisionError(message);
  }

  private async installFrom(origin: Origin, resolved: ResolvedVersion, opts: InstallOptions): Promise<BuildxBinary> {
    const t0 = Date.now();
    // Staged beside the cache so the final rename is atomic; an interrupted install leaves only a .tmp dir.
    const stage = path.join(this.root, `.tmp-${cacheKeyOf(resolved, origin)}-${process.pid}-${Date.now()}`);
    mkdirSync(stage, { recursive: true });
    const bin = path.join(stage, 'docker-buildx');
    try {
      let version = resolved.version;
      let detail = '';
      let revision: string | undefined;
      let sumdb: string | undefined;
      let checksum: BuildxMeta['checksum'];
      let git: BuildxMeta['git'];
      if (origin === 'git') {
        if (!resolved.git) throw new HarnessError(`buildx ${resolved.version}: a build from Git needs its commit`);
        const res = await buildGitBuildx(
          this.config,
          resolved.git,
          resolved.version,
          bin,
          { workDir: path.join(stage, 'work'), goArch: goEnv(this.arch).GOARCH, slot: opts.slot, signal: opts.signal },
          this.progress,
        );
        revision = resolved.git.commit;
        sumdb = res.mode === 'mod' ? res.sumdb : undefined;
        git = { repo: resolved.git.repo, commit: resolved.git.commit, ...(resolved.git.tag ? { tag: resolved.git.tag } : {}), mode: res.mode };
        detail = `${res.goVersion}, commit ${resolved.git.commit}${resolved.git.tag ? ` (tag ${resolved.git.tag})` : ''} of ${resolved.git.repo}, -mod=${res.mode}, compile ${Math.round(res.compileMs / 1000)} s`;
      } else if (origin === 'release') {
        const dl = await downloadRelease(resolved.version, this.arch, { baseUrl: this.config.releasesBaseUrl, destDir: stage, allowUnpinned: this.config.allowUnpinned });
        renameSync(dl.path, bin);
        detail = dl.url;
        checksum = { pinned: dl.pinned, against: dl.checkedAgainst };
      } else if (origin === 'go') {
        const res = await goModuleBuild(
          this.config,
          {
            module: 'github.com/docker/buildx',
            version: resolved.version,
            targets: [{ pkg: './cmd/buildx', out: bin }],
            ldflagsX: { 'github.com/docker/buildx/version.Version': resolved.version, 'github.com/docker/buildx/version.Revision': '{{revision}}' },
            workDir: path.join(stage, 'work'),
            goArch: goEnv(this.arch).GOARCH,
            signal: opts.signal,
          },
          this.progress,
          opts.slot,
        );
        revision = res.revision ?? resolved.release?.commit;
        sumdb = res.sumdb;
        detail = `${res.goVersion}, compile ${Math.round(res.compileMs / 1000)} s, module download ${Math.round(res.downloadMs / 1000)} s`;
      } else {
        const suite = resolved.spec.replace(/^debian-/, '') as DebianSuite;
        const deb = await fetchDebianBuildx(this.config, suite, bin, this.progress, opts.signal);
        version = deb.version;
        if (!sameVersion(version, resolved.version)) {
          throw new ProvisionError(`Debian ${suite} now carries docker-buildx ${deb.debVersion}, not ${resolved.version}; update the alias in harness/buildx/releases.json`);
        }
        detail = `docker-buildx ${deb.debVersion} from Debian ${suite}`;
      }
      chmodSync(bin, 0o755);
      await verifyBinary(this.config, bin, version);
      const meta: BuildxMeta = {
        version,
        origin,
        sha256: sha256File(bin),
        size: statSync(bin).size,
        arch: this.arch,
        installedAt: new Date().toISOString(),
        durationMs: Date.now() - t0,
        revision,
        detail,
        ...(sumdb ? { sumdb } : {}),
        ...(checksum ? { checksum } : {}),
        ...(git ? { git } : {}),
      };
      rmSync(path.join(stage, 'work'), { recursive: true, force: true });
      writeFileSync(path.join(stage, 'meta.json'), JSON.stringify(meta, null, 2));
      const final = path.join(this.root, cacheKeyOf({ version, git: resolved.git }, origin));
      try {
        renameSync(stage, final);
      } catch (e) {
        // Another process installed the same version first: keep theirs, drop ours.
        if (!['ENOTEMPTY', 'EEXIST'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
      }
      const finalMeta = readMeta(final) ?? meta;
      // the total includes any wait for the machine's compile slot
      this.progress(`buildx ${version}: installed from ${origin} (${detail}) in ${((Date.now() - t0) / 1000).toFixed(1)} s in all, ${(finalMeta.size / 1e6).toFixed(1)} MB`);
      return toBinary(final, finalMeta, origin, resolved.spec);
    } finally {
      rmSync(stage, { recursive: true, force: true });
    }
  }

  list(): (BuildxMeta & { key: string; path: string })[] {
    if (!existsSync(this.root)) return [];
    return readdirSync(this.root)
      .filter((d) => !d.startsWith('.'))
      .flatMap((key) => {
        const meta = readMeta(path.join(this.root, key));
        return meta ? [{ ...meta, key, path: path.join(this.root, key, 'docker-buildx') }] : [];
      });
  }

  /**
   * Removes cached versions (all but `keep`) that no live run uses (provision/in-use.ts), and the staging
   * directories of installs whose process is gone; an install still going keeps its own.
   */
  prune(keep: ReadonlySet<string> = new Set(), livePids: () => ReadonlySet<number> | undefined = pidsInAnyNamespace): PrunePlan {
    if (!existsSync(this.root)) return { remove: [], kept: [] };
    const names = readdirSync(this.root);
    let pids: ReadonlySet<number> | undefined;
    const staging = (name: string) => {
      const m = matchTempDir('cacheDir', path.relative(this.config.cacheDir, path.join(this.root, name)).split(path.sep).join('/'));
      if (!m) return undefined;
      pids ??= livePids();
      return judgeTempDir(m, pids, Date.now() - statSync(path.join(this.root, name)).mtimeMs);
    };
    const plan = planPrune(names, { keep, inUse: buildxInUse(this.config), staging });
    for (const d of plan.remove) rmSync(path.join(this.root, d), { recursive: true, force: true });
    return plan;
  }
}

export interface PrunePlan {
  remove: string[];
  kept: { name: string; reason: string }[];
}

/** What a prune removes among the cache's entries, and why it keeps the rest; pure. */
export function planPrune(
  names: readonly string[],
  opts: { keep: ReadonlySet<string>; inUse: ReadonlySet<string> | 'all'; staging: (name: string) => TempVerdict | undefined },
): PrunePlan {
  const plan: PrunePlan = { remove: [], kept: [] };
  for (const name of names) {
    const st = opts.staging(name);
    const why = st
      ? st.remove
        ? undefined
        : `an install in progress: ${st.reason}`
      : opts.keep.has(name)
        ? 'asked to keep'
        : opts.inUse === 'all'
          ? 'a run marker cannot be read, so any version may be in use'
          : opts.inUse.has(name)
            ? 'in use by a live run'
            : undefined;
    if (why) plan.kept.push({ name, reason: why });
    else plan.remove.push(name);
  }
  return plan;
}
