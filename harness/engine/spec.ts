// The engine axis: Docker engine specs ("26.1", "26.1.5", ">=25 <28", "latest", "oldest", "all",
// "debian-trixie", "debian-sid") resolved against harness/engine/releases.json. Pure except loading the list.
import { readFileSync } from 'node:fs';
import semver from 'semver';
import { UsageError } from '../errors.ts';
import { resolveSpec, type Release } from '../buildx/spec.ts';

export interface GoPart {
  module: string;
  /** module version, e.g. v26.1.5+incompatible */
  version: string;
  vendorMod: boolean;
  note?: string;
}

export interface EngineRelease {
  /** Docker's version, e.g. 26.1.5 */
  version: string;
  daemon: GoPart;
  cli: GoPart;
  /** pinned by moby's Dockerfile at the release tag */
  containerd: string;
  runc: string;
}

export interface DebianEngine {
  suite: 'trixie' | 'sid';
  version: string;
  note?: string;
}

export interface EngineIndex {
  releases: EngineRelease[];
  debian: Record<string, DebianEngine>;
  /** the version the lab installs on a host without a usable engine */
  hostDefault: string;
}

/** One value of the engine axis. `label` is what cell names show: "26.1.5", or "26.1.5-debian". */
export type ResolvedEngine =
  | { kind: 'source'; label: string; version: string; spec: string; release: EngineRelease }
  | { kind: 'debian'; label: string; version: string; spec: string; alias: string; debian: DebianEngine };

const FIX = 'harness/engine/releases.json lists the engines the lab can build; add a release there (with its containerd and runc pins)';

let cached: EngineIndex | undefined;
export function loadEngineIndex(): EngineIndex {
  cached ??= JSON.parse(readFileSync(new URL('./releases.json', import.meta.url), 'utf8')) as EngineIndex;
  return cached;
}

export function engineLabel(e: Pick<ResolvedEngine, 'kind' | 'version'>): string {
  return e.kind === 'debian' ? `${e.version}-debian` : e.version;
}

/** Resolves one spec; "26.1" and "26" mean the newest known patch of that line. */
export function resolveEngineSpec(spec: string, index: EngineIndex = loadEngineIndex()): ResolvedEngine[] {
  const s = spec.trim();
  const debian = index.debian[s];
  if (debian) return [{ kind: 'debian', label: engineLabel({ kind: 'debian', version: debian.version }), version: debian.version, spec: s, alias: s, debian }];
  const releases = [...index.releases].sort((a, b) => semver.compare(a.version, b.version));
  if (!releases.length) throw new UsageError(`no engine releases are known; ${FIX}`);
  const toSource = (r: EngineRelease): ResolvedEngine => ({ kind: 'source', label: r.version, version: r.version, spec: s, release: r });
  if (s === 'all') return releases.map(toSource);
  if (s === 'oldest') return [toSource(releases[0]!)];
  const asReleases: Release[] = releases.map((r) => ({ version: `v${r.version}`, prerelease: false }));
  // "26.1" / "26" name a release line: its newest patch, not every patch.
  const line = /^\d+(\.\d+)?$/.test(s);
  const resolved = resolveSpec(line ? `${s.includes('.') ? '~' : '^'}${s}` : s, asReleases, {
    product: 'Docker engine',
    fix: FIX,
    all: !line,
  });
  return resolved.map((r) => toSource(releases.find((x) => `v${x.version}` === r.version)!));
}

/** Every spec, each engine once, oldest first; Debian aliases after the source builds of the same version. */
export function resolveEngineSpecs(specs: readonly string[], index: EngineIndex = loadEngineIndex()): ResolvedEngine[] {
  const seen = new Map<string, ResolvedEngine>();
  for (const spec of specs) for (const e of resolveEngineSpec(spec, index)) if (!seen.has(e.label)) seen.set(e.label, e);
  return [...seen.values()].sort((a, b) => semver.compare(a.version, b.version) || Number(a.kind === 'debian') - Number(b.kind === 'debian'));
}

/** Engines before 24 have no containerd image store (features.containerd-snapshotter). */
export function supportsContainerdStore(version: string): boolean {
  return semver.gte(semver.coerce(version)!, '24.0.0');
}

export function hostDefaultRelease(index: EngineIndex = loadEngineIndex()): EngineRelease {
  const r = index.releases.find((x) => x.version === index.hostDefault);
  if (!r) throw new UsageError(`hostDefault ${index.hostDefault} is not among the engine releases; ${FIX}`);
  return r;
}
