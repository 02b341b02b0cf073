// Runs one cell, in named phases: lease (wait for what it needs, lease its engine), prepare (reset it, the
// sandbox, the kit), observe (the scenario's body through the kit) and judge (the evidence), keeping the
// lab's own failures (error, skipped) apart from Buildx's behaviour.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { originText, type BuildxBinary } from '../buildx/buildx.ts';
import type { LabConfig } from '../config.ts';
import type { StartedDindContainer } from '../dind/dind.ts';
import type { EngineIsolation } from '../engine/host.ts';
import { runningContainers } from '../ownership/labels.ts';
import { HarnessError, RequirementError } from '../errors.ts';
import { Kit } from '../kit/kit.ts';
import { CellSandbox } from '../kit/sandbox.ts';
import type { EngineImage, Lab, PublishedImage } from '../lab/lab.ts';
import type { KubeCluster } from '../lab/kube-cluster.ts';
import { REGISTRY_HOST, emptyEvidence, type CellEvidence, type CellResult, type CellTimings, type JournalEntry, type StoreKind } from '../model.ts';
import { cellResultJson } from '../report/cell-file.ts';
import { DEFAULT_BUILDKIT } from '../buildkit/image.ts';
import type { EngineImageResult, ImageResult } from './provision.ts';
import type { PlannedCell } from './run-spec.ts';
import type { RunnableScenario, Verdict } from '../scenario/definition.ts';
import { cellId } from './scenario.ts';
import { isUntrusted, trustFact } from './trust.ts';
import { describeGoPanic } from '../text.ts';

export interface CellEnvironment {
  config: LabConfig;
  lab: Lab;
  /** where the lab's Buildx binaries live on the host (mounted into the engines) */
  buildxCacheRoot: string;
  /** the result of a requirement of the run, once provisioned */
  need<T>(id: string): Promise<T>;
  /** the host engine's isolation, as the run spec recorded it (only runs with an untrusted case have it) */
  isolation?: EngineIsolation;
}

/** What the phases of one cell share: its evidence and timings, and what it holds (to give back and to read on failure). */
interface CellState {
  t0: number;
  startedAt: string;
  evidence: CellEvidence;
  timings: Required<CellTimings>;
  watchdog: Watchdog;
  /** gives the leased engine back (discarding it: a cell spoiled it) */
  release?: (opts?: { discard?: boolean }) => void;
  dind?: StartedDindContainer;
  /** where the engine's log of this cell starts */
  logSince?: string;
}

/** The engine and Buildx a cell runs on, once leased. */
interface Leased {
  binary: BuildxBinary;
  engine: EngineImageResult;
  dind: StartedDindContainer;
}

/** The cell ready to observe: its kit over a fresh sandbox, and the journal's mark at its start. */
interface Prepared {
  kit: Kit;
  sandbox: CellSandbox;
  mark: number;
}

/**
 * Runs one cell in four phases: lease (what it needs, and an engine), prepare (the engine reset, the
 * sandbox and the kit), observe (the scenario's body) and judge (the evidence, unless a component died).
 * The lab's own failures come back as error or skipped, apart from Buildx's behaviour.
 */
