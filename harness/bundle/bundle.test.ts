// The offline bundle is input from elsewhere (a CI cache, another machine): every class of bad bundle is
// refused before the cache changes, naming what failed. These tests use real tar and no engine (a bundle
// without images never asks for one, and a refused image archive never reaches it).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { labConfig, type LabConfig } from '../config.ts';
import { UsageError } from '../errors.ts';
import type { ProgressSink } from '../progress.ts';
import type { ReleasePins } from '../buildx/release-pins.ts';
import { bundleFileProblem, exportBundle, importBundle, parseMember } from './bundle.ts';

const silent: ProgressSink = () => undefined;
const noEngine = async (): Promise<LabConfig> => {
  throw new Error('a bundle without images must not ask for an engine');
};
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(name: string): string {
  const d = mkdtempSync(path.join(tmpdir(), `bundle-${name}-`));
  dirs.push(d);
  return d;
}

/** A lab config whose cache is a fresh directory. */
function configWithCache(files: Record<string, string> = {}): LabConfig {
  const cache = tmp('cache');
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(cache, rel)), { recursive: true });
    writeFileSync(path.join(cache, rel), text);
  }
  return { ...labConfig({ ...process.env, BUILDX_LAB_CACHE: cache }), cacheDir: cache };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
/** A Buildx cache entry as the provisioner writes it. */
function buildxEntry(version: string, origin: 'release' | 'go' | 'debian', binary: string, key = origin === 'debian' ? `${version}-debian` : version): Record<string, string> {
  const dir = `buildx/linux-amd64/${key}`;
  return {
    [`${dir}/docker-buildx`]: binary,
    [`${dir}/meta.json`]: JSON.stringify({ version, origin, sha256: sha256(binary), size: binary.length, arch: 'amd64', installedAt: '2026-01-01T00:00:00Z', durationMs: 1 }),
  };
}
const BUILDX = buildxEntry('v0.21.1', 'go', 'binary v0.21.1');

/** Exports a real bundle of FILES (BUILDX by default) from one cache; returns the file. */
async function goodBundle(files: Record<string, string> = BUILDX, cacheDirs = ['buildx/linux-amd64/v0.21.1']): Promise<string> {
  const file = path.join(tmp('out'), 'lab.tar');
  await exportBundle(configWithCache(files), file, { cacheDirs, images: [] }, silent);
  return file;
}

/** Release pins holding one version's linux-amd64 sha256, as harness/buildx/release-pins.json would. */
const pins = (version: string, binary: string): ReleasePins => ({
  about: '',
  generatedAt: '',
  sources: {},
  disagreements: [],
  pins: { [version]: { 'linux-amd64': { sha256: sha256(binary), sources: ['docker-library/docker@0000000000000000000000000000000000000000:x'] } } },
});
/** A bundle of FILES whose cache entries are their directories. */
const bundleOf = (files: Record<string, string>) => goodBundle(files, [...new Set(Object.keys(files).map((f) => path.dirname(f)))]);

/** Every file under `dir` with its content: what a refusal must leave as it was. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) visit(p);
      else out[path.relative(dir, p)] = readFileSync(p, 'utf8');
    }
  };
  if (existsSync(dir)) visit(dir);
  return out;
}

/** Rewrites a bundle's bundle.json with `change`. */
function editManifest(file: string, change: (m: { contents: { cache: string[]; images: string[] }; entries: { path: string; sha256: string; size: number }[] }) => void): string {
  return repack(file, (d) => {
    const m = JSON.parse(readFileSync(path.join(d, 'bundle.json'), 'utf8'));
    change(m);
    writeFileSync(path.join(d, 'bundle.json'), JSON.stringify(m));
  });
}

/** Unpacks a bundle, lets `change` edit it, packs it again (members in the given order). */
function repack(file: string, change: (dir: string) => void): string {
  const dir = tmp('repack');
  execFileSync('tar', ['-C', dir, '-xf', file]);
  change(dir);
  const out = path.join(tmp('out'), 'changed.tar');
  execFileSync('tar', ['-C', dir, '-cf', out, ...readdirSync(dir)]);
  return out;
}

/** The user's own files in the cache (another Buildx version, an engine part): a refusal leaves them. */
const USER_CACHE = { 'buildx/linux-amd64/v0.20.0/docker-buildx': 'the user binary', 'engine/parts/containerd/containerd': 'a part', 'notes.txt': 'mine' };

