// The environment is input too: settings the lab reads are checked where they are read.
import { describe, expect, it } from 'vitest';
import { labConfig } from './config.ts';
import { UsageError } from './errors.ts';

const base = { HOME: '/home/u', PATH: '/usr/bin' };
const config = (env: Record<string, string>) => labConfig({ ...base, ...env });

describe('labConfig reads the environment', () => {
  it('derives every directory from HOME and XDG by default', () => {
    const c = config({});
    expect([c.cacheDir, c.engineHome, c.engineRunDir]).toEqual(['/home/u/.cache/buildx-lab', '/home/u/.local/share/buildx-lab/engine', '/run/buildx-lab']);
    expect(config({ XDG_CACHE_HOME: '/x/cache', XDG_DATA_HOME: '/x/data' }).cacheDir).toBe('/x/cache/buildx-lab');
  });

  it('ignores a relative XDG directory, as the XDG spec says', () => {
    expect(config({ XDG_CACHE_HOME: 'cache', XDG_DATA_HOME: '../data' }).engineHome).toBe('/home/u/.local/share/buildx-lab/engine');
  });

  it.each(['BUILDX_LAB_CACHE', 'BUILDX_LAB_ENGINE_HOME', 'BUILDX_LAB_ENGINE_RUN_DIR'])('refuses a relative %s, naming it and the fix', (name) => {
    expect(() => config({ [name]: 'relative/dir' })).toThrow(UsageError);
    expect(() => config({ [name]: 'relative/dir' })).toThrow(new RegExp(`^${name}="relative/dir" is not an absolute path; set it to one`));
    expect(() => config({ [name]: '/a/\0b' })).toThrow(/is not an absolute path/);
  });

  it('takes an absolute directory with quotes or spaces as it is (every command gets it as one argv element)', () => {
    expect(config({ BUILDX_LAB_CACHE: "/tmp/it's a/../cache dir" }).cacheDir).toBe("/tmp/cache dir");
  });

  it.each([
    ['BUILDX_LAB_RELEASES_URL', 'file:///etc/passwd'],
    ['BUILDX_LAB_RELEASES_URL', 'not a url'],
    ['BUILDX_LAB_DEBIAN_MIRROR', 'ftp://mirror/debian'],
    ['BUILDX_LAB_DEBIAN_MIRROR', 'http://mirror/debian --keyring=/tmp/evil'],
  ])('refuses %s=%s: only http(s) URLs', (name, value) => {
    expect(() => config({ [name]: value })).toThrow(new RegExp(`^${name}=.* is not an http\\(s\\) URL`));
  });

  it('takes http(s) URLs, without a trailing slash', () => {
    expect(config({ BUILDX_LAB_DEBIAN_MIRROR: 'http://deb.example/debian/' }).debianMirror).toBe('http://deb.example/debian');
    expect(config({ BUILDX_LAB_RELEASES_URL: 'https://mirror.example/buildx' }).releasesBaseUrl).toBe('https://mirror.example/buildx');
  });

  it('bounds the ownership timings from below, whatever the environment says', () => {
    expect(config({ BUILDX_LAB_HEARTBEAT_STALE_S: '-5', BUILDX_LAB_START_GRACE_S: 'soon' }).ownerPolicy).toEqual({ staleMs: 15_000, graceMs: 600_000 });
  });

  it('turns flags on only for their exact value', () => {
    expect(config({ BUILDX_LAB_OFFLINE: 'yes', BUILDX_LAB_ALLOW_UNPINNED: 'true', BUILDX_LAB_GO_NOSUMDB: '1' })).toMatchObject({ offline: false, allowUnpinned: false, goNoSumDb: true });
    expect(config({ BUILDX_LAB_REBUILD_FAILED: 'yes' }).rebuildFailed).toBe(false);
    expect(config({ BUILDX_LAB_REBUILD_FAILED: '1' }).rebuildFailed).toBe(true);
  });
});
