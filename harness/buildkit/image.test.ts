import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { labConfig } from '../config.ts';
import { engineParts } from '../engine/binaries.ts';
import { hostDefaultRelease } from '../engine/spec.ts';
import { silentProgress } from '../progress.ts';
import { buildkitOriginText, cachedBuildkitImageSpecs, hasBuildkitBinaries } from './image.ts';

const COMMIT = 'a75a6793fec3397639c35b38dd826d2f9961ebff';
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A cache holding the lab's runc, BuildKit v0.17.1 from the module proxy, a build from Git, and a build under way. */
function cache() {
  const root = mkdtempSync(path.join(tmpdir(), 'bk-image-'));
  dirs.push(root);
  const runc = engineParts(hostDefaultRelease()).find((p) => p.kind === 'runc')!;
  const partDir = path.join(root, 'engine', 'parts', runc.id);
  mkdirSync(partDir, { recursive: true });
  for (const b of runc.binaries) writeFileSync(path.join(partDir, b), 'runc');
  writeFileSync(path.join(partDir, 'meta.json'), JSON.stringify({ id: runc.id, version: '1.2.3', binaries: [{ name: 'runc', sha256: 'ab'.repeat(32), size: 4 }] }));
  const bk = (dir: string, meta: Record<string, unknown>) => {
    mkdirSync(path.join(root, 'buildkit', dir), { recursive: true });
    for (const b of ['buildkitd', 'buildctl']) writeFileSync(path.join(root, 'buildkit', dir, b), b);
    writeFileSync(
      path.join(root, 'buildkit', dir, 'meta.json'),
      JSON.stringify({ sha256: { buildkitd: '1'.repeat(64), buildctl: '2'.repeat(64) }, goVersion: 'go1.26.8', ...meta }),
    );
  };
  bk('v0.17.1', { version: 'v0.17.1' });
  bk(`git-${COMMIT}`, { version: 'v0.17.1-2-ga75a6793fec3', git: { repo: '/src/buildkit', commit: COMMIT, mode: 'mod' } });
  bk('v0.18.0.tmp-123', { version: 'v0.18.0' });
  return labConfig({ ...process.env, BUILDX_LAB_CACHE: root });
}

describe('BuildKit images of cached binaries (what images prune keeps)', () => {
  it('lists the releases and the builds from Git, each built from its own directory; a build under way is no image', () => {
    const config = cache();
    const specs = cachedBuildkitImageSpecs(config, silentProgress);
    expect(specs.map((s) => s.id).sort()).toEqual(['buildkit-v0.17.1', 'buildkit-v0.17.1-2-ga75a6793fec3']);
    const git = specs.find((s) => s.id === 'buildkit-v0.17.1-2-ga75a6793fec3')!;
    // never an official image for a commit, and its files come from buildkit/git-<commit>
    expect(git.official).toEqual([]);
    expect(git.description).toContain(`git commit ${COMMIT} of /src/buildkit`);
    expect(git.recipe.kind === 'layer' && git.recipe.files['/usr/bin/buildkitd']!.source).toBe(path.join(config.cacheDir, 'buildkit', `git-${COMMIT}`, 'buildkitd'));
    expect(git.recipe.kind === 'layer' && git.recipe.labels['buildx-lab.buildkit.git.commit']).toBe(COMMIT);
    expect(specs.find((s) => s.id === 'buildkit-v0.17.1')!.official).toEqual(['moby/buildkit:v0.17.1']);
    expect(hasBuildkitBinaries(config, 'v0.17.1-2-ga75a6793fec3', { commit: COMMIT })).toBe(true);
    expect(hasBuildkitBinaries(config, 'v0.17.1-2-ga75a6793fec3')).toBe(false);
  });
});

describe('buildkitOriginText', () => {
  it('names the commit, the tag and the module mode of a build from Git, else the module proxy release', () => {
    expect(buildkitOriginText({ version: 'v0.17.1', goVersion: 'go1.26.8' })).toBe("github.com/moby/buildkit@v0.17.1 (the Go module proxy's source), go1.26.8");
    expect(buildkitOriginText({ version: 'v0.17.1', goVersion: 'go1.26.8', git: { repo: '/src/buildkit', commit: COMMIT, tag: 'v0.17.1', mode: 'vendor' } })).toBe(
      `git commit ${COMMIT} (tag v0.17.1) of /src/buildkit, -mod=vendor, go1.26.8`,
    );
  });
});
