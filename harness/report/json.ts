// Machine-readable report: the whole evidence, redacted, plus counts. Shards merge into one.
import type { CellResult, Outcome } from '../model.ts';
import { redactDeep, type Redacted } from '../redact/redact.ts';
import { countOutcomes, hasFailures } from './matrix.ts';
import { JSON_REPORT_SCHEMA, jsonReportSchema, parseWith } from './schema.ts';

export interface ReportMeta {
  runId: string;
  startedAt: string;
  finishedAt: string;
  host: { node: string; engineVersion?: string };
  argv: string[];
}

export interface JsonReport {
  schema: typeof JSON_REPORT_SCHEMA;
  meta: ReportMeta;
  counts: Record<Outcome, number>;
  failed: boolean;
  results: CellResult[];
}

/** The report as results.json holds it; takes only redacted input (write.ts redacts once for all writers). */
export function toJsonReport(results: Redacted<readonly CellResult[]>, meta: Redacted<ReportMeta>): Redacted<JsonReport> {
  return { schema: JSON_REPORT_SCHEMA, meta, counts: countOutcomes(results), failed: hasFailures(results), results: [...results] } as JsonReport as Redacted<JsonReport>;
}

/** Combines shard reports into one. A cell present in several shards (same name and start) is kept once. */
export function mergeReports(reports: readonly JsonReport[]): Redacted<JsonReport> {
  const first = reports[0];
  if (!first) throw new Error('mergeReports: no reports to merge');
  const seen = new Map<string, CellResult>();
  for (const report of reports) {
    for (const r of report.results) {
      const key = `${r.name}\u0000${r.startedAt}`;
      if (!seen.has(key)) seen.set(key, r);
    }
  }
  const results = [...seen.values()].sort((a, b) => a.scenario.localeCompare(b.scenario) || a.name.localeCompare(b.name) || a.startedAt.localeCompare(b.startedAt));
  const runIds = [...new Set(reports.map((r) => r.meta.runId))];
  const meta: ReportMeta = {
    runId: runIds.join('+'),
    // ISO timestamps sort lexically
    startedAt: reports.map((r) => r.meta.startedAt).sort()[0]!,
    finishedAt: reports
      .map((r) => r.meta.finishedAt)
      .sort()
      .at(-1)!,
    host: first.meta.host,
    argv: first.meta.argv,
  };
  // shards come from other machines and other versions of the lab: redact them again
  return toJsonReport(redactDeep(results), redactDeep(meta));
}

/** Parses results.json text, validating every field; the error names `source` and the bad fields. */
export function parseJsonReport(text: string, source = 'report'): JsonReport {
  return parseWith(jsonReportSchema, text, source, `${JSON_REPORT_SCHEMA} file`);
}
