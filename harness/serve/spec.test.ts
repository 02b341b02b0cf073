import { describe, expect, it } from 'vitest';
import { credentialProblem, refNameProblem, repoBuildOrder, repoNameProblem, servedPathProblem, submodulePathProblem, type RepoSpec } from './spec.ts';

const repo = (submodules: Record<string, string> = {}, commits = 1): RepoSpec => ({
  commits: Array.from({ length: commits }, () => ({ tree: 't', tags: [], branches: [] })),
  submodules,
});

describe('names a case may give what the lab serves', () => {
  it.each(['/Dockerfile', '/ctx.tar', '/a/b/c.tar.gz', '/x~1'])('serves the path %s', (p) => expect(servedPathProblem(p)).toBeUndefined());
  it.each(['', 'Dockerfile', '/', '//x', '/../x', '/a/../b', '/.hidden', '/a b', '/a%2fb', '/a?x', '/a/'])('refuses the path %j', (p) =>
    expect(servedPathProblem(p)).toMatch(/not a URL path/),
  );

  it.each(['app', 'my-repo', 'a_1'])('takes the repository name %s', (n) => expect(repoNameProblem(n)).toBeUndefined());
  it.each(['App', 'a.git', 'a/b', '-a', '', 'a'.repeat(64), '..'])('refuses the repository name %j', (n) => expect(repoNameProblem(n)).toMatch(/not a repository name/));

  it.each(['v1', 'v1.2.3', 'feature/x', 'release-1_0'])('takes the ref name %s', (n) => expect(refNameProblem(n)).toBeUndefined());
  it.each(['HEAD', '@', '.x', 'a/.b', 'a..b', 'x.lock', 'a/b.lock/c', 'a.', 'a//b', '/a', 'a/', 'a b', 'a~1', 'a^', 'a:b', 'a@{1}', '-', 'x'.repeat(101)])(
    'refuses the ref name %j',
    (n) => expect(refNameProblem(n)).toMatch(/not a Git ref name/),
  );

  it.each(['lib', 'vendor/lib', 'a.b'])('takes the submodule path %s', (p) => expect(submodulePathProblem(p)).toBeUndefined());
  it.each(['.git', 'a/.git', '../x', '/abs', 'a//b', 'a b', '"x"', 'a\nb', ''])('refuses the submodule path %j', (p) =>
    expect(submodulePathProblem(p)).toMatch(/not a submodule path/),
  );

  it('holds credentials to printable ASCII; a user name or token has no colon', () => {
    expect(credentialProblem('tok-1', 'token')).toBeUndefined();
    expect(credentialProblem('p:a:ss', 'password')).toBeUndefined();
    for (const bad of ['a b', 'a:b', 'é', 'a\nb', 'x'.repeat(201)]) expect(credentialProblem(bad, 'token'), bad).toMatch(/is not a token/);
    expect(credentialProblem('u:x', 'username')).toMatch(/no spaces or colons/);
  });
});

describe('repoBuildOrder', () => {
  it('builds a submodule before the repository naming it', () => {
    expect(repoBuildOrder({ app: repo({ lib: 'lib', vendor: 'dep' }), lib: repo({ x: 'dep' }), dep: repo() })).toEqual(['dep', 'lib', 'app']);
  });
  it('refuses a cycle, naming it', () => {
    expect(() => repoBuildOrder({ a: repo({ x: 'b' }), b: repo({ y: 'a' }) })).toThrow('submodules form a cycle: a -> b -> a');
    expect(() => repoBuildOrder({ a: repo({ self: 'a' }) })).toThrow('cycle: a -> a');
  });
  it('refuses a submodule naming an unknown or empty repository', () => {
    expect(() => repoBuildOrder({ a: repo({ x: 'nope' }) })).toThrow(/names nope, which is not served/);
    expect(() => repoBuildOrder({ a: repo({ x: 'e' }), e: repo({}, 0) })).toThrow(/names e, which is empty/);
  });
});
