// Which cached Buildx versions live runs use. Every DinD engine of a run mounts the cache read-only and
// runs the binaries from it, and provisioning installs them minutes before: so a run marks, for as long
// as it goes, the versions it needs, in a file under the cache that it keeps touching. `buildx prune`
// keeps what a marker names unless its run is provably gone (engine/owner.ts: the owner's pid when it is
// ours to read, otherwise the marker's age). Markers live beside the cache, not on the engine, because the
// cache is what is shared: a run on another engine may use it too.
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LabConfig } from '../config.ts';
import { HEARTBEAT_EVERY_MS } from '../ownership/labels.ts';
import { currentOwner, judgeOwner, probeProcess, type Owner, type Verdict } from '../ownership/owner.ts';

export interface InUseMarker {
  runId: string;
  owner: Owner;
  /** Buildx cache keys (directory names under buildx/linux-<arch>/) */
  buildx: string[];
}

export function inUseDir(config: Pick<LabConfig, 'cacheDir'>): string {
  return path.join(config.cacheDir, 'in-use');
}

export interface InUseHold {
  release(): void;
}

/** Marks `buildx` as used by `runId` until release(); the marker is touched every few seconds meanwhile. */
export function markInUse(config: Pick<LabConfig, 'cacheDir'>, runId: string, buildx: readonly string[]): InUseHold {
  const dir = inUseDir(config);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${runId}.json`);
  const marker: InUseMarker = { runId, owner: currentOwner(), buildx: [...buildx] };
  // Written whole or not at all: a half-written marker would read as "unknown" and block every prune.
  writeFileSync(`${file}.tmp-${process.pid}`, JSON.stringify(marker));
  renameSync(`${file}.tmp-${process.pid}`, file);
  const timer = setInterval(() => {
    try {
      const now = new Date();
      utimesSync(file, now, now);
    } catch {
      // removed under us (clean of the cache): nothing left to keep fresh
    }
  }, HEARTBEAT_EVERY_MS);
  timer.unref();
  return {
    release() {
      clearInterval(timer);
      rmSync(file, { force: true });
    },
  };
}

function parseMarker(text: string): InUseMarker | undefined {
  try {
    const m = JSON.parse(text) as Partial<InUseMarker>;
    const o = m.owner;
    const ok =
      typeof m.runId === 'string' &&
      Array.isArray(m.buildx) &&
      m.buildx.every((k) => typeof k === 'string') &&
      !!o &&
      typeof o.pid === 'number' &&
      typeof o.host === 'string' &&
      typeof o.boot === 'string' &&
      typeof o.pidNs === 'string' &&
      typeof o.start === 'string';
    return ok ? (m as InUseMarker) : undefined;
  } catch {
    return undefined;
  }
}

export interface CacheUser {
  file: string;
  /** undefined when the file cannot be read as a marker: then every version counts as used */
  marker?: InUseMarker;
  verdict: Verdict;
}

/** Every marker under the cache, with its run's verdict. */
export function cacheUsers(config: Pick<LabConfig, 'cacheDir' | 'ownerPolicy'>, now = Date.now()): CacheUser[] {
  const dir = inUseDir(config);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  return names.flatMap((n): CacheUser[] => {
    const file = path.join(dir, n);
    let text: string;
    let mtimeMs: number;
    try {
      text = readFileSync(file, 'utf8');
      mtimeMs = statSync(file).mtimeMs;
    } catch {
      return []; // released meanwhile
    }
    const marker = parseMarker(text);
    if (!marker) return [{ file, verdict: { state: 'unknown', reason: `${n} is not a marker the lab can read` } }];
    const verdict = judgeOwner({
      owner: marker.owner,
      me: currentOwner(),
      process: probeProcess,
      heartbeat: { kind: 'age', ms: Math.max(0, now - mtimeMs) },
      newestMs: 0,
      policy: config.ownerPolicy,
    });
    return [{ file, marker, verdict }];
  });
}

/** Removes the markers of abandoned runs; returns the others (live, or undecided). */
export function pruneMarkers(config: Pick<LabConfig, 'cacheDir' | 'ownerPolicy'>): CacheUser[] {
  return cacheUsers(config).filter((u) => {
    if (u.verdict.state !== 'abandoned') return true;
    rmSync(u.file, { force: true });
    return false;
  });
}

/** The cache keys live runs may use, or 'all' while a marker cannot be read. Drops abandoned markers on the way. */
export function buildxInUse(config: Pick<LabConfig, 'cacheDir' | 'ownerPolicy'>): Set<string> | 'all' {
  const users = pruneMarkers(config);
  const keys = new Set<string>();
  for (const u of users) {
    if (!u.marker) return 'all';
    for (const k of u.marker.buildx) keys.add(k);
  }
  return keys;
}
