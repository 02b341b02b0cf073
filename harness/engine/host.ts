// The host's Docker engine: the only module that decides which engine the lab talks to, and the only
// one that installs, starts and stops the lab's own.
//
// Order: DOCKER_HOST (the user's choice: used or refused, never installed over); the default socket when
// it answers with Docker >= 23 (used as it is, never touched); the lab's own engine. The lab's engine is
// built from the Go module proxy (engine/binaries.ts), copied under a prefix the lab owns, and started
// with its own config file, data root, exec root, socket, pid file and log. It changes nothing else on the
// host: no package is installed, and it runs with iptables, ip6tables and ip_forward off (the lab
// publishes no ports and needs no NAT), so the host's firewall and sysctls stay as they were.
import { spawn } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { childEnv, DEFAULT_DOCKER_SOCKET, type LabConfig } from '../config.ts';
import { EngineStartError, RequirementError, UsageError } from '../errors.ts';
import { run } from '../exec.ts';
import type { ProgressSink } from '../progress.ts';
import { lastLines } from '../text.ts';
import { EngineBuilder, type EngineBinaries, type EngineBuildOptions } from './binaries.ts';
import { hostDefaultRelease, type EngineRelease } from './spec.ts';

export const MIN_ENGINE = '23.0.0';

export interface EngineInfo {
  host: string;
  serverVersion: string;
  apiVersion: string;
  os: string;
  arch: string;
  /** who runs it: the user's engine, or the lab's own */
  owner: 'user' | 'lab';
}

/** Where the lab's own engine lives. */
export interface LabEnginePaths {
  home: string;
  bin: string;
  dataRoot: string;
  execRoot: string;
  runDir: string;
  socket: string;
  pidFile: string;
  log: string;
  configFile: string;
}

export function labEnginePaths(config: Pick<LabConfig, 'engineHome' | 'engineRunDir'>): LabEnginePaths {
  const home = config.engineHome;
  const runDir = config.engineRunDir;
  return {
    home,
    bin: path.join(home, 'bin'),
    dataRoot: path.join(home, 'data'),
    execRoot: path.join(runDir, 'exec'),
    runDir,
    socket: path.join(runDir, 'docker.sock'),
    pidFile: path.join(runDir, 'dockerd.pid'),
    log: path.join(home, 'dockerd.log'),
    configFile: path.join(home, 'daemon.json'),
  };
}

/** The file that marks a directory as the lab engine's own: install, start and uninstall delete only in such a one. */
export const ENGINE_DIR_MARKER = '.buildx-lab-engine';

export type EngineDir = 'home' | 'runDir';

const ENGINE_DIR_SETTING: Record<EngineDir, string> = { home: 'BUILDX_LAB_ENGINE_HOME', runDir: 'BUILDX_LAB_ENGINE_RUN_DIR' };

/**
 * What the lab's engine left in each directory before the marker existed: every entry one it writes, and
 * at least one that only it writes. Such a directory is adopted (an installation from before this
 * change keeps working); one with anything else in it is someone else's.
 */
const LEGACY_LAYOUT: Record<EngineDir, { known: RegExp; signature: string[] }> = {
  home: { known: /^(bin|data|daemon\.json|installed\.json|dockerd\.log|bin\.tmp-\d+)$/, signature: ['installed.json', 'bin/dockerd'] },
  runDir: { known: /^(docker\.sock|dockerd\.pid|exec)$/, signature: ['docker.sock', 'dockerd.pid', 'exec'] },
};

export type EngineDirState = 'missing' | 'marked' | 'empty' | 'legacy' | 'foreign';

/** Whose `dir` is: absent, the lab's (marked, or the layout from before markers), empty, or someone else's. */
export function engineDirState(dir: string, which: EngineDir): EngineDirState {
  if (!existsSync(dir)) return 'missing';
  if (!statSync(dir).isDirectory()) return 'foreign';
  const entries = readdirSync(dir);
  if (entries.includes(ENGINE_DIR_MARKER)) return 'marked';
  if (entries.length === 0) return 'empty';
  const legacy = LEGACY_LAYOUT[which];
  return entries.every((e) => legacy.known.test(e)) && legacy.signature.some((f) => existsSync(path.join(dir, f))) ? 'legacy' : 'foreign';
}