// Most tests are about one check: they import as --trust does, so that check is the one that speaks.
async function refusal(file: string, config = configWithCache(USER_CACHE), opts: { pins?: ReleasePins; trust?: boolean } = {}): Promise<string> {
  const before = snapshot(config.cacheDir);
  try {
    await importBundle(config, file, silent, noEngine, { trust: true, ...opts });
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    // nothing reached the cache, and nothing in it changed
    expect(snapshot(config.cacheDir)).toEqual(before);
    return (e as Error).message;
  }
  throw new Error(`${file} was imported`);
}

describe('parseMember', () => {
  it.each([
    ['-rw-r--r-- 0/0 12 2026-01-01 00:00 cache/buildx/x', { name: 'cache/buildx/x', size: 12 }],
    ['drwxr-xr-x 0/0 0 2026-01-01 00:00 cache/buildx/', { name: 'cache/buildx', size: 0 }],
    ['-rw-r--r-- 0/0 12 2026-01-01 00:00 cache/a name with spaces', { name: 'cache/a name with spaces', size: 12 }],
  ])('%s', (line, want) => {
    expect(parseMember(line)).toEqual(want);
  });
  it.each([
    ['lrwxrwxrwx 0/0 0 2026-01-01 00:00 cache/x -> /etc/passwd', 'is not a regular file or directory'],
    ['hrw-r--r-- 0/0 0 2026-01-01 00:00 cache/x link to bundle.json', 'is not a regular file or directory'],
    ['crw-r--r-- 0/0 1,3 2026-01-01 00:00 cache/null', 'is not a regular file or directory'],
    // an owner name cannot shift the size column: the listing is numeric
    ['-rw-r--r-- 1 2 2026-01-01 00:00 cache/x/0 99 2026-01-01 00:00 y', 'is not a regular file or directory'],
    ['-rw-r--r-- 0/0 12 2026-01-01 00:00 /etc/cron.d/x', 'leaves the bundle'],
    ['-rw-r--r-- 0/0 12 2026-01-01 00:00 cache/../../x', 'leaves the bundle'],
    ['-rw-r--r-- 0/0 12 2026-01-01 00:00 cache//x', 'leaves the bundle'],
    ['garbage', 'is not a regular file or directory'],
  ])('%s', (line, want) => {
    expect(parseMember(line)).toEqual({ refused: expect.stringContaining(want) });
  });
});

