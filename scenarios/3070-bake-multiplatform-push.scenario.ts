// docker/buildx#3070: `docker buildx bake` of a multi-platform target, docker driver with the containerd
// image store, pushed to a private registry (MSR 2.9): only the first platform ended up in the registry.
// Root cause (docker/buildx#3023, 4f7d145c, first in v0.22.0-rc1): after BuildKit had pushed the index,
// Buildx pushed again through the engine ("pushing <tag> with docker"), whose push PUTs every
// single-platform and attestation manifest to the tag before the index. Registries that do not simply
// take the last write end with one platform, or refuse the push.
//
// Each cell pushes to its own repository, through the proxy set to one registry behaviour, then the
// lab reads the registry (every platform, manifest and blob) and the journal (every PUT to the tag).
// The engine matters: Docker 28.5 still shows "pushing ... with docker" but makes no PUT (it finds
// everything present), so there the double push is visible only in the progress output.
import {
  analyzePush,
  defineScenario,
  describePush,
  describeReport,
  errorLine,
  HarnessError,
  judgeMultiplatformRefusal,
  labelSatisfies,
  MULTIPLATFORM_REFUSAL,
  type CommandRecord,
  type PushAnalysis,
  type VerificationReport,
} from '../harness/scenario/scenario.ts';

// Stryker disable all: the matrix and observe are data and work against real engines; the judge (restored below) is
// mutation-tested over recorded observations in scenarios/judges.test.ts

const PLATFORMS = ['linux/amd64', 'linux/arm64', 'linux/s390x'];
/** Engines whose second push PUTs manifests to the tag (observed: 25.0.8, 26.1.5, 27.5.1 do; 28.5.2, 29.7.1 find everything present and PUT nothing). */
const ENGINE_PUTS_AGAIN = '<28';
/** Buildx's progress line for the engine's second push (removed by #3023). */
const SECOND_PUSH = /pushing \S+ with docker/;

interface Observation {
  push: CommandRecord;
  analysis: PushAnalysis;
  registry?: VerificationReport;
  secondPushInProgress: boolean;
}

/** Where the tag ended, in words: the user-visible consequence. */
function tagState(o: Observation): string {
  const r = o.registry;
  if (!r) return 'not verified';
  if (r.ok) return `complete index (${r.platforms.length} platforms + ${r.attestations} attestations)`;
  const notIndex = r.problems.find((p) => p.code === 'not-an-index');
  if (notIndex) return `left on a single manifest: ${notIndex.detail}`;
  if (r.problems.some((p) => p.code === 'not-found')) return 'tag absent';
  return `incomplete: ${r.problems.map((p) => p.code).join(', ')}`;
}

