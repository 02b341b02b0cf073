// The real CNCF distribution registry, as a testcontainers module. It has no network at all (--network none):
// it listens on a unix socket in a host directory of the lab's, which only the fault proxy dials, so every
// request to it goes through the proxy (journal, faults, emulations). Nothing on the lab network, a build
// step included, can reach it any other way.
import { accessSync, chownSync, constants, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers';
import { OFFICIAL_REGISTRY_CONFIG_PATH, REGISTRY_CONFIG_PATH } from '../images/catalog.ts';
import { HEARTBEAT_FILE, ROLE_LABEL, isContainerRunning } from '../ownership/labels.ts';
import type { LabConfig } from '../config.ts';
import { HarnessError, UsageError } from '../errors.ts';

/** Where the registry's socket directory appears in its container, and its socket there. */
export const REGISTRY_SOCKET_DIR = '/run/buildx-lab-registry';
const SOCKET_NAME = 'registry.sock';

/** sun_path holds 108 bytes on Linux, its terminating NUL included. */
const MAX_SOCKET_PATH = 107;

/** Filesystem storage with deletes enabled, on tmpfs: each run starts empty and fast. Listens on its socket only. */
export function registryConfig(): string {
  return [
    'version: 0.1',
    'log:',
    '  level: info',
    '  fields:',
    '    service: registry',
    'storage:',
    '  filesystem:',
    '    rootdirectory: /var/lib/registry',
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    '  net: unix',
    `  addr: ${REGISTRY_SOCKET_DIR}/${SOCKET_NAME}`,
    '',
  ].join('\n');
}

/**
 * A fresh directory for one socket of the lab's (the registry's, or the proxy's relayed one), mode 0700: by
 * default under the lab's cache, which the engine sees as it does the Buildx cache; `parent` elsewhere (a
 * rootless engine's share), `owner` when another uid (that engine's root) makes the socket in it.
 */
export function makeSocketDir(config: Pick<LabConfig, 'cacheDir'>, opts: { kind?: 'registry' | 'proxy'; parent?: string; owner?: number } = {}): string {
  const parent = opts.parent ?? path.join(config.cacheDir, 'run');
  mkdirSync(parent, { recursive: true, mode: 0o700 });
  // the pid in its name lets every run start and `clean` remove it once its run is gone (provision/temp-dirs.ts)
  const dir = mkdtempSync(path.join(parent, `${opts.kind ?? 'registry'}-${process.pid}-`));
  if (opts.owner !== undefined) chownSync(dir, opts.owner, opts.owner);
  const socket = path.join(dir, SOCKET_NAME);
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    rmSync(dir, { recursive: true, force: true });
    throw new UsageError(
      `the registry's socket path ${socket} is ${Buffer.byteLength(socket)} bytes, over the ${MAX_SOCKET_PATH} a unix socket allows; set BUILDX_LAB_CACHE to a shorter directory`,
    );
  }
  return dir;
}

export class RegistryContainer {
  private labels: Record<string, string> = {};
  private socketParent?: { parent: string; owner: number };

  constructor(
    private readonly config: LabConfig,
    /** the registry image, and whether it is the official registry:3 (its config lives elsewhere) */
    private readonly image: { ref: string; official: boolean },
  ) {}

  withLabels(labels: Record<string, string>): this {
    this.labels = { ...this.labels, ...labels };
    return this;
  }

  /** Its socket directory under `parent`, owned by `owner` (a rootless engine's root, who makes the socket). */
  withSocketParent(parent: string, owner: number): this {
    this.socketParent = { parent, owner };
    return this;
  }

  async start(): Promise<StartedRegistryContainer> {
    const t0 = Date.now();
    const dir = makeSocketDir(this.config, this.socketParent ?? {}); // removed again on stop
    const c = new GenericContainer(this.image.ref)
      .withNetworkMode('none')
      .withCopyContentToContainer([{ content: registryConfig(), target: this.image.official ? OFFICIAL_REGISTRY_CONFIG_PATH : REGISTRY_CONFIG_PATH }])
      .withTmpFs({ '/var/lib/registry': 'rw' })
      .withBindMounts([{ source: dir, target: REGISTRY_SOCKET_DIR, mode: 'rw' }])
      .withLabels({ ...this.labels, [ROLE_LABEL]: 'registry' })
      .withWaitStrategy(Wait.forLogMessage(/listening on/).withStartupTimeout(30_000));
    let started: StartedTestContainer;
    try {
      started = await c.start();
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    const registry = new StartedRegistryContainer(this.config, started, dir, Date.now() - t0);
    try {
      await registry.openSocket();
    } catch (e) {
      await registry.stop();
      throw e;
    }
    return registry;
  }
}

export class StartedRegistryContainer implements AsyncDisposable {
  constructor(
    private readonly config: LabConfig,
    readonly container: StartedTestContainer,
    /** the host directory holding the registry's socket */
    readonly socketDir: string,
    readonly readyMs: number,
  ) {}

  get id(): string {
    return this.container.getId();
  }

  /** The registry's socket on the host: the proxy's upstream, and the only way in. */
  get socketPath(): string {
    return path.join(this.socketDir, SOCKET_NAME);
  }

  /** The proxy's upstream, as FaultProxyOptions.upstream takes it. */
  get upstreamUrl(): string {
    return `unix://${this.socketPath}`;
  }

  /**
   * The registry runs as its image's user (root) and creates its socket 0755, which a lab run by another
   * user could not connect to: the socket is opened to all, and its 0700 directory keeps everyone else out.
   * @internal used by RegistryContainer.start
   */
  async openSocket(): Promise<void> {
    try {
      accessSync(this.socketPath, constants.W_OK);
      return;
    } catch {
      // not ours to write: open it from inside
    }
    const r = await this.container.exec(['chmod', '0666', `${REGISTRY_SOCKET_DIR}/${SOCKET_NAME}`]);
    if (r.exitCode !== 0) throw new HarnessError(`the registry's socket ${this.socketPath} cannot be opened to the lab (chmod exited ${r.exitCode}: ${r.output.trim()})`);
    accessSync(this.socketPath, constants.W_OK);
  }

  isRunning(): Promise<boolean> {
    return isContainerRunning(this.config, this.id);
  }

  /** Touches the run's heartbeat file (engine/sweep.ts reads its age): the run is alive. */
  async beat(): Promise<void> {
    const r = await this.container.exec(['touch', HEARTBEAT_FILE]);
    if (r.exitCode !== 0) throw new Error(`touch ${HEARTBEAT_FILE} exited ${r.exitCode}: ${r.output.trim()}`);
  }

  async stop(): Promise<void> {
    await this.container.stop({ remove: true, removeVolumes: true, timeout: 1_000 }).catch(() => undefined);
    rmSync(this.socketDir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
