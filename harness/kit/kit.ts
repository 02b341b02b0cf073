// The kit: one typed vocabulary for a scenario's body and a case's steps. It boots builders, runs Buildx
// and docker commands in the cell's sandbox, pushes to and verifies the lab registry, reads the registry's
// journal, and evaluates checks — and it records everything as evidence, so a body never pushes evidence
// by hand. A new step or check is added here once and serves both.
import type { RunResult } from '../exec.ts';
import type { Lab } from '../lab/lab.ts';
import { HarnessError, UsageError } from '../errors.ts';
import { REGISTRY_HOST, type Axes, type CellEvidence, type JournalEntry, type RegistryBehaviour } from '../model.ts';
import { describeReport, verifyImage, type VerificationReport } from '../oci/verify.ts';
import { parseImageRef } from '../oci/reference.ts';
import { isIndexMediaType } from '../oci/types.ts';
import type { SpanRecord } from '../serve/otlp-spans.ts';
import { shellQuote } from '../text.ts';
import { bootBuilder, type Builder, type BuilderSpec } from './builders.ts';
import { annotationProblems, checkPath, evaluateRecorded, type Check, type CheckResult, type RecordedStep } from './checks.ts';
import type { CellSandbox, CommandOptions } from './sandbox.ts';

export interface PushTarget {
  repository: string;
  tag: string;
  /** as the engine sees it: registry:5000/<repository>:<tag> */
  ref: string;
}

export interface KitServices {
  lab: Lab;
  sandbox: CellSandbox;
  evidence: CellEvidence;
  /** the lab's BuildKit image of `version` (default: the cell's BuildKit), rootless or not, as the engine pulls it */
  buildkitImage(version?: string, rootless?: boolean): Promise<string>;
  /** the base image cases may build FROM, as the engine pulls it */
  baseImage(): Promise<string>;
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
    for (const c of checks) out.push(evaluateRecorded(c, steps, journal, spans) ?? (await this.checkState(c)));
    return out;
  }

  private async checkState(c: Check): Promise<CheckResult> {
    switch (c.kind) {
      case 'file':
      case 'state':
        return checkPath(this.sandbox, c);
      case 'image':
        return this.checkEngineImage(c);
      case 'registry':
        return this.checkRegistry(c);
      default:
        throw new HarnessError(`check ${c.kind} has no evaluation`);
    }
  }

  private async checkEngineImage(c: Extract<Check, { kind: 'image' }>): Promise<CheckResult> {
    const inspect = await this.sandbox.docker(['image', 'inspect', '--format', '{{.Id}} {{.Os}}/{{.Architecture}}', c.ref]);
    const exists = inspect.exitCode === 0;
    if (c.exists === false) return { holds: !exists, detail: `engine image ${c.ref}: ${exists ? 'present' : 'absent'}` };
    if (!exists) return { holds: false, detail: `engine image ${c.ref}: absent` };
    if (!c.platforms?.length) return { holds: true, detail: `engine image ${c.ref}: present (${inspect.stdout.trim()})` };
    // Per platform: `image inspect --platform` (API 1.49+); the classic store holds one platform per image.
    const missing: string[] = [];
    for (const p of c.platforms) {
      const r = await this.sandbox.docker(['image', 'inspect', '--platform', p, '--format', '{{.Os}}/{{.Architecture}}', c.ref]);
      const ok = r.exitCode === 0 ? r.stdout.trim() === p.split('/').slice(0, 2).join('/') : /unknown flag/.test(r.stderr) ? inspect.stdout.trim().endsWith(p) : false;
      if (!ok) missing.push(p);
    }
    return { holds: missing.length === 0, detail: missing.length ? `engine image ${c.ref}: no ${missing.join(', ')}` : `engine image ${c.ref}: has ${c.platforms.join(', ')}` };
  }

  private async checkRegistry(c: Extract<Check, { kind: 'registry' }>): Promise<CheckResult> {
    const t = registryTarget(c.ref);
    const report = await this.verify(t, c.platforms ?? [], { requireIndex: c.index ?? false });
    const exists = !report.problems.some((p) => p.code === 'not-found');
    if (c.exists === false) return { holds: !exists, detail: `registry ${t.repository}:${t.tag}: ${exists ? 'present' : 'absent'}` };
    if (!exists) return { holds: false, detail: `registry ${t.repository}:${t.tag}: absent` };
    const fails: string[] = [];
    const isIndex = report.topMediaType !== undefined && isIndexMediaType(report.topMediaType);
    if (c.index !== undefined && isIndex !== c.index) fails.push(isIndex ? 'is an index' : `is a single manifest (${report.platforms.join(', ')})`);
    if (c.platforms) {
      const missing = c.platforms.filter((p) => !report.platforms.includes(p));
      if (missing.length) fails.push(`lacks ${missing.join(', ')}`);
      const extra = report.platforms.filter((p) => !c.platforms!.includes(p));
      if (c.exactPlatforms && extra.length) fails.push(`also has ${extra.join(', ')}`);
    }
    if (c.lacks) {
      const missing = c.lacks.filter((p) => !report.platforms.includes(p));
      if (!missing.length) fails.push(`has every one of ${c.lacks.join(', ')}`);
    }
    if (c.complete !== undefined && report.ok !== c.complete) fails.push(report.ok ? 'is complete' : `is incomplete (${report.problems.map((p) => p.code).join(', ')})`);
    if (c.attestations !== undefined && report.attestations > 0 !== c.attestations)
      fails.push(report.attestations > 0 ? `has ${report.attestations} attestation manifest(s)` : 'has no attestation manifest');
    if (c.annotations || c.lacksAnnotations) {
      const top = report.topDigest ? (report.manifests[report.topDigest] as { annotations?: unknown } | undefined) : undefined;
      fails.push(...annotationProblems(top?.annotations, c));
    }
    this.fact(describeReport(report).split('\n')[0]!);
    return { holds: fails.length === 0, detail: `registry ${t.repository}:${t.tag}: ${fails.length ? fails.join('; ') : 'as expected'}` };
  }
}

/** A registry reference as a push target; it must name the lab registry. */
export function registryTarget(ref: string): PushTarget {
  const r = parseImageRef(ref);
  if (r.registry !== REGISTRY_HOST) throw new UsageError(`${ref} is not in the lab registry (${REGISTRY_HOST}); only it can be verified`);
  return { repository: r.repository, tag: r.reference, ref };
}
