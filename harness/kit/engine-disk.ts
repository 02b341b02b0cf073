// The cell engine's disk made full but for a given size, as a step (`action: fill-engine-disk`, `free:`),
// for bugs that need the engine to run out of space, e.g. docker/buildx#1927: a `--load` whose `docker
// load` fails mid-stream with "no space left on device". The engine keeps its state on tmpfs mounts of its
// own DinD (dind.ts, ENGINE_STORAGE); each is remounted with a size of what it holds plus `free` (never
// more than its size was, never 0, which is no limit on a tmpfs), so the kernel refuses writes past it
// (ENOSPC) exactly as a full disk would. No filler file: a tmpfs filled up would take the host's memory, a
// shrunk one takes nothing, and the host's disk is never touched. The engine is spoiled for any later
// cell, so the cell discards it when it ends (runner/cell.ts).
import { ENGINE_STORAGE } from '../dind/dind.ts';
import { HarnessError } from '../errors.ts';
import type { CommandRecord } from '../model.ts';
import type { Kit } from './kit.ts';

/** The most `free:` may leave: more is not a full disk, and the engine's tmpfs is memory. */
export const FREE_MAX_BYTES = 1 << 30;

const UNITS: Record<string, number> = { KiB: 1 << 10, MiB: 1 << 20, GiB: 1 << 30 };

/**
 * A `free:` size as bytes: a whole number with a binary unit ("16MiB", "512 KiB", "1GiB"), or 0. Decimal
 * units are refused rather than guessed (is MB 10^6 or 2^20?). Throws an Error naming the fix. Pure.
 */
export function parseFree(v: unknown): number {
  const fix = 'write a whole number with a binary unit, e.g. free: 16MiB (KiB, MiB or GiB; at most 1GiB)';
  if (v === 0 || v === '0') return 0;
  if (typeof v !== 'string') throw new Error(`${JSON.stringify(v)} is not a size: ${fix}`);
  const m = /^(\d{1,10})\s?(KiB|MiB|GiB)$/.exec(v.trim());
  if (!m) throw new Error(`${JSON.stringify(v)} is not a size: ${fix}`);
  const bytes = Number(m[1]) * UNITS[m[2]!]!;
  if (bytes > FREE_MAX_BYTES) throw new Error(`${v} is more than 1GiB: a disk with that much free is not full; ${fix}`);
  return bytes;
}

/** A size for messages: the largest binary unit it is a whole number of. Pure. */
export function sizeText(bytes: number): string {
  for (const [unit, n] of Object.entries(UNITS).reverse()) if (bytes >= n && bytes % n === 0) return `${bytes / n}${unit}`;
  return `${bytes} bytes`;
}

/**
 * The script run as root in the DinD: $1 the KiB to leave free, then the mounts. Each must be a tmpfs
 * (exit 3 otherwise); it is remounted with size = used + free, a few tries because the engine may write
 * between the df and the remount (a tmpfs refuses to shrink below what it holds). The size is capped at the
 * mount's current size (a remount can grow a tmpfs: a mount with less than `free` free keeps its size) and
 * floored at one page (size=0 is no limit on a tmpfs; the kernel rounds 4k up to its page size). Prints each
 * mount's size, used and available KiB, and why when it was capped or floored. POSIX df and awk: the
 * official docker:dind is BusyBox.
 */
export const FILL_SCRIPT = [
  'set -e',
  'free=$1; shift',
  'for m in "$@"; do [ "$(stat -f -c %T "$m")" = tmpfs ] || { echo "$m is not a tmpfs of the engine" >&2; exit 3; }; done',
  'sync',
  'for m in "$@"; do',
  '  i=0',
  '  while :; do',
  // size and used KiB, or nothing when df did not answer (an empty size must not become the floor)
  `    t=$(df -kP "$m" | awk 'NR==2 && $2 ~ /^[0-9]+$/ && $3 ~ /^[0-9]+$/ {print $2" "$3}')`,
  '    if [ -n "$t" ]; then',
  '      total=${t% *}; s=$((${t#* } + free)); why=',
  '      [ "$s" -le "$total" ] || { s=$total; why=" (it had less than ${free}k free: its size kept, not grown)"; }',
  '      [ "$s" -ge 4 ] || { s=4; why=" (empty: one page, as size=0 would be no limit)"; }',
  '      mount -o "remount,size=${s}k" "$m" && break',
  '    fi',
  '    i=$((i + 1)); [ "$i" -lt 5 ] || { echo "could not resize $m" >&2; exit 4; }; sleep 0.2',
  '  done',
  `  df -kP "$m" | awk -v why="$why" 'NR==2{print $6" size="$2"k used="$3"k available="$4"k"why}'`,
  'done',
].join('\n');

/**
 * `action: fill-engine-disk`: every storage mount of the cell's engine keeps only `freeBytes` free. The
 * engine is marked spoiled first, so even a half-done resize is never handed to another cell. A mount
 * that is not a tmpfs or will not resize is the lab's failure (HarnessError), not the case's.
 */
export async function fillEngineDisk(kit: Kit, freeBytes: number): Promise<CommandRecord> {
  const free = sizeText(freeBytes);
  const dind = kit.sandbox.dind;
  dind.spoiled = `a case left ${free} free on its disk`;
  const args = [String(Math.ceil(freeBytes / 1024)), ...ENGINE_STORAGE];
  const { bytes: _, ...r } = await kit.sandbox.look(FILL_SCRIPT, { timeoutMs: 60_000 }, args);
  const record: CommandRecord = { ...r, argv: ['sh', '-c', FILL_SCRIPT, 'sh', ...args] };
  kit.sandbox.addRecord(record);
  if (r.exitCode !== 0)
    throw new HarnessError(
      `action fill-engine-disk: the engine ${dind.name} could not be left with ${free} free (exit ${r.exitCode}): ${r.stderr.trim() || r.stdout.trim()}` +
        (/permission|not permitted/i.test(r.stderr) ? '. The engine refused to remount its storage; this engine cannot run fill-engine-disk' : ''),
    );
  kit.fact(`action fill-engine-disk: the engine's storage keeps ${free} free (${r.stdout.trim().split('\n').join('; ')}); the engine is discarded after this cell`);
  return record;
}
