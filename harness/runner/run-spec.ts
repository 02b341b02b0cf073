// One run, as data: which cells, what each needs, where results go. The CLI writes it into the report
// directory before anything starts; the cell runner (a vitest worker) reads it back and validates it, and
// `buildx-lab run --spec FILE` replays it exactly. Versioned: version 1 (before cases carried their trust)
// is read as untrusted cases, and any other version is refused.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { UsageError } from '../errors.ts';
import { parseGitRevision, refProblem } from '../git/revision.ts';
import { DECLARED_OUTCOMES } from '../model.ts';
import type { BuildkitVia } from '../buildkit/of-its-day.ts';

export const RUN_SPEC_VERSION = 2;
export const RUN_SPEC_FILE = 'run-spec.json';

const text = (max = 4096) => z.string().max(max);
const axisValue = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9._+:/<>=^~ -]+$/, 'axis values are versions, names or ranges');

/** An axis value as requirements carry it (v0.29.1-debian, 26.1.5): it ends up in image tags and report names. */
const axisLabel = text(100).regex(/^[0-9A-Za-z][0-9A-Za-z.+_-]*$/, 'an axis label such as v0.21.1 or 26.1.5');
const BUILDKIT_RELEASE = /^v\d+\.\d+\.\d+(-rc\d+)?$/;
// a BuildKit built from Git is named by its label: v0.17.1-3-g<12 hex> (git describe), or g<12 hex>
const BUILDKIT_GIT_LABEL = /^(?:v\d{1,4}\.\d{1,4}\.\d{1,4}(?:-[0-9A-Za-z.]{1,40})?-\d{1,6}-)?g[0-9a-f]{12}$/;
const buildkitVersion = text(100).refine((v) => BUILDKIT_RELEASE.test(v) || BUILDKIT_GIT_LABEL.test(v), 'a BuildKit release such as v0.17.1, or the label of a build from Git');
const BUILDKIT_VIA = ['named', 'of-its-day', 'lab-default'] as const satisfies readonly BuildkitVia[];
// A replayed spec is input from elsewhere: the commit is a full hash, the repository an absolute path that
// parses as a git spec's would, and the rest short names; the build still goes through the hardened clone.
const gitTreeSchema = z.strictObject({
  repo: text(4096).refine((r) => {
    try {
      const parsed = parseGitRevision(`git:${r}@HEAD`);
      return parsed.kind === 'path' && parsed.repo === r;
    } catch {
      return false;
    }
  }, 'an absolute, normalised local path'),
  rev: text(255).refine((r) => refProblem(r) === undefined, 'a tag, branch or hex commit'),
  commit: z.string().regex(/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/, 'a full commit hash'),
  tag: z
    .string()
    .regex(/^v\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?$/)
    .optional(),
  label: axisValue,
});

export const requirementSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('buildx'),
    label: axisLabel,
    spec: text(4400),
    // a release tag (or a Git build's describe): it names a directory of the Buildx cache, so nothing
    // path-like gets through a replayed spec; a Git build's directory is named by its commit
    version: text(100).regex(/^v\d{1,4}\.\d{1,4}\.\d{1,4}(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/, 'a Buildx release tag such as v0.21.1 or v0.21.0-rc2'),
    via: z.enum(['exact', 'range', 'alias', 'git']),
    /** via 'git': the commit the run builds, resolved when it was planned */
    git: gitTreeSchema.optional(),
  }),
  z.object({ kind: z.literal('engine-image'), label: axisLabel, spec: text(200) }),
  z
    .object({
      kind: z.literal('buildkit'),
      version: buildkitVersion,
      rootless: z.literal(true).optional(),
      /** built from this commit (its label is the version), resolved when the run was planned */
      git: gitTreeSchema.optional(),
    })
    // a release is built from the Go module proxy, a label only from its commit: nothing else names a cache directory
    .refine((r) => (r.git ? r.git.label === r.version : BUILDKIT_RELEASE.test(r.version)), 'a BuildKit release without git, or a build from Git whose version is its label'),
  z.object({ kind: z.literal('image'), id: z.enum(['registry', 'case-base', 'engine-base', 'grpc-proxy', 'k3s-node']) }),
  // a Go program the lab runs on the host beside a cell (versitygw behind ${s3})
  z.object({ kind: z.literal('tool'), id: z.enum(['versitygw', 'otelcol']) }),
]);
export type Requirement = z.infer<typeof requirementSchema>;

export function requirementId(r: Requirement): string {
  switch (r.kind) {
    case 'buildx':
      return `buildx:${r.label}`;
    case 'engine-image':
      return `engine:${r.label}`;
    case 'buildkit':
      return `buildkit:${r.version}${r.rootless ? '-rootless' : ''}`;
    case 'image':
      return `image:${r.id}`;
    case 'tool':
      return `tool:${r.id}`;
  }
}

