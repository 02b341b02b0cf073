import { execFileSync } from 'node:child_process';
import { chmodSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { caseFilePath, caseFiles, readCaseFile } from './case-files.ts';
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
