// A case.yaml turned into a Scenario: the matrix comes from the case, the body copies the case into the
// cell's context and runs the one command it names, and the judge reads the declared symptom off the
// evidence. Observed `reproduced` means "symptom present", `fixed` means "symptom absent".
import path from 'node:path';
import { HarnessError } from '../errors.ts';
import type { CellResult, CommandRecord, RegistryBehaviour } from '../model.ts';
import { describeReport, summarizeProblems, type VerificationReport } from '../oci/verify.ts';
import { analyzePush, describePush, type PushAnalysis } from '../registry/journal.ts';
import type { Expectation, MatrixAxes } from '../runner/matrix.ts';
import type { CellContext, Scenario, Verdict } from '../runner/scenario.ts';
import { bootContainerBuilder, pushTarget, verifyPushed } from '../runner/steps.ts';
import { readCaseFile, type ReproCase } from './case.ts';
import { errorLine } from '../text.ts';

export const NO_EXPECTATION = 'case has no declared expectation';

export interface ReproObservation {
  /** the Buildx commands whose output the symptom is matched against */
  commands: CommandRecord[];
  /** exit code of the command under test (for create: the first that failed) */
  exitCode: number;
  analysis?: PushAnalysis;
  registry?: VerificationReport;
  /** requests the case's fault changed; undefined without a fault */
  faultHits?: number;
}

export function reproScenarioId(c: Pick<ReproCase, 'dir'>): string {
  return `repro-${path.basename(c.dir).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'case'}`;
}

export function reproAxes(c: ReproCase): MatrixAxes {
  const common = { buildx: c.versions, engine: c.engine, store: c.store, driver: c.driver };
  // `command` is a closed axis (build | bake); a create case has one fault instead.
  return c.command === 'create' ? { ...common, ...(c.fault ? { fault: [c.fault] } : {}) } : { ...common, command: [c.command], registry: c.registry };
}

export function reproExpectations(c: ReproCase): Expectation[] {
  if (!c.expect.length) return [{ when: {}, outcome: 'reproduced', reason: NO_EXPECTATION }];
  return c.expect.map((e) => ({ when: { buildx: e.range }, outcome: e.outcome, reason: `case.yaml expects ${e.outcome} for buildx ${e.range}` }));
}

function describeSymptom(c: ReproCase): string {
  const s = c.symptom;
  return [s.output && `output matches /${s.output.source}/`, s.registry && `registry: ${s.registry}`, s.exitCode && `exit code ${s.exitCode}`].filter(Boolean).join(' and ');
}

export function reproScenario(c: ReproCase): Scenario<ReproObservation> {
  return {
    id: reproScenarioId(c),
    title: c.title,
    links: c.links,
    symptom: describeSymptom(c),
    axes: reproAxes(c),
    faults: c.fault ? [c.fault] : [],
    expectations: reproExpectations(c),
    observe: (ctx) => observeCase(c, ctx),
    judge: (o) => judgeCase(c, o),
  };
}

/** Copies the case's files into the cell's context inside DinD (a tar put, like `docker cp`). */
async function copyCase(c: ReproCase, ctx: CellContext): Promise<string> {
  const dir = `${ctx.sandbox.dir}/ctx`;
  await ctx.sandbox.dind.container.copyContentToContainer([
    ...c.files.map((f) => ({ content: readCaseFile(c.dir, f), target: `${dir}/${f.rel}`, mode: f.mode })),
    // As the lab's fixtures do: lets a Dockerfile COPY something unique to the cell.
    { content: `${ctx.cellId}\n`, target: `${dir}/cell-id.txt`, mode: 0o644 },
  ]);
  ctx.evidence.facts.push(`case ${path.basename(c.dir)}: ${c.files.length} file(s) copied into ${dir}`);
  return dir;
}

async function observeCase(c: ReproCase, ctx: CellContext): Promise<ReproObservation> {
  const dir = await copyCase(c, ctx);
  const name = ctx.cellId;
  if (c.command === 'create') {
    const boot = await bootContainerBuilder(ctx, name, c.fault);
    const commands = [boot.create, ...(boot.bootstrap ? [boot.bootstrap] : [])];
    return { commands, exitCode: commands.find((x) => x.exitCode !== 0)?.exitCode ?? 0, ...(c.fault ? { faultHits: boot.faultHits.length } : {}) };
  }
  const target = pushTarget('repro', ctx.cellId);
  ctx.lab.proxy.setBehaviour(target.repository, ctx.axes.registry as RegistryBehaviour);
  const builder: string[] = [];
  if (ctx.axes.driver === 'docker-container') {
    const boot = await bootContainerBuilder(ctx, name);
    const failed = boot.bootstrap ?? boot.create;
    if (failed.exitCode !== 0) throw new HarnessError(`the docker-container builder did not boot: ${errorLine(failed.stderr + failed.stdout)}`);
    builder.push('--builder', name);
  }
  const mark = ctx.lab.proxy.journal.mark();
  // The bake file reads the push target from TAG (and may read PLATFORMS); see fixtures/cases/README.md.
  const run = await ctx.phase('buildx', () =>
    c.command === 'bake'
      ? ctx.sandbox.buildx(['bake', ...builder, '--progress', 'plain', '-f', c.bakeFile, ...c.args], {
          cwd: dir,
          env: { TAG: target.ref, ...(c.platforms.length ? { PLATFORMS: c.platforms.join(',') } : {}) },
        })
      : ctx.sandbox.buildx([
          'build', ...builder, '--progress', 'plain',
          ...(c.platforms.length ? ['--platform', c.platforms.join(',')] : []),
          ...(c.push ? ['--push', '-t', target.ref] : []),
          ...c.args, `${dir}/${c.context}`,
        ]),
  );
  ctx.evidence.facts.push(`${c.command} exit ${run.exitCode}: ${errorLine(run.stderr + run.stdout)}`);
  const obs: ReproObservation = { commands: [run], exitCode: run.exitCode };
  if (c.push) {
    obs.analysis = analyzePush(ctx.requestsSince(mark), target.repository, target.tag);
    ctx.evidence.facts.push(...describePush(obs.analysis));
    obs.registry = await verifyPushed(ctx, target, c.platforms);
    ctx.evidence.facts.push(...describeReport(obs.registry).split('\n'));
  }
  return obs;
}

