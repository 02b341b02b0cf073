// A scenario: one bug report as a typed definition. It declares its matrix (axes, with the values as
// literal types), what each version range is expected to show, one `observe` body written with the kit,
// and one `judge` that reads only what observe returned. Expansion into cells is pure.
import { createHash } from 'node:crypto';
import semver from 'semver';
import { loadReleases, resolveSpecs, type ResolvedVersion } from '../buildx/spec.ts';
import { resolveEngineSpecs, supportsContainerdStore, type ResolvedEngine } from '../engine/spec.ts';
import { HarnessError, UsageError } from '../errors.ts';
import { isGitSpec } from '../git/revision.ts';
import type { DeclaredOutcome, DriverKind, Outcome, RegistryBehaviour, StoreKind } from '../model.ts';
import type { Kit } from '../kit/kit.ts';
import { DEFAULT_BUILDKIT } from '../buildkit/image.ts';
import { chooseBuildkit, loadBuildkitIndex, type BuildkitChoice, type OfItsDay } from '../buildkit/of-its-day.ts';
import { applyFilters, cellName, crossProduct, validateAxes, type AxisName } from './matrix.ts';
import { requirementId, type PlannedCell, type Requirement } from './run-spec.ts';

/** The matrix a scenario declares: the closed axes, each with its values (buildx, engine, buildkit take specs). */
export interface AxesDecl {
  buildx: readonly string[];
  engine?: readonly string[];
  store?: readonly StoreKind[];
  driver?: readonly DriverKind[];
  command?: readonly string[];
  registry?: readonly RegistryBehaviour[];
  fault?: readonly string[];
  buildkit?: readonly string[];
}

type Versioned = 'buildx' | 'engine' | 'buildkit';
/** The value type of one axis: versions are labels (strings), the others the declared literals. */
type AxisValue<D extends AxesDecl, K extends keyof D> = K extends Versioned ? string : D[K] extends readonly (infer V extends string)[] | undefined ? V : string;

/** One cell's values, typed from the declaration: `store` is 'containerd' | 'classic', and so on. */
export type CellAxes<D extends AxesDecl> = { readonly [K in keyof D & string]-?: AxisValue<D, K> };

/** A matrix overriding some axes: versions take any specs, the others a subset of the declared values. */
export type AxesOverride<D extends AxesDecl> = { readonly [K in keyof D & string]?: readonly AxisValue<D, K>[] };

export type Matrix = 'quick' | 'full' | 'all';

export interface Expectation<D extends AxesDecl = AxesDecl> {
  /** axis -> value(s); buildx, engine and buildkit take semver ranges */
  when: { readonly [K in keyof D & string]?: K extends Versioned ? string : AxisValue<D, K> | readonly AxisValue<D, K>[] };
  outcome: DeclaredOutcome;
  reason: string;
  /** nothing is declared (a case without `expect`): whatever the cell shows is its finding, not a miss */
  undeclared?: boolean;
}

export interface Verdict {
  /** what the evidence shows, independent of what was declared */
  observed: Extract<Outcome, 'reproduced' | 'fixed' | 'control'> | 'unexpected';
  summary: string;
}

export interface Scenario<D extends AxesDecl = AxesDecl, O = unknown> {
  id: string;
  title: string;
  /** upstream issue / PR links */
  links: readonly string[];
  symptom: string;
  /** the full matrix (the test suite) */
  axes: D;
  /** the main job's default matrix; axes not listed keep the full values */
  quick?: AxesOverride<D>;
  /** `--matrix all`: the full cross product (e.g. every engine); axes not listed keep the full values */
  all?: AxesOverride<D>;
  /** fixture directory (under fixtures/) copied into every cell's build context before observe */
  fixture?: string;
  /** a reason when a combination is meaningless (the cell is not generated) */
  exclude?(axes: CellAxes<D>): string | undefined;
  expectations: readonly Expectation<D>[];
  /** the case base image (Debian) must be in the lab registry */
  needsBaseImage?: boolean;
  /** a BuildKit image is needed whatever the driver (a step names ${buildkitImage}) */
  needsBuildkit?: boolean;
  /**
   * Without a buildkit axis, a cell that runs BuildKit gets the BuildKit of its Buildx's day (what `docker
   * buildx create` pulled then) instead of the lab's default. Cases do; scenarios keep the default.
   */
  buildkitOfItsDay?: boolean;
  /** its docker-container builders run the rootless BuildKit image (moby/buildkit:<v>-rootless) */
  rootlessBuildkit?: boolean;
  observe(kit: Kit<CellAxes<D>>): Promise<O>;
  judge(observation: O, axes: CellAxes<D>): Verdict;
}

/** Declares a scenario; `as const` on the axes keeps their values as literal types. */
export function defineScenario<const D extends AxesDecl, O>(s: Scenario<D, O>): Scenario<D, O> {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(s.id)) throw new UsageError(`scenario id '${s.id}' must be lower-case words joined by '-'`);
  validateAxes(s.id, s.axes as unknown as Record<string, readonly string[]>, s.axes.fault);
  return s;
}

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

/** The version a label stands for: "v0.29.1-debian" -> "v0.29.1", "26.1.5-debian" -> "26.1.5". */
export function labelVersion(label: string): string {
  return label.replace(/-debian$/, '');
}

