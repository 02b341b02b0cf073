// Temporary directories that provisioning leaves when its process is killed: staging directories of
// installs and builds, image build trees, apt downloads. Their names carry the creating pid. One is removed
// only when no process on this host has that pid in any pid namespace (the creator may run in another one:
// a dev container or `unshare --pid` sharing the cache); from inside a pid namespace of its own, the lab
// cannot see every process, so it removes none. Names of older lab versions carry no pid: those are
// removed once nothing touched them for OLD_UNTOUCHED_MS (no current code creates them).
import { existsSync, lstatSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { childEnv, type LabConfig } from '../config.ts';
import { pidsInAnyNamespace } from '../ownership/owner.ts';
import { run } from '../exec.ts';

export const OLD_UNTOUCHED_MS = 6 * 3600_000;

/** Where temporary directories appear. */
export interface TempRoots {
  cacheDir: string;
  engineHome: string;
  /** where the oldest lab versions staged debootstrap trees (buildx-lab-rootfs.XXXXXX) */
  varTmp: string;
  /** the system's temporary directory: the Git server's repositories (serve/git-server.ts) */
  tmp: string;
}

export function tempRoots(config: Pick<LabConfig, 'cacheDir' | 'engineHome'>): TempRoots {
  return { cacheDir: config.cacheDir, engineHome: config.engineHome, varTmp: '/var/tmp', tmp: os.tmpdir() };
}

type Root = keyof TempRoots;

/** Every temporary directory name the lab makes, under its root; the pid group is the creator's. */
const PATTERNS: readonly { root: Root; kind: string; re: RegExp }[] = [
  { root: 'cacheDir', kind: 'Buildx install', re: /^buildx\/linux-[^/]+\/\.tmp-[^/]+-(\d+)-\d+$/ },
  { root: 'cacheDir', kind: 'engine part build', re: /^engine\/parts\/[^/]+\.tmp-(\d+)$/ },
  { root: 'cacheDir', kind: 'engine assembly', re: /^engine\/[^/]+\/bin\.tmp-(\d+)$/ },
  { root: 'cacheDir', kind: 'BuildKit build', re: /^buildkit\/[^/]+\.tmp-(\d+)$/ },
  { root: 'cacheDir', kind: 'image build', re: /^tmp\/(?:image|layer)-[^/]+-(\d+)$/ },
  { root: 'cacheDir', kind: 'bundle', re: /^tmp\/bundle-(?:export|import)-(\d+)$/ },
  { root: 'cacheDir', kind: 'apt download', re: /^tools\/[^/]+\.dl-(\d+)$/ },
  { root: 'cacheDir', kind: 'apt download (older lab)', re: /^apt\/dl-(\d+)-\d+$/ },
  { root: 'cacheDir', kind: 'tool build', re: /^tools\/[^/]+\.tmp-(\d+)-\d+$/ },
  { root: 'cacheDir', kind: 'Go tool build', re: /^tools\/[^/]+\.tmp-(\d+)$/ },
  // a clone of a Git repository being made (git-clone.ts); trees exported from one live in a Buildx install's
  { root: 'cacheDir', kind: 'Git clone', re: /^git\/[0-9a-f]+\.git\.tmp-(\d+)$/ },
  // a run killed, or whose registry was killed under it, leaves its socket directory
  { root: 'cacheDir', kind: 'registry socket', re: /^run\/registry-(\d+)-[^/]+$/ },
  { root: 'cacheDir', kind: 'proxy socket', re: /^run\/proxy-(\d+)-[^/]+$/ },
  { root: 'cacheDir', kind: 'image files (older lab)', re: /^image-files-[^/]+$/ },
  { root: 'engineHome', kind: 'engine install', re: /^bin\.tmp-(\d+)$/ },
  { root: 'varTmp', kind: 'debootstrap tree (older lab)', re: /^buildx-lab-rootfs\.[^/]+$/ },
  // outside the cache: the Git server's unprivileged backend cannot reach into /root
  { root: 'tmp', kind: 'Git server repositories', re: /^buildx-lab-git-(\d+)-[^/]+$/ },
  { root: 'tmp', kind: 'S3 server data', re: /^buildx-lab-s3-(\d+)-[^/]+$/ },
];

/** Deepest path a pattern above names, in components. */
const MAX_DEPTH = 3;

export interface TempMatch {
  kind: string;
  /** the creator's pid; none for names of older lab versions */
  pid?: number;
}

/** Which temporary directory `rel` (below `root`, '/'-separated) is; pure. */
export function matchTempDir(root: Root, rel: string): TempMatch | undefined {
  for (const p of PATTERNS) {
    if (p.root !== root) continue;
    const m = p.re.exec(rel);
    if (m) return m[1] ? { kind: p.kind, pid: Number(m[1]) } : { kind: p.kind };
  }
  return undefined;
}

export type TempVerdict = { remove: true; reason: string } | { remove: false; reason: string };

/**
 * Whether a temporary directory is abandoned; pure. `livePids`: every pid of every namespace on this host,
 * or undefined when they cannot all be seen. `untouchedMs`: time since its last change.
 */
export function judgeTempDir(m: TempMatch, livePids: ReadonlySet<number> | undefined, untouchedMs: number): TempVerdict {
  if (m.pid === undefined) {
    return untouchedMs > OLD_UNTOUCHED_MS
      ? { remove: true, reason: `left by an older lab version, untouched for ${Math.round(untouchedMs / 3600_000)} h` }
      : { remove: false, reason: 'left by an older lab version, but touched recently' };
  }
  if (!livePids) return { remove: false, reason: 'this process runs in a pid namespace of its own and cannot see every process' };
  return livePids.has(m.pid) ? { remove: false, reason: `pid ${m.pid} is running` } : { remove: true, reason: `pid ${m.pid} is gone` };
}

export interface TempDir extends TempMatch {
  path: string;
  untouchedMs: number;
}

/** The lab's temporary directories under `roots`; nothing is descended into that is not on a pattern's way. */
export function findTempDirs(roots: TempRoots, now = Date.now()): TempDir[] {
  const found: TempDir[] = [];
  const walk = (root: Root, dir: string, rel: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const abs = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(abs, { throwIfNoEntry: false });
      if (!st?.isDirectory()) continue;
      const m = matchTempDir(root, r);
      if (m) found.push({ ...m, path: abs, untouchedMs: now - st.mtimeMs });
      else if (depth + 1 < MAX_DEPTH && root === 'cacheDir') walk(root, abs, r, depth + 1);
    }
  };
  for (const root of Object.keys(roots) as Root[]) walk(root, roots[root], '', 0);
  return found;
}

