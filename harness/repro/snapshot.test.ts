// The case copy the lab plans and runs from: what it keeps, what it refuses, and the race it exists for.
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UsageError } from '../errors.ts';
import { snapshotCase } from './snapshot.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'snap-'));
  dirs.push(d);
  return d;
};

describe('snapshotCase', () => {
  it('copies files, directories and links inside the case, leaving .git out and keeping the executable bit', () => {
    const src = tmp();
    mkdirSync(path.join(src, 'sub'));
    mkdirSync(path.join(src, '.git'));
    writeFileSync(path.join(src, 'case.yaml'), 'title: t\n');
    writeFileSync(path.join(src, 'sub', 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
    writeFileSync(path.join(src, '.git', 'config'), '[core]\n');
    symlinkSync('sub/run.sh', path.join(src, 'link'));
    const dest = path.join(tmp(), 'case');
    snapshotCase(src, dest);
    expect(readFileSync(path.join(dest, 'case.yaml'), 'utf8')).toBe('title: t\n');
    expect(lstatSync(path.join(dest, 'sub', 'run.sh')).mode & 0o111).not.toBe(0);
    expect(readlinkSync(path.join(dest, 'link'))).toBe('sub/run.sh');
    expect(existsSync(path.join(dest, '.git'))).toBe(false);
  });

  it.each([
    ['an absolute link', (src: string) => symlinkSync('/etc/hostname', path.join(src, 'f')), /symlink to "\/etc\/hostname", outside the case directory/],
    ['a link out through ..', (src: string) => symlinkSync('../../etc/hostname', path.join(src, 'f')), /outside the case directory/],
    ['a link to the case directory itself', (src: string) => symlinkSync('.', path.join(src, 'f')), /outside the case directory/],
    ['a FIFO', (src: string) => execFileSync('mkfifo', [path.join(src, 'f')]), /only regular files, directories and symlinks/],
    [
      'too many files',
      (src: string) => {
        for (const i of [1, 2, 3]) writeFileSync(path.join(src, `f${i}`), 'x');
      },
      /holds more than 2 files/,
    ],
    ['too many bytes', (src: string) => writeFileSync(path.join(src, 'f'), Buffer.alloc(2 << 20)), /or 1 MiB/],
  ])('refuses %s', (_, make, why) => {
    const src = tmp();
    make(src);
    expect(() => snapshotCase(src, path.join(tmp(), 'case'), { files: 2, bytes: 1 << 20 })).toThrow(UsageError);
    expect(() => snapshotCase(src, path.join(tmp(), 'case'), { files: 2, bytes: 1 << 20 })).toThrow(why);
  });

  /** Runs `swap` in a loop in the background while `body` runs, and waits for the loop to end after. */
  async function whileSwapping(script: string, body: () => void): Promise<void> {
    // its own process group: killing the shell alone left an `mv` of the loop running, which raced the
    // directory's removal after the test (ENOTEMPTY)
    const swapper = spawn('sh', ['-c', `while :; do ${script}; done`], { stdio: 'ignore', detached: true });
    try {
      body();
    } finally {
      const gone = new Promise((r) => swapper.once('exit', r));
      process.kill(-swapper.pid!, 'SIGKILL');
      await gone;
    }
  }

  /** Snapshots `src` 300 times; none may hold the secret, whether it was copied or refused. */
  function neverCopiesTheSecret(src: string, where: string) {
    let copied = 0;
    for (let i = 0; i < 300; i++) {
      const dest = path.join(tmp(), `c${i}`);
      try {
        snapshotCase(src, dest);
        copied++;
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        continue;
      }
      const f = path.join(dest, where);
      if (existsSync(f) && lstatSync(f).isFile()) expect(readFileSync(f, 'utf8')).not.toContain('HOST-SECRET');
    }
    return copied;
  }

  it('never reads a host file through a file its owner keeps swapping for a link to it', async () => {
    const src = tmp();
    const secret = path.join(tmp(), 'secret');
    writeFileSync(secret, 'HOST-SECRET');
    writeFileSync(path.join(src, 'f'), 'case content');
    await whileSwapping(`cd ${src} && ln -sf ${secret} l && mv -T l f; echo case > r && mv -T r f`, () => neverCopiesTheSecret(src, 'f'));
  }, 60_000);

  it('never reads a host file through a directory its owner keeps swapping for a link to a host directory', async () => {
    const src = tmp();
    const hostDir = tmp();
    writeFileSync(path.join(hostDir, 'f'), 'HOST-SECRET');
    mkdirSync(path.join(src, 'a'));
    writeFileSync(path.join(src, 'a', 'f'), 'case content');
    // a directory cannot be renamed over by a link: moved aside, a link put in its place, then moved back
    await whileSwapping(`cd ${src} && mv a a.old && ln -s ${hostDir} a; rm -f a && mv a.old a`, () => neverCopiesTheSecret(src, 'a/f'));
  }, 60_000);
});