/** Refuses, naming the directory and the fix, unless the lab may delete inside `dir`. */
function assertEngineDirOwned(dir: string, which: EngineDir): EngineDirState {
  const state = engineDirState(dir, which);
  if (state === 'foreign') {
    throw new UsageError(
      `${dir} (${ENGINE_DIR_SETTING[which]}) is not a directory of the lab's engine: it holds files the lab did not put there and has no ${ENGINE_DIR_MARKER}, ` +
        `so the lab deletes nothing in it. Fix: set ${ENGINE_DIR_SETTING[which]} to an empty or new directory (or unset it), or, if it is the lab's, remove what else is in it yourself`,
    );
  }
  return state;
}

/** Makes `dir` the lab engine's (creating it, or adopting an empty or pre-marker one), or refuses; returns it. */
export function claimEngineDir(dir: string, which: EngineDir, progress: ProgressSink): string {
  const state = assertEngineDirOwned(dir, which);
  if (state === 'marked') return dir;
  if (state === 'legacy') progress(`${dir}: the lab engine's layout from before ownership markers; marking it as the lab's`);
  mkdirSync(dir, { recursive: true });
  // written whole or not at all, so that a half-written marker never stands for one
  const tmp = path.join(dir, `${ENGINE_DIR_MARKER}.tmp-${process.pid}`);
  writeFileSync(tmp, `buildx-lab engine ${which === 'home' ? 'home' : 'run directory'}: install, start and uninstall delete in here\n`);
  renameSync(tmp, path.join(dir, ENGINE_DIR_MARKER));
  return dir;
}

/** The cgroup every container of the lab's engine sits under (cgroupfs driver): the bench reads CPU there. */
export const LAB_CGROUP_PARENT = 'buildx-lab';

/** The lab engine's daemon.json; pure. Everything that would touch the host outside its prefix is off. */
export function labDaemonConfig(p: LabEnginePaths, opts: { seccomp: boolean }): Record<string, unknown> {
  return {
    hosts: [`unix://${p.socket}`],
    'data-root': p.dataRoot,
    'exec-root': p.execRoot,
    pidfile: p.pidFile,
    iptables: false,
    ip6tables: false,
    'ip-forward': false,
    'ip-masq': false,
    // No default bridge: a docker0 of the lab's would clash with the user's engine; the lab uses its own networks.
    bridge: 'none',
    'cgroup-parent': LAB_CGROUP_PARENT,
    'exec-opts': ['native.cgroupdriver=cgroupfs'],
    'log-driver': 'json-file',
    'log-opts': { 'max-size': '10m', 'max-file': '2' },
    ...(opts.seccomp ? {} : { 'seccomp-profile': 'unconfined' }),
  };
}

/** Why the engine is unusable, with the fix; undefined when it is fine. Pure. */
export function engineProblem(info: Pick<EngineInfo, 'serverVersion'>): string | undefined {
  // Engine versions are not semver ("22.06.0-beta.0" has a leading zero), so compare major.minor.
  const m = /^(\d+)\.(\d+)/.exec(info.serverVersion);
  if (!m) return `cannot parse engine version '${info.serverVersion}'`;
  if (semver.lt(`${Number(m[1])}.${Number(m[2])}.0`, MIN_ENGINE)) {
    return (
      `Docker engine ${info.serverVersion} is too old: engines before 23.0 grant every known capability to --privileged ` +
      `containers and fail where the host's capability bounding set lacks one ("unable to apply caps", moby/moby#42933)`
    );
  }
  return undefined;
}

/** Whether root inside a privileged container on an engine is root on the host, and why. */
export interface EngineIsolation {
  isolated: boolean;
  reason: string;
}

/**
 * An engine's isolation boundary, from its `docker info` (SecurityOptions: "name=rootless",
 * "name=seccomp,profile=builtin", ...); pure. Only rootless mode counts: the daemon and every container
 * (a privileged DinD too) live in a user namespace owned by an unprivileged user. User-namespace remapping
 * ("name=userns") does not: moby refuses --privileged under userns-remap unless the container opts out with
 * --userns=host (daemon/daemon_unix.go, verifyPlatformContainerSettings), so a privileged DinD runs as root.
 */
