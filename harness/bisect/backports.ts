// Where a fix went: for the last patch release of each minor, whether it carries the change (in its history,
// or by a cherry-pick) or lacks it, so a maintainer sees where a backport is missing. Pure: the carriers
// come from harness/git (tagsCarrying); running the case on those releases is the caller's.
import semver from 'semver';
import type { Carrier } from '../git/history.ts';

export interface BackportRow {
  /** "v0.21" */
  minor: string;
  /** its last stable patch release, e.g. v0.21.3 */
  release: string;
  /** how that release carries the change; absent when it lacks it */
  carrier?: Carrier;
}

/** Stable releases among `tags` (vX.Y.Z), the last patch of each minor from `since`'s minor on, oldest first. */
export function lastPatchPerMinor(tags: readonly string[], since = 'v0.0.0'): string[] {
  const floor = `${semver.major(since)}.${semver.minor(since)}.0`;
  const last = new Map<string, string>();
  for (const tag of tags) {
    if (!/^v\d+\.\d+\.\d+$/.test(tag) || semver.lt(tag, floor)) continue;
    const minor = `v${semver.major(tag)}.${semver.minor(tag)}`;
    const seen = last.get(minor);
    if (!seen || semver.gt(tag, seen)) last.set(minor, tag);
  }
  return [...last.values()].sort(semver.compare);
}

/** One row per minor from `since` on: its last patch release and how (or whether) it carries the change. */
export function backportRows(tags: readonly string[], carriers: readonly Carrier[], since?: string): BackportRow[] {
  const byTag = new Map(carriers.map((c) => [c.tag, c]));
  return lastPatchPerMinor(tags, since).map((release) => {
    const carrier = byTag.get(release);
    return { minor: `v${semver.major(release)}.${semver.minor(release)}`, release, ...(carrier ? { carrier } : {}) };
  });
}

export function renderBackports(rows: readonly BackportRow[]): string {
  return rows
    .map((r) => {
      const how = !r.carrier ? 'lacks it' : r.carrier.via === 'history' ? 'carries it' : `carries it as a backport (${r.carrier.commits.map((s) => s.slice(0, 12)).join(', ')})`;
      return `  ${r.release.padEnd(10)} ${how}\n`;
    })
    .join('');
}
