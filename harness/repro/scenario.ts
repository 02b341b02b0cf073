// A case.yaml turned into a Scenario: the matrix comes from the case; the body copies the case into the
// cell's context, places its config files, boots its builder, runs its steps through the kit, and
// evaluates its checks; the judge says whether the symptom was present. With `repeat: N` the body runs N
// times on the cell's engine, reset between runs (containers, images, volumes; not a disk that
// fill-engine-disk shrank, so case-build.ts refuses that pair), every run's evidence kept, and the
// verdict rule (any | majority) decides.
//
// repro's own words: present (observed `reproduced`), absent (observed `fixed`), inconclusive (observed
// `unexpected`: the lab could not tell, e.g. a pull fault that was never hit or a builder that did not boot).
import path from 'node:path';
import { HarnessError } from '../errors.ts';
import { shellQuote } from '../text.ts';
import { describeCheck, type CheckResult } from '../kit/checks.ts';
import type { Kit } from '../kit/kit.ts';
import type { PushTarget } from '../kit/target.ts';
import { LAB_USER } from '../kit/sandbox.ts';
import { interpolateCheck, readContextFile, runSteps, type LabValues } from '../kit/steps.ts';
import { builderName, kubeRootless, proxyEvidence, type Builder, type BuilderSpec } from '../kit/builders.ts';
import { describeSpans, type SpanRecord } from '../serve/otlp-spans.ts';
import { REGISTRY_HOST, type CellResult, type DriverKind, type RegistryBehaviour, type StoreKind } from '../model.ts';
import { defineScenario, type Expectation, type RunnableScenario, type Verdict } from '../scenario/definition.ts';
import type { ReproCase } from './case.ts';
import { caseSource, readCaseFile, readDockerConfig } from './case-files.ts';
import { needsSpans, tracesDriverOpts, tracesEnv } from './traces.ts';
import { bucketFor } from '../serve/s3-spec.ts';
import type { OtlpReceiver } from '../serve/otlp-receiver.ts';
import type { StartedSources } from '../serve/sources.ts';

export const NO_EXPECTATION = 'case has no declared expectation';

export type ReproWord = 'present' | 'absent' | 'inconclusive';

export interface CaseRun {
  results: CheckResult[];
  /** why this run could not be judged */
  inconclusive?: string;
}

export interface CaseObservation {
  runs: CaseRun[];
}

export function caseScenarioId(c: Pick<ReproCase, 'dir'>): string {
  return `case-${
    path
      .basename(c.dir)
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '') || 'case'
  }`;
}

export function caseExpectations(c: Pick<ReproCase, 'expect'>): Expectation[] {
  if (!c.expect.length) return [{ when: {}, outcome: 'reproduced', reason: NO_EXPECTATION, undeclared: true }];
  return c.expect.map((e) => ({
    when: { buildx: e.range },
    outcome: e.present ? 'reproduced' : 'fixed',
    reason: `case.yaml expects the symptom ${e.present ? 'present' : 'absent'} for buildx ${e.range}`,
  }));
}

/** The verdict of N runs under the case's rule; pure. */
export function caseVerdict(runs: readonly CaseRun[], rule: 'any' | 'majority'): { word: ReproWord; detail: string } {
  const judged = runs.filter((r) => !r.inconclusive);
  if (!judged.length) return { word: 'inconclusive', detail: runs[0]?.inconclusive ?? 'no run' };
  const present = judged.filter((r) => r.results.every((x) => x.holds)).length;
  const word = rule === 'any' ? (present > 0 ? 'present' : 'absent') : present * 2 > judged.length ? 'present' : 'absent';
  const last = judged.find((r) => r.results.every((x) => x.holds) === (word === 'present')) ?? judged[0]!;
  const head = runs.length > 1 ? `${present} of ${judged.length} run(s) showed it (${rule}); ` : '';
  return { word, detail: `${head}${last.results.map((x) => x.detail).join('; ')}` };
}

const OBSERVED: Record<ReproWord, Verdict['observed']> = { present: 'reproduced', absent: 'fixed', inconclusive: 'unexpected' };