export function engineIsolation(info: { SecurityOptions?: unknown }): EngineIsolation {
  const opts = info.SecurityOptions;
  if (!Array.isArray(opts) || !opts.every((o) => typeof o === 'string'))
    return { isolated: false, reason: 'docker info lists no security options, so it is taken for a rootful engine' };
  // "name=seccomp,profile=builtin" -> "seccomp"; engines before 1.13 listed bare names.
  const names = new Set(opts.map((o: string) => /(?:^|,)name=([^,]*)/.exec(o)?.[1] ?? (o.includes('=') ? '' : o)));
  if (names.has('rootless'))
    return { isolated: true, reason: 'rootless engine (name=rootless): root in its containers, a privileged DinD too, is an unprivileged user on the host' };
  if (names.has('userns')) {
    return {
      isolated: false,
      reason: 'user-namespace remapping (name=userns) does not cover privileged containers: a privileged DinD must opt out of it with --userns=host and runs as root on the host',
    };
  }
  return { isolated: false, reason: 'rootful engine (docker info lists no name=rootless): root in a privileged container is root on the host' };
}

/** An engine's isolation and ID, from its `docker info`; not isolated (and no ID) when it cannot be read. */
export async function probeEngine(config: LabConfig, host: string): Promise<EngineIsolation & { engineId: string }> {
  const r = await run(['docker', 'info', '--format', '{{json .}}'], { env: childEnv(config, { DOCKER_HOST: host }), timeoutMs: 30_000 });
  if (r.exitCode !== 0) return { isolated: false, reason: `docker info failed (exit ${r.exitCode}): ${r.stderr.trim().split('\n').pop() ?? ''}`, engineId: '' };
  let info: { SecurityOptions?: unknown; ID?: unknown } = {};
  try {
    info = (JSON.parse(r.stdout) as typeof info | null) ?? {};
  } catch {
    // an engine that answers with something else is taken for one that says nothing
  }
  return { ...engineIsolation(info), engineId: typeof info.ID === 'string' ? info.ID : '' };
}

export async function inspectEngine(config: LabConfig, host: string): Promise<Omit<EngineInfo, 'owner'> | undefined> {
  const r = await run(['docker', 'version', '--format', '{{json .Server}}'], { env: childEnv(config, { DOCKER_HOST: host }), timeoutMs: 15_000 });
  if (r.exitCode !== 0) return undefined;
  try {
    const s = JSON.parse(r.stdout) as { Version: string; ApiVersion: string; Os: string; Arch: string } | null;
    if (!s) return undefined;
    return { host, serverVersion: s.Version, apiVersion: s.ApiVersion, os: s.Os, arch: s.Arch };
  } catch {
    return undefined;
  }
}

export type EngineChoice = { use: EngineInfo; notes: string[] } | { start: 'lab'; notes: string[] };

/**
 * Which engine to use, from what answers; pure over the probes' results (unit-tested). `requested` is the
 * user's DOCKER_HOST; `defaultInfo` what the default socket answered; `labInfo` what the lab's socket answered.
 */
export function chooseEngine(opts: {
  requested?: string;
  requestedInfo?: Omit<EngineInfo, 'owner'>;
  defaultInfo?: Omit<EngineInfo, 'owner'>;
  labInfo?: Omit<EngineInfo, 'owner'>;
}): EngineChoice {
  if (opts.requested) {
    const i = opts.requestedInfo;
    if (!i)
      throw new RequirementError(
        `No Docker engine answers at DOCKER_HOST=${opts.requested}. Fix: start that engine (>= ${MIN_ENGINE}), or unset DOCKER_HOST and let the lab start its own.`,
      );
    const problem = engineProblem(i);
    if (problem)
      throw new RequirementError(
        `${problem}. DOCKER_HOST=${opts.requested} names it, so the lab leaves it alone. Fix: point DOCKER_HOST at Docker >= ${MIN_ENGINE}, or unset it and let the lab run its own engine beside this one.`,
      );
    return { use: { ...i, owner: 'user' }, notes: [] };
  }
  const notes: string[] = [];
  if (opts.defaultInfo) {
    const problem = engineProblem(opts.defaultInfo);
    if (!problem) return { use: { ...opts.defaultInfo, owner: 'user' }, notes };
    notes.push(
      `the engine at ${DEFAULT_DOCKER_SOCKET} runs Docker ${opts.defaultInfo.serverVersion}, older than ${MIN_ENGINE}: leaving it installed and running, and using the lab's own engine beside it`,
    );
  }
  if (opts.labInfo && !engineProblem(opts.labInfo)) return { use: { ...opts.labInfo, owner: 'lab' }, notes };
  return { start: 'lab', notes };
}

