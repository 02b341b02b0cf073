// The one place that reads process.env: the host's settings. What one run does (its cells, filters,
// report directory) is not here but in its run spec (runner/run-spec.ts), which any process reads back.
import os from 'node:os';
import path from 'node:path';
import { UsageError } from './errors.ts';
import { parseGitRevision } from './git/revision.ts';

/** How long an owner may go without a heartbeat, and how long a run that has none yet may still be starting. */
export interface OwnerPolicy {
  staleMs: number;
  graceMs: number;
}

export interface LabConfig {
  /** The engine the lab talks to; set once the engine is chosen (engine/host.ts), DOCKER_HOST until then. */
  dockerHost: string;
  /** The user's DOCKER_HOST, if any: then that engine is used or refused, never installed over. */
  requestedDockerHost?: string;
  /** The default local socket, probed when DOCKER_HOST is unset. */
  defaultDockerSocket: string;
  /** Where the lab's own engine lives (binaries, data root, log), and its runtime directory (socket, pid). */
  engineHome: string;
  engineRunDir: string;
  /** Root of every cache: built images' locks, Buildx binaries, engine parts, Go work dirs. */
  cacheDir: string;
  /** Base URL of Buildx release downloads (mirrors, air-gapped hosts). */
  releasesBaseUrl: string;
  /** Accept release downloads without a pinned sha256 (checked against checksums.txt only). */
  allowUnpinned: boolean;
  /** Never try the network for official images or release downloads. */
  offline: boolean;
  /** Try official images (docker:X-dind, registry:3, moby/buildkit) before local builds. */
  preferOfficialImages: boolean;
  /** Debian mirror for debootstrap and apt downloads; empty = the host's own. */
  debianMirror: string;
  /** PATH and HOME passed to child processes (execa runs with extendEnv: false). */
  childPath: string;
  home: string;
  /** The user's Go settings (module proxy, caches); the checksum database is the lab's call (goNoSumDb). */
  goEnv: Record<string, string>;
  /** BUILDX_LAB_GO_NOSUMDB=1: build without the Go checksum database (recorded in every binary's meta.json). */
  goNoSumDb: boolean;
  /** BUILDX_LAB_REBUILD_FAILED=1: compile again what is recorded as not compiling with this Go (provision/compile-failures.ts). */
  rebuildFailed: boolean;
  /** BUILDX_LAB_BUILDX_GIT: a local Buildx repository whose tags stand in for releases the Go module proxy refuses */
  buildxGit?: string;
  /** BUILDX_LAB_BUILDKIT_GIT: a local BuildKit repository whose tags stand in for releases the Go module proxy refuses */
  buildkitGit?: string;
  ci: boolean;
  /** Keep containers after the run, for debugging. */
  keep: boolean;
  /** BUILDX_LAB_ROOTLESS=0: never start the lab's rootless engine; untrusted cases are then refused on a rootful engine. */
  rootless: boolean;
  /** An interactive terminal on stderr: live progress lines instead of plain ones. */
  tty: boolean;
  /** When a run whose pid proves nothing here (another host or pid namespace) counts as abandoned. */
  ownerPolicy: OwnerPolicy;
  /** The largest bundle `bundle import` unpacks: per member and in all, in bytes (a bundle is input from elsewhere). */
  bundleLimits: BundleLimits;
}

export interface BundleLimits {
  entryBytes: number;
  totalBytes: number;
}

/** The settings that raise the bundle bounds, for refusals to name. */
export const BUNDLE_LIMIT_SETTINGS = { entryBytes: 'BUILDX_LAB_BUNDLE_ENTRY_MAX_GB', totalBytes: 'BUILDX_LAB_BUNDLE_MAX_GB' } as const;

/** Seconds from the environment, at least `min` (a bound below a few heartbeats would sweep live runs). */
function seconds(value: string | undefined, fallback: number, min: number): number {
  const n = Number(value);
  return (value && Number.isFinite(n) ? Math.max(n, min) : fallback) * 1000;
}

export const DEFAULT_DOCKER_SOCKET = 'unix:///var/run/docker.sock';

let cached: LabConfig | undefined;

/** A directory setting: absolute, or refused naming the variable (a relative one would move with the cwd). */
function absoluteDir(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const v = env[name];
  if (!v) return fallback;
  if (!path.isAbsolute(v) || v.includes('\0'))
    throw new UsageError(`${name}=${JSON.stringify(v.slice(0, 200))} is not an absolute path; set it to one (e.g. ${fallback}) or unset it`);
  return path.normalize(v);
}

