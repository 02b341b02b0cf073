// The offline bundle: one archive with everything a matrix needs, so a machine without network (or a
// fresh CI machine) needs no Go build and no debootstrap. It holds the cached artefacts (Buildx binaries,
// engine parts, BuildKit binaries, the registry's binary) with their meta.json, `docker save` of the
// images, and a manifest of versions, sources and sha256s. Import checks every entry against the
// manifest before it changes anything, and refuses the bundle naming the entry that failed.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, cpSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { childEnv, type LabConfig } from '../config.ts';
import { ProvisionError, UsageError } from '../errors.ts';
import { run, runChecked } from '../exec.ts';
import type { ProgressSink } from '../progress.ts';
import { withHeartbeat } from '../progress.ts';

export const BUNDLE_VERSION = 1;
const MANIFEST = 'bundle.json';
const IMAGES = 'images.tar';

const entrySchema = z.object({
  // plain names under cache/ (no "." or ".." segments: an entry is read from the unpacked bundle only)
  path: z.string().min(1).max(500).regex(/^(cache|images\.tar)(\/(?!\.\.?(\/|$))[A-Za-z0-9._+-]+)*$/, 'is not a bundle path'),
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
    await withHeartbeat(progress, `writing ${file}`, () => runChecked(['tar', '-C', stage, '-cf', path.resolve(file), MANIFEST, ...readdirSync(stage).filter((f) => f !== MANIFEST)], { env: childEnv(config), timeoutMs: 60 * 60_000 }));
    return manifest;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** What a tar listing says about a member; pure. Only regular files and directories with plain relative names pass. */
export function checkMember(line: string): string | undefined {
  // GNU tar -tv: "-rw-r--r-- root/root 123 2026-01-01 00:00 cache/buildx/x"
  const m = /^([-d])\S+\s+\S+\s+\d+\s+\S+\s+\S+\s+(.+)$/.exec(line);
  if (!m) return `member "${line.slice(0, 120)}" is not a regular file or directory`;
  const name = m[2]!.replace(/\/$/, '');
  if (name.startsWith('/') || name.split('/').some((c) => c === '..' || c === '')) return `member "${name}" leaves the bundle`;
  return undefined;
}

/**
 * Verifies then imports FILE: the listing first (no links, devices, absolute or `..` names), then every
 * entry's sha256 against bundle.json, and only then the cache directories (each replaced atomically) and
 * `docker load` of the images into the engine `engine()` returns (called once the cache is in place).
 */
export async function importBundle(config: LabConfig, file: string, progress: ProgressSink, engine: () => Promise<LabConfig>): Promise<BundleManifest> {
  if (!existsSync(file)) throw new UsageError(`${file} does not exist`);
  const env = childEnv(config);
  const list = await run(['tar', '-tvf', file], { env, timeoutMs: 10 * 60_000 });
  if (list.exitCode !== 0) throw new UsageError(`${file} is not a bundle (tar: ${list.stderr.trim().split('\n')[0]})`);
  for (const line of list.stdout.split('\n').filter(Boolean)) {
    const bad = checkMember(line);
    if (bad) throw new UsageError(`refusing ${file}: ${bad}`);
  }
  const stage = path.join(config.cacheDir, 'tmp', `bundle-import-${process.pid}`);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  try {
    await withHeartbeat(progress, `unpacking ${file}`, () => runChecked(['tar', '-C', stage, '--no-same-owner', '--no-same-permissions', '-xf', path.resolve(file)], { env, timeoutMs: 60 * 60_000 }));
    let manifest: BundleManifest;
    try {
      manifest = manifestSchema.parse(JSON.parse(readFileSync(path.join(stage, MANIFEST), 'utf8')));
    } catch (e) {
      const issue = e instanceof z.ZodError ? e.issues[0] : undefined;
      const why = issue ? `${issue.path.join('.') || '(document)'}: ${issue.message}` : (e as Error).message.split('\n')[0];
      throw new UsageError(`refusing ${file}: its ${MANIFEST} is missing or invalid (${why})`);
    }
    const listed = new Set(manifest.entries.map((e) => e.path));
    for (const rel of walk(stage).map((r) => r.split(path.sep).join('/'))) {
      if (rel !== MANIFEST && !listed.has(rel)) throw new UsageError(`refusing ${file}: ${rel} is not in its manifest`);
    }
    for (const e of manifest.entries) {
      const p = path.join(stage, e.path);
      if (!existsSync(p)) throw new UsageError(`refusing ${file}: entry ${e.path} is missing`);
      const got = await sha256Of(p);
      if (got !== e.sha256 || statSync(p).size !== e.size) throw new UsageError(`refusing ${file}: entry ${e.path} does not match its checksum (manifest ${e.sha256.slice(0, 16)}…, file ${got.slice(0, 16)}…)`);
    }
    // Everything checks out: place the cache directories, then load the images.
    for (const d of manifest.contents.cache) {
      if (d.split('/').includes('..') || path.isAbsolute(d)) throw new UsageError(`refusing ${file}: cache entry ${d} leaves the cache`);
      const from = path.join(stage, 'cache', d);
      if (!existsSync(from)) continue;
      const to = path.join(config.cacheDir, d);
      mkdirSync(path.dirname(to), { recursive: true });
      rmSync(`${to}.import`, { recursive: true, force: true });
      renameSync(from, `${to}.import`);
      rmSync(to, { recursive: true, force: true });
      renameSync(`${to}.import`, to);
    }
    if (existsSync(path.join(stage, IMAGES))) {
      // The engine is found (or installed, from the engine build the bundle just placed) only now.
      const withEngine = await engine();
      await withHeartbeat(progress, `docker load of ${manifest.contents.images.length} image(s)`, () => runChecked(['docker', 'load', '-q', '-i', path.join(stage, IMAGES)], { env: childEnv(withEngine), timeoutMs: 60 * 60_000 }));
    }
    return manifest;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}
