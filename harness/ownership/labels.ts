// The labels every lab resource carries, and the small engine queries the rest of the lab shares.
import type { LabConfig } from '../config.ts';
import { childEnv } from '../config.ts';
import { EngineUnreachableError } from '../errors.ts';
import { run } from '../exec.ts';
import type { CommandRecord } from '../model.ts';
import { currentOwner, type Owner } from './owner.ts';

export const LAB_LABEL = 'buildx-lab';
export const RUN_LABEL = `${LAB_LABEL}.run`;
export const PID_LABEL = `${LAB_LABEL}.pid`;
export const ROLE_LABEL = `${LAB_LABEL}.role`;
/** The owner's identity beside the pid (engine/owner.ts): what makes the pid mean something. */
const OWNER_LABELS = { host: `${LAB_LABEL}.host`, boot: `${LAB_LABEL}.boot`, pidNs: `${LAB_LABEL}.pidns`, start: `${LAB_LABEL}.start` } as const;

/**
 * Where a run's registry container holds the run's heartbeat: the lab touches it every few seconds, and a
 * sweeper anywhere reads its age through the engine, on the engine's clock (no clock skew between hosts).
 */
export const HEARTBEAT_FILE = '/tmp/buildx-lab.heartbeat';
export const HEARTBEAT_EVERY_MS = 5_000;

export function labelsFor(runId: string, owner: Owner = currentOwner()): Record<string, string> {
  return {
    [RUN_LABEL]: runId,
    [PID_LABEL]: String(owner.pid),
    [OWNER_LABELS.host]: owner.host,
    [OWNER_LABELS.boot]: owner.boot,
    [OWNER_LABELS.pidNs]: owner.pidNs,
    [OWNER_LABELS.start]: owner.start,
  };
}

/** The owner a resource's labels name; fields are missing on resources of older lab versions. Pure. */
export function ownerFromLabels(labels: Record<string, string> | null | undefined): Partial<Owner> {
  const l = labels ?? {};
  const pid = Number(l[PID_LABEL]);
  return {
    ...(Number.isInteger(pid) && pid > 0 ? { pid } : {}),
    ...(l[OWNER_LABELS.host] ? { host: l[OWNER_LABELS.host] } : {}),
    ...(l[OWNER_LABELS.boot] ? { boot: l[OWNER_LABELS.boot] } : {}),
    ...(l[OWNER_LABELS.pidNs] ? { pidNs: l[OWNER_LABELS.pidNs] } : {}),
    ...(l[OWNER_LABELS.start] ? { start: l[OWNER_LABELS.start] } : {}),
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

/** Whether each container runs, in one engine call; a removed container counts as not running. */
export async function runningContainers(config: LabConfig, ids: readonly string[]): Promise<boolean[]> {
  const r = assertEngineAnswered(config, await run(['docker', 'inspect', '-f', '{{.Id}} {{.State.Running}}', ...ids], { env: childEnv(config), timeoutMs: 10_000 }));
  const up = new Set(
    r.stdout
      .split('\n')
      .filter((l) => l.endsWith(' true'))
      .map((l) => l.split(' ')[0]!),
  );
  return ids.map((id) => [...up].some((full) => full.startsWith(id)));
}

export async function isContainerRunning(config: LabConfig, id: string): Promise<boolean> {
  return (await runningContainers(config, [id]))[0]!;
}
