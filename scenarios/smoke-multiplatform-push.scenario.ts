// Smoke: the lab's foundation end to end, on every engine it can build. A real DinD engine (containerd or
// classic store), the real registry behind the proxy, a real Buildx: `docker buildx build --push` of a
// two-platform image.
//   containerd store: the registry must hold an index with exactly both platforms, every blob verified.
//   classic store: the docker driver must refuse multi-platform output (Buildx's documented limitation).
import { defineScenario, describeReport, errorLine, judgeMultiplatformRefusal, type CommandRecord, type VerificationReport } from '../harness/scenario/scenario.ts';

// Stryker disable all: the matrix and observe are data and work against real engines; the judge (restored below) is
// mutation-tested over recorded observations in scenarios/judges.test.ts

const PLATFORMS = ['linux/amd64', 'linux/arm64'];

interface Observation {
  build: CommandRecord;
  registry?: VerificationReport;
}

export default defineScenario({
  id: 'smoke',
  title: 'Multi-platform build --push through DinD and the lab registry',
  links: ['https://docs.docker.com/build/building/multi-platform/'],
  symptom: 'none: a control of the lab itself',
  axes: {
    buildx: ['debian-trixie', 'debian-sid'],
    // The whole engine axis: every engine the lab builds, and Debian's packaged ones.
    engine: ['all', 'debian-trixie', 'debian-sid'],
    store: ['containerd', 'classic'],
  } as const,
  quick: { buildx: ['debian-sid'], engine: ['26.1'] },
  fixture: 'multiplatform-scratch',
  expectations: [
    { when: { store: 'containerd' }, outcome: 'control', reason: 'the containerd store takes multi-platform images; the registry gets a complete index' },
    { when: { store: 'classic' }, outcome: 'control', reason: 'the docker driver with the classic store refuses multi-platform output' },
  ],

  async observe(cell): Promise<Observation> {
    const dir = await cell.context();
    const target = cell.target();
    const build = await cell.buildx(['build', '--platform', PLATFORMS.join(','), '--push', '-t', target.ref, dir]);
    cell.fact(`build exit ${build.exitCode}: ${errorLine(build.stderr)}`);
    if (build.exitCode !== 0) return { build };
    const registry = await cell.verify(target, PLATFORMS);
    cell.fact(describeReport(registry));
    return { build, registry };
  },

  // Stryker restore all
  judge({ build, registry }, axes) {
    if (axes.store === 'classic') {
      return judgeMultiplatformRefusal(build);
    }
    if (build.exitCode !== 0) return { observed: 'unexpected', summary: `build failed (exit ${build.exitCode}): ${errorLine(build.stderr)}` };
    return registry?.ok
      ? { observed: 'control', summary: `index with ${registry.platforms.join(', ')} (+${registry.attestations} attestations), every blob verified` }
      : { observed: 'unexpected', summary: `registry incomplete: ${registry ? registry.problems.map((p) => `${p.code} ${p.where}`).join('; ') : 'not verified'}` };
  },
});
