import { describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import { cherryPicksOf, parseLog, pullRequestOf } from './log.ts';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);
const record = (sha: string, parents: string[], message: string, date = '2025-02-03T10:11:12+01:00') => `${sha}\x1f${parents.join(' ')}\x1f${date}\x1f${message}\0`;

describe('parseLog', () => {
  it('reads hash, parents, date, subject and body of each record', () => {
    const out = record(C, [A, B], 'Merge pull request #3023 from crazy-max/fix-pull\n\nbuild: retry a truncated layer\n\nmore words\n') + record(A, [], 'initial\n');
    expect(parseLog(out)).toEqual([
      {
        sha: C,
        parents: [A, B],
        date: '2025-02-03T10:11:12+01:00',
        subject: 'Merge pull request #3023 from crazy-max/fix-pull',
        body: 'build: retry a truncated layer\n\nmore words',
      },
      { sha: A, parents: [], date: '2025-02-03T10:11:12+01:00', subject: 'initial', body: '' },
    ]);
  });

  it('joins a multi-line first paragraph into the subject, as git %s does', () => {
    expect(parseLog(record(A, [], 'one\ntwo\n\nbody'))[0]).toMatchObject({ subject: 'one two', body: 'body' });
  });

  it('keeps a separator character inside a message in the message', () => {
    expect(parseLog(record(A, [B], 'odd\x1fsubject\n\nbo\x1fdy'))[0]).toMatchObject({ subject: 'odd\x1fsubject', body: 'bo\x1fdy' });
  });

  it('reads empty output as no commits', () => {
    expect(parseLog('')).toEqual([]);
  });

  it.each([
    ['fatal: not a git repository\n', 'not a git repository'],
    [record('zz', [], 'x'), 'zz'],
    [record(A, ['nothex'], 'x'), 'nothex'],
    [record(A, [], 'x', 'yesterday'), 'yesterday'],
  ])('refuses a malformed record %#', (out, shown) => {
    expect(() => parseLog(out)).toThrow(HarnessError);
    expect(() => parseLog(out)).toThrow(shown);
  });
});

describe('pullRequestOf', () => {
  it.each([
    [
      { subject: 'Merge pull request #3023 from crazy-max/fix-pull', body: 'build: retry a truncated layer\n\ndetails' },
      { number: 3023, title: 'build: retry a truncated layer', from: 'crazy-max/fix-pull' },
    ],
    [
      { subject: 'Merge pull request #7 from a/b', body: '' },
      { number: 7, title: '', from: 'a/b' },
    ],
    [
      { subject: 'bake: fix the thing (#2950)', body: '' },
      { number: 2950, title: 'bake: fix the thing' },
    ],
    [{ subject: "Merge branch 'master' into fix", body: '' }, undefined],
    [{ subject: 'refers to #3023 in passing', body: '' }, undefined],
    [{ subject: 'Merge pull request #12345678901 from a/b', body: 'x' }, undefined],
  ])('%j', (c, want) => {
    expect(pullRequestOf(c)).toEqual(want);
  });
});

describe('cherryPicksOf', () => {
  it('lists every commit a backport was picked from, and nothing else', () => {
    const body = `fix it\n\n(cherry picked from commit ${A})\nSigned-off-by: x\n(cherry picked from commit 0123abc)\nsee (cherry picked from commit ${B}) inline`;
    expect(cherryPicksOf({ body })).toEqual([A, '0123abc']);
    expect(cherryPicksOf({ body: '' })).toEqual([]);
  });
});
