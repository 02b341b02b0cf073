// What a report or cell file read from disk must look like, field by field. A results.json from a shard
// or a cells/*.json is input like any other: a merged report renders it, so a field with the wrong
// type, an unknown outcome, or a string that is far too long is refused here, naming the file and the
// field, before any writer sees it. The schemas are tied to the model's types at compile time (see the
// end of this file), so a field added to CellResult cannot be forgotten here.
import { z } from 'zod';
import { UsageError } from '../errors.ts';
import { OUTCOMES, type CellResult } from '../model.ts';
import type { JsonReport, ReportMeta } from './json.ts';

export const JSON_REPORT_SCHEMA = 'buildx-lab/report@1';

/** Caps, generous for real runs and small enough that a hostile file cannot blow up a writer. */
export const LIMITS = {
  /** axis names and values, outcomes' kinds, version labels, host fields */
  label: 256,
  /** case names, argv words, and every journal field a client chose (paths, media types, user agents) */
  line: 8 * 1024,
  /** summaries, facts, reasons, error messages */
  paragraph: 1024 * 1024,
  /** whole stdout / stderr / engine log of one command */
  output: 64 * 1024 * 1024,
  commands: 1_000,
  argv: 10_000,
  journal: 200_000,
  facts: 10_000,
  manifests: 10_000,
  results: 200_000,
} as const;

const text = (max: number) => z.string().max(max);
const label = text(LIMITS.label);
const line = text(LIMITS.line);
const ms = z.number().finite().nonnegative();
const count = z.number().int().nonnegative();
const isoTime = z.iso.datetime({ offset: true });

const outcome = z.enum(OUTCOMES as [CellResult['outcome'], ...CellResult['outcome'][]]);

const command = z.strictObject({
  argv: z.array(line).max(LIMITS.argv),
  exitCode: z
    .number()
    .int()
    .min(-(2 ** 31))
    .max(2 ** 32),
  stdout: text(LIMITS.output),
  stderr: text(LIMITS.output),
  durationMs: ms,
});

// A journal records what clients sent (an Accept list, a user agent, a path): line-sized, whatever it is.
const journalEntry = z.strictObject({
  seq: count,
  atMs: ms,
  client: label.optional(),
  method: line,
  path: line,
  repository: line.optional(),
  kind: label,
  reference: line.optional(),
  status: z.number().int().min(0).max(999),
  requestMediaType: line.optional(),
  responseMediaType: line.optional(),
  userAgent: line.optional(),
  requestBytes: count,
  responseBytes: count,
  durationMs: ms,
  digest: line.optional(),
  intervention: line.optional(),
});

const evidence = z.strictObject({
  commands: z.array(command).max(LIMITS.commands),
  journal: z.array(journalEntry).max(LIMITS.journal),
  // manifests are whatever the registry returned (any JSON, as JSON.parse gave it), shown only as escaped JSON text
  manifests: z.record(line, z.unknown()).refine((m) => Object.keys(m).length <= LIMITS.manifests, `at most ${LIMITS.manifests} manifests`),
  engineLog: text(LIMITS.output).optional(),
  facts: z.array(text(LIMITS.paragraph)).max(LIMITS.facts),
});

const timings = z.strictObject({ startMs: ms, buildxMs: ms, verifyMs: ms, totalMs: ms, provisionMs: ms.optional() });

/** Axis names are lower-case words (the runner's closed list: buildx, engine, store, ...). */
const axisName = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'an axis name is a lower-case word');

export const cellResultSchema = z.strictObject({
  scenario: label.min(1),
  name: line.min(1),
  axes: z.record(axisName, label),
  expected: outcome,
  expectedReason: text(LIMITS.paragraph),
  outcome,
  observed: text(LIMITS.paragraph).optional(),
  summary: text(LIMITS.paragraph),
  evidence,
  timings,
  error: z.strictObject({ kind: label, message: text(LIMITS.paragraph) }).optional(),
  startedAt: isoTime,
});

const metaSchema = z.strictObject({
  runId: label.min(1),
  startedAt: isoTime,
  finishedAt: isoTime,
  host: z.strictObject({ node: label, engineVersion: label.optional() }),
  argv: z.array(line).max(LIMITS.argv),
});

export const jsonReportSchema = z.strictObject({
  schema: z.literal(JSON_REPORT_SCHEMA),
  meta: metaSchema,
  counts: z.strictObject(Object.fromEntries(OUTCOMES.map((o) => [o, count])) as Record<CellResult['outcome'], typeof count>),
  failed: z.boolean(),
  results: z.array(cellResultSchema).max(LIMITS.results),
});

/**
 * A file that failed validation; the message names the file and each bad field. It is bad input (a shard
 * from elsewhere, a report directory someone edited), so the CLI says so and exits 2, with no stack trace.
 */
export class ReportFileError extends UsageError {}

/** `results[3].evidence.commands[0].exitCode`: the path as a reader writes it. */
function fieldPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('') || '(root)';
}

/** Parses JSON text and validates it, or throws a ReportFileError naming `source` and the fields. */
export function parseWith<T>(schema: z.ZodType<T>, textIn: string, source: string, what: string): T {
  let data: unknown;
  try {
    data = JSON.parse(textIn);
  } catch (e) {
    throw new ReportFileError(`${source}: not JSON (${(e as Error).message})`);
  }
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const shown = issues.slice(0, 5).map((i) => `  ${fieldPath(i.path)}: ${i.message}`);
  if (issues.length > shown.length) shown.push(`  ... and ${issues.length - shown.length} more`);
  throw new ReportFileError(`${source}: not a valid ${what}:\n${shown.join('\n')}`);
}

// Compile-time ties between the schemas and the model: each side must accept exactly the other.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const check = <T extends true>(): T | undefined => undefined;
check<Same<z.infer<typeof cellResultSchema>, CellResult>>();
check<Same<z.infer<typeof metaSchema>, ReportMeta>>();
check<Same<z.infer<typeof jsonReportSchema>, JsonReport>>();
