// The provisioning status of a run, shared through a file in its report directory: the provisioner (in
// the CLI's process) writes it as requirements become ready or fail; the cells (in a vitest worker) read
// it and start as soon as what they need is there. A failed requirement carries its reason, and whether
// it is a missing requirement of this host (the cell is skipped) or a failure (the cell is an error).
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { HarnessError, ProvisionError, RequirementError } from '../errors.ts';

export const STATUS_FILE = 'provision-status.json';

const entrySchema = z.discriminatedUnion('state', [
  z.object({ state: z.literal('pending'), detail: z.string().max(2000).optional() }),
  z.object({ state: z.literal('ready'), result: z.record(z.string(), z.unknown()), ms: z.number() }),
  z.object({ state: z.literal('failed'), reason: z.string().max(20_000), missing: z.boolean(), ms: z.number() }),
]);
export type StatusEntry = z.infer<typeof entrySchema>;

const statusSchema = z.object({
  /** every requirement has been probed: what cannot be had is known */
  probed: z.boolean(),
  /** the provisioner gave up (engine gone, interrupted); nothing pending will become ready */
  aborted: z.string().max(2000).optional(),
  requirements: z.record(z.string(), entrySchema),
});
export type ProvisionStatus = z.infer<typeof statusSchema>;

export function statusPath(reportDir: string): string {
  return path.join(reportDir, STATUS_FILE);
}

export function writeStatus(reportDir: string, status: ProvisionStatus): void {
  const file = statusPath(reportDir);
  writeFileSync(`${file}.tmp`, JSON.stringify(status));
  renameSync(`${file}.tmp`, file);
}

export function readStatus(reportDir: string): ProvisionStatus | undefined {
  const file = statusPath(reportDir);
  if (!existsSync(file)) return undefined;
  try {
    return statusSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch {
    return undefined; // mid-rename on some filesystems; the next poll reads it
  }
}

/**
 * Waits until requirement `id` is ready and returns its result. A missing requirement throws
 * RequirementError (the cell is skipped with the reason), a failed one ProvisionError.
 */
export async function waitForRequirement<T>(reportDir: string, id: string, opts: { signal?: AbortSignal; timeoutMs?: number; onWait?: (detail: string) => void } = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 90 * 60_000);
  for (;;) {
    const status = readStatus(reportDir);
    const entry = status?.requirements[id];
    if (entry?.state === 'ready') return entry.result as T;
    if (entry?.state === 'failed') throw entry.missing ? new RequirementError(entry.reason) : new ProvisionError(entry.reason);
    if (status?.aborted) throw new HarnessError(`provisioning stopped before ${id} was ready: ${status.aborted}`);
    if (status && !entry) throw new HarnessError(`${id} is not among this run's requirements`);
    if (opts.signal?.aborted) throw new HarnessError(`cancelled while waiting for ${id}`);
    if (Date.now() > deadline) throw new HarnessError(`${id} was not ready within ${Math.round((opts.timeoutMs ?? 0) / 60_000)} min`);
    if (entry?.state === 'pending' && entry.detail) opts.onWait?.(entry.detail);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Waits until every requirement has been probed, so a cell never starts before what cannot be had is known. */
export async function waitForProbes(reportDir: string, signal?: AbortSignal): Promise<void> {
  for (;;) {
    const status = readStatus(reportDir);
    if (status?.probed || status?.aborted) return;
    if (signal?.aborted) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}