export function caseScenario(c: ReproCase): RunnableScenario {
  return defineScenario({
    id: caseScenarioId(c),
    title: c.title,
    links: c.links,
    symptom: [...c.checks, ...c.steps.flatMap((s) => s.checks)].map(describeCheck).join(' and '),
    axes: {
      buildx: c.versions,
      engine: c.engine,
      store: c.store as StoreKind[],
      driver: c.driver as DriverKind[],
      registry: c.registry as RegistryBehaviour[],
      ...(c.buildkit.length ? { buildkit: c.buildkit } : {}),
      ...(c.fault ? { fault: [c.fault] } : {}),
    },
    needsBaseImage: c.uses.has('base'),
    needsS3: c.serve?.s3 !== undefined,
    needsGrpcProxy: c.builder.remote?.proxy !== undefined,
    needsTraces: c.traces !== undefined,
    needsBuildkit: c.uses.has('buildkitImage'),
    buildkitOfItsDay: true,
    // a kubernetes builder with rootless=true runs the rootless image too (kit/builders.ts)
    rootlessBuildkit: c.builder.rootless === true || (c.driver.includes('kubernetes') && kubeRootless(c.builder.driverOpts)),
    expectations: caseExpectations(c),
    observe: (kit) => observeCase(c, kit),
    judge: (o: CaseObservation) => {
      const v = caseVerdict(o.runs, c.verdict);
      return { observed: OBSERVED[v.word], summary: `symptom ${v.word.toUpperCase()} (${v.detail})` };
    },
  });
}

async function observeCase(c: ReproCase, kit: Kit): Promise<CaseObservation> {
  const runs: CaseRun[] = [];
  for (let i = 0; i < c.repeat; i++) {
    if (i > 0) await kit.restart();
    if (c.repeat > 1) kit.fact(`run ${i + 1} of ${c.repeat}`);
    runs.push(await observeOnce(c, kit, i));
  }
  return { runs };
}

async function observeOnce(c: ReproCase, kit: Kit, run: number): Promise<CaseRun> {
  await copyCase(c, kit);
  const target = kit.target(run ? `app-${run + 1}` : 'app');
  kit.behave(target, kit.axes.registry as RegistryBehaviour);
  // The case's trace sink, before the builder: a docker-container builder's buildkitd is told where it is.
  const receiver = c.traces ? await kit.lab.traces(c.dir) : undefined;
  const builderExports = receiver !== undefined && c.traces!.builder && kit.axes.driver === 'docker-container';
  const spec = builderSpec(c, kit, builderExports ? tracesDriverOpts(receiver.url) : {});
  const mark = kit.mark();
  // The lab's builder boots before the steps, unless a step boots it (boot-builder): then its boot is under test.
  const bootsAsStep = c.steps.some((s) => s.action === 'boot-builder');
  const builder = bootsAsStep ? undefined : await kit.bootBuilder(spec);
  if (builder?.failed) await proxyEvidence(kit, spec);
  if (builder?.failed) return { results: [], inconclusive: `the ${spec.driver} builder did not boot: ${builder.failed.stderr.trim().split('\n').pop()}` };
  const needsImage = bootsAsStep || c.uses.has('buildkitImage');
  // The case's own servers, started by its first cell and shared by the rest (each cell's requests are its own).
  const sources = c.serve ? await kit.lab.serve(c.dir, c.serve, caseSource(c)) : undefined;
  if (sources) kit.fact(`serving ${sources.describe()}`);
  // a bucket of the cell's own, for this run of the steps: requests from its engine reach only this one
  const s3Bucket = sources?.s3 ? bucketFor(kit.id, run) : undefined;
  if (s3Bucket) {
    sources!.s3!.openBucket(s3Bucket, kit.sandbox.dind.labAddress ?? '');
    kit.fact(`s3 bucket ${s3Bucket}, bound to ${kit.sandbox.dind.labAddress}`);
  }
  try {
    return await observeSteps(c, kit, { sources, s3Bucket, receiver, builderExports, target, builder, spec, needsImage, mark });
  } finally {
    if (s3Bucket) sources!.s3!.closeBucket(s3Bucket);
  }
}

