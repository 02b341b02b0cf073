// The run options that are pure over the flags: --jobs' default and its clamp.
import { availableParallelism } from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cellsAdmitted } from '../../vitest.config.ts';
import { runOptions } from './options.ts';

const cores = availableParallelism();

describe('runOptions --jobs', () => {
  afterEach(() => vi.restoreAllMocks());

  it('defaults to twice the cores', () => {
    expect(runOptions({ matrix: 'quick' }).jobs).toBe(2 * cores);
  });

  it('keeps a value up to four times the cores', () => {
    expect(runOptions({ matrix: 'quick', jobs: 1 }).jobs).toBe(1);
    expect(runOptions({ matrix: 'quick', jobs: 4 * cores }).jobs).toBe(4 * cores);
  });

  it('clamps more than four times the cores, and says so', () => {
    const said = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(runOptions({ matrix: 'quick', jobs: 4 * cores + 5 }).jobs).toBe(4 * cores);
    expect(String(said.mock.calls[0]?.[0])).toMatch(new RegExp(`--jobs ${4 * cores + 5} is more than four times this machine's ${cores} cores; using ${4 * cores}`));
  });
});

describe('cells admitted at once (BUILDX_LAB_CELLS_ADMITTED, set by the CLI)', () => {
  it('takes a whole number from 1 to 1000, and falls back to vitest default 5 otherwise', () => {
    expect(cellsAdmitted('8')).toBe(8);
    for (const bad of [undefined, '', '0', '-3', '2.5', '1e9', 'many', ' 8; rm -rf /']) expect(cellsAdmitted(bad), String(bad)).toBe(5);
  });
});
