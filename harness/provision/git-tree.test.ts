import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.ts';
import { gitTreeNames, gitTreeText, gitTreeVersion, isVendored, parseLocalGitSpec } from './git-tree.ts';

const SHA = '3f82aadc1d2e4f5a6b7c8d9e0f1a2b3c4d5e6f70';

describe('gitTreeNames', () => {
  it('names a commit on a release tag by the tag: buildx version says it, the label marks the build from Git', () => {
    expect(gitTreeNames(SHA, { tags: ['v0.21.0-rc2'], describe: 'v0.21.0-rc2-0-g3f82aadc1d2e' })).toEqual({
      version: 'v0.21.0-rc2',
      label: 'v0.21.0-rc2-0-g3f82aadc1d2e',
      tag: 'v0.21.0-rc2',
    });
  });

  it('names a commit between releases by git describe (nearest tag, distance, 12 hex digits)', () => {
    expect(gitTreeNames(SHA, { tags: [], describe: 'v0.20.1-45-g3f82aadc1d2e' })).toEqual({ version: 'v0.20.1-45-g3f82aadc1d2e', label: 'v0.20.1-45-g3f82aadc1d2e' });
  });

  it('takes the newest release tag when several point at the commit', () => {
    expect(gitTreeNames(SHA, { tags: ['v0.21.0-rc3', 'v0.21.0', 'v0.20.9'], describe: 'v0.21.0-0-g3f82aadc1d2e' }).tag).toBe('v0.21.0');
  });

  it('without a tag in reach, names the commit alone (and a version buildx version prints)', () => {
    expect(gitTreeNames(SHA, { tags: [] })).toEqual({ version: 'v0.0.0-g3f82aadc1d2e', label: 'g3f82aadc1d2e' });
  });

  it.each([
    [['v1;touch x'], 'v0.20.1-1-gzz'],
    [['v0.21.0 evil', 'vX'], 'v0.21.0\u202e-0-g3f82aadc1d2e'],
    [['v0.21.0-rc2/../x'], 'v1.2-3-g3f82aadc1d2e'],
  ])("uses none of the repository's tags or describe that are no release names: %j %j", (tags, describe) => {
    expect(gitTreeNames(SHA, { tags, describe })).toEqual({ version: 'v0.0.0-g3f82aadc1d2e', label: 'g3f82aadc1d2e' });
  });
});

describe('parseLocalGitSpec', () => {
  it('takes a local path or a file:// URL', () => {
    expect(parseLocalGitSpec('git:/src/buildx@v0.21.1', 'Buildx').repo).toBe('/src/buildx');
    expect(parseLocalGitSpec('git:file:///src/buildkit@master', 'BuildKit').repo).toBe('/src/buildkit');
  });

  it('refuses a server URL, naming the clone to make for the product', () => {
    expect(() => parseLocalGitSpec('git:https://github.com/docker/buildx.git@v0.21.1', 'Buildx')).toThrow(UsageError);
    expect(() => parseLocalGitSpec('git:https://github.com/docker/buildx.git@v0.21.1', 'Buildx')).toThrow(
      'git clone --mirror https://github.com/docker/buildx.git /src/buildx.git',
    );
    expect(() => parseLocalGitSpec('git:https://github.com/moby/buildkit.git@master', 'BuildKit')).toThrow(
      'BuildKit is built from a local repository (a path or file:// URL), not fetched from a server; clone it first (git clone --mirror https://github.com/moby/buildkit.git /src/buildkit.git) and write git:/src/buildkit.git@master',
    );
  });

  it.each([
    ['option injection as the revision', 'git:/src/buildkit@--upload-pack=touch /tmp/x'],
    ['a revision starting with -', 'git:/src/buildkit@-c'],
    ['a revision expression', 'git:/src/buildkit@HEAD~1'],
    ['a relative path', 'git:src/buildkit@main'],
    ['.. in the path', 'git:/src/../etc@main'],
    ['the ext:: transport', 'git:ext::sh -c touch% /tmp/x@main'],
    ['ssh', 'git:ssh://host/buildkit@main'],
  ])('refuses %s', (_what, spec) => {
    expect(() => parseLocalGitSpec(spec, 'BuildKit')).toThrow(UsageError);
  });
});

describe('gitTreeVersion', () => {
  it('is the release tag on the commit, else its describe label, else v0.0.0-g<hash> (a version the binary can print)', () => {
    expect(gitTreeVersion({ label: 'v0.17.1-0-g3f82aadc1d2e', tag: 'v0.17.1' })).toBe('v0.17.1');
    expect(gitTreeVersion({ label: 'v0.17.1-4-g3f82aadc1d2e' })).toBe('v0.17.1-4-g3f82aadc1d2e');
    expect(gitTreeVersion({ label: 'g3f82aadc1d2e' })).toBe('v0.0.0-g3f82aadc1d2e');
  });
});

describe('gitTreeText', () => {
  it('names the commit, the tag where there is one, and the repository', () => {
    expect(gitTreeText({ commit: SHA, tag: 'v0.17.1', repo: '/src/buildkit' })).toBe(`git commit ${SHA} (tag v0.17.1) of /src/buildkit`);
    expect(gitTreeText({ commit: SHA, repo: '/src/buildkit' })).toBe(`git commit ${SHA} of /src/buildkit`);
  });
});

describe('isVendored', () => {
  it('builds from vendor/ only when it holds vendored code beside modules.txt (a module zip keeps modules.txt alone)', () => {
    expect(isVendored(['vendor/modules.txt', 'vendor/github.com'])).toBe(true);
    expect(isVendored(['vendor/modules.txt'])).toBe(false);
    expect(isVendored(['vendor/github.com'])).toBe(false);
    expect(isVendored([])).toBe(false);
  });
});
