// Finds the release where a scenario's behaviour flips, like `git bisect` over the release list
// (prereleases included). Pure: the caller supplies observe(version); nothing here runs Docker.
// "good" and "bad" are whatever the two endpoints show, so either may be the newer one: in this lab
// the old version usually reproduces the bug, making `--good` the newer endpoint.
import semver from 'semver';
import type { Release } from '../buildx/spec.ts';
import { UsageError } from '../errors.ts';
import type { CellResult } from '../model.ts';
import { lastLines } from '../text.ts';

export type ProbeClass = 'good' | 'bad' | 'skip' | 'flaky';

/** What one version showed. */
export interface Observation {
  /** equal strings = same behaviour; absent when the version could not be judged */
  behaviour?: string;
  /** repeats of one cell disagreed */
  flaky?: boolean;
  /** why there is no behaviour, as a phrase following the version: "could not be built here" */
  unknown?: string;
  /** one line per cell */
  evidence: string[];
}

export interface Probe {
  version: string;
  class: ProbeClass;
  observation: Observation;
  /** why a probe counts as unknown */
  note?: string;
}

export interface BisectResult {
  /** in walking order from the good endpoint to the bad one: the last good and the first bad version */
  lastGood: string;
  firstBad: string;
  /** versions between them that could not be judged; empty when the flip is exact */
  unknown: string[];
  probes: Probe[];
  message: string;
}

/** Known releases from a to b inclusive (either order), oldest first, prereleases included. */
export function versionsBetween(releases: readonly Release[], a: string, b: string): string[] {
  const [lo, hi] = semver.lte(a, b) ? [a, b] : [b, a];
  return releases
    .map((r) => r.version)
    .filter((v) => semver.gte(v, lo) && semver.lte(v, hi))
    .sort(semver.compare);
}

/** A cell's axes except the bisected one, keys sorted: the configuration whose behaviour is compared; pure. */
export function configurationExcept(r: Pick<CellResult, 'axes'>, axis: string): string {
  return (
    Object.keys(r.axes)
      .filter((k) => k !== axis)
      .sort()
      .map((k) => `${k}=${r.axes[k]}`)
      .join('/') || '(default)'
  );
}

function evidenceLine(r: CellResult, axis: string): string {
  const shown = r.observed ?? r.outcome;
  // a skip or lab error keeps its cause on the message's last line (e.g. the module proxy's 403)
  const cause = r.error?.message.includes('\n') ? ` | ${lastLines(r.error.message, 1).trim()}` : '';
  return `${configurationExcept(r, axis)}: ${shown}${r.outcome !== shown ? ` (cell ${r.outcome})` : ''}: ${r.summary}${cause}`;
}

/** Cells' `observed` values by configuration; control cells are left out since every version shows them alike. */
export function observationOf(results: readonly CellResult[], axis = 'buildx'): Observation {
  const cells = results.filter((r) => r.expected !== 'control');
  const evidence = cells.map((r) => evidenceLine(r, axis));
  if (!cells.length) return { unknown: 'ran no cell (check the filters)', evidence };
  const skipped = cells.find((r) => r.outcome === 'skipped');
  if (skipped) return { unknown: /buildx|engine|docker|module proxy|built/i.test(skipped.summary) ? 'could not be built here' : 'was skipped here', evidence };
  if (cells.some((r) => !r.observed)) return { unknown: 'hit a lab error', evidence };
  const byConfig = new Map<string, Set<string>>();
  for (const r of cells) byConfig.set(configurationExcept(r, axis), (byConfig.get(configurationExcept(r, axis)) ?? new Set()).add(r.observed!));
  if ([...byConfig.values()].some((s) => s.size > 1)) return { flaky: true, unknown: 'gave disagreeing runs (flaky)', evidence };
  const behaviour = [...byConfig]
    .map(([c, s]) => `${c}: ${[...s][0]}`)
    .sort()
    .join('; ');
  return { behaviour, evidence };
}

export function classify(o: Observation, good: string, bad: string): { class: ProbeClass; note?: string } {
  if (o.flaky) return { class: 'flaky', note: o.unknown };
  if (o.behaviour === undefined) return { class: 'skip', note: o.unknown };
  if (o.behaviour === good) return { class: 'good' };
  if (o.behaviour === bad) return { class: 'bad' };
  // A third behaviour means more than one flip in the range; it cannot say which side it is on.
  return { class: 'skip', note: 'matched neither endpoint' };
}

/**
 * Release candidates count one step farther from the middle: the module proxy here refuses most of them,
 * and a stable release next to the middle splits nearly as well. A commit has no such cost.
 */
export const releaseCost = (version: string): number => (semver.prerelease(version) ? 1 : 0);

