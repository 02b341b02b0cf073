// Steps that several scenario bodies share: a per-cell build context, a push target in the lab
// registry, and verification of what landed there (through the registry API, never through Buildx).
import { verifyImage, type VerificationReport } from '../oci/verify.ts';
import { REGISTRY_HOST } from '../lab.ts';
import type { CellContext } from './scenario.ts';
import { shq } from './sandbox.ts';
import { HarnessError } from '../errors.ts';

/** Copies a fixture into the cell's writable context and stamps it with the cell id. */
export async function prepareContext(ctx: CellContext, fixture: string): Promise<string> {
  const dir = `${ctx.sandbox.dir}/ctx`;
  const r = await ctx.sandbox.sh(`cp -r ${shq(ctx.sandbox.fixture(fixture))}/. ${dir}/ && echo ${ctx.cellId} > ${dir}/cell-id.txt`);
  if (r.exitCode !== 0) throw new HarnessError(`cannot prepare context from fixture ${fixture}: ${r.stderr.trim()}`);
  return dir;
}

export interface PushTarget {
  repository: string;
  tag: string;
  /** as the engine sees it */
  ref: string;
}

/** Every cell pushes to its own repository, so nothing an earlier cell pushed changes what a registry does. */
export function pushTarget(scenario: string, cellId: string): PushTarget {
  const repository = `lab/${scenario}/${cellId}`;
  return { repository, tag: 'v1', ref: `${REGISTRY_HOST}/${repository}:v1` };
}

export async function verifyPushed(ctx: CellContext, target: PushTarget, platforms: readonly string[]): Promise<VerificationReport> {
  return ctx.phase('verify', async () => {
    const report = await verifyImage(ctx.lab.client(), target.repository, target.tag, { platforms: [...platforms] });
    Object.assign(ctx.evidence.manifests, report.manifests);
    return report;
  });
}

/** The line a reader needs first: the last line that says ERROR, else the last line. */
export function lastErrorLine(text: string): string {
  const lines = text.trim().split('\n').filter((l) => l.trim());
  return [...lines].reverse().find((l) => /error/i.test(l)) ?? lines.at(-1) ?? '';
}
