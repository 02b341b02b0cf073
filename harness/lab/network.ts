// The lab's user-defined bridge network: the DinD engines, and the fault proxy on its gateway. Not the
// registry, which has no network (registry/registry.ts), so the proxy is the only way to it. Created through
// the CLI rather than testcontainers' Network because every lab resource must carry the run's labels (for
// the sweep after a killed run).
import { randomBytes } from 'node:crypto';
import { childEnv, type LabConfig } from '../config.ts';
import { HarnessError } from '../errors.ts';
import { run, runChecked } from '../exec.ts';

export class LabNetwork {
  private labels: Record<string, string> = {};
  constructor(
    private readonly config: LabConfig,
    private readonly name = `buildx-lab-${randomBytes(4).toString('hex')}`,
  ) {}

  withLabels(labels: Record<string, string>): this {
    this.labels = { ...this.labels, ...labels };
    return this;
  }

  async start(): Promise<StartedLabNetwork> {
    const env = childEnv(this.config);
    const labelArgs = Object.entries(this.labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
    await runChecked(['docker', 'network', 'create', '--driver', 'bridge', ...labelArgs, this.name], { env, timeoutMs: 60_000 });
    const r = await runChecked(['docker', 'network', 'inspect', '--format', '{{(index .IPAM.Config 0).Gateway}}', this.name], { env });
    const gateway = r.stdout.trim();
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(gateway)) throw new HarnessError(`network ${this.name} has no IPv4 gateway (got '${gateway}')`);
    return new StartedLabNetwork(this.config, this.name, gateway);
  }
}

export class StartedLabNetwork implements AsyncDisposable {
  constructor(
    private readonly config: LabConfig,
    readonly name: string,
    /** The host's address on this bridge: where the fault proxy listens for the DinD engines. */
    readonly gateway: string,
  ) {}

  async stop(): Promise<void> {
    await run(['docker', 'network', 'rm', this.name], { env: childEnv(this.config), timeoutMs: 60_000 });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
