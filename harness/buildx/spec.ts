// Pure resolution of Buildx version specs ("0.21.1", "v0.21.0-rc2", ">=0.20 <0.23", "latest",
// "debian-sid") against the committed release list. No I/O except loadReleases().
import { readFileSync } from 'node:fs';
import semver from 'semver';
import { HarnessError, UsageError } from '../errors.ts';
import type { GitTreeRef } from '../provision/git-tree.ts';

export interface Release {
  /** tag, always v-prefixed: "v0.21.1" */
  version: string;
  /** tag commit, when the module proxy reported it */
  commit?: string;
  /** tag time (RFC 3339), when the module proxy reported it */
  date?: string;
  /** `go` directive of the release's go.mod, e.g. "1.22.0" */
  goVersion?: string;
  prerelease: boolean;
}

export interface ReleaseIndex {
  generatedAt: string;
  source: string;
  /** sorted by semver, oldest first */
  releases: Release[];
  /** alias -> version, e.g. "debian-sid" -> "0.29.1" (the Debian package's upstream version) */
  aliases: Record<string, string>;
}

export type ResolvedVia = 'exact' | 'range' | 'alias' | 'git';

/** A Buildx to build from a commit of a Git repository (git-source.ts), as resolved when the run was planned. */
export type GitBuildxRef = GitTreeRef;

export interface ResolvedVersion {
  /** v-prefixed: "v0.21.1" */
  version: string;
  /** the spec this came from, as the user wrote it (so "debian-sid" stays recognisable) */
  spec: string;
  /** the known release, when the version is in the list */
  release?: Release;
  via: ResolvedVia;
  /** via 'git': the commit to build */
  git?: GitBuildxRef;
}

export interface ResolveOptions {
  /** let ranges match prereleases (also implied when the range itself names one) */
  includePrerelease?: boolean;
  /** ranges: every matching release (default) or only the newest */
  all?: boolean;
  /** for messages: what is being resolved (default "Buildx") and how to refresh its list */
  product?: string;
  fix?: string;
}

/** Aliases computed from the list rather than stored. */
const LATEST = 'latest';

/** '0.21.1' -> 'v0.21.1'; throws UsageError for anything that is not a full semver version. */
export function normalizeVersion(v: string): string {
  const clean = semver.valid(v.trim());
  if (!clean) throw new UsageError(`"${v}" is not a Buildx version (expected e.g. 0.21.1 or v0.21.0-rc2)`);
  return `v${clean}`;
}

export function compareVersions(a: string, b: string): number {
  return semver.compare(normalizeVersion(a), normalizeVersion(b));
}

/**
 * Prerelease-aware range test, for declared bug/fix ranges: "<0.21.0-rc2" holds for v0.21.0-rc1
 * and v0.20.1, ">=0.21.0-rc2" for v0.21.0 and v0.22.0. Plain semver would exclude prereleases of
 * other version tuples, which would silently drop rc cells from a scenario's expectation.
 */
export function satisfies(version: string, range: string): boolean {
  if (!semver.validRange(range, { includePrerelease: true })) throw new UsageError(`"${range}" is not a semver range`);
  return semver.satisfies(normalizeVersion(version), range, { includePrerelease: true });
}

export function loadReleases(): ReleaseIndex {
  const url = new URL('./releases.json', import.meta.url);
  let text: string;
  try {
    text = readFileSync(url, 'utf8');
  } catch (err) {
    throw new HarnessError(`cannot read ${url.pathname}: ${(err as Error).message}`, { cause: err });
  }
  return parseReleases(text, url.pathname);
}

/** A release list's JSON text (`file` names it in errors) as an index, releases sorted oldest first; pure. */
export function parseReleases(text: string, file: string): ReleaseIndex {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new HarnessError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  const index = (data ?? {}) as Partial<ReleaseIndex>;
  if (!Array.isArray(index.releases)) throw new HarnessError(`${file} has no "releases" array`);
  return {
    generatedAt: index.generatedAt ?? '',
    source: index.source ?? '',
    releases: [...index.releases].sort((a, b) => semver.compare(a.version, b.version)),
    aliases: index.aliases ?? {},
  };
}