export class HostEngine {
  readonly paths: LabEnginePaths;
  constructor(
    private readonly config: LabConfig,
    private readonly progress: ProgressSink,
  ) {
    this.paths = labEnginePaths(config);
  }

  get labHost(): string {
    return `unix://${this.paths.socket}`;
  }

  /** Finds the engine to use, starting (and if needed building) the lab's own. Idempotent. */
  async ensure(opts: EngineBuildOptions = {}): Promise<EngineInfo> {
    const requested = this.config.requestedDockerHost;
    const [requestedInfo, defaultInfo, labInfo] = await Promise.all([
      requested ? inspectEngine(this.config, requested) : undefined,
      requested ? undefined : inspectEngine(this.config, this.config.defaultDockerSocket),
      requested ? undefined : inspectEngine(this.config, this.labHost),
    ]);
    const choice = chooseEngine({ requested, requestedInfo, defaultInfo, labInfo });
    for (const n of choice.notes) this.progress(n);
    if ('use' in choice) {
      this.progress(`engine: Docker ${choice.use.serverVersion} at ${choice.use.host}${choice.use.owner === 'lab' ? " (the lab's own)" : ''}`);
      return choice.use;
    }
    return this.startLabEngine(opts);
  }

  installedVersion(): string | undefined {
    try {
      return (JSON.parse(readFileSync(path.join(this.paths.home, 'installed.json'), 'utf8')) as { version: string }).version;
    } catch {
      return undefined;
    }
  }

  /** Copies the engine's binaries under the lab's prefix (so cache pruning never pulls them from under a running engine). */
  async install(release: EngineRelease = hostDefaultRelease(), opts: EngineBuildOptions = {}): Promise<EngineBinaries> {
    // before the (long) build: a refusal should come at once
    assertEngineDirOwned(this.paths.home, 'home');
    if (process.getuid?.() !== 0) {
      throw new RequirementError(
        `running a Docker engine needs root, and this is uid ${process.getuid?.()}. Fix: run the lab as root, or start Docker >= ${MIN_ENGINE} yourself and set DOCKER_HOST.`,
      );
    }
    const bins = await new EngineBuilder(this.config, this.progress).ensure(release, opts);
    claimEngineDir(this.paths.home, 'home', this.progress);
    const stage = `${this.paths.bin}.tmp-${process.pid}`;
    rmSync(stage, { recursive: true, force: true });
    mkdirSync(stage, { recursive: true });
    for (const f of readdirSync(bins.binDir)) copyFileSync(path.join(bins.binDir, f), path.join(stage, f));
    rmSync(this.paths.bin, { recursive: true, force: true });
    renameSync(stage, this.paths.bin);
    writeFileSync(this.paths.configFile, JSON.stringify(labDaemonConfig(this.paths, { seccomp: bins.seccomp }), null, 2));
    writeFileSync(
      path.join(this.paths.home, 'installed.json'),
      JSON.stringify({ version: release.version, parts: bins.parts.map((p) => ({ id: p.id, reports: p.reports })), installedAt: new Date().toISOString() }, null, 2),
    );
    this.progress(`installed Docker ${release.version} under ${this.paths.home} (dockerd, containerd, runc, docker CLI built from the Go module proxy; no host package changed)`);
    return bins;
  }