/** The steps of one run and their checks, once the builder and the sources are up. */
async function observeSteps(
  c: ReproCase,
  kit: Kit,
  at: {
    sources?: StartedSources;
    s3Bucket?: string;
    /** the case's trace sink, and whether the builder exports to it too */
    receiver?: OtlpReceiver;
    builderExports: boolean;
    target: PushTarget;
    /** the builder booted before the steps; none when a boot-builder step boots it */
    builder?: Builder;
    spec: BuilderSpec;
    /** the steps name ${buildkitImage}, or boot the builder themselves */
    needsImage: boolean;
    mark: number;
  },
): Promise<CaseRun> {
  const { sources, receiver, builderExports, target, builder, spec, needsImage, mark } = at;
  const values: LabValues = {
    ...sources?.values,
    ...(receiver ? { otlp: receiver.url } : {}),
    ...(at.s3Bucket ? { s3Bucket: at.s3Bucket } : {}),
    target: target.ref,
    repository: target.repository,
    tag: target.tag,
    registry: REGISTRY_HOST,
    builder: builder?.name ?? builderName(kit, spec),
    ...(builder?.image ? { buildkitImage: builder.image } : needsImage ? { buildkitImage: await kit.buildkitImage(spec.buildkit, spec.rootless) } : {}),
    ...(c.uses.has('base') ? { base: await kit.baseImage() } : {}),
    cell: kit.id,
    context: kit.sandbox.contextDir,
    targetNamed: (name) => kit.target(name).ref,
  };
  const env = {
    ...sources?.env,
    ...(receiver && c.traces!.client ? tracesEnv(receiver.url) : {}),
    ...c.env,
    ...(spec.driver !== 'docker' ? { BUILDX_BUILDER: values.builder } : {}),
  };
  const steps = await runSteps(kit, c.steps, values, env, spec);
  await proxyEvidence(kit, spec);
  // a step that did not run when the case asked (a waitFor never matched, a boot's pull fault never hit) did not test what the case describes
  const missed = steps.find((s) => s.missed);
  if (missed) return { results: [], inconclusive: `step ${missed.id}: ${missed.missed}` };
  const read = (file: string) => readContextFile(kit, file);
  const checks = await Promise.all([...c.checks, ...c.steps.flatMap((s) => s.checks)].map((x) => interpolateCheck(x, values, read)));
  let spans: SpanRecord[] | undefined;
  if (receiver) {
    // buildkitd sends its last batch after the build (every 500 ms); Buildx's own spans are in by its exit
    await receiver.settle(builderExports ? 2000 : 0);
    const exports = kit.requests(mark).filter((e) => e.kind === 'otlp');
    spans = receiver.spansOf(exports.map((e) => e.seq));
    kit.fact(describeSpans(spans, exports.length));
    if (!spans.length && needsSpans(checks))
      return {
        results: [],
        inconclusive: `no span reached the lab's OTLP receiver from this cell (${exports.length} export request(s)): the exporter did not run or did not reach \${otlp}`,
      };
  }
  const results = await kit.check(checks, steps, mark, spans);
  return { results };
}

/** The builder the case describes; `labOpts`: driver options of the lab's (the trace sink's env), which the case's own override. */
function builderSpec(c: ReproCase, kit: Kit, labOpts: Record<string, string>): BuilderSpec {
  const driverOpts = { ...labOpts, ...c.builder.driverOpts };
  return {
    driver: kit.axes.driver as DriverKind,
    ...(kit.axes.buildkit ? { buildkit: kit.axes.buildkit } : {}),
    ...(Object.keys(driverOpts).length ? { driverOpts } : {}),
    ...(c.builder.nodes ? { nodes: c.builder.nodes } : {}),
    ...(c.builder.remote ? { remote: c.builder.remote } : {}),
    ...(c.builder.bootstrap !== undefined ? { bootstrap: c.builder.bootstrap } : {}),
    ...(c.builder.rootless || (kit.axes.driver === 'kubernetes' && kubeRootless(c.builder.driverOpts)) ? { rootless: true } : {}),
    ...(c.builder.buildkitdConfig ? { buildkitdConfig: readCaseFile(c.dir, { rel: c.builder.buildkitdConfig }).toString('utf8') } : {}),
  };
}