export async function runCell(s: RunnableScenario, cell: PlannedCell, env: CellEnvironment): Promise<CellResult> {
  const state: CellState = {
    t0: performance.now(),
    startedAt: new Date().toISOString(),
    evidence: emptyEvidence(),
    timings: { startMs: 0, buildxMs: 0, verifyMs: 0, totalMs: 0, provisionMs: 0 },
    watchdog: new Watchdog(),
  };
  const base = {
    scenario: s.id,
    name: cell.key,
    axes: cell.axes,
    expected: cell.expected.outcome,
    expectedReason: cell.expected.reason,
    evidence: state.evidence,
    startedAt: state.startedAt,
  };
  const finish = (r: Pick<CellResult, 'outcome' | 'summary'> & { error?: CellResult['error']; observed?: string; expected?: CellResult['expected'] }): CellResult => {
    state.timings.totalMs = Math.round(performance.now() - state.t0 - state.timings.provisionMs);
    return { ...base, ...r, timings: state.timings };
  };
  const fact = trustFact(cell, env.isolation);
  if (fact) state.evidence.facts.push(fact);
  if (cell.buildkit) state.evidence.facts.push(buildkitFact(cell.buildkit));
  try {
    const leased = await lease(cell, env, state);
    const prepared = await prepare(s, cell, env, state, leased);
    const observation = await observe(s, env, state, prepared);
    return finish(await judge(s, cell, env, state, leased, observation));
  } catch (caught) {
    return finish(await failed(state, caught));
  } finally {
    state.watchdog.stop();
    // an engine the cell spoiled (its disk shrunk by a case) serves no other cell
    state.release?.({ discard: state.dind?.spoiled !== undefined });
  }
}

/** Lease: the cell's Buildx and engine image provisioned, the images it pulls published, an engine of its own. */
async function lease(cell: PlannedCell, env: CellEnvironment, state: CellState): Promise<Leased> {
  const untrusted = isUntrusted(cell.source);
  // The CLI refuses such a run before it starts (runner/trust.ts); a spec that got here anyway is refused too.
  if (untrusted && !env.isolation?.isolated)
    throw new HarnessError(
      `refused: an untrusted case runs only on an engine with an isolation boundary, and this one has none (${env.isolation?.reason ?? 'not checked'}); read the case and pass --trust, or use a rootless engine`,
    );
  const tp = performance.now();
  const [binary, engine] = await Promise.all([env.need<BuildxBinary>(`buildx:${cell.axes.buildx}`), env.need<EngineImageResult>(`engine:${cell.axes.engine}`)]);
  // The images it will pull from the lab registry (BuildKit) are pushed before it holds an engine, so
  // other cells use the engine meanwhile; a failed push is the scenario's to report when it asks.
  await Promise.all(cell.requires.filter(publishedTag).map((id) => publishRequirement(env, id).catch(() => undefined)));
  for (const id of cell.requires.filter((r) => r.startsWith('buildkit:'))) {
    const from = await env.need<ImageResult>(id).then(
      (r) => r.from,
      () => undefined,
    );
    if (from) state.evidence.facts.push(buildkitBuiltFact(id, from));
  }
  const lease = await env.lab.lease(toEngineImage(engine), cell.axes.store as StoreKind, { untrusted });
  state.release = lease.release;
  // Provisioning and waiting for an engine (cells sharing one run in turn) are not the cell's time; an
  // engine started for this cell is, as its start phase.
  state.timings.provisionMs = Math.round(performance.now() - tp - lease.startMs);
  state.timings.startMs = lease.startMs;
  state.dind = lease.dind;
  return { binary, engine, dind: lease.dind };
}

