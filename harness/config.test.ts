// The environment is input too: settings the lab reads are checked where they are read.
import { describe, expect, it } from 'vitest';
import { labConfig, publicUrl, scrubUrl } from './config.ts';
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
    expect(config({ BUILDX_LAB_CACHE: "/tmp/it's a/../cache dir" }).cacheDir).toBe('/tmp/cache dir');
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

  it('bounds a bundle import at 32 GB per entry and 64 GB in all unless told otherwise', () => {
    expect(config({}).bundleLimits).toEqual({ entryBytes: 32e9, totalBytes: 64e9 });
    expect(config({ BUILDX_LAB_BUNDLE_ENTRY_MAX_GB: '0.5', BUILDX_LAB_BUNDLE_MAX_GB: '100' }).bundleLimits).toEqual({ entryBytes: 0.5e9, totalBytes: 100e9 });
  });

  it.each(['0', '-1', 'lots', '1e3', 'Infinity'])('refuses BUILDX_LAB_BUNDLE_MAX_GB=%s, naming the fix', (v) => {
    expect(() => config({ BUILDX_LAB_BUNDLE_MAX_GB: v })).toThrow(/^BUILDX_LAB_BUNDLE_MAX_GB=.* is not a positive number of GB; set it to one \(e.g. 64\) or unset it/);
  });

  it('turns flags on only for their exact value', () => {
    expect(config({ BUILDX_LAB_OFFLINE: 'yes', BUILDX_LAB_ALLOW_UNPINNED: 'true', BUILDX_LAB_GO_NOSUMDB: '1' })).toMatchObject({
      offline: false,
      allowUnpinned: false,
      goNoSumDb: true,
    });
    expect(config({ BUILDX_LAB_REBUILD_FAILED: 'yes' }).rebuildFailed).toBe(false);
    expect(config({ BUILDX_LAB_REBUILD_FAILED: '1' }).rebuildFailed).toBe(true);
  });

  it('takes BUILDX_LAB_BUILDX_GIT as a local repository (path or file:// URL), and refuses anything else naming the variable', () => {
    expect(config({}).buildxGit).toBeUndefined();
    expect(config({ BUILDX_LAB_BUILDX_GIT: '/src/buildx/' }).buildxGit).toBe('/src/buildx');
    expect(config({ BUILDX_LAB_BUILDX_GIT: 'file:///src/buildx.git' }).buildxGit).toBe('/src/buildx.git');
    for (const [v, why] of [
      ['src/buildx', 'absolute local path'],
      ['/src/../etc', '".." segments'],
      ['ssh://host/buildx', 'absolute local path'],
      ['https://user:pw-secret-1@github.com/docker/buildx', 'holds credentials'],
      ['https://github.com/docker/buildx', 'is not a local repository; clone it'],
    ]) {
      expect(() => config({ BUILDX_LAB_BUILDX_GIT: v! }), v).toThrow(UsageError);
      expect(() => config({ BUILDX_LAB_BUILDX_GIT: v! }), v).toThrow(new RegExp(`BUILDX_LAB_BUILDX_GIT=.*${why!.replace(/[.*?()[\]]/g, '\\$&')}`));
    }
  });
});

describe('settings URLs with credentials (recorded and printed without them)', () => {
  it('refuses a bad URL without quoting its credentials', () => {
    for (const value of ['ftp://lab:pw-secret-1@mirror/debian', 'https://lab:pw-secret-1@mirror/debian with space', 'http://mirror/x?token=pw-secret-1 x']) {
      expect(() => config({ BUILDX_LAB_DEBIAN_MIRROR: value })).toThrow(UsageError);
      expect(() => config({ BUILDX_LAB_DEBIAN_MIRROR: value })).not.toThrow(/pw-secret-1/);
    }
  });

  it.each([
    ['userinfo', 'https://lab:pw@mirror.example/debian', 'https://mirror.example/debian'],
    ['a token as the user', 'https://ghp_abc123@mirror.example/x', 'https://mirror.example/x'],
    ['a password with an @', 'https://lab:p@ss@mirror.example/x', 'https://mirror.example/x'],
    ['query values', 'https://m.example/r?token=abc&sig=x%2By&v=1', 'https://m.example/r?token=***&sig=***&v=***'],
    ['a fragment', 'https://m.example/r#access_token=abc', 'https://m.example/r'],
    ['nothing from a plain URL', 'http://deb.debian.org/debian', 'http://deb.debian.org/debian'],
    ['no valid URL either', 'ftp://lab:pw@m/x?t=1', 'ftp://m/x?t=***'],
  ])('publicUrl drops %s', (_name, url, want) => expect(publicUrl(url)).toBe(want));

  it('scrubUrl replaces the URL and each secret part of it, as written or decoded, wherever a message quotes them', () => {
    const url = 'https://lab:p%40ss-word@m.example/debian?token=tok-123';
    const text = `E: Failed to fetch ${url}/dists/x  401; retry with p@ss-word or p%40ss-word; token tok-123; lab stays`;
    expect(scrubUrl(text, url)).toBe('E: Failed to fetch https://m.example/debian?token=***/dists/x  401; retry with *** or ***; token ***; lab stays');
  });
});