/** Copies the case's files into the cell's context (one tar stream), its config files into the client's config, and makes the context a Git repository when asked. */
async function copyCase(c: ReproCase, kit: Kit): Promise<void> {
  const files = [
    ...c.files.map((f) => ({ rel: `ctx/${f.rel}`, content: readCaseFile(c.dir, f), mode: f.mode })),
    // As the lab's fixtures do: lets a Dockerfile COPY something unique to the cell.
    { rel: 'ctx/cell-id.txt', content: `${kit.id}\n`, mode: 0o644 },
    ...(c.config.buildkitdDefault ? [{ rel: 'buildx/buildkitd.default.toml', content: readCaseFile(c.dir, { rel: c.config.buildkitdDefault }) }] : []),
    // checked again as it is copied: the directory may have changed since the case loaded
    ...(c.config.dockerConfig ? [{ rel: 'docker/config.json', content: readDockerConfig(c.dir, c.config.dockerConfig), mode: 0o600 }] : []),
  ];
  await kit.sandbox.writeFiles(files);
  const home = Object.entries(c.config.home ?? {});
  if (home.length) {
    await kit.sandbox.placeHome(home.map(([rel, file]) => ({ rel, content: readCaseFile(c.dir, { rel: file }) })));
    kit.fact(`config.home: ${home.map(([rel]) => rel).join(', ')} placed under the cell's own HOME (${kit.sandbox.homeDir})`);
  }
  if (c.steps.some((s) => s.as)) {
    // a step runs as the lab's user or under sudo from it: the client's config becomes that user's ~/.docker
    await kit.sandbox.useLabUser();
    kit.fact(`the cell's user ${LAB_USER.name} (uid ${LAB_USER.uid}): HOME ${kit.sandbox.homeDir}, DOCKER_CONFIG and BUILDX_CONFIG its ~/.docker and ~/.docker/buildx`);
  }
  kit.fact(`case ${path.basename(c.dir)}: ${c.files.length} file(s) copied into ${kit.sandbox.contextDir}`);
  if (c.git) {
    // `git: {uncommitted: [...]}`: those files stay out of the commit, untracked, so the tree is dirty
    const leaveOut = c.gitUncommitted.length ? ` && git reset -q -- ${c.gitUncommitted.map(shellQuote).join(' ')}` : '';
    const g = await kit.sandbox.look(
      `git init -q && git add -A${leaveOut} && git -c user.email=lab@buildx-lab.invalid -c user.name=buildx-lab commit -qm "case" && git rev-parse HEAD`,
    );
    if (g.exitCode !== 0) throw new HarnessError(`making the case's context a Git repository failed: ${g.stderr.trim()}`);
    kit.fact(`context is a Git repository at ${g.stdout.trim().slice(0, 12)}${c.gitUncommitted.length ? `, ${c.gitUncommitted.length} file(s) left uncommitted (dirty)` : ''}`);
  }
}

/** One line per cell for `buildx-lab repro`: the version, then what the symptom did (or why it is unknown). */
export function reproLines(results: readonly CellResult[]): string[] {
  const versions = new Set(results.map((r) => r.axes.buildx));
  const width = Math.max(0, ...[...versions].map((v) => (v ?? '').length));
  return results.map((r) => {
    const others = Object.entries(r.axes)
      .filter(([k]) => k !== 'buildx')
      .map(([k, v]) => `${k}=${v}`)
      .join('/');
    const where = versions.size < results.length ? `  [${others}]` : '';
    const head = (r.axes.buildx ?? '?').padEnd(width);
    const verdict = /symptom (PRESENT|ABSENT|INCONCLUSIVE).*$/s.exec(r.summary)?.[0];
    if (r.outcome === 'error' || r.outcome === 'skipped' || !verdict) return `${head}  ${r.outcome}: ${r.summary}${where}`;
    const declared =
      r.expectedReason === NO_EXPECTATION
        ? ''
        : r.outcome === r.expected
          ? '  (as declared)'
          : `  (NOT as declared: expected ${r.expected === 'reproduced' ? 'present' : 'absent'})`;
    return `${head}  ${verdict}${declared}${where}`;
  });
}

/** repro's word for a cell's result. */
export function reproWord(r: Pick<CellResult, 'observed' | 'outcome'>): ReproWord | 'error' | 'skipped' {
  if (r.outcome === 'error' || r.outcome === 'skipped') return r.outcome;
  return r.observed === 'reproduced' ? 'present' : r.observed === 'fixed' ? 'absent' : 'inconclusive';
}
