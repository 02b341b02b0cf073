// The cache of published images reads its files as hostile input: a bad entry, manifest or blob is
// refused (and the entry dropped) before anything of it is committed to a registry.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RegistryClient } from '../oci/client.ts';
import { DOCKER_MANIFEST } from '../oci/types.ts';
import { BadPublishEntry, PublishCache, imageIdProblem, manifestBlobs } from './publish-cache.ts';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function image() {
  const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
  const layer = Buffer.from('not really gzip, but bytes with a digest');
  const raw = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: sha(layer), size: layer.length }],
    }),
  );
  return { config, layer, raw, digest: sha(raw) };
}
/** The image's ID as the classic store gives it: its config's digest. */
const IMAGE = sha(image().config);

/** What a registry does with an upload, as far as the cache sees it: reads the body, then asks `check`. */
function recordingClient(stored: string[]): RegistryClient {
  return {
    async putBlob(_repo: string, digest: string, body: AsyncIterable<Uint8Array>, check: () => void) {
      for await (const _ of body);
      check();
      stored.push(digest);
      return true;
    },
    async putManifest(_repo: string, _ref: string, _type: string, raw: Buffer) {
      stored.push(sha(raw));
      return sha(raw);
    },
    async getBlob(_repo: string, digest: string) {
      const img = image();
      const bytes = [img.config, img.layer].find((b) => sha(b) === digest)!;
      return { found: true, status: 200, bytes, size: bytes.length, digest, problems: [] };
    },
  } as unknown as RegistryClient;
}

let dir: string;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function stored(id = IMAGE): Promise<PublishCache> {
  dir = mkdtempSync(path.join(os.tmpdir(), 'bxl-pubcache-'));
  const cache = new PublishCache(dir);
  const img = image();
  await cache.store(id, recordingClient([]), 'moby/buildkit', { raw: img.raw, mediaType: DOCKER_MANIFEST, digest: img.digest }, () => undefined);
  return cache;
}

const blobFile = (digest: string) => path.join(dir, 'published', 'blobs', 'sha256', digest.slice(7));
const entryFile = (id = IMAGE) => path.join(dir, 'published', 'images', `${id.slice(7)}.json`);

describe('manifestBlobs', () => {
  const entry = (digest: string) => ({ version: 1 as const, manifestDigest: digest, mediaType: DOCKER_MANIFEST as typeof DOCKER_MANIFEST });
  it('lists the config, then the layers', () => {
    const img = image();
    expect(manifestBlobs(img.raw, entry(img.digest)).map((b) => b.digest)).toEqual([sha(img.config), sha(img.layer)]);
  });
  it('refuses a manifest that does not hash to its name, is not JSON, or is not an image manifest', () => {
    const img = image();
    expect(() => manifestBlobs(img.raw, entry(sha('other')))).toThrow(BadPublishEntry);
    expect(() => manifestBlobs(Buffer.from('{'), entry(sha('{')))).toThrow(/not JSON/);
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
    expect(() => manifestBlobs(index, entry(sha(index)))).toThrow(/not an image manifest/);
    const traversal = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: 'sha256:../../x', size: 1 }, layers: [] }));
    expect(() => manifestBlobs(traversal, entry(sha(traversal)))).toThrow(/not an image manifest/);
    const huge = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: sha('x'), size: 2 ** 40 }, layers: [] }));
    expect(() => manifestBlobs(huge, entry(sha(huge)))).toThrow(/not an image manifest/);
  });
});

describe('imageIdProblem', () => {
  const img = image();
  const blobs = [{ digest: sha(img.config) }, { digest: sha(img.layer) }];
  it("takes the config's digest (classic store) or the manifest's (containerd store) as the image's ID", () => {
    expect(imageIdProblem(sha(img.config), img.digest, blobs)).toBeUndefined();
    expect(imageIdProblem(img.digest, img.digest, blobs)).toBeUndefined();
  });
  it("refuses any other ID, a layer's too", () => {
    expect(imageIdProblem(sha(img.layer), img.digest, blobs)).toBe(
      `cached manifest ${img.digest} is not image ${sha(img.layer)} (neither it nor its config ${sha(img.config)} is that ID)`,
    );
    expect(imageIdProblem(sha('x'), img.digest, [])).toBe(`cached manifest ${img.digest} is not image ${sha('x')} (neither it nor its config (none) is that ID)`);
  });
});