function asIndex(releases: ReleaseIndex | readonly Release[]): { list: readonly Release[]; aliases: Record<string, string> } {
  return Array.isArray(releases)
    ? { list: releases as readonly Release[], aliases: {} }
    : { list: (releases as ReleaseIndex).releases, aliases: (releases as ReleaseIndex).aliases };
}

/** A range "names a prerelease" when one of its versions carries a -suffix (">=0.21.0-rc2"). */
function namesPrerelease(range: string): boolean {
  return /\d+\.\d+\.\d+-[0-9A-Za-z]/.test(range);
}

/** The n known versions nearest to `target`: same major/minor first, then by patch, then by prerelease. */
export function nearestVersions(target: string, list: readonly Release[], n = 5): string[] {
  const t = semver.parse(target);
  if (!t) return [];
  const distance = (v: string): number[] => {
    const p = semver.parse(v)!;
    return [Math.abs(p.major - t.major), Math.abs(p.minor - t.minor), Math.abs(p.patch - t.patch), p.prerelease.length === t.prerelease.length ? 0 : 1];
  };
  const cmp = (a: number[], b: number[]): number => {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
    return 0;
  };
  return (
    list
      .map((r) => ({ v: r.version, d: distance(r.version) }))
      // ties go to the newer version: more likely what a typo meant, and more likely still supported
      .sort((a, b) => cmp(a.d, b.d) || semver.rcompare(a.v, b.v))
      .slice(0, n)
      .map((x) => x.v)
  );
}

function span(list: readonly Release[]): string {
  return list.length ? `${list[0]!.version} .. ${list[list.length - 1]!.version}` : '(no releases known)';
}

const BUILDX_FIX = 'run `npx tsx harness/buildx/update-releases.ts` if it is newer than the list, or check the spelling';

export function resolveSpec(spec: string, releases: ReleaseIndex | readonly Release[], opts: ResolveOptions = {}): ResolvedVersion[] {
  const { list, aliases } = asIndex(releases);
  const product = opts.product ?? 'Buildx';
  const FIX = opts.fix ?? BUILDX_FIX;
  const byVersion = new Map(list.map((r) => [r.version, r]));
  const s = spec.trim();

  if (s === LATEST) {
    const newest = [...list].reverse().find((r) => !r.prerelease);
    if (!newest) throw new UsageError(`"latest" has no stable release to point at; ${FIX}`);
    return [{ version: newest.version, spec, release: newest, via: 'alias' }];
  }
  const aliased = aliases[s];
  if (aliased !== undefined) {
    const version = normalizeVersion(aliased);
    const release = byVersion.get(version);
    return [{ version, spec, ...(release ? { release } : {}), via: 'alias' }];
  }

  if (semver.valid(s)) {
    const version = normalizeVersion(s);
    const release = byVersion.get(version);
    if (!release) {
      const near = nearestVersions(version, list);
      throw new UsageError(`unknown ${product} version ${version}; nearest known: ${near.join(', ') || '(none)'}. Fix: ${FIX}`);
    }
    return [{ version, spec, release, via: 'exact' }];
  }

  const includePrerelease = opts.includePrerelease === true || namesPrerelease(s);
  if (semver.validRange(s, { includePrerelease })) {
    const matches = list.filter((r) => semver.satisfies(r.version, s, { includePrerelease }));
    if (!matches.length) {
      throw new UsageError(
        `range "${s}" matches no known ${product} release${includePrerelease ? '' : ' (prereleases excluded; set includePrerelease to allow them)'}; known: ${span(list)}. Fix: ${FIX}`,
      );
    }
    const chosen = opts.all === false ? matches.slice(-1) : matches;
    return chosen.map((r) => ({ version: r.version, spec, release: r, via: 'range' as const }));
  }

  const known = [LATEST, ...Object.keys(aliases)].join(', ');
  throw new UsageError(`"${spec}" is not a ${product} version, semver range or alias (aliases: ${known})`);
}

/** Resolves every spec; the result holds each version once (first spec wins), oldest first. */
export function resolveSpecs(specs: readonly string[], releases: ReleaseIndex | readonly Release[], opts: ResolveOptions = {}): ResolvedVersion[] {
  const seen = new Map<string, ResolvedVersion>();
  for (const spec of specs) {
    for (const r of resolveSpec(spec, releases, opts)) if (!seen.has(r.version)) seen.set(r.version, r);
  }
  return [...seen.values()].sort((a, b) => semver.compare(a.version, b.version));
}
