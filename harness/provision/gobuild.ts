// Builds binaries of a released Go module from the Go module proxy: Buildx, BuildKit, and the parts of a
// Docker engine (dockerd, containerd, runc, the docker CLI).
//
// - `go install pkg@v` is not used: go.mod of Buildx v0.20.0 to v0.30.x (and BuildKit from v0.19.0) has
//   `exclude` directives, which it refuses. Module zips carry no vendored code, hence -mod=mod.
// - docker/docker and docker/cli keep their requirements in vendor.mod/vendor.sum: renamed to go.mod.
// - Some releases pin pseudo-versions that the proxy refuses (403): the nearest released version of the
//   same module replaces them (a preferred one can be named), and the build records each replacement.
// - Downloads run beside other work (network-bound); compiles run one at a time across every process
//   (a lock in the cache), each with all cores, sharing the Go build cache: that is what makes
//   neighbouring versions cheap (8–30 s instead of minutes).
// - The checksum database stays on whatever the user's environment says (GOSUMDB=off, GONOSUMDB,
//   GOPRIVATE are dropped); only BUILDX_LAB_GO_NOSUMDB=1 turns it off, and the result records it.
// - A compile error is recorded per (module version, flags, toolchain) (compile-failures.ts): the next
//   request fails at once with the recorded reason, until Go changes, the record is deleted (`buildx-lab
//   clean --failed-builds`), or BUILDX_LAB_REBUILD_FAILED=1 asks to try again.
import { createHash } from 'node:crypto';
import { cpSync, chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { childEnv, type LabConfig } from '../config.ts';
import { ProvisionError, RequirementError } from '../errors.ts';
import { run } from '../exec.ts';
import type { ProgressSink } from '../progress.ts';
import { withHeartbeat } from '../progress.ts';
import { CompileFailures, classifyGoFailure, outputTail, type CompileFailureKey, type CompileFailureRecord } from './compile-failures.ts';
import { crossProcessLock } from './lock.ts';

export interface GoTarget {
  pkg: string;
  out: string;
}

/** The first `file.go:line:col: message` of a failed go build, its path cut to the module-relative part. Pure. */
export function firstCompileError(stderr: string): string | undefined {
  const m = /^(?:.*\/pkg\/mod\/)?(\S+?\.go:\d+:\d+: .+)$/m.exec(stderr);
  return m?.[1]?.slice(0, 200);
}

export interface GoBuildRequest {
  module: string;
  /** v-prefixed module version, e.g. v0.21.1 or v26.1.5+incompatible */
  version: string;
  targets: GoTarget[];
  /** -X assignments; `{{revision}}` becomes the tag commit when the proxy reports it, `{{goVersion}}` the Go that builds */
  ldflagsX: Record<string, string>;
  tags?: string[];
  /** requirements live in vendor.mod/vendor.sum (docker/docker before v29, docker/cli) */
  vendorMod?: boolean;
  /**
   * cgo with a static link (runc): extra env such as PKG_CONFIG_PATH. `dynamic` links the host's libc
   * instead (k3s: its sqlite and netcgo want glibc's NSS, which a static glibc link cannot carry)
   */
  cgo?: { env: Record<string, string>; dynamic?: boolean };
  /** false keeps the source paths (the module's own build does not trim them); default true */
  trimpath?: boolean;
  /** module -> version to use when the proxy refuses the version a release pins */
  preferredReplacements?: Record<string, string>;
  /** scratch space, removed afterwards */
  workDir: string;
  goArch?: string;
  /** aborts downloads and the compile (the engine went away, Ctrl-C) */
  signal?: AbortSignal;
  /** reads the module's source before the build (e.g. the pins in moby's Dockerfile); may throw */
  inspectSource?: (dir: string) => void;
  /**
   * The source is a tree from Git, not the module proxy's: `fill` writes it into the directory given
   * (after the compile-failure record is looked up), and `version` names the commit. With its own vendor/
   * it builds with -mod=vendor and downloads nothing.
   */
  tree?: { revision: string; vendor: boolean; fill: (dir: string) => Promise<void> };
}

/** Runs a compile when the machine's single compile slot is free; see scheduler.ts for the ordered one. */
export type CompileSlot = <T>(what: string, work: () => Promise<T>) => Promise<T>;

export interface Replacement {
  module: string;
  from: string;
  to: string;
}

export interface GoBuildResult {
  revision?: string;
  goVersion: string;
  /** whether module checksums were checked against the checksum database */
  sumdb: string;
  replacements: Replacement[];
  downloadMs: number;
  compileMs: number;
  durationMs: number;
}

/** The user's Go settings that may pass through; checksum-database switches are left out on purpose. */
const PASSED_GO_ENV = ['GOPROXY', 'GOPATH', 'GOMODCACHE', 'GOCACHE', 'GOTOOLCHAIN', 'GOROOT', 'GOTMPDIR'] as const;

export function goEnvFor(config: Pick<LabConfig, 'goEnv' | 'goNoSumDb'>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of PASSED_GO_ENV) if (config.goEnv[k]) env[k] = config.goEnv[k]!;
  env.GOSUMDB = config.goNoSumDb ? 'off' : 'sum.golang.org';
  env.GOFLAGS = '-buildvcs=false';
  return env;
}