describe('PublishCache', () => {
  it('refuses an entry filed under the ID of another image, before anything is uploaded, and drops it (review s4 F8)', async () => {
    const cache = await stored();
    // a complete, self-consistent image filed under the ID of the lab's BuildKit image
    const lab = `sha256:${'b'.repeat(64)}`;
    writeFileSync(entryFile(lab), readFileSync(entryFile()));
    const got: string[] = [];
    await expect(cache.publish(lab, recordingClient(got), 'moby/buildkit', 'v0.17.1')).rejects.toThrow(/is not image sha256:b{64}/);
    expect(got).toEqual([]);
    expect(existsSync(entryFile(lab))).toBe(false);
    expect(await cache.publish(IMAGE, recordingClient(got), 'moby/buildkit', 'v0.17.1')).toBe(true);
  });

  it('keeps and publishes an image named by its manifest (containerd store); keeps none named otherwise', async () => {
    const img = image();
    const cache = await stored(img.digest);
    const got: string[] = [];
    expect(await cache.publish(img.digest, recordingClient(got), 'moby/buildkit', 'v0.17.1')).toBe(true);
    expect(got).toEqual([sha(img.config), sha(img.layer), img.digest]);
    const other = `sha256:${'c'.repeat(64)}`;
    expect(await cache.store(other, recordingClient([]), 'moby/buildkit', { raw: img.raw, mediaType: DOCKER_MANIFEST, digest: img.digest }, () => undefined)).toBe(false);
    expect(cache.has(other)).toBe(false);
  });

  it('fetches a kept blob again when it is damaged, and reuses it when whole', async () => {
    const cache = await stored();
    const img = image();
    const tampered = Buffer.from(img.layer);
    tampered[0]! ^= 1;
    writeFileSync(blobFile(sha(img.layer)), tampered);
    await cache.store(img.digest, recordingClient([]), 'moby/buildkit', { raw: img.raw, mediaType: DOCKER_MANIFEST, digest: img.digest }, () => undefined);
    expect(readFileSync(blobFile(sha(img.layer)))).toEqual(img.layer);
  });

  it('publishes what it stored: the same blobs and manifest digest', async () => {
    const cache = await stored();
    const got: string[] = [];
    expect(await cache.publish(IMAGE, recordingClient(got), 'moby/buildkit', 'v0.17.1')).toBe(true);
    const img = image();
    expect(got).toEqual([sha(img.config), sha(img.layer), img.digest]);
  });

  it('has nothing for an image it never stored', async () => {
    await stored();
    expect(await new PublishCache(dir).publish(`sha256:${'b'.repeat(64)}`, recordingClient([]), 'r', 't')).toBe(false);
  });

  it('refuses a blob that does not hash to its name before the commit, and drops the entry', async () => {
    const cache = await stored();
    const img = image();
    const tampered = Buffer.from(img.layer);
    tampered[0]! ^= 1; // same size, other bytes
    writeFileSync(blobFile(sha(img.layer)), tampered);
    const got: string[] = [];
    await expect(cache.publish(IMAGE, recordingClient(got), 'moby/buildkit', 'v0.17.1')).rejects.toThrow(BadPublishEntry);
    expect(got).toEqual([sha(img.config)]); // the config went in; the layer and the manifest did not
    expect(existsSync(entryFile())).toBe(false);
  });

  it.each([
    ['a blob of another size', () => writeFileSync(blobFile(sha(image().layer)), 'short')],
    ['a missing blob', () => rmSync(blobFile(sha(image().layer)))],
    ['an entry that is not JSON', () => writeFileSync(entryFile(), '{')],
    ['an entry of another shape', () => writeFileSync(entryFile(), JSON.stringify({ version: 1, manifestDigest: '../../etc/passwd', mediaType: DOCKER_MANIFEST }))],
    ['a manifest that does not hash to its name', () => writeFileSync(blobFile(image().digest), `${image().raw.toString()} `)],
    [
      'a FIFO in place of a blob',
      () => {
        rmSync(blobFile(sha(image().layer)));
        execFileSync('mkfifo', [blobFile(sha(image().layer))]);
      },
    ],
    [
      'a directory in place of the entry',
      () => {
        rmSync(entryFile());
        mkdirSync(entryFile());
      },
    ],
  ])('refuses %s and drops the entry', async (_what, damage) => {
    const cache = await stored();
    damage();
    const got: string[] = [];
    await expect(cache.publish(IMAGE, recordingClient(got), 'moby/buildkit', 'v0.17.1')).rejects.toThrow(BadPublishEntry);
    expect(got).not.toContain(image().digest);
    expect(existsSync(entryFile())).toBe(false);
  });
});
