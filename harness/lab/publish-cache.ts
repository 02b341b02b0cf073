// The lab's images as their first `docker push` into a lab registry stored them (compressed layers, config,
// manifest), kept under the cache by image ID, so that later runs put the same bytes, under the same digests,
// into their fresh registry through the OCI API instead of pushing again: a `docker push` tars and gzips
// every layer anew, seconds of the engine's CPU per run (the way BuildKit's own test suite keeps its
// registry's content between runs, BUILDKIT_REGISTRY_MIRROR_DIR).
// A cache file is input like any other: an entry's shape is checked, the manifest must hash to its name
// and list exactly the blobs it names, and every blob is hashed as it streams to the registry and must be
// its digest before the registry is asked to commit it, and the image must be the one the entry is filed
// under: its ID is the config's digest (classic store) or the manifest's (containerd store). A bad entry is
// dropped and the image pushed again.
import { createHash, type Hash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { HarnessError } from '../errors.ts';
import { MAX_JSON_BYTES, type RegistryClient } from '../oci/client.ts';
import { DOCKER_MANIFEST, OCI_MANIFEST } from '../oci/types.ts';
import type { ProgressSink } from '../progress.ts';
import { crossProcessLock } from '../provision/lock.ts';

/** Images kept; the least recently published go first (a BuildKit image is ~100 MB compressed). */
export const MAX_PUBLISHED_ENTRIES = 8;

const SHA256 = /^sha256:[a-f0-9]{64}$/;
/** What one layer may claim to be: more is not a lab image, and would fill the disk. */
const MAX_BLOB_BYTES = 8 * 2 ** 30;

/** A cache entry that cannot be trusted: it is removed, and the image pushed as on a first run. */
export class BadPublishEntry extends HarnessError {}

const entrySchema = z.strictObject({
  version: z.literal(1),
  manifestDigest: z.string().regex(SHA256),
  mediaType: z.enum([DOCKER_MANIFEST, OCI_MANIFEST]),
});
type Entry = z.infer<typeof entrySchema>;

const descriptorSchema = z.object({ digest: z.string().regex(SHA256), size: z.number().int().min(0).max(MAX_BLOB_BYTES) });
const manifestSchema = z.object({ schemaVersion: z.literal(2), config: descriptorSchema, layers: z.array(descriptorSchema).max(512) });

/** The blobs (config first, then the layers) a cached manifest names, or why it cannot be used; pure. */
export function manifestBlobs(raw: Buffer, entry: Entry): { digest: string; size: number }[] {
  const hashed = `sha256:${createHash('sha256').update(raw).digest('hex')}`;
  if (hashed !== entry.manifestDigest) throw new BadPublishEntry(`cached manifest hashes to ${hashed}, not ${entry.manifestDigest}`);
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new BadPublishEntry(`cached manifest ${entry.manifestDigest} is not JSON`);
  }
  const m = manifestSchema.safeParse(json);
  if (!m.success) throw new BadPublishEntry(`cached manifest ${entry.manifestDigest} is not an image manifest: ${m.error.issues[0]?.message ?? 'bad shape'}`);
  const bodyType = (json as { mediaType?: unknown }).mediaType;
  if (bodyType !== undefined && bodyType !== entry.mediaType) throw new BadPublishEntry(`cached manifest says it is ${String(bodyType)}, the entry ${entry.mediaType}`);
  return [m.data.config, ...m.data.layers];
}

/**
 * Why the image a manifest describes is not the engine's image `imageId`, if it is not; pure. The engine
 * names an image by content: the classic store by its config's digest, the containerd store by its target
 * (this manifest, when it is not an index). Either binds every layer (the config's diff_ids), so a cache
 * file cannot pass another image off under the ID of the lab's own; no record in the cache is needed.
 */
export function imageIdProblem(imageId: string, manifestDigest: string, blobs: readonly { digest: string }[]): string | undefined {
  if (imageId === blobs[0]?.digest || imageId === manifestDigest) return undefined;
  return `cached manifest ${manifestDigest} is not image ${imageId} (neither it nor its config ${blobs[0]?.digest ?? '(none)'} is that ID)`;
}

export interface PublishedManifest {
  raw: Buffer;
  mediaType: string;
  digest: string;
}

export class PublishCache {
  private readonly images: string;
  private readonly blobs: string;
  private readonly lock: string;

  constructor(cacheDir: string) {
    this.lock = path.join(cacheDir, 'locks', 'published');
    this.images = path.join(cacheDir, 'published', 'images');
    this.blobs = path.join(cacheDir, 'published', 'blobs', 'sha256');
  }

