import { describe, expect, it } from 'vitest';
import type { Carrier } from '../git/history.ts';
import { backportRows, lastPatchPerMinor, renderBackports } from './backports.ts';

const TAGS = ['v0.19.3', 'v0.20.0-rc1', 'v0.20.0', 'v0.20.1', 'v0.20.2', 'v0.21.0-rc2', 'v0.21.0', 'v0.21.10', 'v0.21.9', 'v0.22.0', 'latest', 'v0.23.0-rc1', 'release-v0.20'];

describe('lastPatchPerMinor', () => {
  it('takes the highest stable patch of each minor (numerically), oldest minor first', () => {
    expect(lastPatchPerMinor(TAGS)).toEqual(['v0.19.3', 'v0.20.2', 'v0.21.10', 'v0.22.0']);
    expect(lastPatchPerMinor(TAGS, 'v0.20.1')).toEqual(['v0.20.2', 'v0.21.10', 'v0.22.0']);
  });
});

describe('backportRows', () => {
  it('says per minor whether its last patch release carries the change and how', () => {
    const carriers: Carrier[] = [
      { tag: 'v0.20.2', via: 'cherry-pick', commits: ['a'.repeat(40)] },
      { tag: 'v0.22.0', via: 'history', commits: ['b'.repeat(40)] },
      { tag: 'v0.21.9', via: 'history', commits: ['b'.repeat(40)] },
    ];
    const rows = backportRows(TAGS, carriers, 'v0.20.0');
    expect(rows.map((r) => [r.release, r.carrier?.via ?? 'missing'])).toEqual([
      ['v0.20.2', 'cherry-pick'],
      ['v0.21.10', 'missing'],
      ['v0.22.0', 'history'],
    ]);
    expect(renderBackports(rows)).toBe(`  v0.20.2    carries it as a backport (${'a'.repeat(12)})\n  v0.21.10   lacks it\n  v0.22.0    carries it\n`);
  });
});
