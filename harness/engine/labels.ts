// The labels every lab resource carries, and the small engine queries the rest of the lab shares.
import type { LabConfig } from '../config.ts';
import { childEnv } from '../config.ts';
import { EngineUnreachableError } from '../errors.ts';
import { run } from '../exec.ts';
import type { CommandRecord } from '../model.ts';

export const LAB_LABEL = 'buildx-lab';
export const RUN_LABEL = `${LAB_LABEL}.run`;
export const PID_LABEL = `${LAB_LABEL}.pid`;

export function labelsFor(runId: string): Record<string, string> {
  return { [RUN_LABEL]: runId, [PID_LABEL]: String(process.pid) };
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

/** Whether each container runs, in one engine call; a removed container counts as not running. */
export async function runningContainers(config: LabConfig, ids: readonly string[]): Promise<boolean[]> {
  const r = assertEngineAnswered(config, await run(['docker', 'inspect', '-f', '{{.Id}} {{.State.Running}}', ...ids], { env: childEnv(config), timeoutMs: 10_000 }));
  const up = new Set(r.stdout.split('\n').filter((l) => l.endsWith(' true')).map((l) => l.split(' ')[0]!));
  return ids.map((id) => [...up].some((full) => full.startsWith(id)));
}

export async function isContainerRunning(config: LabConfig, id: string): Promise<boolean> {
  return (await runningContainers(config, [id]))[0]!;
}
