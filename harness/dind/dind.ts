// Docker-in-Docker engines in the testcontainers module style: DindContainer configures,
// start() returns a StartedDindContainer that checks readiness and the image store it really got.
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers';
import { childEnv, type LabConfig } from '../config.ts';
import { EngineStartError, HarnessError } from '../errors.ts';
import { lastLines } from '../text.ts';
import { run, start, type ExecOptions, type RunResult, type RunningProcess } from '../exec.ts';
import type { StoreKind } from '../model.ts';
import { ROLE_LABEL, isContainerRunning } from '../ownership/labels.ts';

export const DIND_SOCKET = 'unix:///var/run/docker.sock';
/**
 * The DinD container's command. It starts with `dockerd`, so both entrypoints run it as given: the lab's
 * (lab-dind-entrypoint: exec "$@") and the official docker:<v>-dind's (dockerd-entrypoint.sh: through its
 * dind wrapper). Flags alone would make the official one add TCP (2376 with TLS under DOCKER_TLS_CERTDIR,
 * or 2375 without): dockerd listens on its unix socket only, so no API beyond the container without TLS.
 */
export const DIND_COMMAND: readonly string[] = ['dockerd', `--host=${DIND_SOCKET}`];
/** Where the host's Buildx cache and fixtures appear inside every DinD, read-only. */
export const BUILDX_MOUNT = '/opt/buildx-lab/buildx';
export const FIXTURES_MOUNT = '/opt/buildx-lab/fixtures';
/**
 * Where the engine keeps its state, each a tmpfs of the DinD's own: dockerd's data root (images, layers,
 * volumes, and the managed containerd's root under it) and containerd's default root (an engine image that
 * runs a system containerd). A case's fill-engine-disk shrinks them (kit/engine-disk.ts).
 */
export const ENGINE_STORAGE: readonly string[] = ['/var/lib/docker', '/var/lib/containerd'];

export interface DaemonOptions {
  store: StoreKind;
  insecureRegistries: string[];
  /**
   * The classic store retries a failed layer download 5 times with a 5/10/15/20 s backoff; the final
   * error is the same, so scenarios may set 1 to fail at once. Undefined keeps the engine's default.
   */
  maxDownloadAttempts?: number;
  /** false when the engine's runc was built without seccomp: containers must then run unconfined */
  seccomp?: boolean;
}

/** daemon.json for a store; pure. */
export function daemonJson(opts: DaemonOptions): string {
  return JSON.stringify(
    {
      features: { 'containerd-snapshotter': opts.store === 'containerd' },
      'insecure-registries': opts.insecureRegistries,
      ...(opts.maxDownloadAttempts ? { 'max-download-attempts': opts.maxDownloadAttempts } : {}),
      ...(opts.seccomp === false ? { 'seccomp-profile': 'unconfined' } : {}),
    },
    null,
    2,
  );
}

/** The driver-type `docker info` must report for a store; pure. */
export function storeMatches(store: StoreKind, info: DockerInfo): boolean {
  const driverType = info.DriverStatus?.find(([k]) => k === 'driver-type')?.[1];
  if (store === 'containerd') return driverType === 'io.containerd.snapshotter.v1';
  return info.Driver === 'overlay2' && driverType !== 'io.containerd.snapshotter.v1';
}

export interface DockerInfo {
  ServerVersion: string;
  Driver: string;
  DriverStatus?: [string, string][];
  OperatingSystem?: string;
}

export class DindContainer {
  private store: StoreKind = 'containerd';
  private insecureRegistries: string[] = [];
  private maxDownloadAttempts?: number;
  private seccomp = true;
  private extraHosts: { host: string; ipAddress: string }[] = [];
  private labels: Record<string, string> = {};
  private networkName?: string;
  private mounts: { source: string; target: string }[] = [];
  private startupTimeoutMs = 60_000;

  constructor(
    private readonly config: LabConfig,
    private readonly image: string,
    /** The engine version this image is meant to carry; the started engine must report it. */
    private readonly expectedVersion?: string,
  ) {}

