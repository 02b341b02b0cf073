// The BuildKit of a Buildx release's day: the date rule, the bound for undated releases, the choice per
// cell, and the checked-in table kept in step with both release lists.
import { describe, expect, it } from 'vitest';
import { loadReleases } from '../buildx/spec.ts';
import { buildkitOn, chooseBuildkit, loadBuildkitIndex, ofItsDayTable } from './of-its-day.ts';

const BK = [
  { version: 'v0.12.5', date: '2024-01-31T10:00:00Z' },
  { version: 'v0.13.0', date: '2024-03-05T10:00:00Z' },
  { version: 'v0.13.1', date: '2024-03-18T10:00:00Z' },
  // a patch of an older line, tagged after a newer minor: buildx-stable-1 never moved back to it
  { version: 'v0.12.6', date: '2024-03-20T10:00:00Z' },
  { version: 'v0.14.0-rc1', date: '2024-03-25T10:00:00Z', prerelease: true },
  { version: 'v0.14.0', date: '2024-06-11T10:00:00Z' },
  { version: 'v0.14.1' },
];

describe('buildkitOn', () => {
  it.each([
    ['2024-02-01T00:00:00Z', 'v0.12.5'],
    ['2024-03-05T10:00:00Z', 'v0.13.0'], // tagged that very second: on or before
    ['2024-03-05T09:59:59Z', 'v0.12.5'],
    ['2024-03-21T00:00:00Z', 'v0.13.1'], // not v0.12.6, though it is the latest tagged
    ['2024-04-01T00:00:00Z', 'v0.13.1'], // not the release candidate
    ['2030-01-01T00:00:00Z', 'v0.14.0'], // v0.14.1 has no date: never of a day
  ])('on %s: %s', (day, want) => {
    expect(buildkitOn(day, BK)?.version).toBe(want);
  });
  it('has none before the first release, or for a day that is not a date', () => {
    expect(buildkitOn('2020-01-01T00:00:00Z', BK)).toBeUndefined();
    expect(buildkitOn('yesterday', BK)).toBeUndefined();
  });
});

describe('ofItsDayTable', () => {
  const buildx = [
    { version: 'v0.13.0', date: '2024-03-05T18:02:26Z', prerelease: false },
    { version: 'v0.14.0-rc1', prerelease: true },
    { version: 'v0.14.0', date: '2024-04-17T17:02:29Z', prerelease: false },
    { version: 'v0.10.0', date: '2023-01-10T00:00:00Z', prerelease: false },
    { version: 'v0.15.0', prerelease: false },
  ];
  const table = ofItsDayTable(buildx, BK);
  it('maps a dated release by its own day', () => {
    expect(table['v0.13.0']).toEqual({ buildkit: 'v0.13.0', day: '2024-03-05T18:02:26Z', basis: 'Buildx v0.13.0 tagged 2024-03-05' });
    expect(table['v0.14.0']?.buildkit).toBe('v0.13.1');
  });
  it('bounds an undated release by the next dated one in version order, and says so', () => {
    expect(table['v0.14.0-rc1']).toEqual({
      buildkit: 'v0.13.1',
      day: '2024-04-17T17:02:29Z',
      basis: 'no date for Buildx v0.14.0-rc1 at the module proxy; bounded by the next dated release, v0.14.0 (2024-04-17)',
    });
  });
  it('leaves out a release older than every BuildKit, and an undated one with nothing after it', () => {
    expect(Object.keys(table).sort()).toEqual(['v0.13.0', 'v0.14.0', 'v0.14.0-rc1']);
  });
});

describe('chooseBuildkit', () => {
  const table = { 'v0.14.0': { buildkit: 'v0.13.1', day: '2024-04-17T17:02:29Z', basis: 'Buildx v0.14.0 tagged 2024-04-17' } };
  const base = { buildx: 'v0.14.0', labDefault: 'v0.17.1' };
  it('takes a named version first, whatever the day', () => {
    expect(chooseBuildkit({ ...base, named: 'v0.20.2', ofItsDay: true }, table)).toMatchObject({ version: 'v0.20.2', via: 'named' });
  });
  it('gives a case the BuildKit of its day, with the day and the reason', () => {
    const c = chooseBuildkit({ ...base, ofItsDay: true }, table);
    expect(c).toMatchObject({ version: 'v0.13.1', via: 'of-its-day' });
    expect(c.reason).toMatch(/^of its day: the newest stable BuildKit on 2024-04-17 \(Buildx v0\.14\.0 tagged 2024-04-17\).*buildx-stable-1$/);
  });
  it("gives a scenario the lab's default", () => {
    expect(chooseBuildkit({ ...base, ofItsDay: false }, table)).toMatchObject({ version: 'v0.17.1', via: 'lab-default' });
  });
  it("falls back to the lab's default, naming the fix, for a Buildx the table lacks (and never reads a prototype key)", () => {
    for (const buildx of ['v0.99.0', 'constructor', '__proto__']) {
      const c = chooseBuildkit({ buildx, labDefault: 'v0.17.1', ofItsDay: true }, table);
      expect(c).toMatchObject({ version: 'v0.17.1', via: 'lab-default' });
      expect(c.reason).toContain('harness/buildkit/update-releases.ts');
    }
  });
});

describe('the checked-in table', () => {
  const index = loadBuildkitIndex();
  const buildx = loadReleases().releases;
  it('is what the rule gives over both checked-in release lists (rerun update-releases.ts --no-fetch when not)', () => {
    expect(index.ofItsDay).toEqual(ofItsDayTable(buildx, index.releases));
  });
  it('has the BuildKit of every Buildx release the lab knows', () => {
    expect(buildx.map((r) => r.version).filter((v) => !index.ofItsDay[v])).toEqual([]);
  });
  it('names only releases it lists', () => {
    const known = new Set(index.releases.map((r) => r.version));
    expect(Object.values(index.ofItsDay).filter((d) => !known.has(d.buildkit))).toEqual([]);
  });
  it('gives Buildx v0.38.2 BuildKit v0.34.2, the newest stable one on its day', () => {
    expect(index.ofItsDay['v0.38.2']?.buildkit).toBe('v0.34.2');
  });
});
