import { describe, expect, it } from 'vitest';
import { originText, parseVersionOutput, sameVersion } from './buildx.ts';

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

describe('originText', () => {
  it('says where a binary came from in the README words: release download, source build, Debian', () => {
    expect(originText({ origin: 'release' })).toBe('release download');
    expect(originText({ origin: 'go' })).toBe('source build, Go module proxy');
    expect(originText({ origin: 'debian' })).toBe("Debian's package");
    expect(originText({ origin: 'git', git: { repo: '/src/buildx', commit: 'abc', tag: 'v0.21.0', mode: 'vendor' } })).toBe(
      'source build, git commit abc (tag v0.21.0) of /src/buildx, -mod=vendor',
    );
  });
});