/**
 * Who vouches for a case directory: the project (it lies in this checkout's fixtures/cases, symlinks
 * resolved), the user (`--trust`: they read it), or no one. An untrusted case runs only on an engine where
 * root in its DinD is not root on the host (runner/trust.ts). Scenarios are the project's own code.
 */
export const CASE_TRUST = ['project', 'user', 'untrusted'] as const;
export type CaseTrust = (typeof CASE_TRUST)[number];

export const cellSourceSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('scenario'), module: text(500) }),
  z.object({ kind: z.literal('case'), dir: text(4096), trust: z.enum(CASE_TRUST) }),
]);
export type CellSource = z.infer<typeof cellSourceSchema>;

export const plannedCellSchema = z.object({
  /** unique in the run: scenario, axes and attempt */
  key: text(300),
  scenario: text(200),
  source: cellSourceSchema,
  /** axes as name, keys sorted: "buildx=v0.21.1/engine=26.1.5/store=containerd" */
  name: text(1000),
  axes: z.record(
    z
      .string()
      .max(50)
      .regex(/^[a-z][a-z-]*$/),
    axisValue,
  ),
  expected: z.object({ outcome: z.enum(DECLARED_OUTCOMES), reason: text(2000), undeclared: z.literal(true).optional() }),
  attempt: z.number().int().min(0).max(1000),
  requires: z.array(text(300)).max(20),
  /** the BuildKit of its builder, when it runs one, and why that one (named, of its Buildx's day, the lab's default) */
  buildkit: z.object({ version: buildkitVersion, via: z.enum(BUILDKIT_VIA), reason: text(2000) }).optional(),
});
export type PlannedCell = z.infer<typeof plannedCellSchema>;

export const runSpecSchema = z.object({
  version: z.literal(RUN_SPEC_VERSION),
  runId: text(100).regex(/^[a-z0-9][a-z0-9-]*$/),
  createdAt: text(40),
  command: z.enum(['run', 'test', 'repro', 'bisect', 'qualify', 'bench', 'vitest']),
  argv: z.array(text()).max(200),
  reportDir: text(4096),
  /** the engine the lab chose (engine/host.ts) */
  dockerHost: text(4096),
  jobs: z.number().int().min(1).max(64),
  /** what `docker info` said of the engine's isolation, when the run holds an untrusted case */
  isolation: z.object({ isolated: z.boolean(), reason: text(2000) }).optional(),
  /** where the cells run when not on dockerHost: the lab's rootless engine, for untrusted cases (model.ts CellEngine) */
  cellEngine: z
    .object({
      host: text(4096).regex(/^unix:\/\/\//),
      netns: text(100).regex(/^\/proc\/\d+\/ns\/net$/),
      shareDir: text(4096).regex(/^\//),
      rootUid: z.number().int().min(1),
      engineId: text(200).min(1),
    })
    .optional(),
  cells: z.array(plannedCellSchema).max(100_000),
  requirements: z.record(text(300), requirementSchema),
});
export type RunSpec = z.infer<typeof runSpecSchema>;

export function writeRunSpec(spec: RunSpec): string {
  mkdirSync(spec.reportDir, { recursive: true });
  const file = path.join(spec.reportDir, RUN_SPEC_FILE);
  writeFileSync(`${file}.tmp`, JSON.stringify(spec, null, 1));
  renameSync(`${file}.tmp`, file);
  return file;
}

/**
 * A version 1 spec as version 2: its cases carry no trust, so they are untrusted (a replay decides their
 * trust again: runner/trust.ts). Anything malformed is left for the schema to name.
 */
function fromVersion1(data: Record<string, unknown>): unknown {
  const cells = Array.isArray(data.cells)
    ? data.cells.map((c: unknown) => {
        const source = (c as { source?: { kind?: unknown } } | null)?.source;
        return source?.kind === 'case' ? { ...(c as object), source: { ...source, trust: 'untrusted' } } : c;
      })
    : data.cells;
  return { ...data, version: RUN_SPEC_VERSION, cells };
}

/** Reads and validates a spec; every problem names the file and the field. */
export function readRunSpec(file: string): RunSpec {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${file}: not a run spec (${(e as Error).message})`);
  }
  const version = (data as { version?: unknown } | null)?.version;
  if (version !== RUN_SPEC_VERSION && version !== 1) {
    throw new UsageError(`${file}: run spec version ${JSON.stringify(version)} is not one this lab reads (1 or ${RUN_SPEC_VERSION}); it was written by another version of the lab`);
  }
  const parsed = runSpecSchema.safeParse(version === 1 ? fromVersion1(data as Record<string, unknown>) : data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(`${file}: ${issue.path.join('.') || '(document)'}: ${issue.message}`);
  }
  for (const c of parsed.data.cells) {
    for (const id of c.requires) if (!parsed.data.requirements[id]) throw new UsageError(`${file}: cell ${c.key} requires unknown ${id}`);
  }
  return parsed.data;
}
