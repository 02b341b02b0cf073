import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Journal } from '../registry/journal.ts';
import { GIT, cleanGitEnv, fastImportPath, fastImportStream, gitmodules } from './git-repos.ts';
import { GitServer, authorized, backendArgv, gitRoute } from './git-server.ts';
import type { CaseSource } from './http-files.ts';
import type { GitServeSpec } from './spec.ts';

describe('gitRoute', () => {
  it('passes the two smart-HTTP upload-pack requests, with the repository', () => {
    expect(gitRoute('GET', '/app.git/info/refs', 'service=git-upload-pack')).toEqual({ repo: 'app', pathInfo: '/app.git/info/refs' });
    expect(gitRoute('POST', '/app.git/git-upload-pack', '')).toEqual({ repo: 'app', pathInfo: '/app.git/git-upload-pack' });
  });
  it.each([
    ['GET', '/app.git/info/refs', 'service=git-receive-pack', 403],
    ['POST', '/app.git/git-receive-pack', '', 403],
    ['GET', '/app.git/info/refs', '', 403],
    ['GET', '/app.git/HEAD', '', 404],
    ['GET', '/app.git/objects/info/packs', '', 404],
    ['GET', '/../app.git/info/refs', 'service=git-upload-pack', 404],
    ['GET', '/a/b.git/info/refs', 'service=git-upload-pack', 404],
    ['GET', '/app.git/git-upload-pack', '', 405],
    ['POST', '/app.git/info/refs', 'service=git-upload-pack', 405],
  ])('refuses %s %s?%s with %i', (method, p, q, status) => expect(gitRoute(method, p, q)).toMatchObject({ status }));
});

describe('authorized', () => {
  const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
  it('takes a token as Basic with any user (as BuildKit sends it) or as Bearer', () => {
    expect(authorized({ token: 't1' }, basic('x-access-token', 't1'))).toBe(true);
    expect(authorized({ token: 't1' }, 'Bearer t1')).toBe(true);
    expect(authorized({ token: 't1' }, basic('x', 't2'))).toBe(false);
    expect(authorized({ token: 't1' }, 'Bearer t12')).toBe(false);
    expect(authorized({ token: 't1' }, undefined)).toBe(false);
    expect(authorized({ token: 't1' }, 'Basic !!')).toBe(false);
    expect(authorized({ token: 't1' }, `Basic ${Buffer.from('nocolon').toString('base64')}`)).toBe(false);
  });
  it('takes a user and password only together, never as Bearer', () => {
    expect(authorized({ username: 'u', password: 'p:w' }, basic('u', 'p:w'))).toBe(true);
    expect(authorized({ username: 'u', password: 'p:w' }, basic('v', 'p:w'))).toBe(false);
    expect(authorized({ username: 'u', password: 'p' }, 'Bearer p')).toBe(false);
  });
  it('lets everyone in without auth', () => expect(authorized(undefined, undefined)).toBe(true));
});