export default defineScenario({
  id: 'bake-multiplatform-push',
  title: 'Multi-platform push with the docker driver and the containerd store pushes twice',
  links: ['https://github.com/docker/buildx/issues/3070', 'https://github.com/docker/buildx/pull/3023'],
  symptom: 'only the first platform ends up in the registry; progress shows "pushing <tag> with docker"',
  axes: {
    buildx: ['0.20.1', '0.21.1', '0.22.0', 'debian-sid', 'latest'],
    engine: ['oldest', '25.0', '26.1', '27.5', '28.5', 'latest'],
    store: ['containerd', 'classic'],
    driver: ['docker', 'docker-container'],
    command: ['bake', 'build'],
    registry: ['plain', 'immutable-tags', 'known-index-not-retagged'],
  } as const,
  quick: { buildx: ['0.21.1', '0.22.0'], engine: ['26.1'], store: ['containerd'], driver: ['docker'], command: ['bake'] },
  all: { engine: ['all', 'debian-trixie', 'debian-sid'] },
  exclude: (a) =>
    // The classic store refuses before anything is pushed: the registry behaviour cannot matter there.
    a.driver === 'docker' && a.store === 'classic' && a.registry !== 'plain'
      ? 'refused before any push'
      : // Across the engine axis, the full matrix keeps the report's own configuration: bake, docker driver, every registry.
        !['26.1.5', '28.5.2'].includes(a.engine) && (a.command !== 'bake' || a.driver !== 'docker')
        ? 'engines besides 26.1 and 28.5 run the reported configuration only'
        : undefined,
  fixture: 'multiplatform-scratch',
  expectations: [
    { when: { driver: 'docker', store: 'classic' }, outcome: 'control', reason: 'the docker driver with the classic store refuses multi-platform output' },
    { when: { driver: 'docker-container' }, outcome: 'control', reason: 'BuildKit pushes once, the engine is not involved' },
    {
      when: { buildx: '<0.22.0-rc1', engine: ENGINE_PUTS_AGAIN },
      outcome: 'reproduced',
      reason: 'before #3023 the engine pushes the image a second time, PUTting single-platform and attestation manifests to the tag (7 of 8 PUTs on Docker 25.0 to 27.5)',
    },
    {
      when: { buildx: '<0.22.0-rc1' },
      outcome: 'reproduced',
      reason: 'before #3023 Buildx has the engine push a second time; from Docker 28.5 the engine finds everything present and makes no PUT, so only the progress line shows it',
    },
    { when: { buildx: '>=0.22.0-rc1' }, outcome: 'fixed', reason: 'from v0.22.0-rc1 only BuildKit pushes: one PUT of the index to the tag' },
  ],

  async observe(cell): Promise<Observation> {
    const dir = await cell.context();
    const target = cell.target();
    cell.behave(target, cell.axes.registry);
    const builder = await cell.bootBuilder({ driver: cell.axes.driver });
    if (builder.failed) throw new HarnessError(`the ${cell.axes.driver} builder did not boot: ${errorLine(builder.failed.stderr)}`);
    const mark = cell.mark();
    const push =
      cell.axes.command === 'bake'
        ? await cell.buildx(['bake', ...builder.args, '--progress', 'plain', '-f', 'docker-bake.hcl', 'app'], {
            cwd: dir,
            env: { TAG: target.ref, PLATFORMS: PLATFORMS.join(',') },
          })
        : await cell.buildx(['build', ...builder.args, '--progress', 'plain', '--platform', PLATFORMS.join(','), '--push', '-t', target.ref, dir]);
    cell.fact(`${cell.axes.command} exit ${push.exitCode}: ${errorLine(push.stderr)}`);
    const secondPushInProgress = SECOND_PUSH.test(push.stderr + push.stdout);
    if (secondPushInProgress) cell.fact(`progress shows the engine's second push: ${(push.stderr.match(SECOND_PUSH) ?? [''])[0]}`);
    // Refused before any push (classic store): nothing to read back.
    const refused = push.exitCode !== 0 && MULTIPLATFORM_REFUSAL.test(push.stderr);
    const analysis = analyzePush(cell.requests(mark), target.repository, target.tag);
    for (const line of describePush(analysis)) cell.fact(line);
    const registry = refused ? undefined : await cell.verify(target, PLATFORMS);
    if (registry) cell.fact(describeReport(registry));
    return { push, analysis, registry, secondPushInProgress };
  },

  // Stryker restore all
  judge(o, axes) {
    if (axes.driver === 'docker' && axes.store === 'classic') {
      return judgeMultiplatformRefusal(o.push);
    }
    const puts = o.analysis.tagPuts;
    const byEngine = puts.filter((p) => p.client === 'docker');
    const state = tagState(o);
    const once = puts.length === 1 && puts[0]!.client === 'buildkit' && puts[0]!.isIndex && !o.secondPushInProgress;
    const clean = once && o.push.exitCode === 0 && o.registry?.ok === true;
    const seen = `${puts.length} PUT(s) to the tag (${byEngine.length} by the engine), exit ${o.push.exitCode}, tag: ${state}`;
    if (axes.driver === 'docker-container') {
      return clean ? { observed: 'control', summary: `one index PUT by BuildKit; ${state}` } : { observed: 'unexpected', summary: seen };
    }
    if (o.secondPushInProgress || byEngine.length > 0) {
      // Where the engine's part changes, as observed: its push PUTs to the tag up to 27.5, from 28.5 it makes none.
      const engineShouldPut = labelSatisfies(axes.engine, ENGINE_PUTS_AGAIN);
      if (engineShouldPut !== byEngine.length > 0) {
        return {
          observed: 'unexpected',
          summary: `the engine's second push on Docker ${axes.engine} ${byEngine.length ? 'made' : 'made no'} PUT to the tag, unlike what the lab saw on engines ${engineShouldPut ? `${ENGINE_PUTS_AGAIN} (PUTs)` : `outside ${ENGINE_PUTS_AGAIN} (none)`}; ${seen}`,
        };
      }
      const how = byEngine.length > 0 ? `the engine pushed again: ${seen}` : `progress shows the engine's second push, but it made no PUT (found everything present); ${seen}`;
      return { observed: 'reproduced', summary: how };
    }
    return clean ? { observed: 'fixed', summary: `one index PUT by BuildKit; ${state}` } : { observed: 'unexpected', summary: seen };
  },
});
