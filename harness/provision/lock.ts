// Cross-process locks for provisioning: one Go compile at a time on the machine, and one producer per
// artefact (a second process waits for the first one's result instead of building it again).
// proper-lockfile keeps the lock fresh while its holder lives; a killed holder's lock goes stale and is
// taken over. Beside the lock, a small file names the holder, so a waiting process can say on what.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { HarnessError } from '../errors.ts';
import type { ProgressSink } from '../progress.ts';

const STALE_MS = 20_000;
const UPDATE_MS = 5_000;
const WAIT_NOTICE_MS = 30_000;

interface Holder {
  pid: number;
  host: string;
  what: string;
  since: string;
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
export async function crossProcessLock<T>(lockPath: string, what: string, progress: ProgressSink, work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  mkdirSync(path.dirname(lockPath), { recursive: true });
  const holderFile = `${lockPath}.holder.json`;
  let release: (() => Promise<void>) | undefined;
  let lastNotice = 0;
  const t0 = Date.now();
  while (!release) {
    if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new HarnessError(`cancelled while waiting for ${path.basename(lockPath)}`);
    try {
      release = await lockfile.lock(lockPath, { realpath: false, stale: STALE_MS, update: UPDATE_MS, retries: 0 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ELOCKED') throw e;
      if (Date.now() - lastNotice >= WAIT_NOTICE_MS) {
        const h = readHolder(holderFile);
        const who = h ? `${h.what} (pid ${h.pid} on ${h.host}, since ${h.since})` : 'another process';
        progress(`${what}: waiting for ${who}${lastNotice ? `, ${Math.round((Date.now() - t0) / 1000)} s so far` : ''}`);
        lastNotice = Date.now();
      }
      await new Promise((r) => setTimeout(r, 250 + Math.random() * 250));
    }
  }
  writeFileSync(holderFile, JSON.stringify({ pid: process.pid, host: hostname(), what, since: new Date().toISOString() } satisfies Holder));
  try {
    return await work();
  } finally {
    rmSync(holderFile, { force: true });
    await release().catch(() => undefined);
  }
}
