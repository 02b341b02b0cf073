import { execFileSync } from 'node:child_process';
import { chmodSync, rmSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { caseFilePath, caseFiles, caseSource, readCaseFile, readCaseYaml } from './case-files.ts';
import { STEP, caseDir } from './case.test-helpers.ts';

describe('the files of a case', () => {
  const dir = (files: Record<string, string> = {}) => caseDir(STEP, files);

  it('lists every file but .git, sorted, with its mode', () => {
    const d = dir({ '.git/config': '[core]', 'sub/run.sh': '#!/bin/sh\n' });
    chmodSync(path.join(d, 'sub/run.sh'), 0o700);
    expect(caseFiles(d).map((f) => [f.rel, f.mode.toString(8)])).toEqual([
      ['Dockerfile', '644'],
      ['case.yaml', '644'],
      ['docker-bake.hcl', '644'],
      ['sub/run.sh', '755'],
    ]);
    expect(readCaseFile(d, { rel: 'sub/run.sh' }).toString()).toBe('#!/bin/sh\n');
  });

  it('refuses what is neither a file, a directory nor a symlink', () => {
    const d = dir();
    execFileSync('mkfifo', [path.join(d, 'pipe')]);
    expect(() => caseFiles(d)).toThrow(/^case file pipe: only regular files, directories and symlinks inside the case are allowed$/);
  });

  it('holds at most 1000 files', () => {
    const many = (n: number) => Object.fromEntries(Array.from({ length: n - 3 }, (_, i) => [`f/${i}`, '']));
    expect(caseFiles(dir(many(1000)))).toHaveLength(1000);
    expect(() => caseFiles(dir(many(1001)))).toThrow(/holds more than 1000 files or 64 MiB; a case should hold only what the build needs$/);
  });

  it('holds at most 64 MiB', () => {
    const d = dir({ big: '' });
    const small = caseFiles(d).reduce((n, f) => n + (f.rel === 'big' ? 0 : readCaseFile(d, f).length), 0);
    truncateSync(path.join(d, 'big'), (64 << 20) - small);
    expect(caseFiles(d)).toHaveLength(4);
    truncateSync(path.join(d, 'big'), (64 << 20) - small + 1);
    expect(() => caseFiles(d)).toThrow(/holds more than 1000 files or 64 MiB/);
  });

  it.each([
    ['/etc/passwd', 'file', /^"\/etc\/passwd" is absolute; give a path inside the case directory$/],
    ['sub/../../x', 'file', /^"sub\/\.\.\/\.\.\/x" leaves the case directory$/],
    ['nope', 'file', /^"nope" does not exist in the case directory \(ENOENT\)$/],
    ['sub', 'file', /^"sub" is not a regular file$/],
    ['Dockerfile', 'dir', /^"Dockerfile" is not a directory$/],
  ] as const)('caseFilePath refuses %s as a %s', (rel, kind, message) => {
    expect(() => caseFilePath(dir({ 'sub/a': '' }), rel, kind)).toThrow(message);
  });

  it('caseFilePath takes the directory itself and paths that come back inside', () => {
    const d = dir({ 'sub/a': '' });
    expect(caseFilePath(d, '.', 'dir')).toBe(d);
    expect(caseFilePath(d, 'sub/../Dockerfile')).toBe(path.join(d, 'Dockerfile'));
  });
});

describe("the case's files as the lab's servers read them (caseSource)", () => {
  // (a fresh directory per test: the helper removes its directories after each)
  const site = () => {
    const d = caseDir(STEP, { 'site/index.html': '<p>hi</p>', 'site/deep/a.txt': 'a', 'sitemap.xml': '<x/>' });
    return caseSource({ dir: d, files: caseFiles(d) });
  };
  const listing = (rel: string, source = site()) => source.dir(rel).map((f) => [f.rel, f.content.toString(), f.mode.toString(8)]);

  it('lists a directory with paths relative to it, whichever way its name is written', () => {
    const source = site();
    const want = [
      ['deep/a.txt', 'a', '644'],
      ['index.html', '<p>hi</p>', '644'],
    ];
    for (const rel of ['site', 'site/', './site', './site//']) expect(listing(rel, source), rel).toEqual(want);
  });

  it('lists the whole case for "." (and not a file whose name only starts like the directory)', () => {
    expect(listing('.').map(([rel]) => rel)).toEqual(['Dockerfile', 'case.yaml', 'docker-bake.hcl', 'site/deep/a.txt', 'site/index.html', 'sitemap.xml']);
    expect(listing('./').map(([rel]) => rel)).toHaveLength(6);
  });

  it('reads a file, and refuses what leaves the case or is no directory, at every read', () => {
    const source = site();
    expect(source.file('site/index.html').toString()).toBe('<p>hi</p>');
    expect(() => source.file('../x')).toThrow(/leaves the case directory/);
    expect(() => source.dir('../')).toThrow(/leaves the case directory/);
    expect(() => source.dir('sitemap.xml')).toThrow(/^"sitemap.xml" is not a directory$/);
  });
});

describe('readCaseYaml', () => {
  it('names the missing case.yaml', () => {
    const empty = caseDir(STEP);
    rmSync(path.join(empty, 'case.yaml'));
    expect(() => readCaseYaml(empty)).toThrow(/^"case\.yaml" does not exist in the case directory \(ENOENT\)$/);
  });

  it('names a path that is not a directory', () => {
    const file = path.join(caseDir(STEP), 'Dockerfile');
    expect(() => readCaseYaml(file)).toThrow(/^case directory .*\/Dockerfile: not a directory; give a directory holding case\.yaml$/);
  });
});
