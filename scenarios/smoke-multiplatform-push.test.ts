// Smoke: the lab's foundation end to end. A real DinD engine (containerd or classic store), the real
// registry behind the proxy, a real Buildx: `docker buildx build --push` of a two-platform image.
//   containerd store: the registry must hold an index with exactly both platforms, every blob verified.
//   classic store: the docker driver must refuse multi-platform output (Buildx's documented limitation).
import { ENGINE_VERSIONS } from '../harness/images/catalog.ts';
import { registerScenario } from '../harness/runner/vitest.ts';
import type { Scenario } from '../harness/runner/scenario.ts';
import { MULTIPLATFORM_REFUSAL, prepareContext, pushTarget, verifyPushed } from '../harness/runner/steps.ts';
import { describeReport, type VerificationReport } from '../harness/oci/verify.ts';
import type { CommandRecord } from '../harness/model.ts';
import { errorLine } from '../harness/text.ts';

const PLATFORMS = ['linux/amd64', 'linux/arm64'];

interface Observation {
  build: CommandRecord;
  registry?: VerificationReport;
}

const smoke: Scenario<Observation> = {
  id: 'smoke',
  title: 'Multi-platform build --push through DinD and the lab registry',
  links: ['https://docs.docker.com/build/building/multi-platform/'],
  symptom: 'none: a control of the lab itself',
  axes: {
    buildx: ['debian-trixie', 'debian-sid'],
    engine: ENGINE_VERSIONS,
    store: ['containerd', 'classic'],
  },
  quick: { buildx: ['debian-sid'], engine: ['26.1.5'] },
  fixture: 'multiplatform-scratch',
  expectations: [
    { when: { store: 'containerd' }, outcome: 'control', reason: 'the containerd store takes multi-platform images; the registry gets a complete index' },
    { when: { store: 'classic' }, outcome: 'control', reason: 'the docker driver with the classic store refuses multi-platform output' },
  ],

  async observe(ctx) {
    const dir = await prepareContext(ctx, 'multiplatform-scratch');
    const target = pushTarget('smoke', ctx.cellId);
    const build = await ctx.phase('buildx', () => ctx.sandbox.buildx(['build', '--platform', PLATFORMS.join(','), '--push', '-t', target.ref, dir]));
    ctx.evidence.facts.push(`build exit ${build.exitCode}: ${errorLine(build.stderr)}`);
    if (build.exitCode !== 0) return { build };
    const registry = await verifyPushed(ctx, target, PLATFORMS);
    ctx.evidence.facts.push(...describeReport(registry).split('\n'));
    return { build, registry };
  },

  judge({ build, registry }, axes) {
    if (axes.store === 'classic') {
      return build.exitCode !== 0 && MULTIPLATFORM_REFUSAL.test(build.stderr)
        ? { observed: 'control', summary: `refused: ${errorLine(build.stderr)}` }
        : { observed: 'unexpected', summary: `expected the multi-platform refusal, got exit ${build.exitCode}: ${errorLine(build.stderr)}` };
    }
    if (build.exitCode !== 0) return { observed: 'unexpected', summary: `build failed (exit ${build.exitCode}): ${errorLine(build.stderr)}` };
    return registry?.ok
      ? { observed: 'control', summary: `index with ${registry.platforms.join(', ')} (+${registry.attestations} attestations), every blob verified` }
      : { observed: 'unexpected', summary: `registry incomplete: ${registry ? registry.problems.map((p) => `${p.code} ${p.where}`).join('; ') : 'not verified'}` };
  },
};

export default registerScenario(smoke);