/** Prepare: the engine reset, the cell's sandbox made, the watchdog on, and the kit the body is written with. */
async function prepare(s: RunnableScenario, cell: PlannedCell, env: CellEnvironment, state: CellState, { binary, engine, dind }: Leased): Promise<Prepared> {
  const { lab } = env;
  const { evidence, timings } = state;
  const mark = lab.proxy.journal.mark();
  const id = cellId(s.id, cell.name, cell.attempt);
  const ts = performance.now();
  // the engine's reset and the cell's set-up in one exec
  const sandbox = await CellSandbox.create(dind, binary, env.buildxCacheRoot, id, REGISTRY_HOST, {
    signal: state.watchdog.signal,
    fixture: s.fixture,
    reset: { keepImages: lab.publishedRefs() },
  });
  timings.startMs += Math.round(performance.now() - ts);
  evidence.facts.push(
    `buildx ${binary.version} (${originText(binary)}${binary.source === 'cache' ? ', cached' : ''}), engine ${dind.serverVersion} (${engine.kind === 'debian' ? "Debian's packages" : engine.parts.join('; ')}), store ${dind.store}`,
    imageOriginFact('engine image', engine, engine.kind === 'debian' ? "Debian's packages" : 'source build'),
  );
  const registryImage = await env.need<ImageResult>('image:registry').catch(() => undefined);
  if (registryImage) evidence.facts.push(imageOriginFact('registry image', registryImage, "Debian's docker-registry"));
  state.watchdog.watch(dind, lab);
  state.logSince = new Date(Date.now() - 1000).toISOString();
  // an image the cell pulls from the lab registry (published once per lab), its origin in the evidence
  const published = async (what: string, requirement: string, built: string): Promise<string> => {
    const fact = imageOriginFact(what, await env.need<ImageResult>(requirement), built);
    if (!evidence.facts.includes(fact)) evidence.facts.push(fact);
    return (await publishRequirement(env, requirement)).ref;
  };
  let kubeBoots = 0;
  let kube: { cluster: KubeCluster; namespace: string } | undefined;
  const kit = new Kit(s.id, id, cell.axes, {
    lab,
    sandbox,
    evidence,
    buildkitImage: (version, rootless) =>
      published('BuildKit image', `buildkit:${version ?? cell.buildkit?.version ?? cell.axes.buildkit ?? DEFAULT_BUILDKIT}${rootless ? '-rootless' : ''}`, 'source build'),
    baseImage: () => published('case base image', 'image:case-base', "debootstrap of Debian's packages"),
    proxyImage: () => published('grpc proxy image', 'image:grpc-proxy', "Debian's nginx"),
    kubernetes: async () => {
      // The run's one node (started by the first cell that asks), the kubeconfig in the cell, and a fresh
      // namespace per boot: a repeat's builder must not find the last one's Deployment (that one is deleted).
      const node = await env.need<ImageResult>('image:k3s-node');
      const cluster = await lab.kubeCluster(node.ref);
      const namespace = kubeBoots === 0 ? id : `${id}-${kubeBoots}`;
      if (kubeBoots > 0) await cluster.deleteNamespace(kubeBoots === 1 ? id : `${id}-${kubeBoots - 1}`);
      kubeBoots++;
      await cluster.createNamespace(namespace);
      kube = { cluster, namespace };
      await sandbox.placeKubeconfig(cluster.kubeconfig);
      const fact = `kubernetes: ${node.describe ?? node.ref}, node ${cluster.ip} (Ready in ${(cluster.readyMs / 1000).toFixed(1)} s), namespace ${namespace}`;
      evidence.facts.push(fact);
      return { namespace };
    },
    kubeObject: async (kind, name) => {
      // the namespace is the lab's, never the case's: the one this cell's last boot made
      if (!kube) throw new HarnessError('a kube: check ran before the cell booted a kubernetes builder (it reads the namespace the boot makes)');
      return kube.cluster.getObject(kube.namespace, kind, name);
    },
    phase: async (name, work) => {
      const p0 = performance.now();
      try {
        return await work();
      } finally {
        timings[`${name}Ms`] += Math.round(performance.now() - p0);
      }
    },
    requestsSince: (m) => requestsOf(lab.proxy.journal.since(m), dind),
    restart: () => sandbox.prepare(REGISTRY_HOST, { keepImages: lab.publishedRefs() }),
  });
  return { kit, sandbox, mark };
}

/** Observe: the scenario's body; its commands and the cell's journal go into the evidence whatever happens. */
async function observe(s: RunnableScenario, env: CellEnvironment, state: CellState, { kit, sandbox, mark }: Prepared): Promise<unknown> {
  try {
    return await s.observe(kit);
  } finally {
    state.evidence.commands.push(...sandbox.commands);
    state.evidence.journal = requestsOf(env.lab.proxy.journal.since(mark), state.dind!);
  }
}

