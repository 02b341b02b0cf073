// JUnit XML for CI dashboards: one testsuite per scenario, one testcase per cell.
import type { CellResult } from '../model.ts';
import { redactSecrets, type Redacted } from '../redact/redact.ts';
import { escapeMarkup, lastLines } from '../text.ts';
import { shellJoin } from '../text.ts';
import { failingCommand } from './evidence.ts';
import { byScenario, isFailure } from './matrix.ts';

// XML 1.0 cannot carry most C0 controls even as character references, so they are made visible instead.
// eslint-disable-next-line no-control-regex
const INVALID_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export function escapeXml(text: string): string {
  return escapeMarkup(text, INVALID_XML, '&apos;');
}

/** Attributes, every value escaped (numbers too); line breaks and tabs as character references, which
 * survive XML's attribute-value normalisation (a raw newline would be read back as a space). */
function attrs(a: Record<string, string | number>): string {
  return Object.entries(a)
    .map(([k, v]) => ` ${k}="${escapeXml(String(v)).replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;')}"`)
    .join('');
}

const seconds = (ms: number) => (Math.max(0, ms) / 1000).toFixed(3);

function failureBody(r: CellResult): string {
  const cmd = failingCommand(r);
  const lines = [r.summary, `expected: ${r.expected} (${r.expectedReason})`, `actual: ${r.outcome}`];
  if (r.error) lines.push(`error: ${r.error.kind}: ${r.error.message}`);
  if (cmd) {
    lines.push('', `$ ${shellJoin(cmd.argv)}`, `exit ${cmd.exitCode}`);
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

/** JUnit XML; takes only redacted results (write.ts redacts once for all writers). */
export function toJUnitXml(safe: Redacted<readonly CellResult[]>, opts: { suiteName: string }): string {
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
