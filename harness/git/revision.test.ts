import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.ts';
import { formatGitRevision, parseGitRevision, refProblem } from './revision.ts';

describe('parseGitRevision', () => {
  it.each([
    ['git:/src/buildx@v0.21.0-rc2', { repo: '/src/buildx', kind: 'path', rev: 'v0.21.0-rc2' }],
    ['git:/src/buildx/@master', { repo: '/src/buildx', kind: 'path', rev: 'master' }],
    ['git:/src/buildx@feature/new-thing', { repo: '/src/buildx', kind: 'path', rev: 'feature/new-thing' }],
    ['git:/src/buildx@0123abc', { repo: '/src/buildx', kind: 'path', rev: '0123abc' }],
    ['git:/src/buildx@refs/pull/3023/head', { repo: '/src/buildx', kind: 'path', rev: 'refs/pull/3023/head' }],
    ['git:https://github.com/docker/buildx.git@v0.22.0', { repo: 'https://github.com/docker/buildx.git', kind: 'url', rev: 'v0.22.0' }],
    ['git:http://mirror.local:8080/a@b/buildx@main', { repo: 'http://mirror.local:8080/a@b/buildx', kind: 'url', rev: 'main' }],
    ['git:file:///src/buildx@main', { repo: '/src/buildx', kind: 'path', rev: 'main' }],
    ['git:file://localhost/src/my%2Dbuildx/@v0.21.1', { repo: '/src/my-buildx', kind: 'path', rev: 'v0.21.1' }],
  ])('accepts %s', (spec, want) => {
    expect(parseGitRevision(spec)).toEqual(want);
  });

  it.each([
    ['v0.21.0', 'is not a Git revision'],
    ['git:/src/buildx', 'names no revision; append @'],
    ['git:/src/buildx@', 'the revision "" is empty'],
    ['git:/src/buildx@--upload-pack=touch /tmp/x', 'no whitespace'],
    ['git:/src/buildx@--output=/etc/passwd', 'must start with a letter or digit'],
    ['git:/src/buildx@-n', 'must start with a letter or digit'],
    ['git:/src/buildx@HEAD~1', 'no revision expressions'],
    ['git:/src/buildx@v1^{tree}', 'no revision expressions'],
    ['git:/src/buildx@main..evil', 'holds ".."'],
    ['git:/src/buildx@a/.hidden', 'holds ".."'],
    ['git:/src/buildx@x.lock', '".lock"'],
    ['git:/src/buildx@ma\u202ein', 'invisible formatting'],
    ['git:/src/buildx@main\n', 'no whitespace'],
    ['git:/src/bu\u0000ildx@main', 'control'],
    ['git:/src/../etc@main', 'no "//", "." or ".." segments'],
    ['git:/src/./buildx@main', 'no "//", "." or ".." segments'],
    ['git://src/buildx@main', 'no "//", "." or ".." segments'],
    ['git:/@main', 'not "/"'],
    ['git:src/buildx@main', 'must be an absolute local path, a file:// URL or an http(s) URL'],
    ['git:ext::sh -c touch% /tmp/x@main', 'no whitespace'],
    ['git:ext::sh@main', 'relative paths, ssh, git://'],
    ['git:ssh://host/buildx@main', 'relative paths, ssh, git://'],
    ['git:git://host/buildx@main', 'relative paths, ssh, git://'],
    ['git:file://host/src/buildx@main', 'no host'],
    ['git:file:///src/../etc@main', '".." segments'],
    ['git:file:///src/%2e%2e/etc@main', '".." segments'],
    ['git:file:///src/%0a/x@main', 'no whitespace'],
    ['git:file:///src/%zz@main', 'broken percent-escape'],
    ['git:file:///@main', 'not "/"'],
    ['git:https://user:token@github.com/docker/buildx@main', 'holds credentials'],
    ['git:https://github.com/docker/buildx?x=1@main', 'query or fragment'],
    ['git:https://github.com/a/../docker/buildx@main', '"." or ".." segments'],
    ['git:https://github.com/a/%2E%2e/buildx@main', '"." or ".." segments'],
    ['git:https://@main', 'is not an http(s) URL'],
    [`git:/src/buildx@${'a'.repeat(300)}`, 'longer than 255'],
  ])('refuses %j', (spec, message) => {
    expect(() => parseGitRevision(spec)).toThrow(UsageError);
    expect(() => parseGitRevision(spec)).toThrow(message);
  });

  it('formats back to a spec that parses to the same revision', () => {
    const r = parseGitRevision('git:https://example.com/buildx.git@v0.22.0');
    expect(parseGitRevision(formatGitRevision(r))).toEqual(r);
  });
});

describe('refProblem', () => {
  it('takes full and abbreviated hex commits as they are', () => {
    expect(refProblem('a'.repeat(40))).toBeUndefined();
    expect(refProblem('b'.repeat(64))).toBeUndefined();
  });
});