describe('bundle export and import', () => {
  it('round-trips the cache directories, with a manifest of sha256s', async () => {
    const file = await goodBundle();
    const config = configWithCache();
    const manifest = await importBundle(config, file, silent, noEngine, { trust: true });
    expect(manifest.contents.cache).toEqual(['buildx/linux-amd64/v0.21.1']);
    expect(manifest.entries.map((e) => e.path).sort()).toEqual(
      Object.keys(BUILDX)
        .map((k) => `cache/${k}`)
        .sort(),
    );
    for (const [rel, text] of Object.entries(BUILDX)) expect(readFileSync(path.join(config.cacheDir, rel), 'utf8')).toBe(text);
  });

  it('refuses an export of what the cache does not hold, naming the fix', async () => {
    await expect(exportBundle(configWithCache(), path.join(tmp('out'), 'x.tar'), { cacheDirs: ['buildx/linux-amd64/v9.9.9'], images: [] }, silent)).rejects.toThrow(
      /is not in the cache; run 'buildx-lab setup' first/,
    );
  });

  it('refuses a file that does not exist, or is not a tar', async () => {
    expect(await refusal('/nonexistent/lab.tar')).toMatch(/does not exist/);
    const junk = path.join(tmp('junk'), 'junk.tar');
    writeFileSync(junk, 'not a tar at all');
    expect(await refusal(junk)).toMatch(/is not a bundle/);
  });

  it('refuses an entry whose bytes changed, naming it', async () => {
    const file = repack(await goodBundle(), (d) => writeFileSync(path.join(d, 'cache/buildx/linux-amd64/v0.21.1/docker-buildx'), 'binary v0.21.1 with a backdoor'));
    expect(await refusal(file)).toMatch(/entry cache\/buildx\/linux-amd64\/v0.21.1\/docker-buildx does not match its checksum/);
  });

  it('refuses a member the manifest does not list', async () => {
    const file = repack(await goodBundle(), (d) => writeFileSync(path.join(d, 'cache/buildx/linux-amd64/v0.21.1/extra'), 'x'));
    expect(await refusal(file)).toMatch(/extra is not in its manifest/);
  });

  it('refuses a listed entry that is missing', async () => {
    const file = repack(await goodBundle(), (d) => rmSync(path.join(d, 'cache/buildx/linux-amd64/v0.21.1/meta.json')));
    expect(await refusal(file)).toMatch(/entry cache\/buildx\/linux-amd64\/v0.21.1\/meta.json is missing/);
  });

  it('refuses a missing or invalid manifest', async () => {
    expect(await refusal(repack(await goodBundle(), (d) => rmSync(path.join(d, 'bundle.json'))))).toMatch(/bundle.json is missing or invalid/);
    expect(await refusal(repack(await goodBundle(), (d) => writeFileSync(path.join(d, 'bundle.json'), '{"version": 99}')))).toMatch(
      /bundle.json is missing or invalid \(version: /,
    );
    const traversal = repack(await goodBundle(), (d) => {
      const m = JSON.parse(readFileSync(path.join(d, 'bundle.json'), 'utf8'));
      m.entries[0].path = 'cache/../../etc/passwd';
      writeFileSync(path.join(d, 'bundle.json'), JSON.stringify(m));
    });
    expect(await refusal(traversal)).toMatch(/bundle.json is missing or invalid \(entries.0.path: is not a bundle path\)/);
  });

  it('refuses a symlink member before unpacking anything', async () => {
    const file = repack(await goodBundle(), (d) => symlinkSync('/etc/passwd', path.join(d, 'cache/buildx/linux-amd64/v0.21.1/link')));
    expect(await refusal(file)).toMatch(/^refusing .*: member ".*link -> \/etc\/passwd.*" is not a regular file or directory/);
  });
});

describe("a cache entry is confined to its kind's directory", () => {
  // '.' used to replace the whole cache and './' to delete it; a kind's directory replaced every version in it.
  it.each([
    '.',
    './',
    '',
    '..',
    'buildx',
    'buildx/linux-amd64',
    'engine/parts',
    'buildx/../../../etc',
    'buildx/linux-amd64/..',
    'tools/.hidden',
    'tools/a/b',
    'tools/debootstrap',
    'tools/actionlint-v1.7.12',
    'tools/libseccomp-dev-trixie',
    '/etc',
    'other/x',
  ])('refuses %j, leaving the cache as it was', async (entry) => {
    const file = editManifest(await goodBundle(), (m) => {
      m.contents.cache = [entry];
    });
    expect(await refusal(file)).toMatch(/^refusing .*: cache entry ".*" is not one of the lab's cache directories \(buildx\/linux-<arch>\/<version>, /);
  });
  it('places one of each shape under its kind, replacing only that entry', async () => {
    const files = {
      ...BUILDX,
      'engine/parts/dockerd-1/dockerd': 'd',
      'engine/26.1.5/installed.json': '{}',
      'buildkit/v0.17.1/buildkitd': 'b',
      'tools/docker-registry-trixie/registry': 'r',
    };
    const file = await goodBundle(files, ['buildx/linux-amd64/v0.21.1', 'engine/parts/dockerd-1', 'engine/26.1.5', 'buildkit/v0.17.1', 'tools/docker-registry-trixie']);
    const config = configWithCache(USER_CACHE);
    await importBundle(config, file, silent, noEngine, { trust: true });
    expect(snapshot(config.cacheDir)).toEqual({ ...USER_CACHE, ...files });
  });
});

describe('Buildx binaries go back through the release pins', () => {
  it("refuses a release binary that is not the pinned one, though the bundle's own checksums agree", async () => {
    const file = await bundleOf(buildxEntry('v0.21.1', 'release', 'a substituted binary'));
    expect(await refusal(file)).toMatch(
      /buildx\/linux-amd64\/v0.21.1: docker-buildx has sha256 \w+, but the release pin of Buildx v0.21.1 linux-amd64 is 7f355525.*not the released binary/,
    );
  });
  it('imports a release binary that matches its pin, without --trust', async () => {
    const config = configWithCache();
    await importBundle(config, await bundleOf(buildxEntry('v0.21.1', 'release', 'the released binary')), silent, noEngine, { pins: pins('v0.21.1', 'the released binary') });
    expect(readFileSync(path.join(config.cacheDir, 'buildx/linux-amd64/v0.21.1/docker-buildx'), 'utf8')).toBe('the released binary');
  });
  it("takes a build from Git on the bundle's word, in the place of its commit", async () => {
    const commit = 'ef73c64d2cb103d5a4ba00a08e0c66a7cb4f33dc';
    const key = `git-${commit}`;
    const file = await bundleOf({
      [`buildx/linux-amd64/${key}/docker-buildx`]: 'b',
      [`buildx/linux-amd64/${key}/meta.json`]: JSON.stringify({ version: 'v0.20.1-45-gef73c64d2cb1', origin: 'git', git: { commit }, sha256: sha256('b'), arch: 'amd64' }),
    });
    const config = configWithCache();
    await importBundle(config, file, silent, noEngine, { trust: true });
    expect(existsSync(path.join(config.cacheDir, `buildx/linux-amd64/${key}/docker-buildx`))).toBe(true);
  });
  it('refuses a release binary no pin covers unless BUILDX_LAB_ALLOW_UNPINNED=1, as a download', async () => {
    const file = await bundleOf(buildxEntry('v0.21.1', 'release', 'some binary'));
    const none = pins('v9.9.9', 'x');
    expect(await refusal(file, configWithCache(), { pins: none })).toMatch(/which no release pin covers; set BUILDX_LAB_ALLOW_UNPINNED=1/);
    const config = { ...configWithCache(), allowUnpinned: true };
    await importBundle(config, file, silent, noEngine, { pins: none, trust: true });
    expect(existsSync(path.join(config.cacheDir, 'buildx/linux-amd64/v0.21.1/docker-buildx'))).toBe(true);
  });
  it('refuses a binary whose meta.json does not fit its place or its bytes', async () => {
    // a release download placed where a Go build goes would dodge the pin
    expect(await refusal(await bundleOf(buildxEntry('v0.21.1', 'release', 'x', 'v0.21.2')))).toMatch(/belongs in buildx\/linux-amd64\/v0.21.1/);
    const lying = { ...buildxEntry('v0.21.1', 'go', 'the real bytes'), 'buildx/linux-amd64/v0.21.1/docker-buildx': 'other bytes' };
    expect(await refusal(await bundleOf(lying))).toMatch(/docker-buildx has sha256 \w+, its meta.json says/);
    // a build from Git goes where its commit says, and must name one
    const commit = 'ef73c64d2cb103d5a4ba00a08e0c66a7cb4f33dc';
    const fromGit = (meta: Record<string, unknown>, key: string) => ({
      [`buildx/linux-amd64/${key}/docker-buildx`]: 'b',
      [`buildx/linux-amd64/${key}/meta.json`]: JSON.stringify({ version: 'v0.20.1-45-gef73c64d2cb1', origin: 'git', sha256: sha256('b'), arch: 'amd64', ...meta }),
    });
    expect(await refusal(await bundleOf(fromGit({ git: { commit } }, 'v0.20.1-45-gef73c64d2cb1')))).toMatch(`belongs in buildx/linux-amd64/git-${commit}`);
    expect(await refusal(await bundleOf(fromGit({}, `git-${commit}`)))).toMatch('names no commit');
    expect(await refusal(await bundleOf({ 'buildx/linux-amd64/v0.21.1/docker-buildx': 'x', 'buildx/linux-amd64/v0.21.1/meta.json': '{"version":"v0.21.1"}' }))).toMatch(
      /meta.json or docker-buildx is missing or invalid \(origin: /,
    );
  });
});

type ArchiveFile = [string, string | { link: string }];

/** A tar of FILES (name -> content, or a symlink) made with GNU tar. */
function archiveOf(files: ArchiveFile[]): string {
  const src = tmp('images');
  for (const [name, content] of files) {
    mkdirSync(path.dirname(path.join(src, name)), { recursive: true });
    if (typeof content === 'string') writeFileSync(path.join(src, name), content);
    else symlinkSync(content.link, path.join(src, name));
  }
  const out = path.join(tmp('images-tar'), 'images.tar');
  execFileSync('tar', ['-C', src, '-cf', out, ...new Set(files.map(([n]) => n.split('/')[0]!))]);
  return out;
}

/** Puts ARCHIVE into a bundle as images.tar, with bundle.json listing DECLARED: self-consistent, as a hostile bundle can be. */
function addImages(bundle: string, archive: string, declared: string[]): string {
  return repack(bundle, (d) => {
    execFileSync('cp', [archive, path.join(d, 'images.tar')]);
    const m = JSON.parse(readFileSync(path.join(d, 'bundle.json'), 'utf8'));
    const bytes = readFileSync(archive);
    m.contents.images = declared;
    m.entries = [
      ...m.entries.filter((e: { path: string }) => e.path !== 'images.tar'),
      { path: 'images.tar', sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length },
    ];
    writeFileSync(path.join(d, 'bundle.json'), JSON.stringify(m));
  });
}

describe('images are loaded only under lab names', () => {
  const LAB = 'buildx-lab/engine-base:0123456789ab';
  const manifestJson = (...tags: string[]) => JSON.stringify([{ Config: 'blobs/sha256/c', RepoTags: tags, Layers: [] }]);
  const indexJson = (name: string, ref = name.slice(name.lastIndexOf(':') + 1)) =>
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: 'sha256:00',
          size: 1,
          annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': ref },
        },
      ],
    });

  const imagesBundle = async (files: ArchiveFile[], declared: string[]) => addImages(await goodBundle(), archiveOf(files), declared);

  it.each([
    [
      'a RepoTag of an official image',
      [['manifest.json', manifestJson('alpine:latest')]],
      ['alpine:latest'],
      /would put "alpine:latest" on the engine, which is not a lab image name/,
    ],
    ['a lab RepoTag beside another', [['manifest.json', manifestJson(LAB, 'node:22')]], [LAB, 'node:22'], /would put "node:22" on the engine/],
    ['an index.json name', [['index.json', indexJson('docker.io/library/node:22')]], ['docker.io/library/node:22'], /would put "docker.io\/library\/node:22" on the engine/],
    [
      'an index.json ref.name that is another name',
      [['index.json', indexJson(`docker.io/${LAB}`, 'docker.io/library/node:22')]],
      [LAB],
      /ref.name "docker.io\/library\/node:22", which is not its name/,
    ],
    [
      'a legacy repositories file',
      [
        ['manifest.json', manifestJson(LAB)],
        ['repositories', '{"alpine":{"latest":"abc"}}'],
      ],
      [LAB],
      /would put "alpine:latest" on the engine/,
    ],
    ['an unnamed image', [['manifest.json', JSON.stringify([{ Config: 'c', RepoTags: null, Layers: [] }])]], [], /manifest.json image 0 has no name/],
    [
      'a lab name bundle.json does not list',
      [['manifest.json', manifestJson(LAB)]],
      ['buildx-lab/other:0123456789ab'],
      /holds buildx-lab\/engine-base:0123456789ab, which its bundle.json does not list/,
    ],
    [
      'a manifest.json that is a link',
      [
        ['blobs/m', manifestJson('alpine:latest')],
        ['manifest.json', { link: 'blobs/m' }],
      ],
      [LAB],
      /member manifest.json is a symlink, not a regular file/,
    ],
    [
      'a link out of the archive',
      [
        ['manifest.json', manifestJson(LAB)],
        ['blobs/l', { link: '../../etc/passwd' }],
      ],
      [LAB],
      /member blobs\/l links to ..\/..\/etc\/passwd, which leaves the archive/,
    ],
    ['no manifest at all', [['blobs/x', 'x']], [LAB], /neither manifest.json nor index.json/],
  ] as [string, ArchiveFile[], string[], RegExp][])('refuses %s before asking for an engine', async (_what, files, declared, want) => {
    const message = await refusal(await imagesBundle(files, declared));
    expect(message).toMatch(/^refusing .*: its images.tar: /);
    expect(message).toMatch(want);
  });

  it('refuses a second manifest.json appended after the checked one', async () => {
    // tar -r appends a member of the same name: an extractor keeps the last one, a reader may stop at the first
    const archive = archiveOf([['manifest.json', manifestJson(LAB)]]);
    const other = tmp('other');
    writeFileSync(path.join(other, 'manifest.json'), manifestJson('alpine:latest'));
    execFileSync('tar', ['-C', other, '-rf', archive, 'manifest.json']);
    expect(await refusal(addImages(await goodBundle(), archive, [LAB]))).toMatch(/member manifest.json appears twice/);
  });

  it('refuses a member written through a link, which could land on a checked one', async () => {
    // `d` -> `.` is refused outright; `d` -> `blobs` is a plain link, and `d/x` is appended after it
    const archive = archiveOf([
      ['manifest.json', manifestJson(LAB)],
      ['blobs/x', 'x'],
      ['d', { link: 'blobs' }],
    ]);
    const other = tmp('other');
    mkdirSync(path.join(other, 'd'));
    writeFileSync(path.join(other, 'd', 'x'), 'y');
    execFileSync('tar', ['-C', other, '-rf', archive, 'd/x']);
    expect(await refusal(addImages(await goodBundle(), archive, [LAB]))).toMatch(/member d\/x is written through the symlink d/);
    expect(
      await refusal(
        await imagesBundle(
          [
            ['manifest.json', manifestJson(LAB)],
            ['d', { link: '.' }],
          ],
          [LAB],
        ),
      ),
    ).toMatch(/member d links to \., which leaves the archive or is its root/);
  });

  it('passes an archive of lab names to the engine, after the cache is placed', async () => {
    const config = configWithCache();
    const asked = new Error('the engine was asked');
    await expect(
      importBundle(
        config,
        await imagesBundle(
          [
            ['manifest.json', manifestJson(LAB)],
            ['index.json', indexJson(`docker.io/${LAB}`)],
            ['repositories', '{"buildx-lab/engine-base":{"0123456789ab":"x"}}'],
            ['blobs/sha256/c', '{}'],
            ['l/layer.tar', { link: '../blobs/sha256/c' }],
          ],
          [LAB],
        ),
        silent,
        async () => {
          throw asked;
        },
        { trust: true },
      ),
    ).rejects.toBe(asked);
    expect(existsSync(path.join(config.cacheDir, 'buildx/linux-amd64/v0.21.1/docker-buildx'))).toBe(true);
  });
});