  withStore(store: StoreKind): this {
    this.store = store;
    return this;
  }
  withInsecureRegistry(hostPort: string): this {
    this.insecureRegistries.push(hostPort);
    return this;
  }
  withMaxDownloadAttempts(n: number): this {
    this.maxDownloadAttempts = n;
    return this;
  }
  withSeccomp(available: boolean): this {
    this.seccomp = available;
    return this;
  }
  withExtraHost(host: string, ipAddress: string): this {
    this.extraHosts.push({ host, ipAddress });
    return this;
  }
  withLabels(labels: Record<string, string>): this {
    this.labels = { ...this.labels, ...labels };
    return this;
  }
  withNetwork(name: string): this {
    this.networkName = name;
    return this;
  }
  /** Host directories are always mounted read-only: DinD is root on the host's kernel. */
  withReadOnlyMount(source: string, target: string): this {
    this.mounts.push({ source, target });
    return this;
  }
  withStartupTimeout(ms: number): this {
    this.startupTimeoutMs = ms;
    return this;
  }

  async start(): Promise<StartedDindContainer> {
    const t0 = Date.now();
    let container = new GenericContainer(this.image)
      .withPrivilegedMode()
      .withCommand([...DIND_COMMAND])
      .withTmpFs(Object.fromEntries(ENGINE_STORAGE.map((m) => [m, 'rw,exec'])))
      .withCopyContentToContainer([
        {
          content: daemonJson({ store: this.store, insecureRegistries: this.insecureRegistries, maxDownloadAttempts: this.maxDownloadAttempts, seccomp: this.seccomp }),
          target: '/etc/docker/daemon.json',
        },
      ])
      .withLabels({ ...this.labels, [ROLE_LABEL]: 'dind', 'buildx-lab.store': this.store })
      .withExtraHosts(this.extraHosts)
      .withBindMounts(this.mounts.map((m) => ({ ...m, mode: 'ro' as const })))
      .withWaitStrategy(Wait.forLogMessage(/API listen on/).withStartupTimeout(this.startupTimeoutMs));
    if (this.networkName) container = container.withNetworkMode(this.networkName);
    // Keep the engine's last log lines: when dockerd dies at start, the container (and its log) is gone.
    const logTail: string[] = [];
    container = container.withLogConsumer((stream) => {
      stream.on('data', (chunk: Buffer | string) => {
        logTail.push(
          ...String(chunk)
            .split('\n')
            .filter((l) => l.trim()),
        );
        logTail.splice(0, Math.max(0, logTail.length - 30));
      });
    });
    let started: StartedTestContainer;
    try {
      started = await container.start();
    } catch (e) {
      const msg = (e as Error).message;
      const hint = /apply caps|operation not permitted/.test(msg)
        ? 'The engine refused a privileged container. Engines before 23.0 fail this way when the host lacks a capability (moby/moby#42933); use Docker >= 23.0 (make setup).'
        : /Log stream ended|timed out|Timeout/i.test(msg)
          ? `dockerd did not report "API listen on" within ${this.startupTimeoutMs / 1000} s.`
          : 'The DinD container did not start.';
      throw new EngineStartError(`DinD (${this.image}, store=${this.store}) failed: ${hint}\n${msg}`, logTail.join('\n'));
    }
    const dind = new StartedDindContainer(this.config, started, this.store, this.image);
    const info = await dind.waitForInfo(this.startupTimeoutMs);
    if (!storeMatches(this.store, info)) {
      const got = `Driver=${info.Driver}, driver-type=${info.DriverStatus?.find(([k]) => k === 'driver-type')?.[1] ?? 'none'}`;
      const log = await dind.logTail(30);
      await dind.stop();
      throw new EngineStartError(`DinD ${this.image} ignored store=${this.store}: docker info says ${got}. The daemon.json feature flag did not take effect.`, log);
    }
    if (this.expectedVersion && !info.ServerVersion.startsWith(this.expectedVersion)) {
      const log = await dind.logTail(10);
      await dind.stop();
      throw new EngineStartError(`DinD ${this.image} runs Docker ${info.ServerVersion}, not ${this.expectedVersion} as its catalog entry says`, log);
    }
    dind.serverVersion = info.ServerVersion;
    dind.readyMs = Date.now() - t0;
    if (this.networkName) dind.labAddress = started.getIpAddress(this.networkName);
    return dind;
  }
}

