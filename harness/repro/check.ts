// What `buildx-lab check CASE_DIR...` (repro/command.ts) says about a valid case: one line, what it runs
// on and what it checks.
import type { ReproCase } from './case.ts';

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
