// The offline bundle: one archive with everything a matrix needs, so a machine without network (or a
// fresh CI machine) needs no Go build and no debootstrap. It holds the cached artefacts (Buildx binaries,
// engine parts, BuildKit binaries, the registry's binary) with their meta.json, `docker save` of the
// images, and a manifest of versions, sources and sha256s. Import checks every entry against the
// manifest before it changes anything, and refuses the bundle naming the entry that failed. A bundle is
// untrusted input (it comes from another machine or a CI cache): what it may place is checked against the
// lab's own rules, not its own checksums.
import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  createReadStream,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  cpSync,
} from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { ReleasePins } from '../buildx/release-pins.ts';
import { BUNDLE_LIMIT_SETTINGS, childEnv, type BundleLimits, type LabConfig } from '../config.ts';
import { ProvisionError, UsageError } from '../errors.ts';
import { run, runChecked } from '../exec.ts';
import type { ProgressSink } from '../progress.ts';
import { withHeartbeat } from '../progress.ts';
import { cacheEntryProblem, checkBuildxEntry } from './cache-entries.ts';
import { checkImageArchive } from './image-archive.ts';

export const BUNDLE_VERSION = 1;
const MANIFEST = 'bundle.json';
const IMAGES = 'images.tar';
/** The most members a bundle may have: its manifest's entries, bundle.json and their directories. */
const MAX_MEMBERS = 200_000;

const entrySchema = z.object({
  // plain names under cache/ (no "." or ".." segments: an entry is read from the unpacked bundle only)
  path: z
    .string()
    .min(1)
    .max(500)
    .regex(/^(cache|images\.tar)(\/(?!\.\.?(\/|$))[A-Za-z0-9._+-]+)*$/, 'is not a bundle path'),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().min(0),
});
const manifestSchema = z.object({
  version: z.literal(BUNDLE_VERSION),
  createdAt: z.string().max(40),
  /** what the bundle was made for: versions and image refs, for the reader */
  contents: z.object({ images: z.array(z.string().max(300)).max(200), cache: z.array(z.string().max(300)).max(2000) }),
  entries: z.array(entrySchema).max(100_000),
});
export type BundleManifest = z.infer<typeof manifestSchema>;

async function sha256Of(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function walk(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return walk(p, base);
    return e.isFile() ? [path.relative(base, p)] : [];
  });
}

export interface BundleContents {
  /** directories under the lab's cache to carry, relative to it (e.g. buildx/linux-amd64/v0.21.1) */
  cacheDirs: string[];
  /** image refs to `docker save` */
  images: string[];
}