describe('size bounds, from the listing, before anything is unpacked', () => {
  it('refuses a member above the per-entry bound, naming it and the setting', async () => {
    const config = { ...configWithCache(USER_CACHE), bundleLimits: { entryBytes: 10, totalBytes: 1e9 } };
    expect(await refusal(await goodBundle(), config)).toMatch(
      /member \S+ is \d+ bytes, more than the bound of 10 bytes per entry; if you trust this bundle, raise it with BUILDX_LAB_BUNDLE_ENTRY_MAX_GB/,
    );
  });
  it('refuses a bundle above the total bound, naming the setting', async () => {
    const config = { ...configWithCache(USER_CACHE), bundleLimits: { entryBytes: 1e9, totalBytes: 100 } };
    expect(await refusal(await goodBundle(), config)).toMatch(
      /it unpacks to \d+ bytes, more than the bound of 100 bytes in all; if you trust this bundle, raise it with BUILDX_LAB_BUNDLE_MAX_GB/,
    );
  });
});

describe('a bundle is code: without --trust only what a release pin vouches for goes in', () => {
  it('refuses a Go-built Buildx, an engine part or BuildKit, naming them and --trust, and changes nothing', async () => {
    const files = { ...buildxEntry('v0.21.1', 'go', 'built elsewhere'), 'engine/parts/dockerd-1/dockerd': 'd', 'buildkit/v0.17.1/buildkitd': 'b' };
    const why = await refusal(await bundleOf(files), configWithCache(USER_CACHE), { trust: false });
    expect(why).toMatch(
      /no release pin vouches for and that the lab would run as root \(buildx\/linux-amd64\/v0.21.1, engine\/parts\/dockerd-1, buildkit\/v0.17.1\).*import it with --trust/,
    );
  });
  it('refuses a binary labelled Go-built under the key of a pinned release (the label would dodge the pin)', async () => {
    const file = await bundleOf(buildxEntry('v0.21.1', 'go', 'a trojan'));
    expect(await refusal(file, configWithCache(USER_CACHE), { trust: false, pins: pins('v0.21.1', 'the released binary') })).toMatch(/--trust/);
  });
});

describe('the bundle file itself', () => {
  it('refuses a FIFO at once instead of hanging on it', async () => {
    const fifo = path.join(tmp('fifo'), 'lab.tar');
    execFileSync('mkfifo', [fifo]);
    expect(await refusal(fifo)).toMatch(/it is not a regular file/);
  }, 10_000);
});

describe('bundleFileProblem', () => {
  const st = (uid: number, mode: number, file = true) => ({ uid, mode, isFile: () => file });
  it.each([
    ['a directory', st(0, 0o755, false), 0, /not a regular file/],
    ["a user's file, to root (that user could change it mid-import)", st(1000, 0o644), 0, /belongs to uid 1000/],
    ["another user's file, to a user", st(1001, 0o644), 1000, /belongs to uid 1001, who could change it/],
    ['a world-writable file', st(0, 0o666), 0, /others may write it \(mode 666\)/],
    ['a group-writable file of our own (umask 002)', st(1000, 0o664), 1000, undefined],
    ["root's file, to a user", st(0, 0o644), 1000, undefined],
  ] as const)('%s', (_, s, euid, want) => {
    const why = bundleFileProblem(s, euid);
    if (want) expect(why).toMatch(want);
    else expect(why).toBeUndefined();
  });
});
