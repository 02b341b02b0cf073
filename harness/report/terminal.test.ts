import { describe, expect, it } from 'vitest';
import { stripAnsi } from '../text.ts';
import { HOSTILE_CHARS, HOSTILE_TEXT, immutableTagCells, makeCell, pullStreamCells } from './fixtures.test-helpers.ts';
import { buildMatrix } from './matrix.ts';
import { REPRO_WORDS, renderTerminalTable } from './terminal.ts';

const pull = pullStreamCells();
const immutable = immutableTagCells();

describe('renderTerminalTable', () => {
  const m = buildMatrix([...pull, ...immutable]);
  it('prints aligned columns and the totals line', () => {
    const text = renderTerminalTable(m, { color: false });
    const lines = text.split('\n');
    const header = lines[0]!;
    // every version column starts at the same offset on every row
    const col = header.indexOf('v0.21.0');
    for (const line of lines.slice(2, 2 + m.rows.length)) expect(line.length === 0 || line.length >= col).toBe(true);
    expect(lines[3]!.slice(col).startsWith('fixed ')).toBe(true);
    expect(text).toContain('8 cells: 2 reproduced, 1 fixed, 1 control, 1 unexpected, 1 error, 1 skipped, 1 flaky');
    expect(text).toContain('flaky x2*');
    expect(text).not.toContain('\u001b[');
  });

  it('colours cells only when asked, without breaking alignment', () => {
    const plain = renderTerminalTable(m, { color: false });
    const colored = renderTerminalTable(m, { color: true });
    expect(colored).toContain('\u001b[33m');
    expect(
      stripAnsi(colored)
        .split('\n')
        .map((l) => l.trimEnd()),
    ).toEqual(plain.split('\n').map((l) => l.trimEnd()));
  });

  it('shows control characters from results instead of sending them to the terminal', () => {
    const evil = makeCell({ scenario: 'x\u001b]0;pwned\u0007', axes: { buildx: 'v1\u001b[2J', store: 'a\u009bb' }, outcome: 'fixed' });
    const text = renderTerminalTable(buildMatrix([evil]), { color: true });
    expect(stripAnsi(text)).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(text).toContain('x\\u001b]0;pwned\\u0007');
  });

  it("speaks repro's words when asked: present, absent, inconclusive", () => {
    const cells = [
      makeCell({ scenario: 'case-x', axes: { buildx: 'v1' }, outcome: 'reproduced', expected: 'reproduced' }),
      makeCell({ scenario: 'case-x', axes: { buildx: 'v2' }, outcome: 'fixed', expected: 'fixed' }),
      makeCell({ scenario: 'case-x', axes: { buildx: 'v3' }, outcome: 'unexpected', expected: 'reproduced' }),
    ];
    const row = renderTerminalTable(buildMatrix(cells), { color: false, words: REPRO_WORDS }).split('\n')[2]!;
    expect(row.split(/\s+/).slice(-3)).toEqual(['present', 'absent', 'inconclusive*']);
  });

  it('shows bidi controls in names and versions instead of letting them reorder the row', () => {
    const evil = makeCell({ scenario: HOSTILE_TEXT, axes: { buildx: `v1${HOSTILE_TEXT}`, store: HOSTILE_TEXT }, outcome: 'fixed' });
    const text = renderTerminalTable(buildMatrix([evil]), { color: true });
    expect(stripAnsi(text)).not.toMatch(HOSTILE_CHARS);
    expect(text).toContain('ok\\u202egnp.exe\\u202c \\u2066iso\\u2069');
  });
});
