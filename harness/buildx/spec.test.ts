import { describe, expect, it } from 'vitest';
import { HarnessError, UsageError } from '../errors.ts';
import { compareVersions, loadReleases, nearestVersions, normalizeVersion, parseReleases, resolveSpec, resolveSpecs, satisfies, type Release, type ReleaseIndex } from './spec.ts';

const V = ['v0.19.3', 'v0.20.0', 'v0.20.1', 'v0.21.0-rc1', 'v0.21.0-rc2', 'v0.21.0', 'v0.21.1', 'v0.22.0-rc1', 'v0.22.0', 'v0.23.0', 'v0.29.1'];
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
    // a prerelease named with a two-digit patch counts too
    ['>=0.21.10-rc1 <0.23', ['v0.22.0-rc1', 'v0.22.0']],
    ['latest', ['v0.29.1']],
    [' latest ', ['v0.29.1']],
    ['debian-sid', ['v0.29.1']],
  ])('%s -> %j', (spec, want) => {
    expect(versions(spec)).toEqual(want);
  });

  it('includes prereleases in ranges only when asked', () => {
    // every release of V from v0.21.0-rc1 up to v0.22.0, candidates included
    expect(versions('>=0.21 <0.23', { includePrerelease: true })).toEqual(V.slice(V.indexOf('v0.21.0-rc1'), V.indexOf('v0.22.0') + 1));
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

  it('rejects gibberish and aliases it does not know, listing the aliases', () => {
    expect(() => resolveSpec('newest', index)).toThrow('"newest" is not a Buildx version, semver range or alias (aliases: latest, debian-trixie, debian-sid)');
    expect(() => resolveSpec('debian-sid', releases)).toThrow('"debian-sid" is not a Buildx version, semver range or alias (aliases: latest)');
  });

  it('says when prereleases were left out of a range, and not when they were in', () => {
    expect(() => resolveSpec('>=0.23.1 <0.29', index)).toThrow(/matches no known Buildx release \(prereleases excluded; set includePrerelease to allow them\); known:/);
    expect(() => resolveSpec('>=0.23.1 <0.29', index, { includePrerelease: true })).toThrow(/matches no known Buildx release; known:/);
  });

  it('names the product and the fix it is given, and an empty list', () => {
    const opts = { product: 'Docker engine', fix: 'add it' };
    expect(() => resolveSpec('1.0.0', [], opts)).toThrow('unknown Docker engine version v1.0.0; nearest known: (none). Fix: add it');
    expect(() => resolveSpec('>=1', [], opts)).toThrow(
      'range ">=1" matches no known Docker engine release (prereleases excluded; set includePrerelease to allow them); known: (no releases known). Fix: add it',
    );
  });

  it('points latest at the newest stable release, and fails when there is none', () => {
    expect(resolveSpec('latest', releases.slice(0, 9))).toEqual([{ version: 'v0.22.0', spec: 'latest', release: releases[8], via: 'alias' }]);
    expect(() =>
      resolveSpec(
        'latest',
        releases.filter((r) => r.prerelease),
      ),
    ).toThrow(/^"latest" has no stable release to point at; run `npx tsx harness\/buildx\/update-releases.ts`/);
  });

  it('carries the known release of an alias, and the spec as written', () => {
    expect(resolveSpec('debian-sid', index)).toEqual([{ version: 'v0.29.1', spec: 'debian-sid', release: releases[10], via: 'alias' }]);
    expect(resolveSpec(' 0.21.1', index)).toEqual([{ version: 'v0.21.1', spec: ' 0.21.1', release: releases[6], via: 'exact' }]);
    expect(resolveSpec('^0.22', index, { all: true })).toEqual([{ version: 'v0.22.0', spec: '^0.22', release: releases[8], via: 'range' }]);
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
    expect(normalizeVersion(' 0.21.1\n')).toBe('v0.21.1');
    expect(() => normalizeVersion('0.21')).toThrow(UsageError);
    expect(() => normalizeVersion('0.21')).toThrow('"0.21" is not a Buildx version (expected e.g. 0.21.1 or v0.21.0-rc2)');
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

  it('refuses a range that is not one', () => {
    expect(() => satisfies('v0.21.0', 'soon')).toThrow(UsageError);
    expect(() => satisfies('v0.21.0', 'soon')).toThrow('"soon" is not a semver range');
  });

  it.each([
    // same line first, then by patch; ties go to the newer version
    ['v0.22.5', 2, ['v0.22.0', 'v0.22.0-rc1']],
    ['v0.21.3', 3, ['v0.21.1', 'v0.21.0', 'v0.21.0-rc2']],
    // a prerelease target prefers prereleases of the same version
    ['v0.21.0-rc3', 3, ['v0.21.0-rc2', 'v0.21.0-rc1', 'v0.21.0']],
    // then the minor distance, whichever way
    ['v0.25.0', 3, ['v0.23.0', 'v0.22.0', 'v0.22.0-rc1']],
    // then the major distance
    ['v1.21.0', 1, ['v0.21.0']],
    // the patch distance counts before prerelease-or-not
    ['v0.20.0', 5, ['v0.20.0', 'v0.20.1', 'v0.21.0', 'v0.21.0-rc2', 'v0.21.0-rc1']],
  ] as const)('the nearest known to %s (%i) are %j', (target, n, want) => {
    expect(nearestVersions(target, releases, n)).toEqual(want);
  });

  it('counts the major distance whichever way', () => {
    const majors = ['v0.9.0', 'v2.0.0', 'v1.5.0'].map((version) => ({ version, prerelease: false }));
    expect(nearestVersions('v1.0.0', majors)).toEqual(['v1.5.0', 'v2.0.0', 'v0.9.0']);
  });

  it('lists five by default, and none for a target that is no version', () => {
    expect(nearestVersions('v0.21.1', releases)).toHaveLength(5);
    expect(nearestVersions('nope', releases)).toEqual([]);
  });
});

describe('parseReleases', () => {
  it('sorts the releases oldest first and fills what the file leaves out', () => {
    const text = JSON.stringify({
      releases: [
        { version: 'v0.21.0', prerelease: false },
        { version: 'v0.9.1', prerelease: false },
        { version: 'v0.21.0-rc1', prerelease: true },
      ],
    });
    expect(parseReleases(text, 'r.json')).toEqual({
      generatedAt: '',
      source: '',
      releases: [
        { version: 'v0.9.1', prerelease: false },
        { version: 'v0.21.0-rc1', prerelease: true },
        { version: 'v0.21.0', prerelease: false },
      ],
      aliases: {},
    });
  });
  it.each([
    ['{', /^cannot read r\.json: /],
    ['null', /^r\.json has no "releases" array$/],
    ['{"releases": {}}', /^r\.json has no "releases" array$/],
  ])('refuses %s, naming the file', (text, message) => {
    expect(() => parseReleases(text, 'r.json')).toThrow(HarnessError);
    expect(() => parseReleases(text, 'r.json')).toThrow(message);
  });
  it("keeps the parser's error as the cause", () => {
    expect(() => parseReleases('{', 'r.json')).toThrow(expect.objectContaining({ cause: expect.any(SyntaxError) }));
  });
});

describe('releases.json', () => {
  it('holds the versions the scenarios rely on, sorted', () => {
    const idx = loadReleases();
    expect(idx.source).toBe('https://proxy.golang.org/github.com/docker/buildx');
    expect(idx.generatedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
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
