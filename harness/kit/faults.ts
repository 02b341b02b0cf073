// A docker-container builder whose BuildKit image pull is faulted at the proxy (moby/moby#49453): the
// engine must fetch the image's largest layer through the fault, so the image is removed from the engine
// first (Buildx falls back to a local image, which would hide a failed pull).
import { HarnessError } from '../errors.ts';
import type { CommandRecord, JournalEntry, PullFault } from '../model.ts';
import { blobGet, type Fault } from '../registry/fault-proxy.ts';
import { errorLine } from '../text.ts';
import type { Builder, BuilderSpec } from './builders.ts';
import type { Kit } from './kit.ts';

/** What the proxy does to the GET of the BuildKit image's layer blob. */
export function pullFault(name: PullFault, layerSize: number): Fault {
  switch (name) {
    case 'corrupt':
      return { kind: 'corrupt' };
    case '404':
      return { kind: 'status', status: 404, code: 'BLOB_UNKNOWN' };
    case 'truncated':
      return { kind: 'truncate', afterBytes: Math.floor(layerSize / 2) };
    case '500':
      return { kind: 'status', status: 500, code: 'UNKNOWN' };
  }
}

export interface FaultedBoot {
  builder: Builder;
  /** requests the pull fault changed */
  faultHits: JournalEntry[];
}

/** Boots `spec` (a docker-container builder) with `fault` on its BuildKit image pull (none: a clean pull); failures are returned, not thrown. */
export async function bootWithPullFault(kit: Kit, spec: BuilderSpec, fault: PullFault | undefined): Promise<FaultedBoot> {
  // the image the builder will pull: the rootless one for a rootless builder
  const ref = await kit.buildkitImage(spec.buildkit, spec.rootless);
  const published = kit.lab.publishedImage(ref);
  // `image ls` (exit 0, empty) rather than `image inspect` (exit 1): a report's "last failing command" must be Buildx's.
  const left = await kit.sandbox.sh(`docker image rm -f ${ref} >/dev/null 2>&1; docker image ls -q ${ref}`);
  if (left.stdout.trim() !== '') throw new HarnessError(`the engine still has ${ref}; Buildx would use it and hide the pull error`);
  // The largest layer no other image of the lab shares: an engine keeps the lab's other images across cells
  // (another BuildKit version, its rootless variant), and a layer it holds through them is never fetched.
  const shared = new Set(kit.lab.publishedImages().flatMap((p) => (p.ref === published.ref ? [] : p.layers.map((l) => l.digest))));
  const bySize = [...published.layers].sort((a, b) => b.size - a.size);
  const layer = bySize.find((l) => !shared.has(l.digest)) ?? bySize[0];
  if (!layer) throw new HarnessError(`${ref} has no layers to fault`);
  const mark = kit.mark();
  const client = kit.sandbox.dind.labAddress;
  const ruleId = fault ? kit.lab.proxy.addFault(blobGet(published.repository, layer.digest, pullFault(fault, layer.size), { name: `pull-${fault}`, client })) : undefined;
  kit.fact(`fault: ${fault ?? 'none'}${ruleId ? ` on GET ${published.repository}@${layer.digest.slice(0, 19)} (${layer.size} bytes)` : ''}`);
  try {
    const builder = await kit.bootBuilder(spec);
    const faultHits = kit.requests(mark).filter((e) => e.intervention?.startsWith('pull-'));
    kit.fact(`the proxy applied the fault ${faultHits.length} time(s)`);
    return { builder, faultHits };
  } finally {
    if (ruleId) kit.lab.proxy.removeFault(ruleId);
  }
}

/** Buildx's refusal of multi-platform output with the docker driver on the classic store (both wordings seen). */
export const MULTIPLATFORM_REFUSAL = /Multi-platform build is not supported for the docker driver|multiple platforms feature is currently not supported for docker driver/i;

/**
 * The docker driver on the classic store refuses multi-platform output: a control that every scenario pushing
 * several platforms judges alike. Anything else (a success, another error) is unexpected.
 */
export function judgeMultiplatformRefusal(attempt: CommandRecord): { observed: 'control' | 'unexpected'; summary: string } {
  return attempt.exitCode !== 0 && MULTIPLATFORM_REFUSAL.test(attempt.stderr)
    ? { observed: 'control', summary: `refused: ${errorLine(attempt.stderr)}` }
    : { observed: 'unexpected', summary: `expected the multi-platform refusal, got exit ${attempt.exitCode}: ${errorLine(attempt.stderr)}` };
}
