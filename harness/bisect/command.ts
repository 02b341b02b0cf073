// `buildx-lab bisect`: each probe is an ordinary run of one scenario pinned to one Buildx version, in
// its own report directory, so every probe's evidence stays readable afterwards.
import { rmSync } from 'node:fs';
import path from 'node:path';
import type { LabConfig } from '../config.ts';
import { ensureEngine } from '../engine/engine.ts';
import { UsageError } from '../errors.ts';
import { loadReleases, resolveSpec, type ReleaseIndex, type ResolvedVersion } from '../buildx/spec.ts';
import type { CellResult } from '../model.ts';
import { stderrProgress } from '../progress.ts';
import { launchAndReport } from '../runner/launch.ts';
import { buildxLabel } from '../runner/scenario.ts';
import { bisect, observationOf, renderBisect, versionsBetween, type Probe } from './bisect.ts';
import { takeOptions } from './options.ts';

/** The part of run's parsed options these commands use (main.ts hands in its own parser). */
export interface RunOptions {
  files: string[];
  matrix: 'quick' | 'full';
  filters: Record<string, string[]>;
  repeat: number;
  jobs: number;
  pattern?: string;
  reportDir: string;
}
export type RunParser = (args: string[], defaultMatrix: 'quick' | 'full') => RunOptions;

/** One spec naming exactly one version; ranges would make "the baseline" ambiguous. */
export function resolveOne(spec: string, releases: ReleaseIndex): ResolvedVersion {
  const r = resolveSpec(spec, releases, { includePrerelease: true });
  if (r.length !== 1) throw new UsageError(`"${spec}" names ${r.length} versions; give one version or alias`);
  return r[0]!;
}

/** A fresh report directory holding one launch of `buildx` specs, with the usual reports written. */
export async function launchInto(config: LabConfig, a: RunOptions, reportDir: string, buildx: string[], matrix: 'quick' | 'full', argv: string[]): Promise<CellResult[]> {
  rmSync(reportDir, { recursive: true, force: true });
  const { results } = await launchAndReport(config, {
    files: a.files, matrix, axisFilters: { ...a.filters, buildx }, repeat: a.repeat, jobs: a.jobs, testNamePattern: a.pattern, reportDir, runId: config.runId,
  }, argv);
  return results;
}

function probeLine(p: Probe): string {
  return `bisect: ${p.version} -> ${p.class}${p.note ? ` (${p.note})` : ''}${p.observation.behaviour ? `: ${p.observation.behaviour}` : ''}\n`;
}

export async function cmdBisect(config: LabConfig, args: string[], parseRunArgs: RunParser): Promise<number> {
  const { taken, rest } = takeOptions(args, ['good', 'bad']);
  if (!taken.good || !taken.bad) throw new UsageError('usage: buildx-lab bisect SCENARIO --good V --bad V [--repeat N] [--engine/--store/... filters]');
  const a = parseRunArgs(rest, 'full');
  if (a.files.length !== 1) throw new UsageError('bisect takes exactly one scenario');
  if (a.filters.buildx) throw new UsageError('bisect picks the Buildx versions itself; drop --buildx');
  const releases = loadReleases();
  const [good, bad] = [taken.good, taken.bad].map((spec) => {
    const r = resolveOne(spec, releases);
    // Debian's patched builds are not on the upstream release line being walked
    if (buildxLabel(r) !== r.version) throw new UsageError(`${spec} is Debian's build (${buildxLabel(r)}); bisect walks upstream releases`);
    return r.version;
  }) as [string, string];
  const versions = versionsBetween(releases.releases, good, bad);
  await ensureEngine(config, stderrProgress);
  process.stdout.write(`bisect ${a.files[0]}: good ${good}, bad ${bad}; ${versions.length} known releases from ${versions[0]} to ${versions[versions.length - 1]}\n`);
  const out = path.join(a.reportDir, 'bisect');
  const result = await bisect(
    versions, good, bad,
    async (v) => observationOf(await launchInto(config, a, path.join(out, v), [v], 'full', ['bisect', ...args, `(probe ${v})`])),
    (p) => process.stdout.write(probeLine(p)),
  );
  process.stdout.write(`\n${renderBisect(result)}evidence: ${out}/<version>/report.html\n`);
  return 0;
}
