// The cache of published images reads its files as hostile input: a bad entry, manifest or blob is
// refused (and the entry dropped) before anything of it is committed to a registry.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RegistryClient } from '../oci/client.ts';
import { DOCKER_MANIFEST } from '../oci/types.ts';
import { BadPublishEntry, PublishCache, manifestBlobs } from './publish-cache.ts';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const IMAGE = `sha256:${'a'.repeat(64)}`;

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

async function stored(): Promise<PublishCache> {
  dir = mkdtempSync(path.join(os.tmpdir(), 'bxl-pubcache-'));
  const cache = new PublishCache(dir);
  const img = image();
  await cache.store(IMAGE, recordingClient([]), 'moby/buildkit', { raw: img.raw, mediaType: DOCKER_MANIFEST, digest: img.digest }, () => undefined);
  return cache;
}

const blobFile = (digest: string) => path.join(dir, 'published', 'blobs', 'sha256', digest.slice(7));
const entryFile = () => path.join(dir, 'published', 'images', `${IMAGE.slice(7)}.json`);

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

describe('PublishCache', () => {
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