describe('backendArgv', () => {
  it('drops root to nobody through setpriv, keeps a non-root uid, and says when it cannot drop', () => {
    expect(backendArgv(0, true).argv).toEqual(['/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--no-new-privs', '--', GIT, 'http-backend']);
    expect(backendArgv(1000, true)).toEqual({ argv: [GIT, 'http-backend'], as: "uid 1000 (the lab's own, not root)" });
    expect(backendArgv(0, false).as).toMatch(/^root \(no setpriv/);
  });
});

describe('the fast-import stream', () => {
  it('writes every commit on main, then branches and tags, with fixed dates; .gitmodules and gitlinks for submodules', () => {
    const stream = fastImportStream(
      {
        commits: [
          { tree: 't1', tags: [{ name: 'v1' }], branches: [] },
          { tree: 't2', message: 'two', tags: [{ name: 'v2', message: 'annotated' }], branches: ['dev'] },
        ],
        submodules: { lib: 'lib' },
      },
      (dir) => [{ rel: `${dir}.txt`, content: Buffer.from(dir), mode: 0o755 }],
      { lib: { commit: 'a'.repeat(40), url: 'http://172.18.0.1:1234/lib.git' } },
    ).toString();
    expect(stream).toContain('commit refs/heads/main\nmark :1\nauthor buildx-lab <lab@buildx-lab.invalid> 1700000000 +0000\n');
    expect(stream).toContain(
      'mark :2\nauthor buildx-lab <lab@buildx-lab.invalid> 1700000060 +0000\ncommitter buildx-lab <lab@buildx-lab.invalid> 1700000060 +0000\ndata 3\ntwo\nfrom :1\ndeleteall\nM 100755 inline t2.txt\ndata 2\nt2\n',
    );
    expect(stream).toContain(`M 160000 ${'a'.repeat(40)} lib\n`);
    expect(stream).toContain('reset refs/tags/v1\nfrom :1\n');
    expect(stream).toContain('reset refs/heads/dev\nfrom :2\n');
    expect(stream).toContain('tag v2\nfrom :2\ntagger buildx-lab <lab@buildx-lab.invalid> 1700000060 +0000\ndata 9\nannotated\n');
    expect(stream.endsWith('done\n')).toBe(true);
  });
  it('writes .gitmodules in path order', () => {
    expect(gitmodules({ z: { commit: 'x', url: 'http://h/z.git' }, a: { commit: 'y', url: 'http://h/a.git' } })).toBe(
      '[submodule "a"]\n\tpath = a\n\turl = http://h/a.git\n[submodule "z"]\n\tpath = z\n\turl = http://h/z.git\n',
    );
  });
});

describe('the Git server, with a real git client', () => {
  const source: CaseSource = {
    file: () => Buffer.alloc(0),
    dir: (rel) => [{ rel: 'which.txt', content: Buffer.from(`${rel}\n`), mode: 0o644 }],
  };
  const spec: GitServeSpec = {
    repos: {
      app: {
        commits: [
          { tree: 'one', tags: [{ name: 'v1' }], branches: [] },
          { tree: 'two', tags: [], branches: ['dev'] },
        ],
        submodules: {},
      },
      empty: { commits: [], submodules: {} },
    },
    auth: { username: 'u', password: 'pw' },
  };
  let server: GitServer;
  const journal = new Journal();
  const work = mkdtempSync(path.join(tmpdir(), 'bxl-git-client-'));
  // asynchronous: the server answers on this process's event loop
  const git = async (...args: string[]) => (await promisify(execFile)(GIT, args, { env: cleanGitEnv(work), cwd: work, encoding: 'utf8', timeout: 30_000 })).stdout;
  const withCreds = (repo: string) => `${server.url.replace('http://', 'http://u:pw@')}/${repo}.git`;

  beforeAll(async () => {
    server = await GitServer.start(spec, source, journal, [{ host: '127.0.0.1', port: 0 }]);
  });
  afterAll(async () => {
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('serves the repositories the lab made, the same object ids every time, under the declared credentials', async () => {
    const refs = await git('ls-remote', withCreds('app'));
    expect(refs).toContain(`${server.heads.app}\tHEAD`);
    expect(refs).toContain(`${server.heads.app}\trefs/heads/dev`);
    expect(refs).toMatch(/^[0-9a-f]{40}\trefs\/tags\/v1$/m);
    await git('clone', '-q', '--branch', 'v1', withCreds('app'), 'c1');
    expect(await git('-C', 'c1', 'show', 'HEAD:which.txt')).toBe('one\n');
    // fixed dates and authors: the ids follow from the description alone
    expect(server.heads.app).toBe((await git('-C', 'c1', 'rev-parse', 'origin/main')).trim());
    expect(await git('ls-remote', withCreds('empty'))).toBe('');
  });

  it('answers 401 without credentials and refuses a push, journaling both', async () => {
    const mark = journal.mark();
    await expect(git('-c', 'credential.helper=', 'ls-remote', `${server.url}/app.git`)).rejects.toThrow(/could not read Username|Authentication failed/);
    await expect(git('-C', 'c1', 'push', withCreds('app'), 'HEAD:refs/heads/x')).rejects.toThrow();
    const seen = journal.since(mark).map((e) => [e.path, e.status, e.intervention]);
    expect(seen).toContainEqual(['/app.git/info/refs', 401, 'auth-required']);
    expect(seen).toContainEqual(['/app.git/info/refs', 403, undefined]);
  });

  it('removes its repositories when stopped', async () => {
    const s = await GitServer.start({ repos: { r: { commits: [], submodules: {} } } }, source, new Journal(), [{ host: '127.0.0.1', port: 0 }]);
    await s.stop();
    expect(() => execFileSync('ls', [s.root])).toThrow();
  });
});

describe('fastImportPath: case file names in the fast-import stream', () => {
  it('leaves plain names alone and C-quotes the rest', () => {
    expect(fastImportPath('dir/file.txt')).toBe('dir/file.txt');
    expect(fastImportPath('a"b')).toBe('"a\\"b"');
    expect(fastImportPath('a\\b')).toBe('"a\\\\b"');
    expect(fastImportPath('a\nb\tc\u0001')).toBe('"a\\nb\\tc\\001"');
  });

  it('keeps a name with a line break one file to real git, not a command of its own', () => {
    const repo = mkdtempSync(path.join(tmpdir(), 'bxl-fi-'));
    try {
      execFileSync('git', ['init', '-q', '--bare', repo]);
      const evil = 'x\nM 100644 inline injected';
      const stream = `commit refs/heads/main\ncommitter a <a@b.invalid> 0 +0000\ndata 0\nM 100644 inline ${fastImportPath(evil)}\ndata 2\nok\n\ndone\n`;
      execFileSync('git', ['-C', repo, 'fast-import', '--quiet', '--done'], { input: stream });
      const names = execFileSync('git', ['-C', repo, 'ls-tree', '-z', '--name-only', 'main']).toString().split('\0').filter(Boolean);
      expect(names).toEqual([evil]);
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });
});
