// One run, as data: which cells, what each needs, where results go. The CLI writes it into the report
// directory before anything starts; the cell runner (a vitest worker) reads it back and validates it, and
// `buildx-lab run --spec FILE` replays it exactly. Versioned: a spec from another version is refused.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { UsageError } from '../errors.ts';
import { DECLARED_OUTCOMES } from '../model.ts';

export const RUN_SPEC_VERSION = 1;
export const RUN_SPEC_FILE = 'run-spec.json';

const text = (max = 4096) => z.string().max(max);
const axisValue = z.string().min(1).max(200).regex(/^[A-Za-z0-9._+:/<>=^~ -]+$/, 'axis values are versions, names or ranges');

export const requirementSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('buildx'), label: text(100), spec: text(200), version: text(100), via: z.enum(['exact', 'range', 'alias']) }),
  z.object({ kind: z.literal('engine-image'), label: text(100), spec: text(200) }),
  z.object({ kind: z.literal('buildkit'), version: text(50).regex(/^v\d+\.\d+\.\d+(-rc\d+)?$/) }),
  z.object({ kind: z.literal('image'), id: z.enum(['registry', 'case-base', 'engine-base']) }),
]);
export type Requirement = z.infer<typeof requirementSchema>;

export function requirementId(r: Requirement): string {
  switch (r.kind) {
    case 'buildx': return `buildx:${r.label}`;
    case 'engine-image': return `engine:${r.label}`;
    case 'buildkit': return `buildkit:${r.version}`;
    case 'image': return `image:${r.id}`;
  }
}

export const cellSourceSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('scenario'), module: text(500) }),
  z.object({ kind: z.literal('case'), dir: text(4096) }),
]);
export type CellSource = z.infer<typeof cellSourceSchema>;

export const plannedCellSchema = z.object({
  /** unique in the run: scenario, axes and attempt */
  key: text(300),
  scenario: text(200),
  source: cellSourceSchema,
  /** axes as name, keys sorted: "buildx=v0.21.1/engine=26.1.5/store=containerd" */
  name: text(1000),
  axes: z.record(z.string().max(50).regex(/^[a-z][a-z-]*$/), axisValue),
  expected: z.object({ outcome: z.enum(DECLARED_OUTCOMES), reason: text(2000) }),
  attempt: z.number().int().min(0).max(1000),
  requires: z.array(text(300)).max(20),
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

/** Reads and validates a spec; every problem names the file and the field. */
export function readRunSpec(file: string): RunSpec {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${file}: not a run spec (${(e as Error).message})`);
  }
  if ((data as { version?: unknown } | null)?.version !== RUN_SPEC_VERSION) {
    throw new UsageError(`${file}: run spec version ${JSON.stringify((data as { version?: unknown } | null)?.version)} is not ${RUN_SPEC_VERSION}; it was written by another version of the lab`);
  }
  const parsed = runSpecSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(`${file}: ${issue.path.join('.') || '(document)'}: ${issue.message}`);
  }
  for (const c of parsed.data.cells) {
    for (const id of c.requires) if (!parsed.data.requirements[id]) throw new UsageError(`${file}: cell ${c.key} requires unknown ${id}`);
  }
  return parsed.data;
}
