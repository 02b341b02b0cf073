// The one place that reads process.env. Everything else receives a LabConfig.
import os from 'node:os';
import path from 'node:path';

export interface LabConfig {
  /** Docker endpoint of the host engine, as testcontainers finds it: DOCKER_HOST, then the default socket. */
  dockerHost: string;
  /** Root of every cache: built images' locks, Buildx binaries, Go work dirs. */
  cacheDir: string;
  /** Base URL of Buildx release downloads (mirrors, air-gapped hosts). */
  releasesBaseUrl: string;
  /** Never try the network for official images or release downloads. */
  offline: boolean;
  /** Try official images (docker:X-dind, registry:3, moby/buildkit) before local builds. */
  preferOfficialImages: boolean;
  /** Debian mirror for debootstrap and apt downloads; empty = the host's own. */
  debianMirror: string;
  /** PATH and HOME passed to child processes (execa runs with extendEnv: false). */
  childPath: string;
  home: string;
  /** The Go toolchain env that builds need (module proxy, caches). */
  goEnv: Record<string, string>;
  ci: boolean;
  /** Keep containers after the run, for debugging. */
  keep: boolean;
  /** Labels every resource of this run; the CLI passes it to vitest so it can sweep after a crash. */
  runId: string;
  /** Where cells write their results (one JSON each under cells/). */
  reportDir: string;
  /** Matrix selection: 'full' (the test suite) or 'quick' (the main job's default matrix). */
  matrix: 'full' | 'quick';
  /** True inside vitest's workers (scenario files register cells only there). */
  underVitest: boolean;
  /** --jobs: cells in flight at once per scenario file (and scenario files at once). */
  jobs: number;
  /** --repeat: how many times each cell runs (to tell a flake from a flip). */
  repeat: number;
  /** Axis filters from the CLI (--buildx, --engine, ...): axis -> comma-separated values. */
  axisFilters: Record<string, string[]>;
  /** The bug-report case directory `buildx-lab repro` runs (scenarios/repro-case.test.ts); unset otherwise. */
  reproCaseDir?: string;
}

let cached: LabConfig | undefined;

export function labConfig(env: NodeJS.ProcessEnv = process.env): LabConfig {
  if (cached && env === process.env) return cached;
  const home = env.HOME ?? os.homedir();
  const xdg = env.XDG_CACHE_HOME || path.join(home, '.cache');
  const goEnv: Record<string, string> = {};
  for (const k of ['GOPROXY', 'GOPATH', 'GOMODCACHE', 'GOCACHE', 'GOFLAGS', 'GOTOOLCHAIN', 'GONOSUMDB', 'GOPRIVATE', 'GOSUMDB', 'GOROOT']) {
    const v = env[k];
    if (v) goEnv[k] = v;
  }
  const runId = env.BUILDX_LAB_RUN_ID || `r${Date.now().toString(36)}${process.pid.toString(36)}`;
  const config: LabConfig = {
    dockerHost: env.DOCKER_HOST || 'unix:///var/run/docker.sock',
    cacheDir: env.BUILDX_LAB_CACHE || path.join(xdg, 'buildx-lab'),
    releasesBaseUrl: env.BUILDX_LAB_RELEASES_URL || 'https://github.com/docker/buildx/releases/download',
    offline: env.BUILDX_LAB_OFFLINE === '1',
    preferOfficialImages: env.BUILDX_LAB_OFFICIAL_IMAGES !== '0',
    debianMirror: env.BUILDX_LAB_DEBIAN_MIRROR ?? '',
    childPath: env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    home,
    goEnv,
    ci: env.CI === 'true' || env.CI === '1',
    keep: env.BUILDX_LAB_KEEP === '1',
    runId,
    reportDir: path.resolve(env.BUILDX_LAB_REPORT_DIR || path.join('reports', runId)),
    matrix: env.BUILDX_LAB_MATRIX === 'quick' ? 'quick' : 'full',
    repeat: Math.max(1, Number(env.BUILDX_LAB_REPEAT ?? '1') || 1),
    jobs: Math.max(1, Number(env.BUILDX_LAB_JOBS ?? '1') || 1),
    // The CLI is never a vitest worker, even when a test spawns it with the worker's environment.
    underVitest: env.VITEST_WORKER_ID !== undefined && env.BUILDX_LAB_CLI !== '1',
    axisFilters: Object.fromEntries(
      Object.entries(env)
        .filter(([k, v]) => k.startsWith('BUILDX_LAB_AXIS_') && v)
        .map(([k, v]) => [k.slice('BUILDX_LAB_AXIS_'.length).toLowerCase().replace(/_/g, '-'), v!.split(',').map((x) => x.trim()).filter(Boolean)]),
    ),
    ...(env.BUILDX_LAB_CASE_DIR ? { reproCaseDir: path.resolve(env.BUILDX_LAB_CASE_DIR) } : {}),
  };
  if (env === process.env) cached = config;
  return config;
}

/** Minimal, complete environment for a child process: nothing of the caller's leaks in (credentials included). */
export function childEnv(config: LabConfig, extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: config.childPath, HOME: config.home, DOCKER_HOST: config.dockerHost, LANG: 'C.UTF-8', ...extra };
}

/**
 * testcontainers reads its settings from process.env. Ryuk (its reaper) needs an image that cannot be
 * pulled offline; the lab labels and sweeps its own resources instead, so Ryuk is off unless the user
 * asked for it.
 */
export function prepareTestcontainersEnv(env: NodeJS.ProcessEnv = process.env): void {
  env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
}