/** Whether a version label (buildx, engine or buildkit axis) is in a semver range, release candidates included. */
export function labelSatisfies(label: string, range: string): boolean {
  return semver.satisfies(labelVersion(label), range, { includePrerelease: true });
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
  /** git:<repo>@<rev> Buildx specs, resolved to commits when the run was planned (planRun) */
  git?: ReadonlyMap<string, ResolvedVersion>;
}

export interface Expanded {
  cells: PlannedCell[];
  requirements: Record<string, Requirement>;
}

/** The scenario's cells for a matrix and filters, each with what it needs; pure apart from reading the release lists. */
/** Any scenario, whatever its typed axes: expansion reads only the declaration. */
export function expandScenario<D extends AxesDecl>(typed: Scenario<D, unknown>, o: ExpandOptions): Expanded {
  const s = typed as unknown as Scenario<AxesDecl, unknown>;
  const declared = s.axes as AxesDecl;
  const overrides = o.matrix === 'quick' ? s.quick : o.matrix === 'all' ? s.all : undefined;
  const base = { ...declared, ...(overrides ?? {}) } as AxesDecl;
  const filtered = applyFilters(s.id, base as never, o.filters, declared as never);
  const out: Expanded = { cells: [], requirements: {} };
  if (!filtered) return out;
  const { buildx: buildxSpecs, engine: engineSpecs, ...rest } = filtered as AxesDecl;
  validateAxes(s.id, rest as Record<string, readonly string[]>, declared.fault);
  const releases = buildxSpecs.filter((x) => !isGitSpec(x));
  const buildx = [
    ...resolveSpecs(releases, loadReleases(), { includePrerelease: releases.some((x) => /-rc\d/.test(x)) }),
    ...buildxSpecs.filter(isGitSpec).map((x) => {
      const r = o.git?.get(x);
      if (!r) throw new HarnessError(`scenario ${s.id}: ${x} was not resolved to a commit when the run was planned`);
      return r;
    }),
  ];
  const byBuildx = new Map(buildx.map((r) => [buildxLabel(r), r]));
  const engines = engineSpecs ? resolveEngineSpecs(engineSpecs) : [];
  const byEngine = new Map(engines.map((e) => [e.label, e]));
  const axes: Record<string, readonly string[]> = { buildx: [...byBuildx.keys()], ...(engines.length ? { engine: [...byEngine.keys()] } : {}), ...rest };
  for (const combo of crossProduct(axes)) {
    if (combo.engine && combo.store === 'containerd' && !supportsContainerdStore(labelVersion(combo.engine))) continue;
    if (s.exclude?.(combo as never)) continue;
    const git = byBuildx.get(combo.buildx!)!.git;
    const expected = git ? gitExpectation(git, combo, s.expectations as readonly Expectation[]) : expectationFor(combo, s.expectations as readonly Expectation[]);
    if (!expected) throw new UsageError(`scenario ${s.id}: no expectation covers ${cellName(combo)}; add one to its expectations`);
    const buildkit = cellBuildkit(s, combo, byBuildx.get(combo.buildx!)!);
    const requires = cellRequirements(s, combo, byBuildx.get(combo.buildx!)!, combo.engine ? byEngine.get(combo.engine) : undefined, buildkit);
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
  s: Pick<Scenario, 'needsBuildkit' | 'buildkitOfItsDay'>,
  axes: Readonly<Record<string, string>>,
  buildx: Pick<ResolvedVersion, 'version'>,
  table: Readonly<Record<string, OfItsDay>> = ofItsDayTable(),
): BuildkitChoice | undefined {
  const needs = s.needsBuildkit === true || axes.driver === 'docker-container' || axes.driver === 'remote' || axes.buildkit !== undefined;
  if (!needs) return undefined;
  return chooseBuildkit({ named: axes.buildkit, ofItsDay: s.buildkitOfItsDay === true, buildx: buildx.version, labDefault: DEFAULT_BUILDKIT }, table);
}

/** What one cell needs provisioned before it runs; pure. */
export function cellRequirements(
  s: Pick<Scenario, 'needsBaseImage' | 'needsBuildkit' | 'buildkitOfItsDay' | 'rootlessBuildkit'>,
  axes: Readonly<Record<string, string>>,
  buildx: ResolvedVersion,
  engine: ResolvedEngine | undefined,
  buildkit: BuildkitChoice | undefined = cellBuildkit(s, axes, buildx),
): Requirement[] {
  const reqs: Requirement[] = [
    { kind: 'image', id: 'registry' },
    { kind: 'buildx', label: buildxLabel(buildx), spec: buildx.spec, version: buildx.version, via: buildx.via, ...(buildx.git ? { git: buildx.git } : {}) },
  ];
  if (engine) reqs.push({ kind: 'engine-image', label: engine.label, spec: engine.kind === 'debian' ? engine.alias : engine.version });
  if (buildkit) reqs.push({ kind: 'buildkit', version: buildkit.version, ...(s.rootlessBuildkit ? { rootless: true as const } : {}) });
  if (s.needsBaseImage) reqs.push({ kind: 'image', id: 'case-base' });
  return reqs;
}

export type { AxisName };