/** Judge: what the body returned, against what was declared; a dead component says nothing about Buildx. */
async function judge(
  s: RunnableScenario,
  cell: PlannedCell,
  env: CellEnvironment,
  state: CellState,
  { dind }: Leased,
  observation: unknown,
): Promise<ReturnType<typeof judgedOutcome>> {
  // A dead component is reported as the lab's error, naming what died.
  const [log, dead] = await Promise.all([dind.logSince(state.logSince!).catch(() => undefined), deadComponent(env.lab.config, dind, env.lab)]);
  state.evidence.engineLog = log;
  const died = state.watchdog.died ?? dead;
  if (died) throw new HarnessError(died);
  const verdict = s.judge(observation, cell.axes);
  return judgedOutcome(cell.expected, verdict);
}

/** A cell the lab could not run (error) or that needs what cannot be had here (skipped), with why. */
async function failed(state: CellState, caught: unknown): Promise<Pick<CellResult, 'outcome' | 'summary' | 'error'>> {
  const died = state.watchdog.died;
  const e = died && !(caught instanceof HarnessError && caught.message === died) ? new HarnessError(died, { cause: caught }) : caught;
  const err = e instanceof Error ? e : new Error(String(e));
  const kind = e instanceof HarnessError ? e.kind : 'internal';
  // An engine that died may have panicked: that is a finding about the engine, so it leads the summary.
  const engineDied = err.message.startsWith(DIND_DIED);
  const { evidence } = state;
  if (state.dind && engineDied && evidence.engineLog === undefined) evidence.engineLog = await state.dind.logSince(state.logSince ?? state.startedAt).catch(() => undefined);
  const panic = engineDied ? describeGoPanic(evidence.engineLog ?? '') : undefined;
  return {
    outcome: e instanceof RequirementError ? 'skipped' : 'error',
    summary: `${err.message.split('\n')[0]!}${panic ? `: dockerd ${panic}` : ''}`,
    error: { kind, message: err.message },
  };
}

/** The evidence's line on the cell's BuildKit: which one, and why; pure. */
export function buildkitFact(b: NonNullable<PlannedCell['buildkit']>): string {
  return `BuildKit ${b.version} (${b.via}): ${b.reason}`;
}

/** The evidence's line on what a BuildKit image's BuildKit was built from; pure. */
export function buildkitBuiltFact(requirementId: string, from: string): string {
  return `BuildKit ${requirementId.slice('buildkit:'.length)} built from ${from}`;
}

const IMAGE_SOURCES: Readonly<Record<string, string>> = {
  'official-pulled': 'official image, pulled',
  'official-local': 'official image, present on the engine',
};

/**
 * The evidence's line on where an image a cell ran came from: an official image (pulled, or found on the
 * engine), or the lab's own build (`built`: what it is built from), made now or earlier; pure.
 */
export function imageOriginFact(what: string, img: Pick<ImageResult, 'ref' | 'source'>, built: string): string {
  const how =
    IMAGE_SOURCES[img.source] ?? `${built}, ${img.source === 'local-cached' ? 'built here earlier' : img.source === 'local-built' ? 'built here for this run' : img.source}`;
  return `${what} ${img.ref} (${how})`;
}

/** Where a requirement's image goes in the lab registry, for the images cells pull from it; pure. */
export function publishedTag(requirementId: string): string | undefined {
  if (requirementId.startsWith('buildkit:')) return `moby/buildkit:${requirementId.slice('buildkit:'.length)}`;
  if (requirementId === 'image:case-base') return 'lab/base:bookworm';
  if (requirementId === 'image:grpc-proxy') return 'lab/grpc-proxy:nginx';
  return undefined;
}

/**
 * Pushes a requirement's image into the lab registry, once per lab. The runner calls it for every such
 * requirement as soon as the lab is up, so that the push (seconds for BuildKit) overlaps other cells
 * instead of holding a cell's engine; a cell that needs the image awaits the same push.
 */
export async function publishRequirement(env: Pick<CellEnvironment, 'lab' | 'need'>, requirementId: string): Promise<PublishedImage> {
  const tag = publishedTag(requirementId);
  if (!tag) throw new HarnessError(`requirement ${requirementId} has no image to publish into the lab registry`);
  const img = await env.need<ImageResult>(requirementId);
  return env.lab.publish(img.ref, tag);
}