/** argv of one compile; pure, for unit tests. */
export function goBuildArgv(
  req: Pick<GoBuildRequest, 'ldflagsX' | 'tags' | 'cgo' | 'tree' | 'trimpath'>,
  target: GoTarget,
  revision: string | undefined,
  goVersion = 'unknown',
): string[] {
  const x = Object.entries(req.ldflagsX).map(([k, v]) => `-X ${k}=${v.replace('{{revision}}', revision ?? 'unknown').replace('{{goVersion}}', goVersion)}`);
  const ld = ['-s', '-w', ...x, ...(req.cgo && !req.cgo.dynamic ? ['-extldflags', '-static'] : [])];
  const argv = ['go', 'build', req.tree?.vendor ? '-mod=vendor' : '-mod=mod', ...(req.trimpath === false ? [] : ['-trimpath'])];
  if (req.tags?.length) argv.push('-tags', req.tags.join(' '));
  return [...argv, '-ldflags', ld.join(' '), '-o', target.out, target.pkg];
}

/** Module versions the proxy refused in `go` output: "reading https://…/<module>/@v/<version>.zip: 403". */
export function refusedVersions(output: string): { module: string; version: string }[] {
  const out = new Map<string, { module: string; version: string }>();
  for (const m of output.matchAll(/(\S+?)@(v[^\s:]+): reading \S+\/@v\/\S+: (?:403|404|410)/g)) {
    out.set(`${m[1]}@${m[2]}`, { module: m[1]!, version: m[2]! });
  }
  return [...out.values()];
}

/**
 * Replaces pointing at a directory of the module that its zip does not carry (a nested module, such as runc
 * 1.3's patched ./internal/third_party/selinux): module, required version, and the local path. Pure.
 */
export function missingLocalReplaces(output: string): { module: string; version: string; path: string }[] {
  const out = new Map<string, { module: string; version: string; path: string }>();
  for (const m of output.matchAll(/(\S+?)@(v\S+) \(replaced by (\.{1,2}\/\S+)\): reading \S+: (?:open \S+: )?no such file or directory/g)) {
    out.set(m[1]!, { module: m[1]!, version: m[2]!, path: m[3]! });
  }
  return [...out.values()];
}

/**
 * Released versions that may stand in for a refused pseudo-version, best first: the same major.minor
 * branch, starting at the version the pseudo-version precedes (v0.11.7-0.2024… → v0.11.7, v0.11.8, then
 * v0.11.6 … v0.11.0). The proxy's version lists are partial here, so each is probed by name. Pure.
 */
export function standInCandidates(pseudo: string): string[] {
  const incompatible = pseudo.endsWith('+incompatible') ? '+incompatible' : '';
  const target = semver.coerce(pseudo.replace(/\+incompatible$/, ''));
  if (!target) return [];
  const { major, minor, patch } = target;
  const up = [patch, patch + 1, patch + 2];
  const down = Array.from({ length: patch }, (_, i) => patch - 1 - i);
  return [...up, ...down].map((p) => `v${major}.${minor}.${p}${incompatible}`);
}

