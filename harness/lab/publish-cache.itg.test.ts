// Publishing from the cache against the real registry: a second run puts the first run's `docker push`
// into its fresh registry byte for byte (same manifest digest, every blob whole), and a damaged cache is
// pushed again instead of trusted.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildxCacheRoot } from '../buildx/provision.ts';
import { imageId } from '../images/images.ts';
import { verifyImage } from '../oci/verify.ts';
import type { ImageResult } from '../runner/provision.ts';
import { startTestLab, type TestLab } from '../runner/lab.test-helpers.ts';
import { Lab } from './lab.ts';

let t: TestLab;
let cacheDir: string;
const CASE_BASE = { kind: 'image', id: 'case-base' } as const;

beforeAll(async () => {
  t = await startTestLab('pubcache', [CASE_BASE]);
  cacheDir = mkdtempSync(path.join(os.tmpdir(), 'bxl-pubcache-'));
}, 900_000);

afterAll(async () => {
  await t?.close();
  if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
});

/** One publish of `ref` (case-base) into a lab of its own, whose cache of published images is `cacheDir`. */
async function publishOnce(lines: string[], ref?: string, repoTag = 'lab/base:bookworm') {
  const registry = await t.need<ImageResult>('image:registry');
  const lab = await Lab.start(
    { ...t.config, cacheDir },
    {
      runId: `pubcache${Date.now().toString(36)}`,
      registryImage: { ref: registry.ref, official: registry.source.startsWith('official') },
      buildxCacheRoot: buildxCacheRoot(t.config),
      progress: (l) => lines.push(l),
    },
  );
  try {
    const p = await lab.publish(ref ?? (await t.need<ImageResult>('image:case-base')).ref, repoTag);
    const report = await verifyImage(lab.client(), p.repository, p.tag, { platforms: ['linux/amd64'], requireIndex: false, fetchLayers: 'get' });
    return { ...p, ok: report.ok, problems: report.problems };
  } finally {
    await lab.stop();
  }
}

const blobsDir = () => path.join(cacheDir, 'published', 'blobs', 'sha256');

describe('publishing from the cache', () => {
  it('puts the first push into a later registry under the same digests, and pushes again over a damaged copy', async () => {
    const first = await publishOnce([]);
    expect(first.fromCache).toBe(false);
    expect(first.ok, JSON.stringify(first.problems)).toBe(true);

    const second = await publishOnce([]);
    expect(second.fromCache).toBe(true);
    expect(second.ok, JSON.stringify(second.problems)).toBe(true);
    expect(second.manifestDigest).toBe(first.manifestDigest);
    expect(second.layers).toEqual(first.layers);

    // the largest cached blob damaged in place, its size kept
    const largest = readdirSync(blobsDir())
      .map((n) => path.join(blobsDir(), n))
      .sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
    writeFileSync(largest, Buffer.alloc(statSync(largest).size));
    const lines: string[] = [];
    const third = await publishOnce(lines);
    expect(third.fromCache).toBe(false);
    expect(lines.join('\n')).toMatch(/cached copy of sha256:\S+ is unusable \(cached blob sha256:\S+ is \d+ bytes hashing to/);
    expect(third.ok, JSON.stringify(third.problems)).toBe(true);
    expect(third.manifestDigest).toBe(first.manifestDigest);
    // kept again, whole: the next run publishes from the cache
    expect(existsSync(largest)).toBe(true);
    expect((await publishOnce([])).fromCache).toBe(true);
  }, 900_000);

  it('pushes an image again when the entry filed under its ID holds another image (review s4 F8)', async () => {
    const base = await publishOnce([]); // kept by the test before, or now
    const registryRef = (await t.need<ImageResult>('image:registry')).ref;
    const entry = async (ref: string) => path.join(cacheDir, 'published', 'images', `${(await imageId(t.config, ref))!.slice('sha256:'.length)}.json`);
    // case-base's complete, self-consistent entry under the ID of the registry image
    writeFileSync(await entry(registryRef), readFileSync(await entry((await t.need<ImageResult>('image:case-base')).ref)));
    const lines: string[] = [];
    const forged = await publishOnce(lines, registryRef, 'lab/registry:forged');
    expect(lines.join('\n')).toMatch(/cached copy of sha256:\S+ is unusable \(cached manifest sha256:\S+ is not image sha256:/);
    expect(forged.fromCache).toBe(false);
    expect(forged.ok, JSON.stringify(forged.problems)).toBe(true);
    expect(forged.manifestDigest).not.toBe(base.manifestDigest);
    // the engine's ID of the image really pushed is its config's digest: kept now, and published from the cache
    expect((await publishOnce([], registryRef, 'lab/registry:forged')).fromCache).toBe(true);
  }, 900_000);
});
