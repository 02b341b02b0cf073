import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { labConfig } from '../config.ts';
import { BUILDKIT_BASE, CASE_BASE, ENGINE_BASE, localTag } from './catalog.ts';
import { currentImageTags } from './command.ts';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('currentImageTags', () => {
  it('keeps every base image, buildkit-base included, even with nothing cached', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'bxl-current-'));
    const tags = await currentImageTags(labConfig({ ...process.env, BUILDX_LAB_CACHE: dir }));
    for (const base of [ENGINE_BASE, CASE_BASE, BUILDKIT_BASE]) expect(tags).toContain(localTag(base));
  });
});
