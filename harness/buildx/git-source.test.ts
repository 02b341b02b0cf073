import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.ts';
import { gitBuildxNames, isVendored, parseGitBuildxSpec } from './git-source.ts';

const SHA = '3f82aadc1d2e4f5a6b7c8d9e0f1a2b3c4d5e6f70';

describe('gitBuildxNames', () => {
  it('names a commit on a release tag by the tag: buildx version says it, the label marks the build from Git', () => {
    expect(gitBuildxNames(SHA, { tags: ['v0.21.0-rc2'], describe: 'v0.21.0-rc2-0-g3f82aadc1d2e' })).toEqual({
      version: 'v0.21.0-rc2',
      label: 'v0.21.0-rc2-0-g3f82aadc1d2e',
      tag: 'v0.21.0-rc2',
    });
  });

  it('names a commit between releases by git describe (nearest tag, distance, 12 hex digits)', () => {
    expect(gitBuildxNames(SHA, { tags: [], describe: 'v0.20.1-45-g3f82aadc1d2e' })).toEqual({ version: 'v0.20.1-45-g3f82aadc1d2e', label: 'v0.20.1-45-g3f82aadc1d2e' });
  });

  it('takes the newest release tag when several point at the commit', () => {
    expect(gitBuildxNames(SHA, { tags: ['v0.21.0-rc3', 'v0.21.0', 'v0.20.9'], describe: 'v0.21.0-0-g3f82aadc1d2e' }).tag).toBe('v0.21.0');
  });

  it('without a tag in reach, names the commit alone (and a version buildx version prints)', () => {
    expect(gitBuildxNames(SHA, { tags: [] })).toEqual({ version: 'v0.0.0-g3f82aadc1d2e', label: 'g3f82aadc1d2e' });
  });

  it.each([
    [['v1;touch x'], 'v0.20.1-1-gzz'],
    [['v0.21.0 evil', 'vX'], 'v0.21.0\u202e-0-g3f82aadc1d2e'],
    [['v0.21.0-rc2/../x'], 'v1.2-3-g3f82aadc1d2e'],
  ])("uses none of the repository's tags or describe that are no release names: %j %j", (tags, describe) => {
    expect(gitBuildxNames(SHA, { tags, describe })).toEqual({ version: 'v0.0.0-g3f82aadc1d2e', label: 'g3f82aadc1d2e' });
  });
});

describe('parseGitBuildxSpec', () => {
  it('takes a local path or a file:// URL', () => {
    expect(parseGitBuildxSpec('git:/src/buildx@v0.21.1').repo).toBe('/src/buildx');
    expect(parseGitBuildxSpec('git:file:///src/buildx@main').repo).toBe('/src/buildx');
  });

  it('refuses a server URL, naming the clone to make', () => {
    expect(() => parseGitBuildxSpec('git:https://github.com/docker/buildx.git@v0.21.1')).toThrow(UsageError);
    expect(() => parseGitBuildxSpec('git:https://github.com/docker/buildx.git@v0.21.1')).toThrow('git clone --mirror https://github.com/docker/buildx.git');
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