/** A hash of what a build request asks of the compiler (paths, the signal and the source check aside); pure. */
export function buildFlagsHash(req: Pick<GoBuildRequest, 'targets' | 'ldflagsX' | 'tags' | 'vendorMod' | 'cgo' | 'preferredReplacements' | 'tree' | 'trimpath'>): string {
  const sorted = (o: Record<string, string> | undefined) => Object.entries(o ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const canonical = {
    pkgs: req.targets.map((t) => t.pkg),
    tags: [...(req.tags ?? [])].sort(),
    ldflagsX: sorted(req.ldflagsX),
    vendorMod: req.vendorMod === true,
    cgo: req.cgo ? sorted(req.cgo.env) : null,
    preferredReplacements: sorted(req.preferredReplacements),
    // only for trees from Git, so that the records of module builds keep their keys
    ...(req.tree ? { tree: req.tree.vendor ? 'vendor' : 'mod' } : {}),
    ...(req.trimpath === false ? { trimpath: false } : {}),
    ...(req.cgo?.dynamic ? { dynamic: true } : {}),
  };
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}

/** The toolchain a build runs with: `go env` under the build's own environment (GOARCH, GOTOOLCHAIN). */
export interface GoToolchain {
  goVersion: string;
  goToolchain: string;
  goos: string;
  goarch: string;
}

async function goToolchain(env: Record<string, string>): Promise<GoToolchain | undefined> {
  const r = await run(['go', 'env', '-json', 'GOVERSION', 'GOTOOLCHAIN', 'GOOS', 'GOARCH'], { env, timeoutMs: 30_000 }).catch(() => undefined);
  if (r?.exitCode !== 0) return undefined;
  try {
    const v = JSON.parse(r.stdout) as Record<string, unknown>;
    const s = (k: string) => (typeof v[k] === 'string' && v[k] ? (v[k] as string) : undefined);
    const goVersion = s('GOVERSION');
    return goVersion ? { goVersion, goToolchain: s('GOTOOLCHAIN') ?? 'auto', goos: s('GOOS') ?? 'unknown', goarch: s('GOARCH') ?? 'unknown' } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The skip reason of a version that does not compile; a recorded one adds when it failed and how to try
 * again. Both read the same record, so a cached reason is the fresh one plus that note. Pure.
 */
export function compileFailureReason(r: CompileFailureRecord, cached?: { file: string }): string {
  const toolchain = `${r.key.goVersion}${r.key.goToolchain === 'local' ? '' : ` (GOTOOLCHAIN=${r.key.goToolchain})`}`;
  const standIns = r.replacements.length ? `; stand-ins: ${r.replacements.map((p) => `${p.module}@${p.from} -> ${p.to}`).join(', ')}` : '';
  const note = cached ? ` (cached: compile failed with ${r.key.goVersion} at ${r.failedAt}; delete ${cached.file} or set BUILDX_LAB_REBUILD_FAILED=1 to try again)` : '';
  return `${r.key.module}@${r.key.version} cannot be built here: ${r.target} does not compile with ${toolchain}${r.firstError ? ` (${r.firstError})` : ''}${standIns}${note}:\n${r.output}`;
}

export async function goVersion(config: LabConfig): Promise<string | undefined> {
  return (await goToolchain(childEnv(config, goEnvFor(config))))?.goVersion;
}

function requireGo<T>(found: T | undefined, req: GoBuildRequest): T {
  if (found) return found;
  throw new RequirementError(
    `Go is needed to build ${req.module}@${req.version} from the Go module proxy, and 'go' was not found. ` +
      `Fix: install Go (go.dev/dl or your distribution's golang package), or provide what needs no Go: an official ` +
      `release download (BUILDX_LAB_RELEASES_URL for a mirror), official images, or an offline bundle (buildx-lab bundle import).`,
  );
}

/** The default slot: the machine-wide compile lock, in no particular order. */
export function lockedSlot(config: LabConfig, progress: ProgressSink, signal?: AbortSignal): CompileSlot {
  return (what, work) => crossProcessLock(path.join(config.cacheDir, 'locks', 'go-compile'), what, progress, work, signal);
}

export async function goModuleBuild(
  config: LabConfig,
  req: GoBuildRequest,
  progress: ProgressSink,
  slot: CompileSlot = lockedSlot(config, progress, req.signal),
): Promise<GoBuildResult> {
  const t0 = Date.now();
  const env = childEnv(config, {
    ...goEnvFor(config),
    CGO_ENABLED: req.cgo ? '1' : '0',
    ...(req.cgo?.env ?? {}),
    ...(req.goArch ? { GOARCH: req.goArch } : {}),
  });
  const toolchain = requireGo(await goToolchain(env), req);
  const gv = toolchain.goVersion;
  const key: CompileFailureKey = { module: req.module, version: req.version, flags: buildFlagsHash(req), ...toolchain };
  // A cgo build also depends on the host's C compiler and libraries, which the key does not name: not recorded.
  const failures = req.cgo ? undefined : new CompileFailures(config.cacheDir);
  if (failures) checkRecorded(failures, key, config.rebuildFailed, progress);
  const opts = { env, signal: req.signal };
  mkdirSync(req.workDir, { recursive: true });
  const src = path.join(req.workDir, 'src');
  try {
    // 1. The module's source, writable (the module cache is read-only; -mod=mod rewrites go.sum).
    const revision = req.tree ? await req.tree.fill(src).then(() => req.tree!.revision) : await moduleSource(req, src, opts);
    req.inspectSource?.(src);
    if (req.vendorMod) {
      if (!existsSync(path.join(src, 'vendor.mod'))) throw new ProvisionError(`${req.module}@${req.version} has no vendor.mod`);
      renameSync(path.join(src, 'vendor.mod'), path.join(src, 'go.mod'));
      if (existsSync(path.join(src, 'vendor.sum'))) renameSync(path.join(src, 'vendor.sum'), path.join(src, 'go.sum'));
    }
    // 2. Dependencies, outside the compile slot; refused pins are replaced and the download retried.
    const replacements = req.tree?.vendor ? [] : await downloadDependencies(req, src, opts);
    const downloadMs = Date.now() - t0;
    // 3. Compiles, one at a time across processes (the time counted is inside the slot, not waiting for it).
    let compileMs = 0;
    await slot(`go build ${shortModule(req.module)}@${req.version}`, async () => {
      const t1 = Date.now();
      for (const target of req.targets) {
        mkdirSync(path.dirname(target.out), { recursive: true });
        const argv = goBuildArgv(req, target, revision, gv);
        const r = await withHeartbeat(progress, `go build ${shortModule(req.module)}@${req.version} ${target.pkg}`, () => run(argv, { ...opts, cwd: src, timeoutMs: 40 * 60_000 }));
        if (req.signal?.aborted) throw new ProvisionError(`building ${req.module}@${req.version} was cancelled`);
        if (r.exitCode !== 0) {
          // Its cells are skipped with the reason, as for a refused version (as before records existed).
          const kind = classifyGoFailure(r, req.signal?.aborted);
          const output = outputTail(`${r.stderr}\n${r.stdout}`);
          if (kind !== 'compile') {
            throw new RequirementError(
              `${req.module}@${req.version} cannot be built here: go build ${target.pkg} with ${gv} failed (${kind}, exit ${r.exitCode}; not recorded as a compile failure):\n${output}`,
            );
          }
          // The version's own code does not compile here (with this Go, with the stand-ins the proxy allows).
          const first = firstCompileError(r.stderr);
          const record: CompileFailureRecord = {
            schema: 1,
            key,
            failedAt: new Date().toISOString(),
            target: target.pkg,
            ...(first ? { firstError: outputTail(first) } : {}),
            output,
            replacements,
          };
          if (failures) recordFailure(failures, record, progress);
          throw new RequirementError(compileFailureReason(record));
        }
      }
      compileMs = Date.now() - t1;
    });
    failures?.remove(key);
    return { revision, goVersion: gv, sumdb: env.GOSUMDB!, replacements, downloadMs, compileMs, durationMs: Date.now() - t0 };
  } finally {
    rmSync(src, { recursive: true, force: true });
  }
}

/** Copies the module's source from the Go module proxy into `src`, writable; returns the tag commit when the proxy says it. */
async function moduleSource(req: GoBuildRequest, src: string, opts: { env: Record<string, string>; signal?: AbortSignal }): Promise<string | undefined> {
  const dl = await run(['go', 'mod', 'download', '-json', `${req.module}@${req.version}`], { ...opts, cwd: req.workDir, timeoutMs: 10 * 60_000 });
  let info: { Dir?: string; Info?: string; Error?: string } = {};
  try {
    info = JSON.parse(dl.stdout) as typeof info;
  } catch {
    /* reported below */
  }
  if (dl.exitCode !== 0 || !info.Dir) {
    throw new ProvisionError(`the Go module proxy could not provide ${req.module}@${req.version}: ${info.Error ?? dl.stderr.trim()}`);
  }
  const revision = readRevision(info.Info);
  rmSync(src, { recursive: true, force: true });
  cpSync(info.Dir, src, { recursive: true });
  makeWritable(src);
  return revision;
}

/** Fails at once with the recorded reason when this build is known not to compile (unless asked to try again). */
function checkRecorded(failures: CompileFailures, key: CompileFailureKey, rebuildFailed: boolean, progress: ProgressSink): void {
  const found = failures.lookup(key);
  if (found.state === 'ignored') progress(`${shortModule(key.module)}@${key.version}: ignored and removed the compile-failure record ${found.file}: ${found.why}; building`);
  if (found.state !== 'recorded') return;
  if (rebuildFailed) {
    progress(`${shortModule(key.module)}@${key.version}: failed to compile with ${key.goVersion} at ${found.record.failedAt}; trying again (BUILDX_LAB_REBUILD_FAILED=1)`);
    return;
  }
  throw new RequirementError(compileFailureReason(found.record, { file: found.file }));
}

/** Writes the record; a record that cannot be written costs a compile next time, never this failure's reason. */
function recordFailure(failures: CompileFailures, record: CompileFailureRecord, progress: ProgressSink): void {
  const what = `${shortModule(record.key.module)}@${record.key.version}`;
  try {
    progress(`${what}: compile failure recorded in ${failures.write(record)}`);
  } catch (e) {
    progress(`${what}: the compile failure could not be recorded (${(e as Error).message.split('\n')[0]}); the next run compiles it again`);
  }
}

async function downloadDependencies(req: GoBuildRequest, src: string, opts: { env: Record<string, string>; signal?: AbortSignal }): Promise<Replacement[]> {
  const replacements: Replacement[] = [];
  for (let round = 0; round < 6; round++) {
    const r = await run(['go', 'mod', 'download'], { ...opts, cwd: src, timeoutMs: 20 * 60_000 });
    if (r.exitCode === 0) return replacements;
    // A local replace the zip cannot carry: build against the released module it stood for.
    const local = missingLocalReplaces(r.stderr + r.stdout);
    for (const l of local) {
      const edit = await run(['go', 'mod', 'edit', `-dropreplace=${l.module}`], { ...opts, cwd: src });
      if (edit.exitCode !== 0) throw new ProvisionError(`go mod edit failed: ${edit.stderr.trim()}`);
      replacements.push({ module: l.module, from: `${l.path} (not in the module zip)`, to: l.version });
    }
    if (local.length) continue;
    const refused = refusedVersions(r.stderr + r.stdout).filter((x) => !replacements.some((p) => p.module === x.module && p.from === x.version));
    if (!refused.length) throw new ProvisionError(`downloading the dependencies of ${req.module}@${req.version} failed:\n${r.stderr.trim().split('\n').slice(-10).join('\n')}`);
    for (const { module, version } of refused) {
      const to = req.preferredReplacements?.[module] ?? (await firstServed(module, standInCandidates(version), src, opts));
      if (!to || to === version) {
        throw new ProvisionError(`the Go module proxy refuses ${module}@${version}, which ${req.module}@${req.version} pins, and serves no release to stand in for it`);
      }
      const edit = await run(['go', 'mod', 'edit', `-replace=${module}@${version}=${module}@${to}`], { ...opts, cwd: src });
      if (edit.exitCode !== 0) throw new ProvisionError(`go mod edit failed: ${edit.stderr.trim()}`);
      replacements.push({ module, from: version, to });
    }
  }
  throw new ProvisionError(`${req.module}@${req.version}: too many refused dependencies (${replacements.map((p) => p.module).join(', ')})`);
}

async function firstServed(module: string, candidates: readonly string[], cwd: string, opts: { env: Record<string, string>; signal?: AbortSignal }): Promise<string | undefined> {
  for (const v of candidates) {
    const r = await run(['go', 'mod', 'download', '-json', `${module}@${v}`], { ...opts, cwd, timeoutMs: 120_000 });
    if (r.exitCode === 0) return v;
  }
  return undefined;
}

function shortModule(module: string): string {
  return module.replace(/^github\.com\//, '');
}

function readRevision(infoPath: string | undefined): string | undefined {
  if (!infoPath) return undefined;
  try {
    const info = JSON.parse(readFileSync(infoPath, 'utf8')) as { Origin?: { Hash?: string } };
    return info.Origin?.Hash;
  } catch {
    return undefined;
  }
}

function makeWritable(dir: string): void {
  for (const entry of readdirSync(dir)) {
    const p = path.join(dir, entry);
    const st = statSync(p);
    chmodSync(p, st.mode | 0o200);
    if (st.isDirectory()) makeWritable(p);
  }
  chmodSync(dir, statSync(dir).mode | 0o200);
}
