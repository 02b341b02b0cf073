// JUnit XML for CI dashboards: one testsuite per scenario, one testcase per cell.
import type { CellResult } from '../model.ts';
import { redactDeep, redactSecrets } from './redact.ts';
import { escapeMarkup } from '../text.ts';
import { byScenario, failingCommand, isFailure, lastLines, shellQuote } from './table.ts';

// XML 1.0 cannot carry most C0 controls even as character references, so they are made visible instead.
// eslint-disable-next-line no-control-regex
const INVALID_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export function escapeXml(text: string): string {
  return escapeMarkup(text, INVALID_XML, '&apos;');
}

function attrs(a: Record<string, string | number>): string {
  return Object.entries(a)
    .map(([k, v]) => ` ${k}="${escapeXml(String(v))}"`)
    .join('');
}

const seconds = (ms: number) => (Math.max(0, ms) / 1000).toFixed(3);

function failureBody(r: CellResult): string {
  const cmd = failingCommand(r);
  const lines = [r.summary, `expected: ${r.expected} (${r.expectedReason})`, `actual: ${r.outcome}`];
  if (r.error) lines.push(`error: ${r.error.kind}: ${r.error.message}`);
  if (cmd) {
    lines.push('', `$ ${shellQuote(cmd.argv)}`, `exit ${cmd.exitCode}`);
    if (cmd.stderr.trim()) lines.push('--- stderr (last 30 lines) ---', lastLines(cmd.stderr, 30));
  }
  return lines.join('\n');
}

function testcase(r: CellResult): string {
  const head = `    <testcase${attrs({ name: r.name, classname: r.scenario, time: seconds(r.timings.totalMs) })}>`;
  const parts: string[] = [];
  if (r.outcome === 'skipped') {
    parts.push(`      <skipped${attrs({ message: r.summary })}/>`);
  } else if (r.outcome === 'error') {
    parts.push(`      <error${attrs({ message: r.summary, type: r.error?.kind ?? 'error' })}>${escapeXml(failureBody(r))}</error>`);
  } else if (isFailure(r)) {
    parts.push(`      <failure${attrs({ message: r.summary, type: `expected ${r.expected}, got ${r.outcome}` })}>${escapeXml(failureBody(r))}</failure>`);
  }
  if (r.evidence.facts.length) parts.push(`      <system-out>${escapeXml(r.evidence.facts.join('\n'))}</system-out>`);
  return parts.length ? `${head}\n${parts.join('\n')}\n    </testcase>` : `${head}</testcase>`;
}

export function toJUnitXml(results: readonly CellResult[], opts: { suiteName: string }): string {
  const safe = redactDeep([...results]);
  const suites: string[] = [];
  const total = { tests: 0, failures: 0, errors: 0, skipped: 0, ms: 0 };
  for (const [scenario, cells] of byScenario(safe)) {
    const n = {
      tests: cells.length,
      failures: cells.filter((r) => r.outcome !== 'error' && isFailure(r)).length,
      errors: cells.filter((r) => r.outcome === 'error').length,
      skipped: cells.filter((r) => r.outcome === 'skipped').length,
      ms: cells.reduce((s, r) => s + r.timings.totalMs, 0),
    };
    for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += n[k];
    const timestamp = cells.map((r) => r.startedAt).sort()[0] ?? '';
    suites.push(
      `  <testsuite${attrs({ name: scenario, tests: n.tests, failures: n.failures, errors: n.errors, skipped: n.skipped, time: seconds(n.ms), timestamp })}>\n` +
        cells.map(testcase).join('\n') +
        `\n  </testsuite>`,
    );
  }
  const root = attrs({ name: redactSecrets(opts.suiteName), tests: total.tests, failures: total.failures, errors: total.errors, skipped: total.skipped, time: seconds(total.ms) });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites${root}>\n${suites.join('\n')}${suites.length ? '\n' : ''}</testsuites>\n`;
}