/** Writes FILE: a tar of the cache directories, images.tar and bundle.json. */
export async function exportBundle(config: LabConfig, file: string, contents: BundleContents, progress: ProgressSink): Promise<BundleManifest> {
  const stage = path.join(config.cacheDir, 'tmp', `bundle-export-${process.pid}`);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(path.join(stage, 'cache'), { recursive: true });
  try {
    for (const d of contents.cacheDirs) {
      const from = path.join(config.cacheDir, d);
      if (!existsSync(from)) throw new ProvisionError(`${from} is not in the cache; run 'buildx-lab setup' first`);
      cpSync(from, path.join(stage, 'cache', d), { recursive: true });
    }
    if (contents.images.length) {
      await withHeartbeat(progress, `docker save of ${contents.images.length} image(s)`, () =>
        runChecked(['docker', 'save', '-o', path.join(stage, IMAGES), ...contents.images], { env: childEnv(config), timeoutMs: 60 * 60_000 }),
      );
    }
    const entries = [];
    for (const rel of walk(stage).sort()) {
      const p = path.join(stage, rel);
      entries.push({ path: rel.split(path.sep).join('/'), sha256: await sha256Of(p), size: statSync(p).size });
    }
    const manifest: BundleManifest = { version: BUNDLE_VERSION, createdAt: new Date().toISOString(), contents: { images: contents.images, cache: contents.cacheDirs }, entries };
    writeFileSync(path.join(stage, MANIFEST), JSON.stringify(manifest, null, 1));
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    await withHeartbeat(progress, `writing ${file}`, () =>
      runChecked(['tar', '-C', stage, '-cf', path.resolve(file), MANIFEST, ...readdirSync(stage).filter((f) => f !== MANIFEST)], { env: childEnv(config), timeoutMs: 60 * 60_000 }),
    );
    return manifest;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** A member of the bundle's tar listing. */
export interface Member {
  name: string;
  size: number;
}

/**
 * What a tar listing line says about a member; pure. Only regular files and directories with plain
 * relative names pass. The listing is made with --numeric-owner, so no owner name can shift the columns.
 */
export function parseMember(line: string): Member | { refused: string } {
  // GNU tar -tv --numeric-owner: "-rw-r--r-- 0/0 123 2026-01-01 00:00 cache/buildx/x"
  const m = /^([-d])[-rwxsStT]{9}\s+\d+\/\d+\s+(\d+)\s+\S+\s+\S+\s(.+)$/.exec(line);
  if (!m) return { refused: `member "${line.slice(0, 120)}" is not a regular file or directory` };
  const name = m[3]!.replace(/\/$/, '');
  if (name.startsWith('/') || name.split('/').some((c) => c === '..' || c === '')) return { refused: `member "${name}" leaves the bundle` };
  return { name, size: Number(m[2]) };
}

/** Why a listing is too large to unpack, naming the bound and the setting that raises it; pure. */
export function sizeProblem(members: readonly Member[], limits: BundleLimits): string | undefined {
  const gb = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(1)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${n} bytes`);
  if (members.length > MAX_MEMBERS) return `it has ${members.length} members, more than a bundle can (${MAX_MEMBERS})`;
  const big = members.find((x) => x.size > limits.entryBytes);
  if (big)
    return `member ${big.name} is ${gb(big.size)}, more than the bound of ${gb(limits.entryBytes)} per entry; if you trust this bundle, raise it with ${BUNDLE_LIMIT_SETTINGS.entryBytes}`;
  const total = members.reduce((n, x) => n + x.size, 0);
  if (total > limits.totalBytes)
    return `it unpacks to ${gb(total)}, more than the bound of ${gb(limits.totalBytes)} in all; if you trust this bundle, raise it with ${BUNDLE_LIMIT_SETTINGS.totalBytes}`;
  return undefined;
}

/**
 * Verifies then imports FILE, which is untrusted input: the listing first (no links, devices, absolute or
 * `..` names, within the size bounds, before anything is unpacked), then every entry's sha256 against
 * bundle.json, the cache entries' shapes, the Buildx binaries against the release pins, and the image
 * archive's names (rewritten, cache-entries.ts and image-archive.ts). Only then are the cache
 * directories placed (each replaced atomically) and the checked images loaded into the engine `engine()`
 * returns (called once the cache is in place). A refusal changes nothing.
 */
export async function importBundle(
  config: LabConfig,
  file: string,
  progress: ProgressSink,
  engine: () => Promise<LabConfig>,
  opts: { pins?: ReleasePins; trust?: boolean } = {},
): Promise<BundleManifest> {
  if (!existsSync(file)) throw new UsageError(`${file} does not exist`);
  const refuse = (why: string) => new UsageError(`refusing ${file}: ${why}`);
  // Listed, checked and unpacked from one open file: tar reads it through /proc/<pid>/fd, so a path swapped
  // after the listing changes nothing; and only a file nobody else may write, so its content cannot either.
  // O_NONBLOCK: a FIFO given as the bundle is refused below instead of hanging the open
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const why = bundleFileProblem(fstatSync(fd), process.geteuid?.());
    if (why) throw refuse(why);
    return await importOpenBundle(config, file, `/proc/${process.pid}/fd/${fd}`, progress, engine, opts);
  } finally {
    closeSync(fd);
  }
}

/** Why a bundle file cannot be taken as it is (not a regular file, or writable by another user); pure. */
export function bundleFileProblem(st: { uid: number; mode: number; isFile(): boolean }, euid: number | undefined): string | undefined {
  if (!st.isFile()) return 'it is not a regular file';
  if (euid !== undefined && st.uid !== euid && st.uid !== 0) return `it belongs to uid ${st.uid}, who could change it while it is read; copy it somewhere of your own first`;
  // Group-writable is left alone: under umask 002 (user private groups) every file is.
  if (st.mode & 0o002) return `others may write it (mode ${(st.mode & 0o777).toString(8)}), and could change it while it is read; copy it somewhere of your own first`;
  return undefined;
}

async function importOpenBundle(
  config: LabConfig,
  file: string,
  tarFile: string,
  progress: ProgressSink,
  engine: () => Promise<LabConfig>,
  opts: { pins?: ReleasePins; trust?: boolean },
): Promise<BundleManifest> {
  const env = childEnv(config);
  const refuse = (why: string) => new UsageError(`refusing ${file}: ${why}`);
  const list = await run(['tar', '--numeric-owner', '-tvf', tarFile], { env, timeoutMs: 10 * 60_000 });
  if (list.exitCode !== 0) throw new UsageError(`${file} is not a bundle (tar: ${list.stderr.trim().split('\n')[0]})`);
  const members: Member[] = [];
  for (const line of list.stdout.split('\n').filter(Boolean)) {
    const m = parseMember(line);
    if ('refused' in m) throw refuse(m.refused);
    members.push(m);
  }
  const tooBig = sizeProblem(members, config.bundleLimits);
  if (tooBig) throw refuse(tooBig);
  const stage = path.join(config.cacheDir, 'tmp', `bundle-import-${process.pid}`);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  try {
    await withHeartbeat(progress, `unpacking ${file}`, () =>
      runChecked(['tar', '-C', stage, '--no-same-owner', '--no-same-permissions', '-xf', tarFile], { env, timeoutMs: 60 * 60_000 }),
    );
    let manifest: BundleManifest;
    try {
      manifest = manifestSchema.parse(JSON.parse(readFileSync(path.join(stage, MANIFEST), 'utf8')));
    } catch (e) {
      const issue = e instanceof z.ZodError ? e.issues[0] : undefined;
      const why = issue ? `${issue.path.join('.') || '(document)'}: ${issue.message}` : (e as Error).message.split('\n')[0];
      throw refuse(`its ${MANIFEST} is missing or invalid (${why})`);
    }
    const listed = new Set(manifest.entries.map((e) => e.path));
    for (const rel of walk(stage).map((r) => r.split(path.sep).join('/'))) {
      if (rel !== MANIFEST && !listed.has(rel)) throw refuse(`${rel} is not in its manifest`);
    }
    for (const e of manifest.entries) {
      const p = path.join(stage, e.path);
      if (!existsSync(p)) throw refuse(`entry ${e.path} is missing`);
      const got = await sha256Of(p);
      if (got !== e.sha256 || statSync(p).size !== e.size)
        throw refuse(`entry ${e.path} does not match its checksum (manifest ${e.sha256.slice(0, 16)}…, file ${got.slice(0, 16)}…)`);
    }
    // The checksums above were written by whoever made the bundle: they prove it self-consistent, no more.
    // What the entries may do is checked next, against the lab's own rules and pins.
    const cacheDirs = [...new Set(manifest.contents.cache)];
    for (const d of cacheDirs) {
      const bad = cacheEntryProblem(d, config.cacheDir);
      if (bad) throw refuse(bad);
    }
    const vouched = new Set<string>();
    for (const d of cacheDirs.filter((x) => x.startsWith('buildx/') && existsSync(path.join(stage, 'cache', x)))) {
      const r = checkBuildxEntry(d, path.join(stage, 'cache', d), { allowUnpinned: config.allowUnpinned, pins: opts.pins });
      if ('refused' in r) throw refuse(r.refused);
      if (r.pinned) vouched.add(d);
      progress(`bundle: ${r.ok}`);
    }
    // Everything else is code the lab runs as root (engine builds, BuildKit, tools, privileged DinD images)
    // on the bundle's word alone: only the user can vouch for where the bundle came from.
    const unvouched = [...cacheDirs.filter((d) => !vouched.has(d) && existsSync(path.join(stage, 'cache', d))), ...manifest.contents.images];
    if (unvouched.length && !opts.trust) throw refuse(unvouchedProblem(unvouched));
    const images = path.join(stage, IMAGES);
    const checkedImages = path.join(stage, `checked-${IMAGES}`);
    if (existsSync(images)) {
      try {
        await withHeartbeat(progress, `checking the image names in ${IMAGES}`, () => checkImageArchive(images, checkedImages, manifest.contents.images));
      } catch (e) {
        if (e instanceof UsageError) throw refuse(`its ${IMAGES}: ${e.message}`);
        throw e;
      }
      rmSync(images);
    }
    // Everything checks out: place the cache directories, then load the images.
    for (const d of cacheDirs) {
      const from = path.join(stage, 'cache', d);
      if (!existsSync(from)) continue;
      const to = path.join(config.cacheDir, d);
      // a hidden name, which no cache entry can have
      const incoming = path.join(path.dirname(to), `.import-${process.pid}-${path.basename(to)}`);
      mkdirSync(path.dirname(to), { recursive: true });
      rmSync(incoming, { recursive: true, force: true });
      renameSync(from, incoming);
      rmSync(to, { recursive: true, force: true });
      renameSync(incoming, to);
    }
    if (existsSync(checkedImages)) {
      // The engine is found (or installed, from the engine build the bundle just placed) only now.
      const withEngine = await engine();
      await withHeartbeat(progress, `docker load of ${manifest.contents.images.length} image(s)`, () =>
        runChecked(['docker', 'load', '-q', '-i', checkedImages], { env: childEnv(withEngine), timeoutMs: 60 * 60_000 }),
      );
    }
    return manifest;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** Why a bundle is refused without --trust: what in it no independent pin vouches for; pure. */
export function unvouchedProblem(entries: readonly string[]): string {
  const shown = entries.slice(0, 5).join(', ') + (entries.length > 5 ? ` and ${entries.length - 5} more` : '');
  return `it carries code that no release pin vouches for and that the lab would run as root (${shown}); its own checksums only prove it self-consistent. If you made this bundle, or trust whoever did (your own CI cache, say), import it with --trust`;
}
