// Removing what earlier lab runs left behind (killed runners), and counting what the lab has on the engine.
import { connect } from 'node:net';
import { childEnv, type LabConfig } from '../config.ts';
import { run } from '../exec.ts';
import { LAB_LABEL, PID_LABEL, RUN_LABEL } from './labels.ts';
import { pidAlive } from './host.ts';

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
