// `buildx-lab bisect TARGET --good V --bad V`: finds the release where a scenario's or a case's behaviour
// flips, over Buildx releases (default) or, with --axis engine, over Docker engine releases with Buildx
// fixed by --buildx. Each probe is an ordinary run in its own report directory. With --commits, the
// first-parent commits between two git:<repo>@<rev> revisions instead, naming the pull request: each probe
// builds Buildx at that commit (buildx/git-source.ts) and runs the target's cells with it.
import path from 'node:path';
import { Command, Option } from 'commander';
import semver from 'semver';
import { loadReleases, resolveSpec } from '../buildx/spec.ts';
import { childEnv, labConfig } from '../config.ts';
import { loadEngineIndex, resolveEngineSpec } from '../engine/spec.ts';
import { UsageError } from '../errors.ts';
import { formatGitRevision, isGitSpec, parseGitRevision, type GitRevision } from '../git/revision.ts';
import { board } from '../runner/command.ts';
import { defaultReportDir, newRunId } from '../runner/launch.ts';
import { addRunOptions, addTrustOption, runOptions, type RunOptions } from '../runner/options.ts';
import { probeRun, refusePinnedFilter, targetSources } from '../runner/probe.ts';
import { buildxLabel } from '../runner/scenario.ts';
import type { CellSource } from '../runner/run-spec.ts';
import { bisect, observationOf, renderBisect, versionsBetween, type Probe } from './bisect.ts';
import { bisectCommitRange, renderCommitRange } from './commit-range.ts';
import { commitLine, shortSha, type CommitOracle } from './commits.ts';
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

/** What a commit oracle is made from: the target and run options, where its evidence goes, the repository. */
export interface CommitOracleContext {
  target: string;
  sources: CellSource[];
  options: RunOptions;
  /** evidence of the probe of commit <sha> belongs in <reportDir>/bisect/<short sha> */
  reportDir: string;
  repo: GitRevision;
  log: (line: string) => void;
  /** the command line, for the probes' run specs */
  argv: string[];
}

/** Builds the oracle for `bisect --commits` (tests inject their own). */
export type CommitOracleFactory = (ctx: CommitOracleContext) => CommitOracle;

/**
 * The lab's oracle: a commit is one probe run of the target with Buildx built from git:<repo>@<sha> (a
 * built commit is cached by its hash, so a second walk over it builds nothing), its evidence in
 * <reportDir>/bisect/<short sha>; a commit that does not build is a skipped probe naming why.
 */
export const labCommitOracle: CommitOracleFactory = (ctx) => {
  const config = labConfig();
  return async (commit) => {
    const b = board(config);
    try {
      return observationOf(
        await probeRun(config, b, {
          command: 'bisect',
          argv: [...ctx.argv, `(probe ${shortSha(commit.sha)})`],
          sources: ctx.sources,
          options: ctx.options,
          axis: 'buildx',
          values: [formatGitRevision({ ...ctx.repo, rev: commit.sha })],
          reportDir: path.join(ctx.reportDir, 'bisect', shortSha(commit.sha)),
        }),
        'buildx',
      );
    } finally {
      b.close();
    }
  };
};

/** --good and --bad as one local repository and two revisions; either may be a bare rev, taking the other's repository. */
export function commitRange(good: string, bad: string): { repo: GitRevision; good: string; bad: string } {
  if (!isGitSpec(good) && !isGitSpec(bad)) throw new UsageError('bisect --commits needs --good or --bad as git:<repo>@<rev> (e.g. --good git:/src/buildx@v0.21.1 --bad v0.20.1)');
  const given = parseGitRevision(isGitSpec(good) ? good : bad);
  // a bare rev goes through the same checks as one written in full
  const revision = (spec: string) => parseGitRevision(isGitSpec(spec) ? spec : formatGitRevision({ ...given, rev: spec }));
  const [g, b] = [revision(good), revision(bad)];
  if (g.repo !== b.repo) throw new UsageError(`--good and --bad name two repositories (${g.repo}, ${b.repo}); bisect walks one`);
  // the lab's cached clone of a URL is the git source's work (issue 21); a local clone works today
  if (g.kind === 'url') throw new UsageError(`bisect --commits needs a local clone for now: git clone ${g.repo} /some/dir, then --good git:/some/dir@${g.rev}`);
  return { repo: g, good: g.rev, bad: b.rev };
}

