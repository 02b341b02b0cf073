// The only module that talks to the host's Docker engine about the engine itself:
// finding it, checking it can run privileged DinD, installing it on Debian, and sweeping leftovers.
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { debianMirror } from '../debian-mirror.ts';
import semver from 'semver';
import { childEnv, type LabConfig } from '../config.ts';
import { EngineUnreachableError, RequirementError } from '../errors.ts';
import type { CommandRecord } from '../model.ts';
import { run } from '../exec.ts';
import type { ProgressSink } from '../progress.ts';

export const MIN_ENGINE = '23.0.0';
export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';
export const LAB_LABEL = 'buildx-lab';
export const RUN_LABEL = `${LAB_LABEL}.run`;
export const PID_LABEL = `${LAB_LABEL}.pid`;

export interface EngineInfo {
  host: string;
  serverVersion: string;
  apiVersion: string;
  os: string;
  arch: string;
}

const installScript = new URL('./install-debian-engine.sh', import.meta.url).pathname;

/** Why the engine is unusable, with the fix; undefined when it is fine. Pure, for unit tests. */
export function engineProblem(info: Pick<EngineInfo, 'serverVersion'>): string | undefined {
  // Engine versions are not semver ("22.06.0-beta.0" has a leading zero), so compare major.minor.
  const m = /^(\d+)\.(\d+)/.exec(info.serverVersion);
  if (!m) return `cannot parse engine version '${info.serverVersion}'`;
  if (semver.lt(`${Number(m[1])}.${Number(m[2])}.0`, MIN_ENGINE)) {
    return (
      `Docker engine ${info.serverVersion} is too old: engines before 23.0 grant every known capability to --privileged ` +
      `containers and fail where the host's capability bounding set lacks one ("unable to apply caps", moby/moby#42933). ` +
      `Fix: install Docker >= 23.0 (on Debian: 'make setup' installs trixie's docker.io 26.1.5).`
    );
  }
  return undefined;
}

export async function inspectEngine(config: LabConfig): Promise<EngineInfo | undefined> {
  const r = await run(['docker', 'version', '--format', '{{json .Server}}'], { env: childEnv(config), timeoutMs: 15_000 });
  if (r.exitCode !== 0) return undefined;
  try {
    const s = JSON.parse(r.stdout) as { Version: string; ApiVersion: string; Os: string; Arch: string } | null;
    if (!s) return undefined;
    return { host: config.dockerHost, serverVersion: s.Version, apiVersion: s.ApiVersion, os: s.Os, arch: s.Arch };
  } catch {
    return undefined;
  }
}

/** Checks the engine answers and is new enough; throws RequirementError naming the fix. */
export async function requireEngine(config: LabConfig): Promise<EngineInfo> {
  const info = await inspectEngine(config);
  if (!info) {
    const sock = config.dockerHost.startsWith('unix://') ? config.dockerHost.slice(7) : undefined;
    const where = sock && !existsSync(sock) ? `no socket at ${sock}` : `no answer from ${config.dockerHost}`;
    throw new RequirementError(
      `No Docker engine: ${where}. Fix: run 'make setup' (installs and starts Docker on Debian), ` +
        `start your engine, or point DOCKER_HOST at one (>= ${MIN_ENGINE}).`,
    );
  }
  const problem = engineProblem(info);
  if (problem) throw new RequirementError(problem);
  return info;
}

/** Idempotent set-up: an engine that is already fine is never touched. */
export async function ensureEngine(config: LabConfig, progress: ProgressSink): Promise<EngineInfo> {
  const info = await inspectEngine(config);
  if (info && !engineProblem(info)) {
    progress(`engine ${info.serverVersion} at ${config.dockerHost}: ok`);
    return info;
  }
  // Only the default local socket is ours to install and start; an engine named by DOCKER_HOST is the user's.
  if (config.dockerHost !== DEFAULT_DOCKER_HOST) {
    throw new RequirementError(
      `No Docker engine: DOCKER_HOST=${config.dockerHost} ${info ? `runs ${info.serverVersion}, which is too old` : 'does not answer'}. ` +
        `Fix: start that engine (>= ${MIN_ENGINE}), or unset DOCKER_HOST to let 'make setup' install and start one on this host.`,
    );
  }
  if (!existsSync('/etc/debian_version')) {
    throw new RequirementError(`No usable Docker engine and this is not a Debian host: install Docker Engine >= ${MIN_ENGINE} and start it, then rerun.`);
  }
  progress(info ? `engine ${info.serverVersion} is too old; installing Debian trixie's docker.io` : 'no engine answers; installing/starting one');
  const r = await run(['bash', installScript], {
    env: childEnv(config, { BUILDX_LAB_ENGINE_SOCK: config.dockerHost.slice('unix://'.length), MIRROR: debianMirror(config) }),
    timeoutMs: 15 * 60_000,
    onLine: (l) => progress(`  ${l}`),
  });
  if (r.exitCode !== 0) {
    throw new RequirementError(`engine set-up failed (exit ${r.exitCode}):\n${r.stderr.trim().split('\n').slice(-10).join('\n')}`);
  }
  return requireEngine(config);
}

