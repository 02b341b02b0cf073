// A read-only view of a host directory that another engine's namespace can reach. The lab's rootless
// engine runs as an unprivileged host uid, which cannot traverse the user's home (0700), where the lab's
// Buildx cache and possibly the checkout live; its DinD engines bind-mount this view instead. Hard links,
// not copies: the same inodes, owned by root and read-only to the namespace, at no cost in space or time.
// Copies only where a link cannot be made (another file system).
import { copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readlinkSync, symlinkSync } from 'node:fs';
import path from 'node:path';

export interface MirrorCount {
  linked: number;
  copied: number;
}

/**
 * Adds to `dst` what `src` holds and `dst` does not yet (files present are kept: a Buildx finished since the
 * last call appears, nothing a cell already uses moves). Symlinks are copied as links only when relative and
 * inside `src`; others are left out, as they would point at what the namespace cannot reach.
 */
export function mirrorTree(src: string, dst: string, count: MirrorCount = { linked: 0, copied: 0 }): MirrorCount {
  mkdirSync(dst, { recursive: true, mode: 0o755 });
  for (const e of readdirSync(src, { withFileTypes: true })) {
    // an install still being staged (buildx/linux-*/.tmp-*): it appears under its final name when done
    if (e.name.startsWith('.tmp-')) continue;
    const from = path.join(src, e.name);
    const to = path.join(dst, e.name);
    if (e.isDirectory()) {
      mirrorTree(from, to, count);
      continue;
    }
    if (existsSync(to) || lstatExists(to)) continue;
    if (e.isSymbolicLink()) {
      const target = readlinkSync(from);
      const resolved = path.resolve(src, target);
      if (!path.isAbsolute(target) && !path.relative(src, resolved).startsWith('..')) symlinkSync(target, to);
      continue;
    }
    if (!e.isFile()) continue;
    try {
      linkSync(from, to);
      count.linked++;
    } catch {
      copyFileSync(from, to);
      count.copied++;
    }
  }
  return count;
}

function lstatExists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
