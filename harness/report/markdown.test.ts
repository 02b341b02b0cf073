import { describe, expect, it } from 'vitest';
import { HOSTILE_CHARS, HOSTILE_TEXT, META, immutableTagCells, makeCell, pullStreamCells } from './fixtures.test-helpers.ts';
import { escapeMarkdown, toMarkdown } from './markdown.ts';
import { redactDeep } from '../redact/redact.ts';

describe('toMarkdown', () => {
  const md = toMarkdown(redactDeep([...pullStreamCells(), ...immutableTagCells()]), redactDeep(META));

  it('has a headline with counts and status', () => {
    expect(md).toContain('# buildx-lab run run-20251127-0250');
    expect(md).toContain('**8 cells: 2 reproduced, 1 fixed, 1 control, 1 unexpected, 1 error, 1 skipped, 1 flaky** (9 results) - NEEDS ATTENTION');
  });

  it('has one matrix table per scenario with semver-ordered columns', () => {
    expect(md).toContain('## pull-stream-errors\n\n| configuration | v0.20.1 | v0.21.0 | v0.21.1 | v0.22.0 |\n| --- | --- | --- | --- | --- |');
    expect(md).toContain('| driver=docker/engine=26.1.5/fault=corrupt/store=containerd | reproduced | fixed | **unexpected** (expected fixed) | **error** (expected fixed) |');
    expect(md).toContain('| configuration | v0.9.1 | v0.19.3 | master |');
    expect(md).toContain('**flaky** (expected reproduced) (x2)');
  });

  it('lists the cells that need attention with their last error line', () => {
    const section = md.slice(md.indexOf('## Cells that need attention'));
    expect(section).toContain('unexpected (expected fixed). the build succeeded although the proxy corrupted a layer &lt;script&gt;alert\\(1\\)&lt;/script&gt;');
    expect(section).toContain('last error: `engine-start: dockerd exited with code 1`');
    expect(section).toContain('fixed (expected reproduced)');
    expect(section).not.toContain('<script>');
    expect(section.match(/^- /gm)).toHaveLength(3);
  });

  it('says so when nothing needs attention', () => {
    expect(toMarkdown(redactDeep(pullStreamCells().slice(0, 2)), redactDeep(META))).toContain('## Cells that need attention\n\nNone.');
  });
});

describe('escapeMarkdown', () => {
  it.each([
    ['a|b', 'a\\|b'],
    ['<b>x</b>', '&lt;b&gt;x&lt;/b&gt;'],
    ['two\nlines', 'two lines'],
    ['*bold* `code`', '\\*bold\\* \\`code\\`'],
  ])('%j', (input, want) => expect(escapeMarkdown(input)).toBe(want));
});

describe('toMarkdown escapes what a report read from disk could carry', () => {
  // an outcome the schema would refuse, to show the writer does not rely on it
  const evil = JSON.parse(JSON.stringify(pullStreamCells()[2]));
  evil.outcome = '<img src=x onerror=alert(1)>';
  evil.summary = 'costs $x$ and \u0007 rings | pipes';
  const md = toMarkdown(redactDeep([evil]), redactDeep(META));

  it('escapes outcomes like any text', () => {
    expect(md).not.toContain('<img');
    expect(md).toContain('&lt;img src=x onerror=alert\\(1\\)&gt;');
  });

  it('shows bidi and C1 controls, a bare ESC and CR in names, summaries and error lines', () => {
    const cell = makeCell({
      scenario: HOSTILE_TEXT,
      axes: { buildx: HOSTILE_TEXT },
      outcome: 'error',
      expected: 'fixed',
      summary: HOSTILE_TEXT,
      error: { kind: 'harness', message: HOSTILE_TEXT },
    });
    const out = toMarkdown(redactDeep([cell]), redactDeep(META));
    expect(out).not.toMatch(HOSTILE_CHARS);
    expect(out).toContain('ok\\u202egnp.exe\\u202c');
    expect(out).toContain('last error: `harness: ok\\u202egnp.exe');
  });

  it('escapes math and pipes, and shows control characters', () => {
    expect(md).toContain('costs \\$x\\$ and \\\\u0007 rings \\| pipes');
  });
});