/** The untested index nearest the middle of (lo, hi), each index `cost` steps farther. */
export function pickNext(path: readonly string[], lo: number, hi: number, tried: ReadonlySet<number>, cost: (v: string) => number = releaseCost): number | undefined {
  const mid = (lo + hi) / 2;
  let best: { i: number; d: number } | undefined;
  for (let i = lo + 1; i < hi; i++) {
    if (tried.has(i)) continue;
    const d = Math.abs(i - mid) + cost(path[i]!);
    if (!best || d < best.d) best = { i, d };
  }
  return best?.i;
}

/** How a walk other than releases' (commits) weighs and names its steps. */
export interface WalkOptions {
  /** extra distance from the middle for a step (default: releaseCost) */
  cost?: (version: string) => number;
  /** the step as the result message names it (default: as given) */
  label?: (version: string) => string;
}

/** `versions` oldest first; good and bad are two of them, either the older. */
export async function bisect(
  versions: readonly string[],
  good: string,
  bad: string,
  observe: (version: string) => Promise<Observation>,
  onProbe: (p: Probe) => void = () => undefined,
  walk: WalkOptions = {},
): Promise<BisectResult> {
  const label = walk.label ?? ((v: string) => v);
  const gi = versions.indexOf(good);
  const bi = versions.indexOf(bad);
  if (gi < 0 || bi < 0) throw new UsageError(`${label(gi < 0 ? good : bad)} is not in the list of versions to bisect`);
  if (gi === bi) throw new UsageError(`good and bad are the same version (${label(good)})`);
  const goodIsNewer = gi > bi;
  // walking order: from the good endpoint to the bad one
  const path = goodIsNewer ? versions.slice(bi, gi + 1).reverse() : versions.slice(gi, bi + 1);
  const probes: Probe[] = [];
  const record = (p: Probe) => {
    probes.push(p);
    onProbe(p);
  };

  const endpoint = async (version: string, cls: 'good' | 'bad'): Promise<string> => {
    const o = await observe(version);
    record({ version, class: o.behaviour && !o.flaky ? cls : o.flaky ? 'flaky' : 'skip', observation: o, ...(o.unknown ? { note: o.unknown } : {}) });
    if (!o.behaviour || o.flaky) throw new UsageError(`the ${cls} endpoint ${label(version)} ${o.unknown ?? 'could not be judged'}; pick another ${cls} version`);
    return o.behaviour;
  };
  const goodB = await endpoint(good, 'good');
  const badB = await endpoint(bad, 'bad');
  if (goodB === badB) throw new UsageError(`good and bad show the same behaviour (${goodB}); nothing to bisect`);

  let lo = 0;
  let hi = path.length - 1;
  const tried = new Set<number>();
  for (let i = pickNext(path, lo, hi, tried, walk.cost); i !== undefined; i = pickNext(path, lo, hi, tried, walk.cost)) {
    tried.add(i);
    const o = await observe(path[i]!);
    const c = classify(o, goodB, badB);
    record({ version: path[i]!, class: c.class, observation: o, ...(c.note ? { note: c.note } : {}) });
    if (c.class === 'good') lo = i;
    else if (c.class === 'bad') hi = i;
  }
  const lastGood = path[lo]!;
  const firstBad = path[hi]!;
  // oldest first, as `versions` lists them
  const unknown = path.slice(lo + 1, hi).sort((a, b) => versions.indexOf(a) - versions.indexOf(b));
  return { lastGood, firstBad, unknown, probes, message: flipMessage(lastGood, firstBad, unknown, probes, goodIsNewer, label) };
}

function flipMessage(lastGood: string, firstBad: string, unknown: readonly string[], probes: readonly Probe[], goodIsNewer: boolean, label: (v: string) => string): string {
  const [older, newer] = goodIsNewer ? [`${label(firstBad)} (bad)`, `${label(lastGood)} (good)`] : [`${label(lastGood)} (good)`, `${label(firstBad)} (bad)`];
  if (!unknown.length) return `the flip is exact: ${older} is followed directly by ${newer}`;
  // group the unjudged versions by why, so "vX, vY could not be built here; vZ gave disagreeing runs (flaky)"
  const byNote = new Map<string, string[]>();
  for (const v of unknown) {
    const note = probes.find((p) => p.version === v)?.note ?? 'could not be judged';
    byNote.set(note, [...(byNote.get(note) ?? []), v]);
  }
  const why = [...byNote].map(([note, vs]) => `${vs.map(label).join(', ')} ${note}`).join('; ');
  return `the flip lies between ${older} and ${newer}; ${why}`;
}

/** The final answer with each probe's evidence. */
export function renderBisect(r: BisectResult, label: (v: string) => string = (v) => v): string {
  const lines = ['probes (in order run):'];
  for (const p of r.probes) {
    lines.push(`  ${label(p.version).padEnd(13)} ${p.class}${p.note ? ` (${p.note})` : ''}`);
    for (const e of p.observation.evidence) lines.push(`      ${e}`);
  }
  lines.push('', `result: ${r.message}`);
  return lines.join('\n') + '\n';
}