  private entryPath(imageId: string): string {
    if (!SHA256.test(imageId)) throw new HarnessError(`image ID ${JSON.stringify(imageId.slice(0, 80))} is not a sha256 digest`);
    return path.join(this.images, `${imageId.slice('sha256:'.length)}.json`);
  }

  private blobPath(digest: string): string {
    return path.join(this.blobs, digest.slice('sha256:'.length));
  }

  has(imageId: string): boolean {
    return existsSync(this.entryPath(imageId));
  }

  /**
   * Puts the image cached for `imageId` into the registry as repo:tag; false when there is no entry.
   * Throws BadPublishEntry (the entry already removed) when a file of it is not what it claims.
   */
  async publish(imageId: string, client: RegistryClient, repo: string, tag: string): Promise<boolean> {
    const file = this.entryPath(imageId);
    if (!existsSync(file)) return false;
    try {
      const entry = readEntry(file);
      const raw = readPlain(this.blobPath(entry.manifestDigest), MAX_JSON_BYTES);
      const blobs = manifestBlobs(raw, entry);
      const notIt = imageIdProblem(imageId, entry.manifestDigest, blobs);
      if (notIt) throw new BadPublishEntry(notIt);
      for (const blob of blobs) await this.upload(client, repo, blob);
      const stored = await client.putManifest(repo, tag, entry.mediaType, raw);
      if (stored !== entry.manifestDigest) throw new HarnessError(`the registry stored ${repo}:${tag} as ${stored}, not ${entry.manifestDigest}`);
      const now = new Date();
      utimesSync(file, now, now);
      return true;
    } catch (e) {
      if (e instanceof BadPublishEntry || (e as NodeJS.ErrnoException).code === 'ENOENT') {
        // recursive: a directory put in an entry's place goes too (rm follows no links)
        rmSync(file, { force: true, recursive: true });
        throw e instanceof BadPublishEntry ? e : new BadPublishEntry(`cache entry of ${imageId} is incomplete: ${(e as Error).message}`);
      }
      throw e;
    }
  }

