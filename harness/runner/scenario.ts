// A scenario's expansion into cells (scenario/definition.ts holds what a scenario is): the matrix and the
// filters applied, versions resolved, the expectation of every cell, its requirements and its id. Pure
// apart from reading the release lists.
import { createHash } from 'node:crypto';
import semver from 'semver';
import { loadReleases, resolveSpecs, type ResolvedVersion } from '../buildx/spec.ts';
import { resolveEngineSpecs, supportsContainerdStore, type ResolvedEngine } from '../engine/spec.ts';
import { HarnessError, UsageError } from '../errors.ts';
import { isGitSpec } from '../git/revision.ts';
import { gitTreeText, type GitTreeRef } from '../provision/git-tree.ts';
import { DEFAULT_BUILDKIT } from '../buildkit/image.ts';
import { chooseBuildkit, loadBuildkitIndex, type BuildkitChoice, type OfItsDay } from '../buildkit/of-its-day.ts';
import { labelSatisfies, labelVersion, validateAxes, type AxesDecl, type Expectation, type Matrix, type RunnableScenario } from '../scenario/definition.ts';
import { applyFilters, cellName, crossProduct } from './matrix.ts';
import { requirementId, type PlannedCell, type Requirement } from './run-spec.ts';

/** Axis label of a resolved Buildx version: Debian's patched builds are told apart from upstream's, a build from Git names its commit. */
export function buildxLabel(r: ResolvedVersion): string {
  if (r.git) return r.git.label;
  return r.via === 'alias' && r.spec.startsWith('debian-') ? `${r.version}-debian` : r.version;
}

/**
 * The expectation of a cell whose Buildx is built from Git: a commit on a release tag is that release (its
 * expectations apply); any other commit has no version to match, so nothing is declared and what it shows
 * is the finding (as for a case without `expect`). Pure.
 */
export function gitExpectation(git: NonNullable<ResolvedVersion['git']>, axes: Readonly<Record<string, string>>, expectations: readonly Expectation[]): Expectation | undefined {
  if (git.tag) return expectationFor({ ...axes, buildx: git.tag }, expectations);
  return { when: {}, outcome: 'reproduced', reason: `Buildx built from ${git.label}, a commit with no release tag: nothing is declared for it`, undeclared: true };
}

/** The first expectation whose `when` holds for a cell; versions match ranges (prerelease-aware). */
export function expectationFor(axes: Readonly<Record<string, string>>, expectations: readonly Expectation[]): Expectation | undefined {
  return expectations.find((e) =>
    Object.entries(e.when).every(([k, want]) => {
      const got = axes[k];
      if (got === undefined || want === undefined) return false;
      if (k === 'buildx' || k === 'engine' || k === 'buildkit') {
        if (!semver.validRange(want as string, { includePrerelease: true })) throw new UsageError(`expectation ${k}: "${String(want)}" is not a semver range`);
        return labelSatisfies(got, want as string);
      }
      return Array.isArray(want) ? want.includes(got) : want === got;
    }),
  );
}

/** Short, repository- and DNS-safe id; a hash of the cell's name and attempt keeps it unique. */
export function cellId(scenario: string, name: string, attempt = 0): string {
  return `c${createHash('sha256').update(`${scenario}>${name}#${attempt}`).digest('hex').slice(0, 8)}`;
}

export interface ExpandOptions {
  matrix: Matrix;
  /** axis -> values from the command line (--buildx, --engine, ...) */
  filters: Record<string, readonly string[]>;
  repeat: number;
  source: PlannedCell['source'];
  /** git:<repo>@<rev> Buildx and BuildKit specs, resolved to commits when the run was planned (planRun) */
  git?: ReadonlyMap<string, ResolvedVersion>;
}

export interface Expanded {
  cells: PlannedCell[];
  requirements: Record<string, Requirement>;
}