export interface SweepResult {
  containers: number;
  networks: number;
  volumes: number;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port, timeout: 1000 });
    sock.once('connect', () => { sock.destroy(); resolve(true); });
    sock.once('error', () => resolve(false));
    sock.once('timeout', () => { sock.destroy(); resolve(false); });
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes what earlier lab runs left behind (killed runners). A resource belongs to a dead run when
 * the pid in its label no longer lives; `all` removes every lab resource (buildx-lab clean).
 */
export async function sweepLeftovers(config: LabConfig, opts: { all?: boolean; runId?: string; pid?: number } = {}): Promise<SweepResult> {
  const env = childEnv(config);
  const result: SweepResult = { containers: 0, networks: 0, volumes: 0 };
  const filter = opts.runId ? `label=${RUN_LABEL}=${opts.runId}` : `label=${RUN_LABEL}`;
  const belongsToDeadRun = (pid: string | undefined) => !pid || (Number(pid) !== process.pid && !pidAlive(Number(pid)));
  const selected = (pid: string | undefined) =>
    opts.all ? true : opts.pid !== undefined ? pid === String(opts.pid) : opts.runId ? true : belongsToDeadRun(pid);
  const stale = async (kind: 'container' | 'network' | 'volume'): Promise<string[]> => {
    const ls = kind === 'container' ? ['docker', 'container', 'ls', '-a'] : ['docker', kind, 'ls'];
    const fmt = `{{.ID}}\t{{.Label "${PID_LABEL}"}}`;
    const r = await run([...ls, '--filter', filter, '--format', kind === 'volume' ? `{{.Name}}\t{{.Label "${PID_LABEL}"}}` : fmt], { env, timeoutMs: 30_000 });
    return r.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t'))
      .filter(([, pid]) => selected(pid))
      .map(([id]) => id!);
  };
  const containers = await stale('container');
  if (containers.length) {
    await run(['docker', 'container', 'rm', '-f', '-v', ...containers], { env, timeoutMs: 60_000 });
    result.containers = containers.length;
  }
  const networks = await stale('network');
  if (networks.length) {
    await run(['docker', 'network', 'rm', ...networks], { env, timeoutMs: 60_000 });
    result.networks = networks.length;
  }
  // Tags made to push a lab image through a run's loopback proxy (127.0.0.1:<port>/...): stale once
  // nothing listens on that port any more (the run was killed between tag and untag).
  const tags = await run(['docker', 'image', 'ls', '--filter', `label=${LAB_LABEL}.image`, '--format', '{{.Repository}}:{{.Tag}}'], { env, timeoutMs: 30_000 });
  for (const tag of tags.stdout.split('\n').filter((t) => /^127\.0\.0\.1:\d+\//.test(t))) {
    const port = Number(/^127\.0\.0\.1:(\d+)\//.exec(tag)![1]);
    if (opts.all || !(await portOpen(port))) await run(['docker', 'image', 'rm', tag], { env, timeoutMs: 30_000 });
  }
  const volumes = await stale('volume');
  if (volumes.length) {
    await run(['docker', 'volume', 'rm', '-f', ...volumes], { env, timeoutMs: 60_000 });
    result.volumes = volumes.length;
  }
  return result;
}

export async function countLabResources(config: LabConfig): Promise<SweepResult> {
  const env = childEnv(config);
  const count = async (argv: string[]) => (await run(argv, { env })).stdout.trim().split('\n').filter(Boolean).length;
  const f = ['--filter', `label=${RUN_LABEL}`, '-q'];
  return {
    containers: await count(['docker', 'container', 'ls', '-a', ...f]),
    networks: await count(['docker', 'network', 'ls', ...f]),
    volumes: await count(['docker', 'volume', 'ls', ...f]),
  };
}

const UNREACHABLE = /Cannot connect to the Docker daemon|error during connect|connect: connection refused|dial unix .*: connect: no such file or directory/i;

/**
 * A docker CLI call that failed because the engine did not answer must not read as "no such image" or
 * "container not running": that would send the lab building images or blaming a DinD engine.
 */
export function assertEngineAnswered(config: Pick<LabConfig, 'dockerHost'>, r: CommandRecord): CommandRecord {
  if (r.exitCode !== 0 && UNREACHABLE.test(r.stderr)) {
    throw new EngineUnreachableError(`the Docker engine at ${config.dockerHost} stopped answering: ${r.stderr.trim().split('\n').pop()}`);
  }
  return r;
}

export async function isContainerRunning(config: LabConfig, id: string): Promise<boolean> {
  return (await runningContainers(config, [id]))[0]!;
}

/** Whether each container runs, in one engine call; a removed container counts as not running. */
export async function runningContainers(config: LabConfig, ids: readonly string[]): Promise<boolean[]> {
  const r = assertEngineAnswered(config, await run(['docker', 'inspect', '-f', '{{.Id}} {{.State.Running}}', ...ids], { env: childEnv(config), timeoutMs: 10_000 }));
  const up = new Set(r.stdout.split('\n').filter((l) => l.endsWith(' true')).map((l) => l.split(' ')[0]!));
  return ids.map((id) => [...up].some((full) => full.startsWith(id)));
}

export function labelsFor(runId: string): Record<string, string> {
  return { [RUN_LABEL]: runId, [PID_LABEL]: String(process.pid) };
}