  private async startLabEngine(opts: EngineBuildOptions): Promise<EngineInfo> {
    const want = hostDefaultRelease();
    if (this.installedVersion() !== want.version || !existsSync(path.join(this.paths.bin, 'dockerd'))) {
      this.progress(`no usable Docker engine answers; installing the lab's own (Docker ${want.version}) under ${this.paths.home}`);
      await this.install(want, opts);
    }
    return this.start();
  }

  /** Starts the installed lab engine in the background and waits until it answers. */
  async start(timeoutMs = 60_000): Promise<EngineInfo> {
    const p = this.paths;
    if (!existsSync(path.join(p.bin, 'dockerd')))
      throw new UsageError(`the lab's engine is not installed under ${p.home}; run 'buildx-lab engine install' (or any run, which installs it)`);
    const running = await inspectEngine(this.config, this.labHost);
    if (running) return { ...running, owner: 'lab' };
    // Both are checked before either is changed.
    assertEngineDirOwned(p.home, 'home');
    assertEngineDirOwned(p.runDir, 'runDir');
    claimEngineDir(p.home, 'home', this.progress);
    claimEngineDir(p.runDir, 'runDir', this.progress);
    mkdirSync(p.dataRoot, { recursive: true });
    // A pid file left by a killed engine would stop dockerd from starting.
    if (existsSync(p.pidFile) && !pidAlive(readPid(p.pidFile))) rmSync(p.pidFile, { force: true });
    rmSync(p.socket, { force: true });
    const log = openSync(p.log, 'a');
    const child = spawn(path.join(p.bin, 'dockerd'), ['--config-file', p.configFile], {
      detached: true,
      stdio: ['ignore', log, log],
      env: { PATH: `${p.bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, HOME: this.config.home, LANG: 'C.UTF-8' },
    });
    child.unref();
    closeSync(log);
    this.progress(`starting the lab's engine (pid ${child.pid}, socket ${p.socket}, log ${p.log})`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = await inspectEngine(this.config, this.labHost);
      if (info) {
        const problem = engineProblem(info);
        if (problem) throw new EngineStartError(problem, '');
        this.progress(`the lab's engine answers: Docker ${info.serverVersion}`);
        return { ...info, owner: 'lab' };
      }
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new EngineStartError(
          `the lab's dockerd ${child.exitCode !== null ? `exited (${child.exitCode})` : `did not answer within ${timeoutMs / 1000} s`} on ${p.socket}`,
          lastLines(readText(p.log), 25),
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Stops the lab's engine (its containers stop with it); returns false when it was not running. */
  async stop(timeoutMs = 30_000): Promise<boolean> {
    // the pid file of a directory that is not the lab's names someone else's process
    assertEngineDirOwned(this.paths.runDir, 'runDir');
    const pid = readPid(this.paths.pidFile);
    if (!pid || !pidAlive(pid)) return false;
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + timeoutMs;
    while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    return true;
  }

  /**
   * Stops it and removes everything under its prefix (binaries, images, containers, volumes, log): both
   * directories whole, so only when both are the lab's (marked, empty, or its layout from before markers).
   */
  async uninstall(): Promise<void> {
    assertEngineDirOwned(this.paths.home, 'home');
    assertEngineDirOwned(this.paths.runDir, 'runDir');
    await this.stop();
    // dockerd unmounts on a clean stop; a killed one may leave overlay mounts under the data root.
    const mounts = await run(['sh', '-c', 'cat /proc/mounts'], { env: childEnv(this.config) });
    const inside = (m: string, root: string) => m === root || m.startsWith(`${root}/`);
    const under = (m: string) => inside(m, this.paths.dataRoot) || inside(m, this.paths.execRoot);
    const targets = mounts.stdout
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter(under)
      .sort((a, b) => b.length - a.length);
    for (const t of targets) await run(['umount', '-l', t], { env: childEnv(this.config) });
    rmSync(this.paths.home, { recursive: true, force: true });
    rmSync(this.paths.runDir, { recursive: true, force: true });
  }
}

function readPid(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

export function pidAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A file's text, or '' when it cannot be read (a log or pid file not written yet, or gone). */
export function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