export class StartedDindContainer implements AsyncDisposable {
  serverVersion = '';
  readyMs = 0;
  /** its address on the lab network: what the proxy sees as the client of this engine's requests */
  labAddress?: string;
  /**
   * Why this engine must serve no other cell (a case shrank its disk: kit/engine-disk.ts), once a cell has
   * spoiled it; the cell then discards it on release (runner/cell.ts).
   */
  spoiled?: string;
  private stopped = false;

  constructor(
    private readonly config: LabConfig,
    private readonly container: StartedTestContainer,
    readonly store: StoreKind,
    readonly image: string,
  ) {}

  get id(): string {
    return this.container.getId();
  }
  get name(): string {
    return this.container.getName().replace(/^\//, '');
  }

  /** Puts files into the engine's container (one tar stream, like `docker cp`). */
  async copyFiles(files: readonly { content: string | Buffer; target: string; mode?: number }[]): Promise<void> {
    if (files.length) await this.container.copyContentToContainer([...files]);
  }

  /** Runs argv inside the engine's container through the host CLI (execa), keeping the real exit code. */
  exec(
    argv: readonly string[],
    opts: {
      env?: Record<string, string>;
      workdir?: string;
      timeoutMs?: number;
      onLine?: ExecOptions['onLine'];
      signal?: AbortSignal;
      /** the command's stdin (docker exec -i) */
      input?: Buffer;
      stdoutBytes?: number;
    } = {},
  ): Promise<RunResult> {
    return run(this.execArgv(argv, opts, opts.input ? ['-i'] : []), {
      env: childEnv(this.config),
      timeoutMs: opts.timeoutMs ?? 300_000,
      onLine: opts.onLine,
      signal: opts.signal,
      ...(opts.input ? { input: opts.input } : {}),
      ...(opts.stdoutBytes !== undefined ? { stdoutBytes: opts.stdoutBytes } : {}),
    });
  }

  /**
   * Starts argv inside the engine's container without waiting (`docker exec -i` when it reads `stdin`).
   * Killing the returned process ends the `docker exec` client only: what it runs in the engine goes on
   * until the caller ends it there (CellSandbox.start keeps its pid for that).
   */
  start(argv: readonly string[], opts: { env?: Record<string, string>; workdir?: string; timeoutMs?: number; signal?: AbortSignal; stdin?: boolean } = {}): RunningProcess {
    return start(this.execArgv(argv, opts, opts.stdin ? ['-i'] : []), {
      env: childEnv(this.config),
      timeoutMs: opts.timeoutMs ?? 300_000,
      signal: opts.signal,
      stdin: opts.stdin ?? false,
    });
  }

  private execArgv(argv: readonly string[], opts: { env?: Record<string, string>; workdir?: string }, flags: string[] = []): string[] {
    const envArgs = Object.entries(opts.env ?? {}).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    const wd = opts.workdir ? ['-w', opts.workdir] : [];
    return ['docker', 'exec', ...flags, ...envArgs, ...wd, this.id, ...argv];
  }

  async info(): Promise<DockerInfo | undefined> {
    const r = await this.exec(['docker', 'info', '--format', '{{json .}}'], { timeoutMs: 10_000 });
    if (r.exitCode !== 0) return undefined;
    try {
      return JSON.parse(r.stdout) as DockerInfo;
    } catch {
      return undefined;
    }
  }

  async waitForInfo(timeoutMs: number): Promise<DockerInfo> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = await this.info();
      if (info) return info;
      if (Date.now() > deadline) throw new EngineStartError(`DinD ${this.image}: 'docker info' did not answer within ${timeoutMs / 1000} s`, await this.logTail(30));
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /**
   * Set by the lab: whether its event stream has seen nothing end this container (lab/lab.ts), so that a
   * lease asks no `docker inspect`. Unset, the engine is asked.
   */
  liveness?: () => boolean;

  isRunning(): Promise<boolean> {
    return this.liveness ? Promise.resolve(this.liveness()) : isContainerRunning(this.config, this.id);
  }

  async logTail(lines: number): Promise<string> {
    const r = await run(['docker', 'logs', '--tail', String(lines), this.id], { env: childEnv(this.config), timeoutMs: 10_000 });
    return lastLines((r.stdout + r.stderr).trim(), lines);
  }

  /** Engine log since a moment, for a cell's evidence. */
  async logSince(sinceIso: string): Promise<string> {
    const r = await run(['docker', 'logs', '--since', sinceIso, this.id], { env: childEnv(this.config), timeoutMs: 10_000 });
    return (r.stdout + r.stderr).trim();
  }

  /**
   * Returns the engine to a clean state between cells: no containers, no images, no volumes, no build cache,
   * no cell directories. Cheaper than a new DinD, and the lab's tests check that it is complete.
   * `keepImages` (the lab's own BuildKit image, say) survive, so cells do not pull them again; a cell that
   * needs one absent removes it itself.
   */
  async resetState(opts: { keepImages?: readonly string[] } = {}): Promise<void> {
    const script = resetScript(opts);
    const r = await this.exec(['sh', '-ec', script], { timeoutMs: 120_000 });
    if (r.exitCode !== 0) throw new HarnessError(`resetting DinD ${this.name} failed: ${r.stderr.trim()}`);
  }

  /** What resetState must leave empty; used by the lab's own tests. */
  async stateCounts(): Promise<{ containers: number; images: number; volumes: number }> {
    const count = async (argv: string[]) => (await this.exec(argv, { timeoutMs: 30_000 })).stdout.trim().split('\n').filter(Boolean).length;
    return {
      containers: await count(['docker', 'ps', '-aq']),
      images: await count(['docker', 'images', '-aq']),
      volumes: await count(['docker', 'volume', 'ls', '-q']),
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // Killed, not asked: the engine's state is its own tmpfs and its containers die with its pid namespace,
    // so a graceful shutdown (up to 2 s an engine, at the end of every run) would save nothing.
    await this.container.stop({ remove: true, removeVolumes: true, timeout: 0 }).catch(() => undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/**
 * The shell script of StartedDindContainer.resetState (`sh -e`), also run as the head of a cell's set-up
 * (kit/sandbox.ts) so that reset and set-up take one exec; pure.
 */
export function resetScript(opts: { keepImages?: readonly string[] } = {}): string {
  const keep = (opts.keepImages ?? []).join(' ');
  const images = keep
    ? `for ref in $(docker images --format '{{.Repository}}:{{.Tag}}'); do case " ${keep} " in *" $ref "*) ;; *) docker rmi -f "$ref" >/dev/null 2>&1 || true;; esac; done; docker image prune -f >/dev/null`
    : 'docker image prune -af >/dev/null; imgs=$(docker images -aq); [ -z "$imgs" ] || docker rmi -f $imgs >/dev/null 2>&1 || true';
  // Containers first (they hold images and volumes), then the independent prunes side by side.
  return [
    'ids=$(docker ps -aq); [ -z "$ids" ] || docker rm -f -v $ids >/dev/null',
    `{ ${images}; } &`,
    '{ docker volume prune -af >/dev/null 2>&1 || docker volume prune -f >/dev/null; } &',
    '{ docker builder prune -af >/dev/null 2>&1 || true; } &',
    'rm -rf /tmp/cells',
    'wait',
  ].join('\n');
}
