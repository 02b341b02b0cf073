// Steps that several scenario bodies share: a per-cell build context, a push target in the lab
// registry, and verification of what landed there (through the registry API, never through Buildx).
import { verifyImage, type VerificationReport } from '../oci/verify.ts';
import { REGISTRY_HOST } from '../lab.ts';
import type { CellContext } from './scenario.ts';
import { shq } from './sandbox.ts';
import { HarnessError } from '../errors.ts';
import { DEFAULT_BUILDKIT } from '../buildkit/image.ts';
import { blobGet, type Fault } from '../registry/fault-proxy.ts';
import type { CommandRecord, JournalEntry } from '../model.ts';
import { errorLine } from '../text.ts';

/** The cell's build context holding `fixture`; the sandbox copies the scenario's own fixture when it is created. */
export async function prepareContext(ctx: CellContext, fixture: string): Promise<string> {
  const dir = ctx.sandbox.contextDir;
  if (ctx.sandbox.preparedFixture === fixture) return dir;
  const r = await ctx.sandbox.sh(`cp -r ${shq(ctx.sandbox.fixture(fixture))}/. ${dir}/ && echo ${ctx.cellId} > ${dir}/cell-id.txt`);
  if (r.exitCode !== 0) throw new HarnessError(`cannot prepare context from fixture ${fixture}: ${r.stderr.trim()}`);
  return dir;
}

/** Buildx's refusal of multi-platform output with the docker driver on the classic store (both wordings seen). */
export const MULTIPLATFORM_REFUSAL = /Multi-platform build is not supported for the docker driver|multiple platforms feature is currently not supported for docker driver/i;

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


/** Faults on the BuildKit image pull (moby/moby#49453), by the name scenarios and cases use. */
export const PULL_FAULTS = ['corrupt', '404', 'truncated', '500'] as const;
export type PullFault = (typeof PULL_FAULTS)[number];

/** What the proxy does to the GET of the BuildKit image's layer blob. */
export function pullFault(name: PullFault, layerSize: number): Fault {
  switch (name) {
    case 'corrupt': return { kind: 'corrupt' };
    case '404': return { kind: 'status', status: 404, code: 'BLOB_UNKNOWN' };
    case 'truncated': return { kind: 'truncate', afterBytes: Math.floor(layerSize / 2) };
    case '500': return { kind: 'status', status: 500, code: 'UNKNOWN' };
  }
}

export interface BuilderBoot {
  /** the BuildKit image as the engine pulls it */
  ref: string;
  create: CommandRecord;
  /** absent when create failed */
  bootstrap?: CommandRecord;
  /** requests the pull fault changed */
  faultHits: JournalEntry[];
}

/**
 * `docker buildx create --driver docker-container` from the lab's BuildKit image, pulled through the lab
 * registry, then `inspect --bootstrap`. With `fault`, the GET of the image's largest layer is faulted at
 * the proxy for the duration. Failures are returned, not thrown. Nothing needs removing afterwards: the
 * engine reset before the next cell removes the builder's container, and its config lives in the cell dir.
 */
export async function bootContainerBuilder(ctx: CellContext, name: string, fault?: PullFault): Promise<BuilderBoot> {
  const bk = await ctx.lab.buildkit(DEFAULT_BUILDKIT);
  // `image ls` (exit 0, empty) rather than `image inspect` (exit 1): a report's "last failing command" must be Buildx's.
  const left = await ctx.sandbox.sh(`docker image rm -f ${bk.ref} >/dev/null 2>&1; docker image ls -q ${bk.ref}`);
  if (left.stdout.trim() !== '') {
    throw new HarnessError(`the engine still has ${bk.ref}; Buildx would use it and hide the pull error`);
  }
  const layer = [...bk.layers].sort((a, b) => b.size - a.size)[0];
  if (!layer) throw new HarnessError(`${bk.ref} has no layers to fault`);
  const mark = ctx.lab.proxy.journal.mark();
  const client = ctx.sandbox.dind.labAddress;
  const ruleId = fault ? ctx.lab.proxy.addFault(blobGet(bk.repository, layer.digest, pullFault(fault, layer.size), { name: `pull-${fault}`, client })) : undefined;
  ctx.evidence.facts.push(`fault: ${fault ?? 'none'}${ruleId ? ` on GET ${bk.repository}@${layer.digest.slice(0, 19)} (${layer.size} bytes)` : ''}`);
  try {
    const create = await ctx.phase('buildx', () =>
      ctx.sandbox.buildx(['create', '--name', name, '--driver', 'docker-container', '--driver-opt', `image=${bk.ref}`, '--driver-opt', 'network=host', '--buildkitd-config', ctx.sandbox.buildkitdConfig]),
    );
    const boot: BuilderBoot = { ref: bk.ref, create, faultHits: [] };
    if (create.exitCode === 0) {
      boot.bootstrap = await ctx.phase('buildx', () => ctx.sandbox.buildx(['inspect', '--bootstrap', name], { timeoutMs: 180_000 }));
      ctx.evidence.facts.push(`bootstrap exit ${boot.bootstrap.exitCode}: ${errorLine(boot.bootstrap.stderr + boot.bootstrap.stdout)}`);
    }
    boot.faultHits = ctx.requestsSince(mark).filter((e) => e.intervention?.startsWith('pull-'));
    ctx.evidence.facts.push(`the proxy applied the fault ${boot.faultHits.length} time(s)`);
    return boot;
  } finally {
    if (ruleId) ctx.lab.proxy.removeFault(ruleId);
  }
}

