// moby/moby#49453: with the docker-container driver in Docker-in-Docker (containerd enabled), Buildx
// "successfully" pulls the BuildKit image, then fails with `Error response from daemon: No such image`.
// The engine's images/create answers HTTP 200 and reports the failed pull inside the stream
// ({"errorDetail":{"message":...}}); Buildx before v0.21.0-rc2 read only the initial response.
// Fix: docker/buildx#2988 (3f82aadc), first in v0.21.0-rc2.
//
// Each cell: publish the BuildKit image to the lab registry, make sure the engine does not already
// have it (Buildx falls back to a local image, which would hide the bug), arm a fault on its layer
// blob at the proxy, then `docker buildx create --driver docker-container` + `inspect --bootstrap`.
import { ENGINE_VERSIONS } from '../harness/images/catalog.ts';
import { DEFAULT_BUILDKIT } from '../harness/buildkit/image.ts';
import { blobGet, type Fault } from '../harness/registry/fault-proxy.ts';
import { HarnessError } from '../harness/errors.ts';
import { registerScenario } from '../harness/runner/vitest.ts';
import type { Scenario } from '../harness/runner/scenario.ts';
import { lastErrorLine, prepareContext, pushTarget, verifyPushed } from '../harness/runner/steps.ts';
import type { CommandRecord, JournalEntry } from '../harness/model.ts';
import type { VerificationReport } from '../harness/oci/verify.ts';

const FAULTS = ['none', 'corrupt', '404', 'truncated', '500'] as const;
type FaultName = (typeof FAULTS)[number];

/** What the proxy does to the GET of the BuildKit image's layer blob. */
function faultFor(name: Exclude<FaultName, 'none'>, layerSize: number): Fault {
  switch (name) {
    case 'corrupt': return { kind: 'corrupt' };
    case '404': return { kind: 'status', status: 404, code: 'BLOB_UNKNOWN' };
    case 'truncated': return { kind: 'truncate', afterBytes: Math.floor(layerSize / 2) };
    case '500': return { kind: 'status', status: 500, code: 'UNKNOWN' };
  }
}

const NO_SUCH_IMAGE = /No such image/i;

interface Observation {
  fault: FaultName;
  ref: string;
  create: CommandRecord;
  bootstrap?: CommandRecord;
  build?: CommandRecord;
  registry?: VerificationReport;
  faultHits: JournalEntry[];
}

