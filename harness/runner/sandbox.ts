// What a cell's body sees: Buildx bound to one binary inside one DinD engine, with its own
// DOCKER_CONFIG and BUILDX_CONFIG (as docker/buildx's integration sandbox does), and every
// command recorded for the evidence.
import path from 'node:path';
import type { BuildxBinary } from '../buildx/buildx.ts';
import { BUILDX_MOUNT, FIXTURES_MOUNT, type StartedDindContainer } from '../dind/dind.ts';
import { HarnessError } from '../errors.ts';
import type { CommandRecord } from '../model.ts';

/** buildkitd.toml that lets a docker-container builder talk plain HTTP to the lab registry. */
export function buildkitdToml(registryHost: string): string {
  return `[registry."${registryHost}"]\n  http = true\n  insecure = true\n`;
}

/** Shell-quotes one argument; pure. */
export function shq(arg: string): string {
  return /^[A-Za-z0-9_./:=@,+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export class CellSandbox {
  readonly commands: CommandRecord[] = [];
  readonly dir: string;

  private constructor(
    readonly dind: StartedDindContainer,
    readonly binary: BuildxBinary,
    /** the binary's path inside the DinD container */
    readonly pluginPath: string,
    readonly cellId: string,
    /** aborted when a lab component dies, so a command never waits out Buildx's retries */
    private readonly signal?: AbortSignal,
  ) {
    this.dir = `/tmp/cells/${cellId}`;
  }

  /** Creates the cell's directories and installs the binary as the `docker buildx` CLI plugin. */
  /**
   * `fixture` (a directory of fixtures/) is copied into the cell's context, stamped with the cell id so
   * every cell pushes its own digests; done in the same exec as the rest, since each exec costs ~0.1 s.
   */
  static async create(dind: StartedDindContainer, binary: BuildxBinary, cacheRoot: string, cellId: string, registryHost: string, opts: { signal?: AbortSignal; fixture?: string } = {}): Promise<CellSandbox> {
    const rel = path.relative(cacheRoot, binary.path);
    if (rel.startsWith('..')) throw new HarnessError(`buildx binary ${binary.path} is outside the mounted cache ${cacheRoot}`);
    const sb = new CellSandbox(dind, binary, `${BUILDX_MOUNT}/${rel}`, cellId, opts.signal);
    const script = [
      `mkdir -p ${sb.dir}/docker/cli-plugins ${sb.dir}/buildx ${sb.dir}/ctx`,
      `ln -sf ${shq(sb.pluginPath)} ${sb.dir}/docker/cli-plugins/docker-buildx`,
      `printf '%s' ${shq(buildkitdToml(registryHost))} > ${sb.dir}/buildkitd.toml`,
      ...(opts.fixture ? [`cp -r ${shq(sb.fixture(opts.fixture))}/. ${sb.contextDir}/`, `echo ${cellId} > ${sb.contextDir}/cell-id.txt`] : []),
    ].join(' && ');
    sb.preparedFixture = opts.fixture;
    const r = await dind.exec(['sh', '-c', script], { timeoutMs: 30_000 });
    if (r.exitCode !== 0) throw new HarnessError(`preparing cell directory in ${dind.name} failed: ${r.stderr.trim()}`);
    return sb;
  }

  /** the fixture already copied into contextDir, if any */
  preparedFixture?: string;

  get contextDir(): string {
    return `${this.dir}/ctx`;
  }

  get env(): Record<string, string> {
    return { DOCKER_CONFIG: `${this.dir}/docker`, BUILDX_CONFIG: `${this.dir}/buildx`, BUILDKIT_PROGRESS: 'plain', DOCKER_CLI_HINTS: 'false' };
  }

  get buildkitdConfig(): string {
    return `${this.dir}/buildkitd.toml`;
  }

  /** A fixture directory as seen inside DinD (read-only). */
  fixture(name: string): string {
    return `${FIXTURES_MOUNT}/${name}`;
  }

  /** `docker buildx <args>` through the docker CLI of the engine under test. */
  buildx(args: readonly string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<CommandRecord> {
    return this.record(['docker', 'buildx', ...args], opts);
  }

  docker(args: readonly string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<CommandRecord> {
    return this.record(['docker', ...args], opts);
  }

  sh(script: string, opts: { timeoutMs?: number } = {}): Promise<CommandRecord> {
    return this.record(['sh', '-c', script], opts);
  }

  private async record(argv: string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number }): Promise<CommandRecord> {
    const r = await this.dind.exec(argv, { env: { ...this.env, ...opts.env }, workdir: opts.cwd ?? `${this.dir}/ctx`, timeoutMs: opts.timeoutMs ?? 300_000, signal: this.signal });
    // Evidence shows the command as run inside DinD, not the `docker exec` wrapper around it.
    const rec: CommandRecord = { ...r, argv };
    this.commands.push(rec);
    return rec;
  }
}