  /**
   * A kept blob's bytes as a stream (a layer may be gigabytes), each hashed into `read.hash` and counted
   * in `read.size` on the way; throws BadPublishEntry when the file is not a plain one of the claimed size.
   */
  private async *read(blob: { digest: string; size: number }, read: { hash: Hash; size: number }): AsyncIterable<Uint8Array> {
    const file = this.blobPath(blob.digest);
    // a FIFO or device in the cache would block or never end: only a plain file of the claimed size
    const st = statSync(file);
    if (!st.isFile() || st.size !== blob.size)
      throw new BadPublishEntry(`cached blob ${blob.digest} is ${st.isFile() ? `${st.size} bytes, not ${blob.size}` : 'not a plain file'}`);
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      read.size += chunk.length;
      if (read.size > blob.size) throw new BadPublishEntry(`cached blob ${blob.digest} grew past its ${blob.size} bytes`);
      read.hash.update(chunk);
      yield chunk;
    }
  }

  /** One blob from the cache to the registry, hashed on the way and checked before the commit. */
  private async upload(client: RegistryClient, repo: string, blob: { digest: string; size: number }): Promise<void> {
    const read = { hash: createHash('sha256'), size: 0 };
    // the registry may have it already (another image of this run shares the layer): then it is not read at all
    try {
      await client.putBlob(repo, blob.digest, this.read(blob, read), () => {
        const got = `sha256:${read.hash.digest('hex')}`;
        if (read.size !== blob.size || got !== blob.digest) throw new BadPublishEntry(`cached blob ${blob.digest} is ${read.size} bytes hashing to ${got}`);
      });
    } catch (e) {
      // fetch wraps what the body's iterator threw
      const inner = (e as { cause?: unknown }).cause;
      const bad = e instanceof BadPublishEntry ? e : inner instanceof BadPublishEntry ? inner : (inner as { cause?: unknown } | undefined)?.cause;
      if (bad instanceof BadPublishEntry) throw bad;
      if ((inner as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') throw new BadPublishEntry(`cached blob ${blob.digest} is missing`);
      throw e;
    }
  }

  /**
   * Keeps what the registry holds as repo (a single-platform image manifest just pushed) for `imageId`:
   * its blobs read back through `client` (each checked against its digest), then the entry. Images of
   * another shape (an index), or whose ID names neither the manifest nor its config (a containerd-store
   * image whose target is an index), are not kept: publish would refuse them; they are pushed each time.
   */
  async store(imageId: string, client: RegistryClient, repo: string, manifest: PublishedManifest, progress: ProgressSink): Promise<boolean> {
    if (manifest.mediaType !== DOCKER_MANIFEST && manifest.mediaType !== OCI_MANIFEST) return false;
    // one writer at a time: another's prune must not take blobs this one has written but not yet named
    return crossProcessLock(this.lock, 'the cache of published images', progress, () => this.storeLocked(imageId, client, repo, manifest));
  }

  private async storeLocked(imageId: string, client: RegistryClient, repo: string, manifest: PublishedManifest): Promise<boolean> {
    const file = this.entryPath(imageId);
    const mediaType = manifest.mediaType === DOCKER_MANIFEST ? DOCKER_MANIFEST : OCI_MANIFEST; // store() let no other through
    const entry: Entry = { version: 1, manifestDigest: manifest.digest, mediaType };
    const blobs = manifestBlobs(manifest.raw, entry);
    if (imageIdProblem(imageId, manifest.digest, blobs)) return false;
    mkdirSync(this.blobs, { recursive: true });
    mkdirSync(this.images, { recursive: true });
    for (const blob of blobs) {
      // one kept already (another image's layer) is reused only when whole: a damaged one is fetched again
      if (await this.whole(blob)) continue;
      const got = await client.getBlob(repo, blob.digest, blob.size);
      if (!got.found || got.problems.length || got.size !== blob.size) throw new HarnessError(`reading ${repo}@${blob.digest} back from the lab registry to cache it failed`);
      writeAtomic(this.blobPath(blob.digest), got.bytes);
    }
    writeAtomic(this.blobPath(manifest.digest), manifest.raw);
    writeAtomic(file, `${JSON.stringify(entry)}\n`);
    this.prune();
    return true;
  }

  /** A kept blob of the claimed size and digest, read as a stream. */
  private async whole(blob: { digest: string; size: number }): Promise<boolean> {
    const read = { hash: createHash('sha256'), size: 0 };
    try {
      for await (const _ of this.read(blob, read));
      return read.size === blob.size && `sha256:${read.hash.digest('hex')}` === blob.digest;
    } catch {
      return false;
    }
  }

  /** At most MAX_PUBLISHED_ENTRIES entries, the least recently used removed, and blobs no entry names. */
  private prune(): void {
    const entries = readdirSync(this.images)
      .filter((n) => /^[a-f0-9]{64}\.json$/.test(n))
      .map((n) => ({ file: path.join(this.images, n), mtime: statSync(path.join(this.images, n)).mtimeMs }))
      .sort((a, b) => b.mtime - a.mtime);
    for (const e of entries.slice(MAX_PUBLISHED_ENTRIES)) rmSync(e.file, { force: true });
    const keep = new Set<string>();
    for (const e of entries.slice(0, MAX_PUBLISHED_ENTRIES)) {
      try {
        const entry = readEntry(e.file);
        keep.add(entry.manifestDigest);
        for (const b of manifestBlobs(readPlain(this.blobPath(entry.manifestDigest), MAX_JSON_BYTES), entry)) keep.add(b.digest);
      } catch {
        rmSync(e.file, { force: true });
      }
    }
    // a blob another process is writing right now is still a temporary name, which this leaves alone
    for (const name of readdirSync(this.blobs)) if (/^[a-f0-9]{64}$/.test(name) && !keep.has(`sha256:${name}`)) rmSync(path.join(this.blobs, name), { force: true });
  }
}

function readEntry(file: string): Entry {
  let json: unknown;
  try {
    json = JSON.parse(readPlain(file, 4096).toString('utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code) throw e;
    throw new BadPublishEntry(`cache entry ${file} is not JSON`);
  }
  const r = entrySchema.safeParse(json);
  if (!r.success) throw new BadPublishEntry(`cache entry ${file} is not of the lab's shape: ${r.error.issues[0]?.message ?? 'bad shape'}`);
  return r.data;
}

/** A plain file of at most `max` bytes (a FIFO would block the read, a huge file fill the memory). */
function readPlain(file: string, max: number): Buffer {
  const st = statSync(file);
  if (!st.isFile() || st.size > max) throw new BadPublishEntry(`${file} is ${st.isFile() ? `${st.size} bytes, over ${max}` : 'not a plain file'}`);
  return readFileSync(file);
}

/** Written under a temporary name, then renamed: a reader sees the whole file or none. */
function writeAtomic(file: string, data: Buffer | string): void {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(tmp, data, { flag: 'wx' });
    renameSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
}
