import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentProgress } from '../progress.ts';
import { crossProcessLock } from './lock.ts';

const dirs: string[] = [];
function lockPath(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'bxl-lock-'));
  dirs.push(d);
  return path.join(d, 'slot.lock');
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('crossProcessLock', () => {
  it('serves waiters first come, first served: a holder taking the lock again queues behind the one already waiting', async () => {
    const lock = lockPath();
    const order: string[] = [];
    let releaseFirst!: () => void;
    const first = crossProcessLock(
      lock,
      'a1',
      silentProgress,
      () =>
        new Promise<void>((r) => {
          order.push('a1');
          releaseFirst = r;
        }),
    );
    await sleep(100);
    const waiter = crossProcessLock(lock, 'b', silentProgress, async () => {
      order.push('b');
    });
    await sleep(300);
    // a1 ends and its owner wants the lock again at once, as a setup going on to its next compile does
    releaseFirst();
    await first;
    const again = crossProcessLock(lock, 'a2', silentProgress, async () => {
      order.push('a2');
    });
    await Promise.all([waiter, again]);
    expect(order).toEqual(['a1', 'b', 'a2']);
    expect(readdirSync(`${lock}.queue`)).toEqual([]);
  });

  it('skips the ticket of a waiter that stopped touching it (a killed process)', async () => {
    const lock = lockPath();
    await crossProcessLock(lock, 'warm', silentProgress, async () => undefined);
    const stale = path.join(`${lock}.queue`, '1-999999-dead');
    writeFileSync(stale, '1');
    const old = new Date(Date.now() - 60_000);
    utimesSync(stale, old, old);
    expect(await crossProcessLock(lock, 'next', silentProgress, async () => 'ran')).toBe('ran');
    expect(readdirSync(`${lock}.queue`)).toEqual([]);
  });

  it('stops waiting when cancelled, and leaves no ticket', async () => {
    const lock = lockPath();
    let releaseFirst!: () => void;
    const first = crossProcessLock(
      lock,
      'holder',
      silentProgress,
      () =>
        new Promise<void>((r) => {
          releaseFirst = r;
        }),
    );
    await sleep(100);
    const ac = new AbortController();
    const waiting = crossProcessLock(lock, 'waiter', silentProgress, async () => 'ran', ac.signal);
    await sleep(100);
    ac.abort(new Error('cancelled by test'));
    await expect(waiting).rejects.toThrow('cancelled by test');
    releaseFirst();
    await first;
    expect(readdirSync(`${lock}.queue`)).toEqual([]);
  });
});
