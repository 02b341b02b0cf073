// moby/moby#49453: with the docker-container driver in Docker-in-Docker (containerd enabled), Buildx
// "successfully" pulls the BuildKit image, then fails with `Error response from daemon: No such image`.
// The engine's images/create answers HTTP 200 and reports the failed pull inside the stream
// ({"errorDetail":{"message":...}}); Buildx before v0.21.0-rc2 read only the initial response.
// Fix: docker/buildx#2988 (3f82aadc), first in v0.21.0-rc2.
//
// Each cell: publish the BuildKit image to the lab registry, make sure the engine does not already have
// it (Buildx falls back to a local image, which would hide the bug), arm a fault on its layer blob at the
// proxy, then `docker buildx create --driver docker-container` + `inspect --bootstrap`.
import {
  bootWithPullFault,
  defineScenario,
  errorLine,
  PULL_FAULTS,
  type CommandRecord,
  type JournalEntry,
  type PullFault,
  type VerificationReport,
} from '../harness/scenario/scenario.ts';

// Stryker disable all: the matrix and observe are data and work against real engines; the judge (restored below) is
// mutation-tested over recorded observations in scenarios/judges.test.ts

const NO_SUCH_IMAGE = /No such image/i;

interface Observation {
  failed?: CommandRecord;
  build?: CommandRecord;
  registry?: VerificationReport;
  faultHits: JournalEntry[];
}

export default defineScenario({
  id: 'pull-stream-errors',
  title: 'A failed BuildKit image pull surfaces as "No such image"',
  links: ['https://github.com/moby/moby/issues/49453', 'https://github.com/docker/buildx/pull/2988'],
  symptom: 'ERROR: Error response from daemon: No such image: <buildkit image>',
  axes: {
    // The Go module proxy reachable here does not serve v0.21.0-rc1, -rc2 or v0.21.0; with release
    // downloads they run, without them those cells are skipped. v0.20.1 / v0.21.1 bracket the fix here.
    buildx: ['debian-trixie', '0.19.3', '0.20.1', '0.21.0-rc1', '0.21.0-rc2', '0.21.0', '0.21.1', 'debian-sid', 'latest'],
    engine: ['oldest', '26.1', '28.5', 'latest'],
    store: ['containerd', 'classic'],
    driver: ['docker-container'],
    fault: ['none', ...PULL_FAULTS],
  } as const,
  quick: { buildx: ['0.20.1', '0.21.1'], engine: ['26.1'], store: ['containerd'], fault: ['none', 'corrupt', '404'] },
  all: { engine: ['all', 'debian-trixie', 'debian-sid'] },
  fixture: 'multiplatform-scratch',
  expectations: [
    { when: { fault: 'none' }, outcome: 'control', reason: 'no fault: every version boots the builder and builds' },
    { when: { buildx: '<0.21.0-rc2' }, outcome: 'reproduced', reason: 'before #2988 the pull stream\'s error is ignored; the create fails later with "No such image"' },
    { when: { buildx: '>=0.21.0-rc2' }, outcome: 'fixed', reason: "from v0.21.0-rc2 the pull's own error is reported" },
  ],

  async observe(cell): Promise<Observation> {
    const fault = cell.axes.fault === 'none' ? undefined : (cell.axes.fault as PullFault);
    const { builder, faultHits } = await bootWithPullFault(cell, { driver: 'docker-container' }, fault);
    const obs: Observation = { faultHits, ...(builder.failed ? { failed: builder.failed } : {}) };
    if (!fault && !builder.failed) {
      const dir = await cell.context();
      const target = cell.target();
      obs.build = await cell.buildx(['build', ...builder.args, '--platform', 'linux/amd64', '--push', '-t', target.ref, dir]);
      cell.fact(`build exit ${obs.build.exitCode}: ${errorLine(obs.build.stderr)}`);
      if (obs.build.exitCode === 0) obs.registry = await cell.verify(target, ['linux/amd64']);
    }
    return obs;
  },

  // Stryker restore all
  judge(o, axes) {
    const { failed } = o;
    if (axes.fault === 'none') {
      if (failed) return { observed: 'unexpected', summary: `control failed to boot: ${errorLine(failed.stderr)}` };
      if (o.build?.exitCode !== 0) return { observed: 'unexpected', summary: `builder booted but the build failed: ${errorLine(o.build?.stderr ?? '')}` };
      return o.registry?.ok
        ? { observed: 'control', summary: 'builder booted from the lab registry and pushed a verified image' }
        : { observed: 'unexpected', summary: 'build pushed, but the registry does not hold a complete image' };
    }
    if (o.faultHits.length === 0) return { observed: 'unexpected', summary: 'the fault was never hit: the engine did not fetch the layer (cached image?)' };
    if (!failed) return { observed: 'unexpected', summary: `the builder booted although the ${axes.fault} fault was hit ${o.faultHits.length} time(s)` };
    const line = errorLine(failed.stderr + '\n' + failed.stdout);
    if (NO_SUCH_IMAGE.test(failed.stderr + failed.stdout)) return { observed: 'reproduced', summary: `exit ${failed.exitCode}, misleading: ${line}` };
    return { observed: 'fixed', summary: `exit ${failed.exitCode}, the pull's own error: ${line}` };
  },
});
