// Provisioning a run before (and alongside) its cells: every requirement of the run spec is probed first,
// so what cannot be had here is known before any cell starts, then made ready, each once:
// - Go compiles run one at a time, in the order the cells need them (neighbouring versions together, so
//   each reuses the Go build cache of the one before), through one ordered slot;
// - network-bound work (module and package downloads, debootstrap) runs alongside, a few at a time;
// - per-artefact locks make another process wait for this one's result instead of building it again.
// The status goes to a file the cells read (provision-status.ts); progress goes to the board.
import semver from 'semver';
import { childEnv, type LabConfig } from '../config.ts';
import { EngineUnreachableError, HarnessError, RequirementError } from '../errors.ts';
import { run } from '../exec.ts';
import { BuildxProvisioner, isUnavailable } from '../buildx/provision.ts';
import { loadReleases, type ResolvedVersion } from '../buildx/spec.ts';
import { ensureBuildkitImage, hasBuildkitBinaries } from '../buildkit/image.ts';
import { classifyBuildError } from '../buildkit/versions.ts';
import { EngineBuilder, engineParts } from '../engine/binaries.ts';
import { resolveEngineSpec, type ResolvedEngine } from '../engine/spec.ts';
import { CASE_BASE, ENGINE_BASE, GRPC_PROXY, debianDindSpec, sourceDindSpec } from '../images/catalog.ts';
import { ensureRegistryImage } from '../images/registry-image.ts';
import { ensureImage, findOfficialImage } from '../images/images.ts';
import { K3S, ensureK3sNodeImage } from '../images/k3s-node.ts';
import { withHeartbeat, type ProgressSink } from '../progress.ts';
import { resolveGitTree, type GitTreeRef } from '../provision/git-tree.ts';
import { goEnvFor, lockedSlot, type CompileSlot } from '../provision/gobuild.ts';
import { goToolPath } from '../provision/go-tool.ts';
import { ensureCollector } from '../serve/otlp-collector.ts';
import { S3Server, VERSITYGW } from '../serve/s3-server.ts';
import { existsSync } from 'node:fs';
import { writeStatus, type ProvisionStatus } from './provision-status.ts';
import { requirementId, type Requirement, type RunSpec } from './run-spec.ts';

/** Results the cells read back, by requirement kind. */
export interface EngineImageResult {
  ref: string;
  label: string;
  version: string;
  kind: 'source' | 'debian';
  /** false when runc has no seccomp: the DinD engine runs containers unconfined */
  seccomp: boolean;
  /** what each part reported, e.g. "containerd github.com/containerd/containerd v1.7.18 …" */
  parts: string[];
  source: string;
}
export interface ImageResult {
  ref: string;
  source: string;
  /** BuildKit images: what the BuildKit was built from (the module proxy's release, a Git commit, the official image) */
  from?: string;
  /** BuildKit images built here: the binaries' directory in the cache (buildkit/<version> or buildkit/git-<commit>) */
  binaries?: string;
  /** the k3s node image: what it carries, for the cell's evidence */
  describe?: string;
}

/** Compiles one at a time in `order` (lower first), each inside the machine-wide compile lock. */
export class OrderedSlot {
  private busy = false;
  private readonly waiting: { order: number; go: () => void }[] = [];
  constructor(private readonly inner: CompileSlot) {}

  forOrder(order: number): CompileSlot {
    return async (what, work) => {
      await new Promise<void>((go) => {
        this.waiting.push({ order, go });
        this.next();
      });
      try {
        return await this.inner(what, work);
      } finally {
        this.busy = false;
        this.next();
      }
    };
  }

  private next(): void {
    if (this.busy || !this.waiting.length) return;
    this.waiting.sort((a, b) => a.order - b.order);
    this.busy = true;
    this.waiting.shift()!.go();
  }
}

/** A few network-bound steps at a time. */
class Gate {
  private active = 0;
  private readonly queue: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.queue.push(r));
    this.active++;
    try {
      return await work();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}