/** Mount points at or below `dir` in our mount table (a killed debootstrap leaves /proc and /sys mounted), deepest first. */
export function mountsBelow(mountinfo: string, dir: string): string[] {
  const octal = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return mountinfo
    .split('\n')
    .map((l) => octal(l.split(' ')[4] ?? ''))
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

export type JudgedTempDir = TempDir & TempVerdict;

/** Every temporary directory under `roots` with its verdict; `livePids` is read once, after the listing. */
export function judgeTempDirs(roots: TempRoots, livePids: () => ReadonlySet<number> | undefined = pidsInAnyNamespace): JudgedTempDir[] {
  // Directories first, processes after: a directory listed here had its creator alive when it was made.
  const dirs = findTempDirs(roots);
  if (!dirs.length) return [];
  const pids = livePids();
  return dirs.map((d) => ({ ...d, ...judgeTempDir(d, pids, d.untouchedMs) }));
}

export interface TempSweep {
  removed: JudgedTempDir[];
  kept: JudgedTempDir[];
}

/** Removes the abandoned temporary directories under `roots`. */
export async function sweepTempDirs(
  config: Pick<LabConfig, 'childPath' | 'home' | 'dockerHost'>,
  roots: TempRoots,
  livePids?: () => ReadonlySet<number> | undefined,
): Promise<TempSweep> {
  const result: TempSweep = { removed: [], kept: [] };
  for (const d of judgeTempDirs(roots, livePids)) {
    if (!d.remove) {
      result.kept.push(d);
      continue;
    }
    const keep = (why: string) => result.kept.push({ ...d, remove: false, reason: `${d.reason}, but ${why}` });
    const mounts = mountsBelow(readMountinfo(), d.path);
    for (const m of mounts) await run(['umount', '-l', m], { env: childEnv(config), timeoutMs: 30_000 });
    if (mounts.length && mountsBelow(readMountinfo(), d.path).length) {
      keep('a file system stays mounted below it');
      continue;
    }
    try {
      rmSync(d.path, { recursive: true, force: true });
      result.removed.push(d);
    } catch (e) {
      keep(`removing it failed: ${(e as Error).message}`);
    }
  }
  return result;
}

function readMountinfo(): string {
  return existsSync('/proc/self/mountinfo') ? readFileSync('/proc/self/mountinfo', 'utf8') : '';
}
