// A scenario's definition: one bug report as a typed declaration. It declares its matrix (axes, with the
// values as literal types), what each version range is expected to show, one `observe` body written with
// the kit, and one `judge` that reads only what observe returned. This is the contract between scenario
// authors (scenarios/*.scenario.ts and the case loader) and the runner, which expands it into cells
// (runner/scenario.ts) and runs them; the runner holds every scenario as a RunnableScenario.
import semver from 'semver';
import { UsageError } from '../errors.ts';
import type { Kit } from '../kit/kit.ts';
import { DRIVERS, REGISTRY_BEHAVIOURS, STORES, type Axes, type DeclaredOutcome, type DriverKind, type Outcome, type RegistryBehaviour, type StoreKind } from '../model.ts';

/** Every axis a scenario may declare. A scenario naming another axis fails at collection. */
export const AXES = ['buildx', 'engine', 'store', 'driver', 'command', 'registry', 'fault', 'buildkit'] as const;
export type AxisName = (typeof AXES)[number];

/** Values of the closed axes; buildx, engine and buildkit take specs, `fault` is listed per scenario. */
export const CLOSED_AXIS_VALUES: Partial<Record<AxisName, readonly string[]>> = {
  store: STORES,
  driver: DRIVERS,
  command: ['build', 'bake'],
  registry: REGISTRY_BEHAVIOURS,
};

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
  /** its remote builders sit behind the lab's HTTP/2 proxy (Debian's nginx): the image is needed in remote cells */
  needsGrpcProxy?: boolean;
  /** the S3 server (versitygw, built from the Go module proxy) is needed: the case serves ${s3} */
  needsS3?: boolean;
  /** the OTLP receiver (an OpenTelemetry Collector built from the lab's sources) is needed: the case has traces: */
  needsTraces?: boolean;
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
  validateAxes(s.id, s.axes, s.axes.fault);
  return s;
}

/**
 * A scenario as the runner holds it, whatever its typed axes: the declaration read as plain data, the body
 * and the judge over a cell's plain axes. Every Scenario<D, O> is one (its observe, judge and exclude are
 * methods, which take the plain axes its literal ones stand for).
 */
export interface RunnableScenario extends Omit<Scenario<AxesDecl, unknown>, 'observe' | 'judge' | 'exclude' | 'expectations'> {
  expectations: readonly Expectation[];
  exclude?(axes: Axes): string | undefined;
  observe(kit: Kit): Promise<unknown>;
  judge(observation: unknown, axes: Axes): Verdict;
}

/** A scenario's axes are checked when it is defined (a module in plain JS may name anything) and when it is expanded. */
export function validateAxes(
  scenarioId: string,
  axes: { readonly [K in AxisName]?: readonly string[] } | Readonly<Record<string, readonly string[] | undefined>>,
  faults: readonly string[] = [],
): void {
  for (const [k, values] of Object.entries(axes) as [string, readonly string[] | undefined][]) {
    if (!(AXES as readonly string[]).includes(k)) throw new UsageError(`scenario ${scenarioId}: unknown axis '${k}'; axes are ${AXES.join(', ')}`);
    const allowed = k === 'fault' ? faults : CLOSED_AXIS_VALUES[k as AxisName];
    for (const v of values ?? []) {
      if (allowed && !allowed.includes(v)) throw new UsageError(`scenario ${scenarioId}: ${k}=${v} is not known; ${k} takes ${allowed.join(', ')}`);
    }
  }
}

/** The version a label stands for: "v0.29.1-debian" -> "v0.29.1", "26.1.5-debian" -> "26.1.5". */
export function labelVersion(label: string): string {
  return label.replace(/-debian$/, '');
}

/** Whether a version label (buildx, engine or buildkit axis) is in a semver range, release candidates included. */
export function labelSatisfies(label: string, range: string): boolean {
  return semver.satisfies(labelVersion(label), range, { includePrerelease: true });
}