/** An http(s) URL setting, or refused naming the variable (and not quoting its credentials). */
function httpUrl(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const v = env[name];
  if (!v) return fallback;
  let u: URL | undefined;
  try {
    u = new URL(v);
  } catch {
    u = undefined;
  }
  if (!u || !['http:', 'https:'].includes(u.protocol) || /\s/.test(v))
    throw new UsageError(
      `${name}=${JSON.stringify(publicUrl(v).slice(0, 200))} is not an http(s) URL; set it to one (e.g. ${fallback || 'http://deb.debian.org/debian'}) or unset it`,
    );
  return v.replace(/\/+$/, '');
}

/** A size in GB (decimals allowed) from the environment, in bytes; anything but a positive number is refused naming the variable. */
function gigabytes(env: NodeJS.ProcessEnv, name: string, fallbackGb: number): number {
  const v = env[name];
  if (!v) return fallbackGb * 1e9;
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v.trim()) || !(n > 0))
    throw new UsageError(`${name}=${JSON.stringify(v.slice(0, 200))} is not a positive number of GB; set it to one (e.g. ${fallbackGb}) or unset it`);
  return n * 1e9;
}

// A mirror URL setting may carry credentials (https://user:pass@host, https://TOKEN@host, ?token=…,
// a signed ?sig=…). They go into the request only: what the lab records or prints (errors, progress,
// provision-status.json, a binary's meta.json, which a bundle ships) has them replaced.
const HIDDEN = '***';
const USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)[^/?#\s]*@/i;

/** `url` as it may be recorded or printed: no userinfo, every query value replaced, no fragment. Works on
 * text that is no valid URL too (an error quoting a bad setting). */
export function publicUrl(url: string): string {
  return url
    .replace(USERINFO, '$1')
    .replace(/#.*$/s, '')
    .replace(/([?&][^=&#]*=)[^&#]*/g, `$1${HIDDEN}`);
}

/** The parts of `url` that are secrets, as written and decoded (at least 3 characters: shorter would
 * replace ordinary text). */
function urlSecrets(url: string): string[] {
  const parts: string[] = [];
  const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^/?#\s]*)@/i.exec(url)?.[1];
  if (userinfo) {
    const colon = userinfo.indexOf(':');
    parts.push(userinfo, colon === -1 ? userinfo : userinfo.slice(colon + 1));
  }
  for (const m of url.matchAll(/[?&][^=&#]*=([^&#]*)/g)) parts.push(m[1]!);
  const decoded = parts.map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  return [...new Set([...parts, ...decoded])].filter((p) => p.length >= 3).sort((a, b) => b.length - a.length);
}

/** `text` (a tool's output, an error) with `url` and each of its secret parts replaced: what a message may quote. */
export function scrubUrl(text: string, url: string): string {
  let out = text.split(url).join(publicUrl(url));
  for (const secret of urlSecrets(url)) out = out.split(secret).join(HIDDEN);
  return out;
}

/** A local Git repository setting (an absolute path or file:// URL), or refused naming the variable. */
function gitRepo(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  if (!v) return undefined;
  let r: ReturnType<typeof parseGitRevision> | undefined;
  try {
    r = parseGitRevision(`git:${v}@HEAD`);
  } catch (e) {
    throw new UsageError(`${name}=${JSON.stringify(v.slice(0, 200))}: ${(e as Error).message.replace(/^"[^"]*": /, '')}`);
  }
  if (r.kind !== 'path')
    throw new UsageError(`${name}=${JSON.stringify(publicUrl(v).slice(0, 200))} is not a local repository; clone it and set ${name} to the clone's absolute path`);
  return r.repo;
}

/** XDG base directories: a relative value is invalid by the spec and ignored. */
const xdgDir = (v: string | undefined, fallback: string) => (v && path.isAbsolute(v) ? v : fallback);

export function labConfig(env: NodeJS.ProcessEnv = process.env): LabConfig {
  if (cached && env === process.env) return cached;
  const home = env.HOME ?? os.homedir();
  const xdgCache = xdgDir(env.XDG_CACHE_HOME, path.join(home, '.cache'));
  const xdgData = xdgDir(env.XDG_DATA_HOME, path.join(home, '.local', 'share'));
  const goEnv: Record<string, string> = {};
  for (const k of ['GOPROXY', 'GOPATH', 'GOMODCACHE', 'GOCACHE', 'GOTOOLCHAIN', 'GOROOT', 'GOTMPDIR']) {
    const v = env[k];
    if (v) goEnv[k] = v;
  }
  const requested = env.DOCKER_HOST || undefined;
  const cacheDir = absoluteDir(env, 'BUILDX_LAB_CACHE', path.join(xdgCache, 'buildx-lab'));
  const engineHome = absoluteDir(env, 'BUILDX_LAB_ENGINE_HOME', path.join(xdgData, 'buildx-lab', 'engine'));
  const config: LabConfig = {
    dockerHost: requested ?? DEFAULT_DOCKER_SOCKET,
    ...(requested ? { requestedDockerHost: requested } : {}),
    defaultDockerSocket: DEFAULT_DOCKER_SOCKET,
    engineHome,
    engineRunDir: absoluteDir(env, 'BUILDX_LAB_ENGINE_RUN_DIR', '/run/buildx-lab'),
    cacheDir,
    releasesBaseUrl: httpUrl(env, 'BUILDX_LAB_RELEASES_URL', 'https://github.com/docker/buildx/releases/download'),
    allowUnpinned: env.BUILDX_LAB_ALLOW_UNPINNED === '1',
    offline: env.BUILDX_LAB_OFFLINE === '1',
    preferOfficialImages: env.BUILDX_LAB_OFFICIAL_IMAGES !== '0',
    debianMirror: httpUrl(env, 'BUILDX_LAB_DEBIAN_MIRROR', ''),
    // The lab engine's CLI comes last: a docker CLI the user has wins.
    childPath: `${env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'}:${path.join(engineHome, 'bin')}`,
    home,
    goEnv,
    goNoSumDb: env.BUILDX_LAB_GO_NOSUMDB === '1',
    rebuildFailed: env.BUILDX_LAB_REBUILD_FAILED === '1',
    ...(env.BUILDX_LAB_BUILDX_GIT ? { buildxGit: gitRepo(env, 'BUILDX_LAB_BUILDX_GIT') } : {}),
    ...(env.BUILDX_LAB_BUILDKIT_GIT ? { buildkitGit: gitRepo(env, 'BUILDX_LAB_BUILDKIT_GIT') } : {}),
    ci: env.CI === 'true' || env.CI === '1',
    keep: env.BUILDX_LAB_KEEP === '1',
    rootless: env.BUILDX_LAB_ROOTLESS !== '0',
    tty: process.stderr.isTTY === true && env.CI !== 'true' && env.TERM !== 'dumb',
    // Heartbeats come every 5 s; generous bounds, since a wrong "abandoned" removes a live run's engines.
    ownerPolicy: { staleMs: seconds(env.BUILDX_LAB_HEARTBEAT_STALE_S, 120, 15), graceMs: seconds(env.BUILDX_LAB_START_GRACE_S, 600, 60) },
    // A full-matrix bundle is a few GB, nearly all of it images.tar; the bounds stop a bundle from filling the disk.
    bundleLimits: { entryBytes: gigabytes(env, BUNDLE_LIMIT_SETTINGS.entryBytes, 32), totalBytes: gigabytes(env, BUNDLE_LIMIT_SETTINGS.totalBytes, 64) },
  };
  if (env === process.env) cached = config;
  return config;
}

/** The same settings, talking to the engine that was chosen. */
export function withEngine(config: LabConfig, dockerHost: string): LabConfig {
  return { ...config, dockerHost };
}

/** Minimal, complete environment for a child process: nothing of the caller's leaks in (credentials included). */
export function childEnv(config: Pick<LabConfig, 'childPath' | 'home' | 'dockerHost'>, extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: config.childPath, HOME: config.home, DOCKER_HOST: config.dockerHost, LANG: 'C.UTF-8', ...extra };
}

/**
 * testcontainers reads its settings from process.env. Ryuk (its reaper) needs an image that cannot be
 * pulled offline; the lab labels and sweeps its own resources instead, so Ryuk is off unless the user
 * asked for it. DOCKER_HOST is the engine the lab chose. The lab publishes no port, so testcontainers
 * need not work out the engine's host address (which inspects the default bridge, one the lab's own
 * engine does not have).
 */
export function prepareTestcontainersEnv(config: Pick<LabConfig, 'dockerHost'>, env: NodeJS.ProcessEnv = process.env): void {
  env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
  env.TESTCONTAINERS_HOST_OVERRIDE ??= 'localhost';
  env.DOCKER_HOST = config.dockerHost;
}