export interface ProvisionRun {
  /** settles when every requirement is ready or failed */
  done: Promise<ProvisionStatus>;
  /** stops everything still in flight (engine gone, Ctrl-C) */
  abort(reason: string): void;
}

export class Provisioner {
  private readonly controller = new AbortController();
  private readonly slot: OrderedSlot;
  private readonly net = new Gate(4);
  private readonly status: ProvisionStatus;
  private writeTimer?: NodeJS.Timeout;
  /** releases the module proxy refuses, to be built from their tags in BUILDX_LAB_BUILDX_GIT or BUILDX_LAB_BUILDKIT_GIT instead, by requirement id */
  private readonly fromGit = new Map<string, ResolvedVersion>();

  constructor(
    private readonly config: LabConfig,
    private readonly spec: Pick<RunSpec, 'requirements' | 'reportDir'>,
    private readonly progress: ProgressSink,
  ) {
    this.slot = new OrderedSlot(lockedSlot(config, progress, this.controller.signal));
    this.status = { probed: false, requirements: Object.fromEntries(Object.keys(spec.requirements).map((id) => [id, { state: 'pending' as const }])) };
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  start(): ProvisionRun {
    this.flush();
    const ids = Object.keys(this.spec.requirements);
    const done = (async () => {
      // 1. Probe: what cannot be had here is known before the first cell starts.
      const probes = await Promise.all(ids.map((id) => this.net.run(() => this.probe(id, this.spec.requirements[id]!)).then((r) => [id, r] as const)));
      for (const [id, reason] of probes) if (reason) this.fail(id, new RequirementError(reason), 0);
      this.status.probed = true;
      this.flush();
      // 2. Provision what can be had, compiles ordered by first use.
      await Promise.all(ids.map((id, order) => (this.status.requirements[id]!.state === 'pending' ? this.provisionOne(id, order) : undefined)));
      this.flush(true);
      return this.status;
    })();
    return { done, abort: (reason) => this.abort(reason) };
  }

  abort(reason: string): void {
    if (this.controller.signal.aborted) return;
    this.status.aborted = reason;
    this.controller.abort(new HarnessError(reason));
    for (const [id, e] of Object.entries(this.status.requirements)) {
      if (e.state === 'pending') this.status.requirements[id] = { state: 'failed', reason: `provisioning stopped: ${reason}`, missing: false, ms: 0 };
    }
    this.flush(true);
  }

  private async provisionOne(id: string, order: number): Promise<void> {
    const t0 = Date.now();
    const req = this.spec.requirements[id]!;
    try {
      const result = await this.provide(req, this.slot.forOrder(order));
      if (this.controller.signal.aborted) return;
      this.status.requirements[id] = { state: 'ready', result: result as unknown as Record<string, unknown>, ms: Date.now() - t0 };
      this.flush();
    } catch (e) {
      if (!this.controller.signal.aborted) this.fail(id, e, Date.now() - t0);
      if (e instanceof EngineUnreachableError) this.abort(e.message);
    }
  }

  private fail(id: string, e: unknown, ms: number): void {
    const err = e instanceof Error ? e : new Error(String(e));
    const missing = e instanceof RequirementError || (e instanceof HarnessError && isUnavailable(e));
    this.status.requirements[id] = { state: 'failed', reason: err.message, missing, ms };
    this.progress(`${id}: ${missing ? 'cannot be had here' : 'FAILED'}: ${err.message.split('\n')[0]}`);
    this.flush();
  }

  private flush(now = false): void {
    if (now) {
      clearTimeout(this.writeTimer);
      this.writeTimer = undefined;
      writeStatus(this.spec.reportDir, this.status);
      return;
    }
    this.writeTimer ??= setTimeout(() => {
      this.writeTimer = undefined;
      writeStatus(this.spec.reportDir, this.status);
    }, 100);
  }

  /** Why `req` cannot be had here, or undefined when it can (or may): cheap checks only. */
  private async probe(id: string, req: Requirement): Promise<string | undefined> {
    const sig = this.controller.signal;
    switch (req.kind) {
      case 'buildx': {
        const prov = new BuildxProvisioner(this.config, this.progress);
        const resolved = toResolved(req);
        // a commit from Git is resolved already; whether it builds, the build says
        if (prov.cached(resolved) || req.spec.startsWith('debian-') || req.git) return undefined;
        const refused = await this.moduleRefused('github.com/docker/buildx', req.version, sig);
        if (!refused || !this.config.buildxGit) return refused;
        const pinned = loadReleases().releases.find((x) => x.version === req.version)?.commit;
        return this.releaseFromGit(id, { product: 'Buildx', setting: 'BUILDX_LAB_BUILDX_GIT', repo: this.config.buildxGit, version: req.version, spec: req.spec, pinned }, refused);
      }
      case 'buildkit': {
        // a commit from Git is resolved already; whether it builds, the build says
        if (req.git || hasBuildkitBinaries(this.config, req.version)) return undefined;
        const refused = await this.moduleRefused('github.com/moby/buildkit', req.version, sig);
        if (!refused || !this.config.buildkitGit) return refused;
        return this.releaseFromGit(
          id,
          { product: 'BuildKit', setting: 'BUILDX_LAB_BUILDKIT_GIT', repo: this.config.buildkitGit, version: req.version, spec: req.version },
          refused,
        );
      }
      case 'engine-image': {
        const engine = resolveEngineSpec(req.spec)[0]!;
        if (engine.kind === 'debian') return undefined;
        const builder = new EngineBuilder(this.config, this.progress);
        for (const part of engineParts(engine.release)) {
          if (builder.cachedPart(part)) continue;
          const refused = await this.moduleRefused(part.module, part.version, sig);
          if (refused) return `Docker ${engine.version} cannot be built here: ${refused}`;
        }
        return undefined;
      }
      case 'image':
        // k3s: the proxy serves one pseudo-version; asked once, until it is built
        if (req.id === 'k3s-node' && !existsSync(goToolPath(this.config, K3S))) return this.moduleRefused(K3S.module, K3S.version, sig);
        return undefined;
      case 'tool':
        // the collector's sources ship with the lab (serve/otelcol): nothing for the module proxy to refuse but its dependencies, which the build reports
        if (req.id === 'otelcol') return undefined;
        return existsSync(goToolPath(this.config, VERSITYGW)) ? undefined : this.moduleRefused(VERSITYGW.module, VERSITYGW.version, sig);
    }
  }

  /**
   * A release the module proxy refuses, from its tag in the repository `setting` names: the cell keeps the
   * release's label and expectations, and its evidence names the commit. The reason it cannot be had, when
   * the repository lacks the tag, or its tag is not the release's commit (`pinned`, where the lab knows it).
   */
  private async releaseFromGit(
    id: string,
    o: { product: 'Buildx' | 'BuildKit'; setting: string; repo: string; version: string; spec: string; pinned?: string },
    refused: string,
  ): Promise<string | undefined> {
    try {
      const r = await resolveGitTree(this.config, `git:${o.repo}@${o.version}`, o.product, this.progress, this.controller.signal);
      if (r.git.tag !== o.version) return `${refused}; and ${o.version} in ${o.repo} (${o.setting}) is no release tag on its commit ${r.git.commit}`;
      if (o.pinned && o.pinned !== r.git.commit) return `${refused}; and the tag ${o.version} in ${o.repo} (${o.setting}) is commit ${r.git.commit}, not the release's ${o.pinned}`;
      this.fromGit.set(id, { ...r, spec: o.spec, via: 'git' });
      this.progress(`${o.product} ${o.version}: the Go module proxy refuses it; building its tag, commit ${r.git.commit}, from ${r.git.repo} (${o.setting})`);
      return undefined;
    } catch (e) {
      if (!(e instanceof HarnessError)) throw e;
      return `${refused}; and ${o.setting}=${o.repo} cannot stand in: ${e.message.split('\n')[0]}`;
    }
  }

  /** The proxy's answer for a module version's source, as a reason when it refuses it. */
  private async moduleRefused(module: string, version: string, signal: AbortSignal): Promise<string | undefined> {
    if (this.config.offline && !this.config.goEnv.GOPROXY?.startsWith('file:')) return undefined;
    // The source is downloaded here, once (the build finds it in the module cache); a slow or hung proxy
    // shows as a task that keeps saying it waits, never as silence.
    const r = await withHeartbeat(this.progress, `module ${module}@${version}: asking the Go module proxy`, () =>
      run(['go', 'mod', 'download', '-json', `${module}@${version}`], {
        env: childEnv(this.config, { ...goEnvFor(this.config), GO111MODULE: 'on' }),
        cwd: this.config.cacheDir,
        timeoutMs: 10 * 60_000,
        signal,
      }),
    );
    if (r.exitCode === 0) return undefined;
    let err = '';
    try {
      err = (JSON.parse(r.stdout) as { Error?: string }).Error ?? '';
    } catch {
      err = r.stderr.trim();
    }
    if (/403|404|410|not available|not found|unknown revision|invalid version/i.test(err)) return `the Go module proxy does not serve ${module}@${version} (${err.split('\n')[0]})`;
    if (/executable file not found|no such file or directory.*go\b/i.test(err)) return `Go is not installed, and ${module}@${version} has to be built`;
    return undefined; // a passing network error: the build itself reports it
  }

  private async provide(req: Requirement, slot: CompileSlot): Promise<unknown> {
    const opts = { slot, signal: this.controller.signal };
    const label = requirementLabel(req);
    const task = <T>(work: () => Promise<T>) => (this.progress.task ? this.progress.task(label, () => work()) : work());
    switch (req.kind) {
      case 'buildx':
        return task(() => new BuildxProvisioner(this.config, this.progress).install(this.fromGit.get(requirementId(req)) ?? toResolved(req), opts));
      case 'buildkit': {
        const id = requirementId(req);
        const build = (git?: GitTreeRef) => task(() => ensureBuildkitImage(this.config, req.version, this.progress, { ...opts, rootless: req.rootless, ...(git ? { git } : {}) }));
        const git = req.git ?? this.fromGit.get(id)?.git;
        let img: Awaited<ReturnType<typeof build>>;
        try {
          img = await build(git);
        } catch (e) {
          // BuildKit releases are mostly refused for a dependency, not themselves: the probe cannot tell,
          // the build does; its tag in BUILDX_LAB_BUILDKIT_GIT (vendor/ and all) stands in then.
          if (!standsInFromGit(e, { fromGit: git !== undefined, configured: this.config.buildkitGit })) throw e;
          const why = await this.releaseFromGit(
            id,
            { product: 'BuildKit', setting: 'BUILDX_LAB_BUILDKIT_GIT', repo: this.config.buildkitGit!, version: req.version, spec: req.version },
            (e as Error).message.split('\n')[0]!,
          );
          if (why) throw new RequirementError(why);
          img = await build(this.fromGit.get(id)!.git);
        }
        return { ref: img.ref, source: img.source, from: img.from, ...(img.binaries ? { binaries: img.binaries } : {}) } satisfies ImageResult;
      }
      case 'image': {
        const img = await task(async () => {
          if (req.id === 'registry') return this.net.run(() => ensureRegistryImage(this.config, this.progress, opts.signal));
          if (req.id === 'grpc-proxy') return this.net.run(() => ensureImage(this.config, GRPC_PROXY, this.progress, { signal: opts.signal }));
          if (req.id === 'k3s-node') return ensureK3sNodeImage(this.config, this.progress, opts);
          return ensureImage(this.config, req.id === 'case-base' ? CASE_BASE : ENGINE_BASE, this.progress, { signal: opts.signal });
        });
        return { ref: img.ref, source: img.source, ...('describe' in img && typeof img.describe === 'string' ? { describe: img.describe } : {}) } satisfies ImageResult;
      }
      case 'engine-image':
        return task(() => this.engineImage(resolveEngineSpec(req.spec)[0]!, opts));
      case 'tool': {
        if (req.id === 'otelcol') return { path: (await task(() => ensureCollector(this.config, this.progress, opts))).path };
        const bin = await task(() => S3Server.ensureBinary(this.config, this.progress, opts));
        return { path: bin.path, sha256: bin.sha256 };
      }
    }
  }

  private async engineImage(engine: ResolvedEngine, opts: { slot: CompileSlot; signal: AbortSignal }): Promise<EngineImageResult> {
    if (engine.kind === 'debian') {
      const img = await this.net.run(() => ensureImage(this.config, debianDindSpec(engine.debian.suite, engine.version), this.progress, { signal: opts.signal }));
      return {
        ref: img.ref,
        label: engine.label,
        version: engine.version,
        kind: 'debian',
        seccomp: true,
        parts: [engine.debian.note ?? `Debian ${engine.debian.suite}`],
        source: img.source,
      };
    }
    const official = await findOfficialImage(this.config, [`docker:${engine.version}-dind`], this.progress);
    if (official)
      return {
        ref: official.ref,
        label: engine.label,
        version: engine.version,
        kind: 'source',
        seccomp: true,
        parts: [`official docker:${engine.version}-dind`],
        source: official.source,
      };
    const bins = await new EngineBuilder(this.config, this.progress).ensure(engine.release, opts);
    const img = await ensureImage(this.config, sourceDindSpec(bins), this.progress, { signal: opts.signal });
    return { ref: img.ref, label: engine.label, version: engine.version, kind: 'source', seccomp: bins.seccomp, parts: bins.parts.map((p) => p.reports), source: img.source };
  }
}

function toResolved(req: Extract<Requirement, { kind: 'buildx' }>): ResolvedVersion {
  return { version: req.version, spec: req.spec, via: req.via, ...(req.git ? { git: req.git } : {}) };
}

/**
 * Whether a failed build of a BuildKit release is retried from its tag in the configured repository: only
 * a release (not already a build from Git) that the module proxy refused, a dependency of it included; pure.
 */
export function standsInFromGit(e: unknown, o: { fromGit: boolean; configured: string | undefined }): boolean {
  return !o.fromGit && o.configured !== undefined && e instanceof HarnessError && classifyBuildError(e.message) === 'refused';
}

export function requirementLabel(req: Requirement): string {
  switch (req.kind) {
    case 'buildx':
      return `buildx ${req.label}`;
    case 'buildkit':
      return `BuildKit ${req.version}${req.rootless ? ' rootless' : ''} image`;
    case 'engine-image':
      return `engine ${req.label} image`;
    case 'image':
      return req.id === 'k3s-node' ? 'k3s-node image (k3s, the Kubernetes node)' : `${req.id} image`;
    case 'tool':
      return req.id === 'otelcol' ? 'otelcol (the OTLP receiver)' : `${req.id} (the S3 server)`;
  }
}

/** Requirement ids in the order compiles should run: as first needed, neighbouring versions together. Pure. */
export function compileOrder(ids: readonly string[]): string[] {
  const version = (id: string) => semver.coerce(id.split(':')[1] ?? '')?.version ?? '0.0.0';
  const kindRank = (id: string) => ['image', 'engine', 'buildx', 'buildkit', 'tool'].indexOf(id.split(':')[0]!);
  return [...ids].sort((a, b) => kindRank(a) - kindRank(b) || semver.compare(version(a), version(b)) || a.localeCompare(b));
}
