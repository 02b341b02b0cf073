// The real CNCF distribution registry, as a testcontainers module. It publishes no port: the host
// reaches it on the lab network, and the DinD engines reach it only through the fault proxy.
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers';
import { OFFICIAL_REGISTRY_CONFIG_PATH, REGISTRY_CONFIG_PATH } from '../images/catalog.ts';
import { HEARTBEAT_FILE, ROLE_LABEL, isContainerRunning } from '../engine/labels.ts';
import type { LabConfig } from '../config.ts';

/** Filesystem storage with deletes enabled, on tmpfs: each run starts empty and fast. */
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
    '  addr: :5000',
    '',
  ].join('\n');
}

export class RegistryContainer {
  private labels: Record<string, string> = {};
  private networkName?: string;

  constructor(
    private readonly config: LabConfig,
    /** the registry image, and whether it is the official registry:3 (its config lives elsewhere) */
    private readonly image: { ref: string; official: boolean },
  ) {}

  withLabels(labels: Record<string, string>): this { this.labels = { ...this.labels, ...labels }; return this; }
  withNetwork(name: string): this { this.networkName = name; return this; }

  async start(): Promise<StartedRegistryContainer> {
    const t0 = Date.now();
    let c = new GenericContainer(this.image.ref)
      .withCopyContentToContainer([{ content: registryConfig(), target: this.image.official ? OFFICIAL_REGISTRY_CONFIG_PATH : REGISTRY_CONFIG_PATH }])
      .withTmpFs({ '/var/lib/registry': 'rw' })
      .withLabels({ ...this.labels, [ROLE_LABEL]: 'registry' })
      .withWaitStrategy(Wait.forLogMessage(/listening on/).withStartupTimeout(30_000));
    if (this.networkName) c = c.withNetworkMode(this.networkName);
    const started = await c.start();
    const ip = this.networkName ? started.getIpAddress(this.networkName) : started.getHost();
    return new StartedRegistryContainer(this.config, started, `http://${ip}:5000`, Date.now() - t0);
  }
}

export class StartedRegistryContainer implements AsyncDisposable {
  constructor(
    private readonly config: LabConfig,
    readonly container: StartedTestContainer,
    /** reachable from the host only: the proxy's upstream */
    readonly upstreamUrl: string,
    readonly readyMs: number,
  ) {}

  get id(): string { return this.container.getId(); }

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
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
