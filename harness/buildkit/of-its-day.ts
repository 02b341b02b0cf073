// The BuildKit of a Buildx release's day: what `docker buildx create` pulled when that Buildx was new.
// Buildx's docker-container driver runs moby/buildkit:buildx-stable-1 unless told otherwise, and BuildKit
// moves that tag to each new stable release (not to a patch of an older line), so on a given day it was
// the highest stable version released by then. Dates are the Go module proxy's .info Time of both modules
// (checked in: harness/buildkit/releases.json, written by update-releases.ts). Pure, apart from loadBuildkitIndex().
import { readFileSync } from 'node:fs';
import semver from 'semver';
import { HarnessError } from '../errors.ts';

export interface BuildkitRelease {
  /** v-prefixed tag: "v0.17.1" */
  version: string;
  /** the module proxy's .info Time (RFC 3339), when it reported one */
  date?: string;
  /** `go` directive of the release's go.mod */
  goVersion?: string;
}

/** Why a Buildx release has the BuildKit it has. */
export interface OfItsDay {
  buildkit: string;
  /** the day it stands for (RFC 3339) */
  day: string;
  /** where the day came from: the release's own tag time, or a bound when the proxy gave none */
  basis: string;
}

export interface BuildkitIndex {
  generatedAt: string;
  source: string;
  /** stable releases, oldest first */
  releases: BuildkitRelease[];
  /** Buildx version -> the BuildKit of its day */
  ofItsDay: Record<string, OfItsDay>;
}

/** A dated release, as far as this module needs one. */
export interface Dated {
  version: string;
  date?: string;
  prerelease?: boolean;
}

const time = (d: string | undefined): number => (d === undefined ? Number.NaN : Date.parse(d));

/** The highest stable BuildKit released on or before `day` (what buildx-stable-1 pointed to), if any. */
export function buildkitOn(day: string, releases: readonly Dated[]): Dated | undefined {
  const t = time(day);
  if (Number.isNaN(t)) return undefined;
  return releases
    .filter((r) => !r.prerelease && semver.valid(r.version) && semver.prerelease(r.version) === null && time(r.date) <= t)
    .reduce<Dated | undefined>((best, r) => (!best || semver.gt(r.version, best.version) ? r : best), undefined);
}

/**
 * The day of every Buildx release and the BuildKit of it. A release the proxy gave no date for (most release
 * candidates, v0.21.0) takes the day of the next dated release in version order: it came out before that
 * one, so that day bounds it, and for a release candidate it is days away. A release with no BuildKit
 * before it (older than the list) is left out.
 */
export function ofItsDayTable(buildx: readonly Dated[], buildkit: readonly Dated[]): Record<string, OfItsDay> {
  const sorted = [...buildx].filter((r) => semver.valid(r.version)).sort((a, b) => semver.compare(a.version, b.version));
  const out: Record<string, OfItsDay> = {};
  sorted.forEach((r, i) => {
    const own = Number.isNaN(time(r.date)) ? undefined : r.date;
    const next = own ? undefined : sorted.slice(i + 1).find((n) => !Number.isNaN(time(n.date)));
    const day = own ?? next?.date;
    if (!day) return;
    const bk = buildkitOn(day, buildkit);
    if (!bk) return;
    const basis = own
      ? `Buildx ${r.version} tagged ${day.slice(0, 10)}`
      : `no date for Buildx ${r.version} at the module proxy; bounded by the next dated release, ${next!.version} (${day.slice(0, 10)})`;
    out[r.version] = { buildkit: bk.version, day, basis };
  });
  return out;
}

/** How a cell got its BuildKit: named by the case or --buildkit, of its Buildx's day, or the lab's default. */
export type BuildkitVia = 'named' | 'of-its-day' | 'lab-default';

export interface BuildkitChoice {
  version: string;
  via: BuildkitVia;
  reason: string;
}

/**
 * The BuildKit of one cell that runs one: the named version when there is one; else, when the cell takes
 * the BuildKit of its day (cases do), the one recorded for its Buildx version; else the lab's default.
 */
export function chooseBuildkit(o: { named?: string; ofItsDay: boolean; buildx: string; labDefault: string }, table: Readonly<Record<string, OfItsDay>>): BuildkitChoice {
  if (o.named !== undefined) return { version: o.named, via: 'named', reason: 'named (buildkit: in the case, the scenario or --buildkit)' };
  if (!o.ofItsDay) return { version: o.labDefault, via: 'lab-default', reason: `the lab's default for scenarios, ${o.labDefault}` };
  const day = Object.hasOwn(table, o.buildx) ? table[o.buildx] : undefined;
  if (!day)
    return {
      version: o.labDefault,
      via: 'lab-default',
      reason: `no BuildKit of its day is recorded for Buildx ${o.buildx} (run npx tsx harness/buildkit/update-releases.ts); the lab's default, ${o.labDefault}`,
    };
  return {
    version: day.buildkit,
    via: 'of-its-day',
    reason: `of its day: the newest stable BuildKit on ${day.day.slice(0, 10)} (${day.basis}), what \`docker buildx create\` pulled then as moby/buildkit:buildx-stable-1`,
  };
}

const FILE = new URL('./releases.json', import.meta.url);

/** The checked-in BuildKit list and the BuildKit of each Buildx release's day. */
export function loadBuildkitIndex(): BuildkitIndex {
  try {
    const j = JSON.parse(readFileSync(FILE, 'utf8')) as Partial<BuildkitIndex>;
    if (!Array.isArray(j.releases) || typeof j.ofItsDay !== 'object' || j.ofItsDay === null) throw new Error('no "releases" array or "ofItsDay" map');
    return { generatedAt: j.generatedAt ?? '', source: j.source ?? '', releases: j.releases, ofItsDay: j.ofItsDay };
  } catch (e) {
    throw new HarnessError(`cannot read ${FILE.pathname}: ${(e as Error).message}`, { cause: e });
  }
}