export function toEngineImage(r: EngineImageResult): EngineImage {
  return { ref: r.ref, label: r.label, version: r.version, seccomp: r.seccomp };
}

/**
 * A cell's share of the journal: its engine's requests, plus the lab's own reads (from the host) of the
 * repositories that engine touched. Cells on other engines may be running at the same time.
 */
export function requestsOf(entries: JournalEntry[], dind: Pick<StartedDindContainer, 'labAddress'>): JournalEntry[] {
  if (!dind.labAddress) return entries;
  const mine = entries.filter((e) => e.client === dind.labAddress);
  const repos = new Set(mine.map((e) => e.repository).filter(Boolean));
  return entries.filter((e) => e.client === dind.labAddress || (e.client === '127.0.0.1' && e.repository !== undefined && repos.has(e.repository)));
}

/** How a dead engine's message starts: the cell's summary then looks for the engine's panic. */
const DIND_DIED = 'the DinD engine';

/** Names the lab component that is no longer running, if any. */
async function deadComponent(config: LabConfig, dind: StartedDindContainer, lab: Lab): Promise<string | undefined> {
  const [dindUp, registryUp] = await runningContainers(config, [dind.id, lab.registry.id]);
  return !dindUp ? diedLine(dind, lab, dind.id) : !registryUp ? diedLine(dind, lab, lab.registry.id) : undefined;
}

const diedLine = (dind: StartedDindContainer, lab: Lab, id: string) =>
  id === dind.id ? `${DIND_DIED} (${dind.name}) died during the cell` : `the registry container (${lab.registry.id.slice(0, 12)}) died during the cell`;

/** Aborts the cell's commands when one of its components dies, instead of waiting out retries. */
class Watchdog {
  private readonly controller = new AbortController();
  private unwatch?: () => void;
  died?: string;

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  watch(dind: StartedDindContainer, lab: Lab): void {
    // The lab's event stream; an engine that stopped answering is as dead as a killed container.
    this.unwatch = lab.watchContainers([dind.id, lab.registry.id], (id, why) => {
      if (this.died) return;
      this.died = id ? diedLine(dind, lab, id) : why;
      this.controller.abort(new HarnessError(this.died));
    });
  }

  stop(): void {
    this.unwatch?.();
  }
}

/** One JSON per cell, redacted; the CLI gathers them into the reports. */
export function writeCellResult(reportDir: string, result: CellResult): string {
  const dir = path.join(reportDir, 'cells');
  mkdirSync(dir, { recursive: true });
  // Repeats of one cell can start in the same millisecond: a random part keeps each.
  const file = path.join(
    dir,
    `${result.scenario}--${createHash('sha256')
      .update(result.name + result.startedAt)
      .digest('hex')
      .slice(0, 12)}-${randomBytes(4).toString('hex')}.json`,
  );
  writeFileSync(file, cellResultJson(result));
  return file;
}

/**
 * A judged cell's outcome against what was declared; pure. With nothing declared (a case without
 * `expect`), whatever the cell showed is its finding and counts as declared; only "could not tell" misses.
 */
export function judgedOutcome(expected: PlannedCell['expected'], verdict: Verdict): Pick<CellResult, 'outcome' | 'summary' | 'observed'> & { expected?: CellResult['expected'] } {
  if (expected.undeclared && verdict.observed !== 'unexpected')
    return { outcome: verdict.observed, expected: verdict.observed, observed: verdict.observed, summary: verdict.summary };
  const matches = verdict.observed === expected.outcome;
  return {
    outcome: matches ? expected.outcome : 'unexpected',
    observed: verdict.observed,
    summary: matches ? verdict.summary : `expected ${expected.outcome} (${expected.reason}), observed ${verdict.observed}: ${verdict.summary}`,
  };
}