const pullStreamErrors: Scenario<Observation> = {
  id: 'pull-stream-errors',
  title: 'A failed BuildKit image pull surfaces as "No such image"',
  links: ['https://github.com/moby/moby/issues/49453', 'https://github.com/docker/buildx/pull/2988'],
  symptom: 'ERROR: Error response from daemon: No such image: <buildkit image>',
  axes: {
    // The Go module proxy reachable here does not serve v0.21.0-rc1, -rc2 or v0.21.0; with release
    // downloads they run, without them those cells are skipped. v0.20.1 / v0.21.1 bracket the fix here.
    buildx: ['debian-trixie', '0.19.3', '0.20.1', '0.21.0-rc1', '0.21.0-rc2', '0.21.0', '0.21.1', 'debian-sid', 'latest'],
    engine: ENGINE_VERSIONS,
    store: ['containerd', 'classic'],
    driver: ['docker-container'],
    fault: FAULTS,
  },
  quick: { buildx: ['0.20.1', '0.21.1'], engine: ['26.1.5'], store: ['containerd'], fault: ['none', 'corrupt', '404'] },
  faults: FAULTS,
  expectations: [
    { when: { fault: 'none' }, outcome: 'control', reason: 'no fault: every version boots the builder and builds' },
    { when: { buildx: '<0.21.0-rc2' }, outcome: 'reproduced', reason: 'before #2988 the pull stream\'s error is ignored; the create fails later with "No such image"' },
    { when: { buildx: '>=0.21.0-rc2' }, outcome: 'fixed', reason: 'from v0.21.0-rc2 the pull\'s own error is reported' },
  ],

  async observe(ctx) {
    const fault = ctx.axes.fault as FaultName;
    const bk = await ctx.lab.buildkit(DEFAULT_BUILDKIT);
    await ctx.sandbox.docker(['image', 'rm', '-f', bk.ref]);
    if ((await ctx.sandbox.docker(['image', 'inspect', bk.ref])).exitCode === 0) {
      throw new HarnessError(`the engine still has ${bk.ref}; Buildx would use it and hide the pull error`);
    }
    const layer = [...bk.layers].sort((a, b) => b.size - a.size)[0];
    if (!layer) throw new HarnessError(`${bk.ref} has no layers to fault`);
    const mark = ctx.lab.proxy.journal.mark();
    const ruleId = fault === 'none' ? undefined : ctx.lab.proxy.addFault(blobGet(bk.repository, layer.digest, faultFor(fault, layer.size), { name: `pull-${fault}` }));
    ctx.evidence.facts.push(`fault: ${fault}${ruleId ? ` on GET ${bk.repository}@${layer.digest.slice(0, 19)} (${layer.size} bytes)` : ''}`);
    const name = ctx.cellId;
    try {
      const create = await ctx.phase('buildx', () =>
        ctx.sandbox.buildx(['create', '--name', name, '--driver', 'docker-container', '--driver-opt', `image=${bk.ref}`, '--driver-opt', 'network=host', '--buildkitd-config', ctx.sandbox.buildkitdConfig]),
      );
      const obs: Observation = { fault, ref: bk.ref, create, faultHits: [] };
      if (create.exitCode === 0) {
        obs.bootstrap = await ctx.phase('buildx', () => ctx.sandbox.buildx(['inspect', '--bootstrap', name], { timeoutMs: 180_000 }));
        ctx.evidence.facts.push(`bootstrap exit ${obs.bootstrap.exitCode}: ${lastErrorLine(obs.bootstrap.stderr + obs.bootstrap.stdout)}`);
      }
      if (fault === 'none' && obs.bootstrap?.exitCode === 0) {
        const dir = await prepareContext(ctx, 'multiplatform-scratch');
        const target = pushTarget('pull-stream', ctx.cellId);
        obs.build = await ctx.phase('buildx', () => ctx.sandbox.buildx(['build', '--builder', name, '--platform', 'linux/amd64', '--push', '-t', target.ref, dir]));
        ctx.evidence.facts.push(`build exit ${obs.build.exitCode}: ${lastErrorLine(obs.build.stderr)}`);
        if (obs.build.exitCode === 0) obs.registry = await verifyPushed(ctx, target, ['linux/amd64']);
      }
      obs.faultHits = ctx.lab.proxy.journal.since(mark).filter((e) => e.intervention?.startsWith('pull-'));
      ctx.evidence.facts.push(`the proxy applied the fault ${obs.faultHits.length} time(s)`);
      return obs;
    } finally {
      if (ruleId) ctx.lab.proxy.removeFault(ruleId);
      await ctx.sandbox.buildx(['rm', '--force', name]).catch(() => undefined);
    }
  },

  judge(o) {
    const failed = o.create.exitCode !== 0 ? o.create : o.bootstrap;
    if (o.fault === 'none') {
      if (failed && failed.exitCode !== 0) return { observed: 'unexpected', summary: `control failed to boot: ${lastErrorLine(failed.stderr)}` };
      if (!o.build || o.build.exitCode !== 0) return { observed: 'unexpected', summary: `builder booted but the build failed: ${lastErrorLine(o.build?.stderr ?? '')}` };
      return o.registry?.ok
        ? { observed: 'control', summary: 'builder booted from the lab registry and pushed a verified image' }
        : { observed: 'unexpected', summary: 'build pushed, but the registry does not hold a complete image' };
    }
    if (o.faultHits.length === 0) return { observed: 'unexpected', summary: 'the fault was never hit: the engine did not fetch the layer (cached image?)' };
    if (!failed || failed.exitCode === 0) return { observed: 'unexpected', summary: `the builder booted although the ${o.fault} fault was hit ${o.faultHits.length} time(s)` };
    const line = lastErrorLine(failed.stderr + '\n' + failed.stdout);
    if (NO_SUCH_IMAGE.test(failed.stderr + failed.stdout)) return { observed: 'reproduced', summary: `exit ${failed.exitCode}, misleading: ${line}` };
    return { observed: 'fixed', summary: `exit ${failed.exitCode}, the pull's own error: ${line}` };
  },
};

registerScenario(pullStreamErrors);