async function bisectCommitsAction(target: string, values: Record<string, unknown>, oracleFor: CommitOracleFactory, argv: string[]): Promise<void> {
  if (values.axis !== 'buildx') throw new UsageError('bisect --commits walks Buildx commits; drop --axis engine');
  const range = commitRange(values.good as string, values.bad as string);
  const config = labConfig();
  const options = runOptions(values);
  refusePinnedFilter(options, 'buildx', 'bisect');
  const sources = targetSources([target], { trust: values.trust === true });
  const reportDir = options.reportDir ?? defaultReportDir(newRunId());
  const log = (line: string) => {
    writeConsole(process.stdout, `${line}\n`);
  };
  const oracle = oracleFor({ target, sources, options, reportDir, repo: range.repo, log, argv });
  writeConsole(
    process.stdout,
    `bisect ${target} over the commits of ${range.repo.repo}: good ${range.good}, bad ${range.bad}${values.firstParent === false ? ', then inside the merged branch' : ''}\n`,
  );
  const result = await bisectCommitRange({ dir: range.repo.repo, env: childEnv(config) }, range.good, range.bad, oracle, {
    firstParent: values.firstParent !== false,
    onProbe: (p, c) => log(`${probeLine({ ...p, version: commitLine(c) }).trimEnd()}`),
  });
  process.exitCode = 0;
  writeConsole(process.stdout, `\n${renderCommitRange(result)}evidence: ${reportDir}/bisect/<commit>/\n`);
}

export function bisectCommand(deps: { commitOracle?: CommitOracleFactory } = {}): Command {
  const cmd = new Command('bisect')
    .summary('find the release where a scenario or case flips')
    .description(
      'Probes releases between --good and --bad (either may be the newer one) and names the last good and first bad release. Versions that cannot be built here are stepped around and named.',
    )
    .argument('<target>', 'a scenario name, or a case directory (holding case.yaml)')
    .requiredOption('--good <version>', 'a release showing the good behaviour (with --commits: git:<repo>@<rev>, or a rev in the repository --bad names)')
    .requiredOption('--bad <version>', 'a release showing the bad behaviour (with --commits: as --good)')
    .addOption(new Option('--axis <axis>', 'what to bisect: Buildx releases, or Docker engine releases (with --buildx fixed)').choices(['buildx', 'engine']).default('buildx'))
    .option(
      '--commits',
      'bisect the first-parent commits between two revisions of a local Git repository (--good/--bad git:<repo>@<rev>), building Buildx at each commit probed, naming the pull request',
    )
    .option('--no-first-parent', 'with --commits: then bisect inside the merged branch of the merge found');
  addRunOptions(cmd, { matrix: 'full' });
  addTrustOption(cmd);
  return cmd.action(async (target: string, values: Record<string, unknown>, c: Command) => {
    if (values.commits) return bisectCommitsAction(target, values, deps.commitOracle ?? labCommitOracle, ['bisect', ...c.args]);
    if (values.firstParent === false) throw new UsageError('--no-first-parent goes with --commits');
    const config = labConfig();
    const axis = values.axis as 'buildx' | 'engine';
    const o = runOptions(values);
    refusePinnedFilter(o, axis, 'bisect');
    if (axis === 'engine' && !o.filters.buildx) throw new UsageError('bisect --axis engine needs the Buildx version fixed: --buildx V');
    const sources = targetSources([target], { trust: values.trust === true });
    const [good, bad] =
      axis === 'buildx' ? [oneBuildx(values.good as string), oneBuildx(values.bad as string)] : [oneEngine(values.good as string), oneEngine(values.bad as string)];
    const versions =
      axis === 'buildx'
        ? versionsBetween(loadReleases().releases, good, bad)
        : loadEngineIndex()
            .releases.map((r) => r.version)
            .filter((v) => semver.gte(v, semver.lte(good, bad) ? good : bad) && semver.lte(v, semver.lte(good, bad) ? bad : good))
            .sort(semver.compare);
    const out = o.reportDir ?? defaultReportDir(newRunId());
    writeConsole(process.stdout, `bisect ${target} over ${axis}: good ${good}, bad ${bad}; ${versions.length} known releases from ${versions[0]} to ${versions.at(-1)}\n`);
    const t0 = Date.now();
    const b = board(config);
    try {
      const result = await bisect(
        versions,
        good,
        bad,
        async (v) =>
          observationOf(
            await probeRun(config, b, {
              command: 'bisect',
              argv: ['bisect', ...c.args, `(probe ${v})`],
              sources,
              options: o,
              axis,
              values: [axis === 'buildx' ? v : v],
              reportDir: path.join(out, 'bisect', v),
            }),
            axis,
          ),
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
