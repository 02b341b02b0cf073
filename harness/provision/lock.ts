// Cross-process locks for provisioning: one Go compile at a time on the machine, and one producer per
// artefact (a second process waits for the first one's result instead of building it again).
// proper-lockfile keeps the lock fresh while its holder lives; a killed holder's lock goes stale and is
// taken over. Beside the lock, a small file names the holder, so a waiting process can say on what.
// Waiters queue first come, first served: a holder that takes the lock again for its next build would
// otherwise win every time, and a second `setup` would wait for all of the first one's compiles.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { HarnessError } from '../errors.ts';
import type { ProgressSink } from '../progress.ts';

const STALE_MS = 20_000;
const UPDATE_MS = 5_000;
const WAIT_NOTICE_MS = 30_000;
/** A waiter touches its ticket on every poll; one untouched this long belongs to a process that is gone (or stopped). */
const TICKET_STALE_MS = 10_000;

interface Holder {
  pid: number;
  host: string;
  what: string;
  since: string;
}

/** Whether a live waiter started waiting before `since` (ties broken by ticket name); stale tickets are removed. */
function waiterAhead(queueDir: string, mine: string, since: number): boolean {
  for (const name of readdirSync(queueDir)) {
    if (name === mine) continue;
    const file = path.join(queueDir, name);
    try {
      if (Date.now() - statSync(file).mtimeMs > TICKET_STALE_MS) {
        rmSync(file, { force: true });
        continue;
      }
      const start = Number(readFileSync(file, 'utf8'));
      if (start < since || (start === since && name < mine)) return true;
    } catch {
      // removed while we looked: its waiter got the lock or gave up
    }
  }
  return false;
}

function readHolder(file: string): Holder | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Holder;
  } catch {
    return undefined;
  }
}

/**
 * Runs `work` while holding the lock at `lockPath` (created as needed). Waits as long as another holder
 * is alive, telling `progress` what it waits on at most every 30 s; `signal` ends the wait.
 */
async function tryLock(lockPath: string): Promise<(() => Promise<void>) | undefined> {
  try {
    return await lockfile.lock(lockPath, { realpath: false, stale: STALE_MS, update: UPDATE_MS, retries: 0 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ELOCKED') throw e;
    return undefined;
  }
}

export async function crossProcessLock<T>(lockPath: string, what: string, progress: ProgressSink, work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  mkdirSync(path.dirname(lockPath), { recursive: true });
  const holderFile = `${lockPath}.holder.json`;
  let release: (() => Promise<void>) | undefined;
  let lastNotice = 0;
  const t0 = Date.now();
  const queueDir = `${lockPath}.queue`;
  mkdirSync(queueDir, { recursive: true });
  const mine = `${t0}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const ticket = path.join(queueDir, mine);
  writeFileSync(ticket, String(t0));
  try {
    while (!release) {
      if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new HarnessError(`cancelled while waiting for ${path.basename(lockPath)}`);
      const now = new Date();
      utimesSync(ticket, now, now);
      release = waiterAhead(queueDir, mine, t0) ? undefined : await tryLock(lockPath);
      if (release) break;
      if (Date.now() - lastNotice >= WAIT_NOTICE_MS) {
        const h = readHolder(holderFile);
        const who = h ? `${h.what} (pid ${h.pid} on ${h.host}, since ${h.since})` : 'another process';
        progress(`${what}: waiting for ${who}${lastNotice ? `, ${Math.round((Date.now() - t0) / 1000)} s so far` : ''}`);
        lastNotice = Date.now();
      }
      await new Promise((r) => setTimeout(r, 250 + Math.random() * 250));
    }
  } finally {
    rmSync(ticket, { force: true });
  }
  writeFileSync(holderFile, JSON.stringify({ pid: process.pid, host: hostname(), what, since: new Date().toISOString() } satisfies Holder));
  try {
    return await work();
  } finally {
    rmSync(holderFile, { force: true });
    await release().catch(() => undefined);
  }
}
