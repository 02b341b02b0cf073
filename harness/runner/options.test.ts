// The run options that are pure over the flags: --jobs' default and its clamp.
import { availableParallelism } from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runOptions } from './options.ts';

const cores = availableParallelism();

describe('runOptions --jobs', () => {
  afterEach(() => vi.restoreAllMocks());

  it('defaults to one more cell than cores', () => {
    expect(runOptions({ matrix: 'quick' }).jobs).toBe(cores + 1);
  });

  it('keeps a value up to twice the cores', () => {
    expect(runOptions({ matrix: 'quick', jobs: 1 }).jobs).toBe(1);
    expect(runOptions({ matrix: 'quick', jobs: 2 * cores }).jobs).toBe(2 * cores);
  });

  it('clamps more than twice the cores, and says so', () => {
    const said = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(runOptions({ matrix: 'quick', jobs: 2 * cores + 5 }).jobs).toBe(2 * cores);
    expect(String(said.mock.calls[0]?.[0])).toMatch(new RegExp(`--jobs ${2 * cores + 5} is more than twice this machine's ${cores} cores; using ${2 * cores}`));
  });
});
