// The offline bundle is input from elsewhere (a CI cache, another machine): every class of bad bundle is
// refused before the cache changes, naming what failed. These tests use real tar and no engine (a bundle
// without images never asks for one).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { labConfig, type LabConfig } from '../config.ts';
import { UsageError } from '../errors.ts';
import type { ProgressSink } from '../progress.ts';
import { checkMember, exportBundle, importBundle } from './bundle.ts';

const silent: ProgressSink = () => undefined;
const noEngine = async (): Promise<LabConfig> => { throw new Error('a bundle without images must not ask for an engine'); };
const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

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

const BUILDX = { 'buildx/linux-amd64/v0.21.1/docker-buildx': 'binary v0.21.1', 'buildx/linux-amd64/v0.21.1/meta.json': '{"version":"v0.21.1"}' };

/** Exports a real bundle of BUILDX from one cache; returns the file. */
async function goodBundle(): Promise<string> {
  const file = path.join(tmp('out'), 'lab.tar');
  await exportBundle(configWithCache(BUILDX), file, { cacheDirs: ['buildx/linux-amd64/v0.21.1'], images: [] }, silent);
  return file;
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

async function refusal(file: string, config = configWithCache()): Promise<string> {
  try {
    await importBundle(config, file, silent, noEngine);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    // nothing reached the cache
    expect(existsSync(path.join(config.cacheDir, 'buildx'))).toBe(false);
    return (e as Error).message;
  }
  throw new Error(`${file} was imported`);
}

describe('checkMember', () => {
  it.each([
    ['-rw-r--r-- root/root 12 2026-01-01 00:00 cache/buildx/x', undefined],
    ['drwxr-xr-x root/root 0 2026-01-01 00:00 cache/buildx/', undefined],
    ['lrwxrwxrwx root/root 0 2026-01-01 00:00 cache/x -> /etc/passwd', 'is not a regular file or directory'],
    ['hrw-r--r-- root/root 0 2026-01-01 00:00 cache/x link to bundle.json', 'is not a regular file or directory'],
    ['crw-r--r-- root/root 1,3 2026-01-01 00:00 cache/null', 'is not a regular file or directory'],
    ['-rw-r--r-- root/root 12 2026-01-01 00:00 /etc/cron.d/x', 'leaves the bundle'],
    ['-rw-r--r-- root/root 12 2026-01-01 00:00 cache/../../x', 'leaves the bundle'],
    ['-rw-r--r-- root/root 12 2026-01-01 00:00 cache//x', 'leaves the bundle'],
    ['garbage', 'is not a regular file or directory'],
  ])('%s', (line, want) => {
    const got = checkMember(line);
    if (want === undefined) expect(got).toBeUndefined();
    else expect(got).toContain(want);
  });
});

describe('bundle export and import', () => {
  it('round-trips the cache directories, with a manifest of sha256s', async () => {
    const file = await goodBundle();
    const config = configWithCache();
    const manifest = await importBundle(config, file, silent, noEngine);
    expect(manifest.contents.cache).toEqual(['buildx/linux-amd64/v0.21.1']);
    expect(manifest.entries.map((e) => e.path).sort()).toEqual(Object.keys(BUILDX).map((k) => `cache/${k}`).sort());
    for (const [rel, text] of Object.entries(BUILDX)) expect(readFileSync(path.join(config.cacheDir, rel), 'utf8')).toBe(text);
  });

  it('refuses an export of what the cache does not hold, naming the fix', async () => {
    await expect(exportBundle(configWithCache(), path.join(tmp('out'), 'x.tar'), { cacheDirs: ['buildx/linux-amd64/v9.9.9'], images: [] }, silent)).rejects.toThrow(/is not in the cache; run 'buildx-lab setup' first/);
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
    expect(await refusal(repack(await goodBundle(), (d) => writeFileSync(path.join(d, 'bundle.json'), '{"version": 99}')))).toMatch(/bundle.json is missing or invalid \(version: /);
    const traversal = repack(await goodBundle(), (d) => {
      const m = JSON.parse(readFileSync(path.join(d, 'bundle.json'), 'utf8'));
      m.entries[0].path = 'cache/../../etc/passwd';
      writeFileSync(path.join(d, 'bundle.json'), JSON.stringify(m));
    });
    expect(await refusal(traversal)).toMatch(/bundle.json is missing or invalid \(entries.0.path: is not a bundle path\)/);
  });

  it('refuses a cache entry that leaves the cache', async () => {
    const file = repack(await goodBundle(), (d) => {
      const m = JSON.parse(readFileSync(path.join(d, 'bundle.json'), 'utf8'));
      m.contents.cache = ['buildx/../../../etc'];
      writeFileSync(path.join(d, 'bundle.json'), JSON.stringify(m));
    });
    expect(await refusal(file)).toMatch(/cache entry buildx\/..\/..\/..\/etc leaves the cache/);
  });

  it('refuses a symlink member before unpacking anything', async () => {
    const file = repack(await goodBundle(), (d) => symlinkSync('/etc/passwd', path.join(d, 'cache/buildx/linux-amd64/v0.21.1/link')));
    expect(await refusal(file)).toMatch(/^refusing .*: member ".*link -> \/etc\/passwd.*" is not a regular file or directory/);
  });
});
