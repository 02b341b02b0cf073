// `buildx-lab check CASE_DIR...`: loads and validates case directories without running anything, so a
// case's mistakes show in a second, not after minutes of provisioning. Every directory is checked, the
// invalid ones each named with the line and field to fix.
import { Command } from 'commander';
import { UsageError } from '../errors.ts';
import { caseSource } from '../runner/trust.ts';
import { loadCase, type ReproCase } from './case.ts';
import { writeConsole } from '../progress.ts';

/** One line about a valid case: what it runs on and what it checks; pure. */
export function describeCase(c: Pick<ReproCase, 'dir' | 'steps' | 'checks' | 'versions' | 'driver' | 'expect' | 'buildkit' | 'uses'>, trusted: boolean): string {
  const checks = c.checks.length + c.steps.reduce((n, s) => n + s.checks.length, 0);
  const runsBuildkit = c.buildkit.length > 0 || c.uses.has('buildkitImage') || c.driver.some((d) => d === 'docker-container' || d === 'remote');
  const parts = [
    `${c.steps.length} step(s), ${checks} check(s)`,
    `buildx ${c.versions.join(', ') || '(the default)'}`,
    `driver ${c.driver.join(', ') || 'docker'}`,
    ...(runsBuildkit ? [`buildkit ${c.buildkit.join(', ') || "of each Buildx's day"}`] : []),
    c.expect.length ? `expect ${c.expect.map((e) => `${e.range}: ${e.present ? 'present' : 'absent'}`).join('; ')}` : 'no expect (repro reports present / absent)',
    trusted ? 'trusted' : 'untrusted (runs on a rootless engine, or with --trust)',
  ];
  return `ok  ${c.dir}: ${parts.join('; ')}`;
}

export function checkCommand(): Command {
  return new Command('check')
    .summary('validate case directories without running them (exit 2 naming the line and field of each mistake)')
    .argument('<case-dir...>', 'directories holding case.yaml')
    .action((dirs: string[]) => {
      const invalid: string[] = [];
      for (const dir of dirs) {
        try {
          const c = loadCase(dir);
          const trusted = caseSource(c.dir, { trust: false }).trust !== 'untrusted';
          // a case's title and directory are its author's: printed as the lab prints everything
          writeConsole(process.stdout, `${describeCase(c, trusted)}\n`);
        } catch (e) {
          if (!(e instanceof UsageError)) throw e;
          invalid.push(`${dir}: ${e.message}`);
        }
      }
      if (invalid.length) throw new UsageError(`${invalid.length} of ${dirs.length} case(s) invalid:\n${invalid.map((l) => `  ${l}`).join('\n')}`);
    });
}
