// The kit: one typed vocabulary for a scenario's body and a case's steps. It boots builders, runs Buildx
// and docker commands in the cell's sandbox, pushes to and verifies the lab registry, reads the registry's
// journal, and evaluates checks — and it records everything as evidence, so a body never pushes evidence
// by hand. A new step or check is added here once and serves both.
import type { RunResult } from '../exec.ts';
import type { KubeObjectKind, KubeObjectRead } from '../lab/kube-cluster.ts';
import type { Lab } from '../lab/lab.ts';
import { HarnessError, UsageError } from '../errors.ts';
import { REGISTRY_HOST, type Axes, type CellEvidence, type JournalEntry, type RegistryBehaviour } from '../model.ts';
import { verifyImage, type VerificationReport } from '../oci/verify.ts';
import type { SpanRecord } from '../serve/otlp-spans.ts';
import { shellQuote } from '../text.ts';
import { bootBuilder, type Builder, type BuilderSpec, type KubeAccess } from './builders.ts';
import { evaluateRecorded, type Check, type CheckResult, type RecordedStep } from './checks.ts';
import type { CellSandbox, CommandOptions } from './sandbox.ts';
import { checkState, type StatePort } from './state-checks.ts';
import { registryTarget, type PushTarget } from './target.ts';

export interface KitServices {
  lab: Lab;
  sandbox: CellSandbox;
  evidence: CellEvidence;
  /** the lab's BuildKit image of `version` (default: the cell's BuildKit), rootless or not, as the engine pulls it */
  buildkitImage(version?: string, rootless?: boolean): Promise<string>;
  /** the base image cases may build FROM, as the engine pulls it */
  baseImage(): Promise<string>;
  /** the lab's HTTP/2 proxy image (nginx) for a remote builder behind a proxy, as the engine pulls it */
  proxyImage?(): Promise<string>;
  /** the run's Kubernetes cluster for this cell: its namespace made, KUBECONFIG in the sandbox (absent: none here) */
  kubernetes?(): Promise<KubeAccess>;
  /** one object of the namespace the cell's last kubernetes boot made, as JSON (absent: no cluster here) */
  kubeObject?(kind: KubeObjectKind, name: string): Promise<KubeObjectRead>;
  /** times a phase of the cell */
  phase<T>(name: 'buildx' | 'verify', work: () => Promise<T>): Promise<T>;
  /** the registry requests of this cell's engine since a journal mark (other cells may run at the same time) */
  requestsSince(mark: number): JournalEntry[];
  /** resets the engine (keeping what the lab published) and makes the cell's directories again */
  restart(): Promise<void>;
}

export class Kit<A = Axes> {
  constructor(
    readonly scenario: string,
    /** unique, DNS- and repository-safe id of this cell */
    readonly id: string,
    readonly axes: A,
    private readonly services: KitServices,
  ) {}

  get lab(): Lab {
    return this.services.lab;
  }
  get sandbox(): CellSandbox {
    return this.services.sandbox;
  }
  get evidence(): CellEvidence {
    return this.services.evidence;
  }

  /** Short factual lines for the reader of the report (one per line of `text`). */
  fact(text: string): void {
    for (const line of text.split('\n')) if (line.trim()) this.evidence.facts.push(line);
  }

  /** A fresh start inside the same cell (a case's `repeat`): the engine reset, the cell's directories made again. */
  restart(): Promise<void> {
    return this.services.restart();
  }

  buildkitImage(version?: string, rootless?: boolean): Promise<string> {
    return this.services.buildkitImage(version, rootless);
  }

  baseImage(): Promise<string> {
    return this.services.baseImage();
  }

  proxyImage(): Promise<string> {
    if (!this.services.proxyImage) throw new HarnessError('this cell has no HTTP/2 proxy image: its scenario must declare needsGrpcProxy');
    return this.services.proxyImage();
  }

  kubernetes(): Promise<KubeAccess> {
    if (!this.services.kubernetes) throw new HarnessError('this cell has no Kubernetes cluster (its driver is not kubernetes)');
    return this.services.kubernetes();
  }

  /** The cell's build context holding `fixture` (copied when the sandbox was made, else now). */
  async context(fixture?: string): Promise<string> {
    const dir = this.sandbox.contextDir;
    if (!fixture || this.sandbox.preparedFixture === fixture) return dir;
    const r = await this.sandbox.sh(`cp -r ${shellQuote(this.sandbox.fixture(fixture))}/. ${dir}/ && echo ${this.id} > ${dir}/cell-id.txt`);
    if (r.exitCode !== 0) throw new HarnessError(`cannot prepare context from fixture ${fixture}: ${r.stderr.trim()}`);
    this.sandbox.preparedFixture = fixture;
    return dir;
  }

  /** A push target of this cell's own, so nothing another cell pushed changes what a registry does. */
  target(name = 'app', tag = 'v1'): PushTarget {
    if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/.test(name)) throw new UsageError(`target name '${name}' is not a repository path component`);
    const repository = `lab/${this.scenario}/${this.id}/${name}`;
    return { repository, tag, ref: `${REGISTRY_HOST}/${repository}:${tag}` };
  }

  /** Makes the lab registry behave as `behaviour` for `target`'s repository. */
  behave(target: PushTarget, behaviour: RegistryBehaviour): void {
    this.lab.proxy.setBehaviour(target.repository, behaviour);
    if (behaviour !== 'plain') this.fact(`registry behaviour for ${target.repository}: ${behaviour}`);
  }

  bootBuilder(spec: BuilderSpec): Promise<Builder> {
    return bootBuilder(this, spec);
  }

  /** `docker buildx <args>`, timed as Buildx's work. */
  buildx(args: readonly string[], opts: CommandOptions = {}): Promise<RunResult> {
    return this.services.phase('buildx', () => this.sandbox.buildx(args, opts));
  }

  /** A docker client command around Buildx (image inspect, run, tag, push, ...). */
  docker(args: readonly string[], opts: CommandOptions = {}): Promise<RunResult> {
    return this.services.phase('buildx', () => this.sandbox.docker(args, opts));
  }

  mark(): number {
    return this.lab.proxy.journal.mark();
  }

  requests(since: number): JournalEntry[] {
    return this.services.requestsSince(since);
  }

  /** Reads what the registry holds under `target` through the lab's own client (never through Buildx). */
  verify(target: PushTarget | string, platforms: readonly string[], opts: { requireIndex?: boolean } = {}): Promise<VerificationReport> {
    const t = typeof target === 'string' ? registryTarget(target) : target;
    return this.services.phase('verify', async () => {
      const report = await verifyImage(this.lab.client(), t.repository, t.tag, { platforms: [...platforms], ...opts });
      Object.assign(this.evidence.manifests, report.manifests);
      return report;
    });
  }

  /** Evaluates checks against the recorded steps, the spans the cell exported (when the case has a trace sink) and the cell's state. */
  async check(checks: readonly Check[], steps: readonly RecordedStep[], journalSince: number, spans?: readonly SpanRecord[]): Promise<CheckResult[]> {
    const journal = this.requests(journalSince);
    const out: CheckResult[] = [];
    const port: StatePort = {
      sandbox: this.sandbox,
      docker: (args) => this.sandbox.docker(args),
      verify: (t, platforms, opts) => this.verify(t, platforms, opts),
      fact: (text) => this.fact(text),
      ...(this.services.kubeObject ? { kube: this.services.kubeObject } : {}),
    };
    for (const c of checks) out.push(evaluateRecorded(c, steps, journal, spans) ?? (await checkState(port, c)));
    return out;
  }
}