interface Criterion {
  present: boolean;
  detail: string;
}

const clip = (s: string, n = 60) => (s.length > n ? `${s.slice(0, n - 3)}...` : s).replace(/\s+/g, ' ');

/** Where the tag ended, in words. */
function tagState(r: VerificationReport): string {
  const notIndex = r.problems.find((p) => p.code === 'not-an-index');
  // BuildKit's attestation manifests carry an unknown/unknown config: the tag ended on one of them.
  if (notIndex) return `tag is a single manifest (${r.platforms.map((p) => (p === 'unknown/unknown' ? 'unknown/unknown: an attestation manifest' : p)).join(', ')})`;
  if (r.problems.some((p) => p.code === 'not-found')) return 'tag absent';
  if (r.ok) return `complete index (${r.platforms.join(', ')})`;
  return `incomplete index (${summarizeProblems(r.problems)})`;
}

export function registryCriterion(c: ReproCase, o: ReproObservation): Criterion {
  const r = o.registry;
  if (!r) return { present: false, detail: 'registry: not verified' };
  const state = tagState(r);
  switch (c.symptom.registry!) {
    case 'not-an-index':
      return { present: r.problems.some((p) => p.code === 'not-an-index'), detail: `registry: ${state}` };
    case 'missing-platforms': {
      const missing = c.platforms.filter((p) => !r.platforms.includes(p));
      return { present: missing.length > 0, detail: missing.length ? `registry: missing ${missing.join(', ')}; ${state}` : `registry: every platform present; ${state}` };
    }
    case 'push-refused': {
      const refused = (o.analysis?.tagPuts ?? []).filter((p) => p.status >= 400);
      return { present: refused.length > 0, detail: refused.length ? `registry: refused ${refused.length} tag PUT(s) (${[...new Set(refused.map((p) => p.status))].join(', ')})` : `registry: no tag PUT refused; ${state}` };
    }
    case 'incomplete':
      return { present: !r.ok, detail: `registry: ${state}` };
  }
}

export function judgeCase(c: ReproCase, o: ReproObservation): Verdict {
  if (o.faultHits === 0) return { observed: 'unexpected', summary: `inconclusive: the ${c.fault} fault was never hit (the engine did not fetch the layer)` };
  const criteria: Criterion[] = [];
  if (c.symptom.output) {
    const m = c.symptom.output.exec(o.commands.map((x) => `${x.stdout}\n${x.stderr}`).join('\n'));
    criteria.push(m ? { present: true, detail: `output matched "${clip(m[0])}"` } : { present: false, detail: `output: no match for /${c.symptom.output.source}/` });
  }
  if (c.symptom.registry) criteria.push(registryCriterion(c, o));
  if (c.symptom.exitCode) {
    const failed = o.commands.find((x) => x.exitCode !== 0);
    criteria.push({ present: (o.exitCode !== 0) === (c.symptom.exitCode === 'nonzero'), detail: `exit ${o.exitCode}${failed ? `: ${clip(errorLine(failed.stderr + '\n' + failed.stdout), 100)}` : ''}` });
  }
  const present = criteria.every((x) => x.present);
  return { observed: present ? 'reproduced' : 'fixed', summary: `symptom ${present ? 'PRESENT' : 'ABSENT'} (${criteria.map((x) => x.detail).join('; ')})` };
}

/** One line per cell for `buildx-lab repro`: the version, then what the symptom did (or why it is unknown). */
export function reproLines(results: readonly CellResult[]): string[] {
  const versions = new Set(results.map((r) => r.axes.buildx));
  const width = Math.max(0, ...[...versions].map((v) => (v ?? '').length));
  return results.map((r) => {
    const others = Object.entries(r.axes).filter(([k]) => k !== 'buildx').map(([k, v]) => `${k}=${v}`).join('/');
    const where = versions.size < results.length ? `  [${others}]` : '';
    const head = (r.axes.buildx ?? '?').padEnd(width);
    const verdict = /symptom (PRESENT|ABSENT).*$/s.exec(r.summary)?.[0];
    if (r.outcome === 'error' || r.outcome === 'skipped' || !verdict) return `${head}  ${r.outcome}: ${r.summary}${where}`;
    const declared = r.expectedReason === NO_EXPECTATION ? '' : r.outcome === r.expected ? '  (as declared)' : `  (NOT as declared: expected ${r.expected})`;
    return `${head}  ${verdict}${declared}${where}`;
  });
}
