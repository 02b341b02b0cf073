// `buildx-lab qualify`: one run with the baseline and the candidate Buildx, over scenarios and a team's own
// past bugs kept as case directories, so both versions see the same engines, registry and fixtures.
import { Command } from 'commander';
import { loadReleases, resolveSpec } from '../buildx/spec.ts';
import { labConfig, type LabConfig } from '../config.ts';
import { resolveGitBuildx } from '../buildx/git-source.ts';
import { isGitSpec } from '../git/revision.ts';
import { UsageError } from '../errors.ts';
import type { CellResult } from '../model.ts';
import { buildMatrix } from '../report/matrix.ts';
import { renderTerminalTable } from '../report/terminal.ts';
import { board, scenarioSources } from '../runner/command.ts';
import { defaultReportDir, newRunId } from '../runner/launch.ts';
import { addRunOptions, addTrustOption, runOptions } from '../runner/options.ts';
import { probeRun, refusePinnedFilter, targetSources } from '../runner/probe.ts';
import { buildxLabel } from '../runner/scenario.ts';
import { qualify, renderQualification } from './compare.ts';
import { stderrProgress, writeConsole } from '../progress.ts';

/** The label the version's cells carry; a git:<repo>@<rev> candidate (a branch, a pull request's head) is resolved to its commit. */
async function oneLabel(config: LabConfig, spec: string): Promise<string> {
  if (isGitSpec(spec)) return buildxLabel(await resolveGitBuildx(config, spec, stderrProgress));
  const r = resolveSpec(spec, loadReleases(), { includePrerelease: true });
  if (r.length !== 1) throw new UsageError(`"${spec}" names ${r.length} versions; give one version or alias`);
  return buildxLabel(r[0]!);
}

export function qualifyCommand(): Command {
  const cmd = new Command('qualify')
    .summary('go / no-go for a Buildx upgrade: every scenario and case, baseline vs candidate')
    .description(
      'Runs the targets (default: every scenario) with both versions and lists every configuration whose behaviour changed. Exit 0 = go, 1 = no-go (a regression, or nothing comparable).',
    )
    .argument('[target...]', "scenario names and case directories (a team's own past bugs)")
    .requiredOption('--baseline <version>', 'the Buildx in use today (a release, or git:<repo>@<rev>)')
    .requiredOption('--candidate <version>', 'the Buildx to upgrade to: a release, or git:<repo>@<rev> (a branch or pull request head of a local clone, built at its commit)');
  addRunOptions(cmd, { matrix: 'quick' });
  addTrustOption(cmd);
  return cmd.action(async (targets: string[], values: Record<string, unknown>, c: Command) => {
    const config = labConfig();
    const o = runOptions(values);
    refusePinnedFilter(o, 'buildx', 'qualify');
    const [baseline, candidate] = [await oneLabel(config, values.baseline as string), await oneLabel(config, values.candidate as string)];
    if (baseline === candidate) throw new UsageError(`baseline and candidate are the same version (${baseline})`);
    const sources = targets.length ? targetSources(targets, { trust: values.trust === true }) : scenarioSources([]);
    const reportDir = o.reportDir ?? defaultReportDir(newRunId());
    const b = board(config);
    let results: CellResult[];
    try {
      results = await probeRun(config, b, {
        command: 'qualify',
        argv: ['qualify', ...c.args],
        sources,
        options: o,
        axis: 'buildx',
        values: [values.baseline as string, values.candidate as string],
        reportDir,
      });
    } finally {
      b.close();
    }
    const q = qualify(results, baseline, candidate);
    process.stdout.write(`\n${renderTerminalTable(buildMatrix(results), { color: process.stdout.isTTY === true })}\n`);
    // (the table shows control characters itself and keeps its colours; the evidence lines quote cell output)
    writeConsole(process.stdout, `${renderQualification(q)}reports: ${reportDir}/report.html\n`);
    process.exitCode = q.verdict === 'go' ? 0 : 1;
  });
}
