import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.ts';
import {
  compareVersions,
  loadReleases,
  nearestVersions,
  normalizeVersion,
  resolveSpec,
  resolveSpecs,
  satisfies,
  type Release,
  type ReleaseIndex,
} from './spec.ts';

const V = [
  'v0.19.3',
  'v0.20.0',
  'v0.20.1',
  'v0.21.0-rc1',
  'v0.21.0-rc2',
  'v0.21.0',
  'v0.21.1',
  'v0.22.0-rc1',
  'v0.22.0',
  'v0.23.0',
  'v0.29.1',
];
const releases: Release[] = V.map((version) => ({ version, prerelease: version.includes('-') }));
const index: ReleaseIndex = {
  generatedAt: '',
  source: 'test',
  releases,
  aliases: { 'debian-trixie': '0.13.1', 'debian-sid': '0.29.1' },
};
const versions = (spec: string, opts = {}) => resolveSpec(spec, index, opts).map((r) => r.version);

describe('resolveSpec', () => {
  it.each([
    ['0.21.1', ['v0.21.1']],
    ['v0.21.1', ['v0.21.1']],
    [' v0.21.0-rc2 ', ['v0.21.0-rc2']],
    ['>=0.20 <0.23', ['v0.20.0', 'v0.20.1', 'v0.21.0', 'v0.21.1', 'v0.22.0']],
    ['^0.21', ['v0.21.0', 'v0.21.1']],
    ['~0.21.0', ['v0.21.0', 'v0.21.1']],
    ['0.21', ['v0.21.0', 'v0.21.1']],
    // the range names a prerelease, so prereleases of every version count
    ['>=0.21.0-rc2 <0.23', ['v0.21.0-rc2', 'v0.21.0', 'v0.21.1', 'v0.22.0-rc1', 'v0.22.0']],
    ['latest', ['v0.29.1']],
    ['debian-sid', ['v0.29.1']],
  ])('%s -> %j', (spec, want) => {
    expect(versions(spec)).toEqual(want);
  });

  it('includes prereleases in ranges only when asked', () => {
    expect(versions('>=0.21 <0.23', { includePrerelease: true })).toEqual([
      'v0.21.0-rc1',
      'v0.21.0-rc2',
      'v0.21.0',
      'v0.21.1',
      'v0.22.0-rc1',
      'v0.22.0',
    ]);
  });

  it('returns only the newest match with all:false', () => {
    expect(versions('>=0.20 <0.23', { all: false })).toEqual(['v0.22.0']);
  });

  it('says how each version was found', () => {
    expect(resolveSpec('0.21.1', index)[0]).toMatchObject({ via: 'exact', spec: '0.21.1', release: { version: 'v0.21.1' } });
    expect(resolveSpec('^0.21', index)[0]).toMatchObject({ via: 'range', spec: '^0.21' });
    // an alias to a version missing from the list still resolves; it carries no release
    expect(resolveSpec('debian-trixie', index)).toEqual([{ version: 'v0.13.1', spec: 'debian-trixie', via: 'alias' }]);
  });

  it('rejects an unknown version, naming the nearest known ones and the fix', () => {
    let err: unknown;
    try {
      resolveSpec('0.21.4', index);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    const msg = (err as Error).message;
    expect(msg).toContain('v0.21.4');
    expect(msg).toContain('nearest known: v0.21.1, v0.21.0, v0.21.0-rc2, v0.21.0-rc1, v0.20.1');
    expect(msg).toContain('update-releases');
    expect(msg).toContain('spelling');
  });

  it('rejects a range matching nothing, naming the range and the known span', () => {
    expect(() => resolveSpec('>=0.40', index)).toThrow(UsageError);
    expect(() => resolveSpec('>=0.40', index)).toThrow(/range ">=0.40".*v0\.19\.3 \.\. v0\.29\.1/);
  });

  it('rejects gibberish and aliases it does not know', () => {
    expect(() => resolveSpec('newest', index)).toThrow(/not a Buildx version, semver range or alias/);
    expect(() => resolveSpec('debian-sid', releases)).toThrow(UsageError);
  });
});

describe('resolveSpecs', () => {
  it('dedupes and sorts by semver', () => {
    const got = resolveSpecs(['latest', '0.21.1', '^0.21', 'v0.21.0-rc1', '0.20.1'], index);
    expect(got.map((r) => r.version)).toEqual(['v0.20.1', 'v0.21.0-rc1', 'v0.21.0', 'v0.21.1', 'v0.29.1']);
    // first spec wins
    expect(got.find((r) => r.version === 'v0.21.1')?.spec).toBe('0.21.1');
  });
});

describe('versions', () => {
  it('normalizes and compares', () => {
    expect(normalizeVersion('0.21.1')).toBe('v0.21.1');
    expect(normalizeVersion('v0.21.0-rc2')).toBe('v0.21.0-rc2');
    expect(() => normalizeVersion('0.21')).toThrow(UsageError);
    expect(compareVersions('0.21.0-rc2', 'v0.21.0')).toBeLessThan(0);
    expect([...V].reverse().sort(compareVersions)).toEqual(V);
  });

  it.each([
    ['v0.21.0-rc1', '<0.21.0-rc2', true],
    ['v0.20.1', '<0.21.0-rc2', true],
    ['v0.21.0-rc2', '<0.21.0-rc2', false],
    ['v0.21.0', '>=0.21.0-rc2', true],
    ['v0.22.0', '>=0.21.0-rc2', true],
    ['v0.22.0-rc1', '>=0.21.0-rc2', true],
    ['v0.21.0-rc1', '>=0.21.0-rc2', false],
    ['0.22.0-rc1', '<0.22', false],
  ])('satisfies(%s, %s) = %s', (v, range, want) => {
    expect(satisfies(v, range)).toBe(want);
  });

  it('finds nearest versions by semver distance', () => {
    expect(nearestVersions('v0.22.5', releases, 2)).toEqual(['v0.22.0', 'v0.22.0-rc1']);
  });
});

describe('releases.json', () => {
  it('holds the versions the scenarios rely on, sorted', () => {
    const idx = loadReleases();
    const vs = idx.releases.map((r) => r.version);
    for (const v of ['v0.19.3', 'v0.20.1', 'v0.21.0-rc1', 'v0.21.0-rc2', 'v0.21.0', 'v0.21.1', 'v0.22.0-rc1', 'v0.22.0']) {
      expect(vs).toContain(v);
    }
    expect([...vs].sort(compareVersions)).toEqual(vs);
    expect(idx.releases.every((r) => r.prerelease === v0pre(r.version))).toBe(true);
    expect(resolveSpec('debian-sid', idx)[0]?.release?.version).toBe('v0.29.1');
    expect(resolveSpec('latest', idx)[0]?.release?.prerelease).toBe(false);
  });
});

const v0pre = (v: string) => v.includes('-');
