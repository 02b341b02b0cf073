// `buildx-lab bisect TARGET --good V --bad V`: finds the release where a scenario's or a case's behaviour
// flips, over Buildx releases (default) or, with --axis engine, over Docker engine releases with Buildx
// fixed by --buildx. Each probe is an ordinary run in its own report directory.
import path from 'node:path';
import { Command, Option } from 'commander';
import semver from 'semver';
import { loadReleases, resolveSpec } from '../buildx/spec.ts';
import { labConfig } from '../config.ts';
import { loadEngineIndex, resolveEngineSpec } from '../engine/spec.ts';
import { UsageError } from '../errors.ts';
import { board } from '../runner/command.ts';
import { defaultReportDir, newRunId } from '../runner/launch.ts';
import { addRunOptions, addTrustOption, runOptions } from '../runner/options.ts';
import { probeRun, refusePinnedFilter, targetSources } from '../runner/probe.ts';
import { buildxLabel } from '../runner/scenario.ts';
import { bisect, observationOf, renderBisect, versionsBetween, type Probe } from './bisect.ts';
import { writeConsole } from '../progress.ts';

/** One spec naming exactly one Buildx version (upstream: Debian's builds are not on the release line). */
function oneBuildx(spec: string): string {
  const r = resolveSpec(spec, loadReleases(), { includePrerelease: true });
  if (r.length !== 1) throw new UsageError(`"${spec}" names ${r.length} versions; give one version or alias`);
  if (buildxLabel(r[0]!) !== r[0]!.version) throw new UsageError(`${spec} is Debian's build (${buildxLabel(r[0]!)}); bisect walks upstream releases`);
  return r[0]!.version;
}

function oneEngine(spec: string): string {
  const r = resolveEngineSpec(spec);
  if (r.length !== 1 || r[0]!.kind !== 'source') throw new UsageError(`"${spec}" must name one engine release the lab builds (not a Debian alias)`);
  return r[0]!.version;
}

function probeLine(p: Probe): string {
  return `bisect: ${p.version} -> ${p.class}${p.note ? ` (${p.note})` : ''}${p.observation.behaviour ? `: ${p.observation.behaviour}` : ''}\n`;
}

export function bisectCommand(): Command {
  const cmd = new Command('bisect')
    .summary('find the release where a scenario or case flips')
    .description('Probes releases between --good and --bad (either may be the newer one) and names the last good and first bad release. Versions that cannot be built here are stepped around and named.')
    .argument('<target>', 'a scenario name, or a case directory (holding case.yaml)')
    .requiredOption('--good <version>', 'a release showing the good behaviour')
    .requiredOption('--bad <version>', 'a release showing the bad behaviour')
    .addOption(new Option('--axis <axis>', 'what to bisect: Buildx releases, or Docker engine releases (with --buildx fixed)').choices(['buildx', 'engine']).default('buildx'));
  addRunOptions(cmd, { matrix: 'full' });
  addTrustOption(cmd);
  return cmd.action(async (target: string, values: Record<string, unknown>, c: Command) => {
    const config = labConfig();
    const axis = values.axis as 'buildx' | 'engine';
    const o = runOptions(values);
    refusePinnedFilter(o, axis, 'bisect');
    if (axis === 'engine' && !o.filters.buildx) throw new UsageError('bisect --axis engine needs the Buildx version fixed: --buildx V');
    const sources = targetSources([target], { trust: values.trust === true });
    const [good, bad] = axis === 'buildx' ? [oneBuildx(values.good as string), oneBuildx(values.bad as string)] : [oneEngine(values.good as string), oneEngine(values.bad as string)];
    const versions = axis === 'buildx'
      ? versionsBetween(loadReleases().releases, good, bad)
      : loadEngineIndex().releases.map((r) => r.version).filter((v) => semver.gte(v, semver.lte(good, bad) ? good : bad) && semver.lte(v, semver.lte(good, bad) ? bad : good)).sort(semver.compare);
    const out = o.reportDir ?? defaultReportDir(newRunId());
    writeConsole(process.stdout, `bisect ${target} over ${axis}: good ${good}, bad ${bad}; ${versions.length} known releases from ${versions[0]} to ${versions.at(-1)}\n`);
    const t0 = Date.now();
    const b = board(config);
    try {
      const result = await bisect(
        versions, good, bad,
        async (v) => observationOf(await probeRun(config, b, { command: 'bisect', argv: ['bisect', ...c.args, `(probe ${v})`], sources, options: o, axis, values: [axis === 'buildx' ? v : v], reportDir: path.join(out, 'bisect', v) }), axis),
        (p) => b.log(probeLine(p).trim()),
      );
      b.close();
      // The flip is located (exactly, or between versions that cannot be built here): cells that differ from
      // a case's `expect` along the way are what bisect is for, not a failure (vitest marked them so).
      process.exitCode = 0;
      writeConsole(process.stdout, `\n${renderBisect(result)}took ${Math.round((Date.now() - t0) / 1000)} s; evidence: ${out}/bisect/<version>/report.html\n`);
    } finally {
      b.close();
    }
  });
}
