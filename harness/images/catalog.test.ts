import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  BUILDKIT_BASE,
  CASE_BASE,
  ENGINE_BASE,
  buildkitRootlessSpec,
  buildkitSpec,
  debianDindSpec,
  localTag,
  recipeHash,
  registrySpec,
  sourceDindSpec,
  type BuiltEngine,
} from './catalog.ts';
import { debootstrapFix } from './images.ts';

const engine: BuiltEngine = {
  version: '26.1.5',
  binDir: '/c/engine/26.1.5/bin',
  seccomp: true,
  parts: [
    {
      id: 'dockerd-26.1.5',
      binaries: [
        { name: 'dockerd', sha256: 'a'.repeat(64) },
        { name: 'docker-proxy', sha256: 'b'.repeat(64) },
      ],
      replacements: [],
    },
    {
      id: 'docker-cli-v26.1.5',
      binaries: [{ name: 'docker', sha256: 'c'.repeat(64) }],
      replacements: [{ module: 'github.com/docker/docker', from: 'v26.1.4-0.x', to: 'v26.1.5+incompatible' }],
    },
  ],
};

describe('image catalog', () => {
  it('lays an engine built from source on engine-base, its parts recorded in labels', () => {
    const spec = sourceDindSpec(engine);
    expect(spec.official).toEqual(['docker:26.1.5-dind']);
    expect(spec.recipe).toMatchObject({ kind: 'layer', base: 'engine-base', cmd: ['dockerd'] });
    const r = spec.recipe as Extract<typeof spec.recipe, { kind: 'layer' }>;
    expect(Object.keys(r.files).sort()).toEqual(['/usr/local/bin/docker', '/usr/local/bin/docker-proxy', '/usr/local/bin/dockerd', '/usr/local/bin/lab-dind-entrypoint']);
    expect(r.labels['buildx-lab.engine.parts']).toBe('dockerd-26.1.5; docker-cli-v26.1.5 (replaced github.com/docker/docker@v26.1.4-0.x->v26.1.5+incompatible)');
  });

  it('tags local builds by recipe: an unchanged recipe keeps its tag, any change gives a new one', () => {
    const base = debianDindSpec('trixie', '26.1.5');
    expect(localTag(base)).toMatch(/^buildx-lab\/dind-debian-trixie:[0-9a-f]{12}$/);
    // the tag is a pure function of the recipe: computed twice from separate objects, it agrees
    expect(localTag(debianDindSpec('trixie', '26.1.5'))).toBe(localTag(base));
    const morePackages = { ...base, recipe: { ...base.recipe, packages: [...(base.recipe as { packages: string[] }).packages, 'jq'] } };
    expect(recipeHash(morePackages)).not.toBe(recipeHash(base));
    const otherScript = (p: string) => (p.endsWith('debootstrap-image.sh') ? Buffer.from('changed') : readFileSync(p));
    expect(recipeHash(base, undefined, otherScript)).not.toBe(recipeHash(base));
  });

  it('changes a layer image tag when a binary, a label or its base changes', () => {
    const tag = localTag(sourceDindSpec(engine));
    const rebuilt = { ...engine, parts: [{ ...engine.parts[0]!, binaries: [{ name: 'dockerd', sha256: 'd'.repeat(64) }] }, engine.parts[1]!] };
    expect(localTag(sourceDindSpec(rebuilt))).not.toBe(tag);
    expect(localTag(sourceDindSpec({ ...engine, seccomp: false }))).not.toBe(tag);
    expect(localTag(sourceDindSpec(engine), () => 'buildx-lab/engine-base:other')).not.toBe(tag);
  });

  it('knows the registry and BuildKit images, each with its official alternative', () => {
    expect(registrySpec({ path: '/r', sha256: 'e'.repeat(64), debVersion: '2.8.3' }).official).toEqual(['registry:3']);
    const bk = buildkitSpec('v0.17.1', { buildkitd: { path: '/a', sha256: '1' }, buildctl: { path: '/b', sha256: '2' }, runc: { path: '/c', sha256: '3' } }, {});
    expect(bk.official).toEqual(['moby/buildkit:v0.17.1']);
    expect(ENGINE_BASE.recipe).toMatchObject({ kind: 'rootfs', suite: 'trixie' });
    expect(CASE_BASE.recipe).toMatchObject({ kind: 'rootfs', suite: 'bookworm', packages: [] });
  });

  it('lays the rootless BuildKit image out as upstream does: rootlesskit runs buildkitd as uid 1000, newuidmap setuid', () => {
    const bin = (p: string) => ({ path: p, sha256: p });
    const files = { buildkitd: bin('/a'), buildctl: bin('/b'), runc: bin('/c'), rootlesskit: bin('/d'), newuidmap: bin('/e'), newgidmap: bin('/f') };
    const spec = buildkitRootlessSpec('v0.17.1', files, {});
    expect(spec.official).toEqual(['moby/buildkit:v0.17.1-rootless']);
    expect(spec.recipe).toMatchObject({
      kind: 'layer',
      base: 'buildkit-base',
      entrypoint: ['rootlesskit', 'buildkitd'],
      user: '1000:1000',
      env: { XDG_RUNTIME_DIR: '/run/user/1000', BUILDKIT_HOST: 'unix:///run/user/1000/buildkit/buildkitd.sock' },
      volumes: ['/home/user/.local/share/buildkit'],
    });
    if (spec.recipe.kind !== 'layer') throw new Error('a layer recipe');
    expect(spec.recipe.files['/usr/bin/newuidmap']?.mode).toBe(0o4755);
    expect(spec.recipe.run).toContain('echo user:100000:65536 > /etc/subuid');
    // its own tag; the run script is part of the recipe
    const rootful = buildkitSpec('v0.17.1', { buildkitd: files.buildkitd, buildctl: files.buildctl, runc: files.runc }, {});
    const hash = (s: typeof spec) => recipeHash(s, () => 'base:1');
    expect(hash(spec)).not.toBe(hash(rootful));
    expect(hash({ ...spec, recipe: { ...spec.recipe, run: 'true' } })).not.toBe(hash(spec));
  });

  it('lays BuildKit on buildkit-base: git core, busybox as sh, uidmap, and no Perl, apt or dpkg', () => {
    const bk = buildkitSpec('v0.17.1', { buildkitd: { path: '/a', sha256: '1' }, buildctl: { path: '/b', sha256: '2' }, runc: { path: '/c', sha256: '3' } }, {});
    expect(bk.recipe).toMatchObject({ kind: 'layer', base: BUILDKIT_BASE.id });
    const r = BUILDKIT_BASE.recipe;
    if (r.kind !== 'debs') throw new Error('a debs recipe');
    expect(r.packages).toEqual(expect.arrayContaining(['git', 'libcurl3t64-gnutls', 'busybox-static', 'uidmap', 'ca-certificates']));
    for (const p of r.packages) expect(p).not.toMatch(/perl|^apt$|^dpkg$|^bash$|^coreutils$/);
    expect(r.keep).toEqual(expect.arrayContaining(['/usr/bin/git', '/usr/lib/git-core/git-remote-https', '/usr/lib/git-core/git-submodule', '/usr/bin/newuidmap']));
    expect(r.links['/usr/bin/sh']).toBe('busybox');
    // its tag follows its recipe
    const hash = recipeHash(BUILDKIT_BASE);
    expect(recipeHash({ ...BUILDKIT_BASE, recipe: { ...r, keep: [...r.keep, '/usr/bin/x'] } })).not.toBe(hash);
    expect(recipeHash({ ...BUILDKIT_BASE, recipe: { ...r, packages: [...r.packages, 'x'] } })).not.toBe(hash);
  });

  it('keeps the tags of layer recipes that set no script, user, env or volume (no rebuild of what exists)', () => {
    const bk = buildkitSpec('v0.17.1', { buildkitd: { path: '/a', sha256: '1' }, buildctl: { path: '/b', sha256: '2' }, runc: { path: '/c', sha256: '3' } }, {});
    // the hash the recipe had before recipes could carry these
    expect(recipeHash(bk, () => 'base:1')).toBe('c280e5c28f20');
  });
});

describe('debootstrapFix', () => {
  it('blames the recipe for a package the suite lacks, naming it', () => {
    expect(debootstrapFix("I: Checking component main\nE: Couldn't find these debs: docker-cli\n", 'bookworm', [])).toBe(
      'Fix: Debian bookworm has no package docker-cli; the image recipe (harness/images/catalog.ts) must not ask for it there.',
    );
  });
  it('otherwise names the mirror, the bundle and the official image', () => {
    expect(debootstrapFix('E: Failed getting release file http://deb.debian.org/debian/dists/trixie/Release', 'trixie', ['registry:3'])).toMatch(
      /BUILDX_LAB_DEBIAN_MIRROR.*offline bundle, or provide the official image registry:3\.$/,
    );
  });
});

describe('debianDindSpec', () => {
  it('asks bookworm for docker.io alone (its client is inside) and later suites for docker-cli too', () => {
    const pk = (suite: 'bookworm' | 'trixie') => {
      const r = debianDindSpec(suite, 'x').recipe;
      return r.kind === 'rootfs' ? r.packages : [];
    };
    expect(pk('bookworm')).not.toContain('docker-cli');
    expect(pk('trixie')).toContain('docker-cli');
  });
});
