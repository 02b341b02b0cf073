import { describe, expect, it } from 'vitest';
import { parseVersionOutput, sameVersion } from './buildx.ts';
import { cacheKey, sourceOrder, isUnavailable } from './provision.ts';
import { goBuildArgv } from '../gobuild.ts';
import { ProvisionError, RequirementError } from '../errors.ts';

describe('buildx version output', () => {
  it.each([
    ['github.com/docker/buildx v0.21.1 abc123\n', 'v0.21.1'],
    ['github.com/docker/buildx v0.21.0-rc2 3f82aadc\n', 'v0.21.0-rc2'],
    // Debian prints its package version (captured from trixie's docker-buildx 0.13.1+ds1-3)
    ['github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3\n', 'v0.13.1'],
    // a build without -ldflags (what `go build` alone gives)
    ['github.com/docker/buildx v0.0.0+unknown \n', 'v0.0.0'],
    ['docker: unknown command', undefined],
  ])('%j -> %s', (out, v) => {
    expect(parseVersionOutput(out)).toBe(v);
  });

  it('compares ignoring build metadata only', () => {
    expect(sameVersion('v0.13.1', 'v0.13.1+ds1')).toBe(true);
    expect(sameVersion('v0.21.0-rc1', 'v0.21.0')).toBe(false);
  });
});

describe('sources', () => {
  it('asks Debian first for the debian aliases, downloads then Go otherwise', () => {
    expect(sourceOrder({ spec: 'debian-sid', via: 'alias' }, false)).toEqual(['debian']);
    expect(sourceOrder({ spec: '0.21.1', via: 'exact' }, false)).toEqual(['release', 'go']);
    expect(sourceOrder({ spec: 'latest', via: 'alias' }, true)).toEqual(['go']);
    expect(cacheKey('v0.29.1', 'debian')).toBe('v0.29.1-debian');
    expect(cacheKey('v0.29.1', 'go')).toBe('v0.29.1');
  });

  it('tells an unavailable source from a failed one', () => {
    expect(isUnavailable(new ProvisionError('cannot download https://x: getaddrinfo ENOTFOUND github.com'))).toBe(true);
    expect(isUnavailable(new RequirementError('Go is needed'))).toBe(true);
    expect(isUnavailable(new ProvisionError('building github.com/docker/buildx@v0.21.1 failed: undefined: foo'))).toBe(false);
  });

  it('builds with -mod=mod and the version ldflags, never go install', () => {
    const argv = goBuildArgv(
      { module: 'github.com/docker/buildx', version: 'v0.21.1', targets: [], workDir: '/w', ldflagsX: { 'github.com/docker/buildx/version.Version': 'v0.21.1', 'github.com/docker/buildx/version.Revision': '{{revision}}' } },
      { pkg: './cmd/buildx', out: '/o/docker-buildx' },
      '3f82aadc',
    );
    expect(argv.slice(0, 3)).toEqual(['go', 'build', '-mod=mod']);
    expect(argv).toContain('-X github.com/docker/buildx/version.Version=v0.21.1 -X github.com/docker/buildx/version.Revision=3f82aadc'.replace(/^/, '-s -w '));
    expect(argv.at(-1)).toBe('./cmd/buildx');
  });
});