/** The scenario's cells for a matrix and filters, each with what it needs; expansion reads only the declaration. */
export function expandScenario(s: RunnableScenario, o: ExpandOptions): Expanded {
  const declared = s.axes;
  const overrides = o.matrix === 'quick' ? s.quick : o.matrix === 'all' ? s.all : undefined;
  const base: AxesDecl = { ...declared, ...overrides };
  const filtered = applyFilters(s.id, base, o.filters, declared);
  const out: Expanded = { cells: [], requirements: {} };
  if (!filtered) return out;
  const { buildx: buildxSpecs, engine: engineSpecs, buildkit: buildkitSpecs, ...rest } = filtered;
  validateAxes(s.id, rest, declared.fault);
  const resolvedGit = (x: string) => {
    const r = o.git?.get(x);
    if (!r) throw new HarnessError(`scenario ${s.id}: ${x} was not resolved to a commit when the run was planned`);
    return r;
  };
  const releases = buildxSpecs.filter((x) => !isGitSpec(x));
  const buildx = [...resolveSpecs(releases, loadReleases(), { includePrerelease: releases.some((x) => /-rc\d/.test(x)) }), ...buildxSpecs.filter(isGitSpec).map(resolvedGit)];
  // a BuildKit from Git is named by its commit's label on the axis, as Buildx is
  const byBuildkit = new Map<string, GitTreeRef | undefined>(
    (buildkitSpecs ?? []).map((b) => {
      const g = isGitSpec(b) ? resolvedGit(b).git : undefined;
      return g ? [g.label, g] : [b, undefined];
    }),
  );
  const byBuildx = new Map(buildx.map((r) => [buildxLabel(r), r]));
  const engines = engineSpecs ? resolveEngineSpecs(engineSpecs) : [];
  const byEngine = new Map(engines.map((e) => [e.label, e]));
  const axes: Record<string, readonly string[]> = {
    buildx: [...byBuildx.keys()],
    ...(engines.length ? { engine: [...byEngine.keys()] } : {}),
    ...(buildkitSpecs ? { buildkit: [...byBuildkit.keys()] } : {}),
    ...rest,
  };
  for (const combo of crossProduct(axes)) {
    if (combo.engine && combo.store === 'containerd' && !supportsContainerdStore(labelVersion(combo.engine))) continue;
    if (s.exclude?.(combo)) continue;
    const git = byBuildx.get(combo.buildx!)!.git;
    const buildkitGit = combo.buildkit ? byBuildkit.get(combo.buildkit) : undefined;
    // a BuildKit commit on a release tag is that release for the expectations
    const matched = buildkitGit?.tag ? { ...combo, buildkit: buildkitGit.tag } : combo;
    const expected = git ? gitExpectation(git, matched, s.expectations) : expectationFor(matched, s.expectations);
    if (!expected) throw new UsageError(`scenario ${s.id}: no expectation covers ${cellName(combo)}; add one to its expectations`);
    const chosen = cellBuildkit(s, combo, byBuildx.get(combo.buildx!)!);
    const buildkit = chosen && buildkitGit ? { ...chosen, reason: `${chosen.reason}; built from ${gitTreeText(buildkitGit)}` } : chosen;
    const requires = cellRequirements(s, combo, byBuildx.get(combo.buildx!)!, combo.engine ? byEngine.get(combo.engine) : undefined, buildkit, buildkitGit);
    for (const r of requires) out.requirements[requirementId(r)] = r;
    const name = cellName(combo);
    for (let attempt = 0; attempt < o.repeat; attempt++) {
      out.cells.push({
        key: `${s.id} > ${name}${o.repeat > 1 ? ` #${attempt + 1}` : ''}`,
        scenario: s.id,
        source: o.source,
        name,
        axes: combo,
        expected: { outcome: expected.outcome, reason: expected.reason, ...(expected.undeclared ? { undeclared: true } : {}) },
        attempt,
        requires: requires.map(requirementId),
        ...(buildkit ? { buildkit } : {}),
      });
    }
  }
  return out;
}

let ofItsDay: Readonly<Record<string, OfItsDay>> | undefined;
/** The checked-in table of the BuildKit of each Buildx release's day, read once. */
const ofItsDayTable = () => (ofItsDay ??= loadBuildkitIndex().ofItsDay);

/**
 * The BuildKit a cell runs, when it runs one (a docker-container or remote builder, a buildkit axis, or a
 * step naming ${buildkitImage}), and why that one; pure apart from reading the checked-in table once.
 */
export function cellBuildkit(
  s: Pick<RunnableScenario, 'needsBuildkit' | 'buildkitOfItsDay'>,
  axes: Readonly<Record<string, string>>,
  buildx: Pick<ResolvedVersion, 'version'>,
  table: Readonly<Record<string, OfItsDay>> = ofItsDayTable(),
): BuildkitChoice | undefined {
  const needs = s.needsBuildkit === true || axes.driver === 'docker-container' || axes.driver === 'remote' || axes.driver === 'kubernetes' || axes.buildkit !== undefined;
  if (!needs) return undefined;
  return chooseBuildkit({ named: axes.buildkit, ofItsDay: s.buildkitOfItsDay === true, buildx: buildx.version, labDefault: DEFAULT_BUILDKIT }, table);
}

/** What one cell needs provisioned before it runs; pure. */
export function cellRequirements(
  s: Pick<RunnableScenario, 'needsBaseImage' | 'needsBuildkit' | 'needsS3' | 'needsTraces' | 'needsGrpcProxy' | 'buildkitOfItsDay' | 'rootlessBuildkit'>,
  axes: Readonly<Record<string, string>>,
  buildx: ResolvedVersion,
  engine: ResolvedEngine | undefined,
  buildkit: BuildkitChoice | undefined = cellBuildkit(s, axes, buildx),
  buildkitGit?: GitTreeRef,
): Requirement[] {
  const reqs: Requirement[] = [
    { kind: 'image', id: 'registry' },
    { kind: 'buildx', label: buildxLabel(buildx), spec: buildx.spec, version: buildx.version, via: buildx.via, ...(buildx.git ? { git: buildx.git } : {}) },
  ];
  if (engine) reqs.push({ kind: 'engine-image', label: engine.label, spec: engine.kind === 'debian' ? engine.alias : engine.version });
  if (buildkit)
    reqs.push({ kind: 'buildkit', version: buildkit.version, ...(s.rootlessBuildkit ? { rootless: true as const } : {}), ...(buildkitGit ? { git: buildkitGit } : {}) });
  if (s.needsBaseImage) reqs.push({ kind: 'image', id: 'case-base' });
  if (s.needsGrpcProxy && axes.driver === 'remote') reqs.push({ kind: 'image', id: 'grpc-proxy' });
  if (s.needsS3) reqs.push({ kind: 'tool', id: 'versitygw' });
  if (s.needsTraces) reqs.push({ kind: 'tool', id: 'otelcol' });
  // the run's k3s node (k3s built from the Go module proxy on first need)
  if (axes.driver === 'kubernetes') reqs.push({ kind: 'image', id: 'k3s-node' });
  return reqs;
}
