// Machine-readable report: the whole evidence, redacted, plus counts. Shards merge into one.
import type { CellResult, Outcome } from '../model.ts';
import { redactDeep } from './redact.ts';
import { countOutcomes, hasFailures } from './table.ts';

export interface ReportMeta {
  runId: string;
  startedAt: string;
  finishedAt: string;
  host: { node: string; engineVersion?: string };
  argv: string[];
}

export const JSON_REPORT_SCHEMA = 'buildx-lab/report@1';

export interface JsonReport {
  schema: typeof JSON_REPORT_SCHEMA;
  meta: ReportMeta;
  counts: Record<Outcome, number>;
  failed: boolean;
  results: CellResult[];
}

export function toJsonReport(results: readonly CellResult[], meta: ReportMeta): JsonReport {
  const safe = redactDeep([...results]);
  return { schema: JSON_REPORT_SCHEMA, meta: redactDeep(meta), counts: countOutcomes(safe), failed: hasFailures(safe), results: safe };
}

/** Combines shard reports into one. A cell present in several shards (same name and start) is kept once. */
export function mergeReports(reports: readonly JsonReport[]): JsonReport {
  const first = reports[0];
  if (!first) throw new Error('mergeReports: no reports to merge');
  const seen = new Map<string, CellResult>();
  for (const report of reports) {
    for (const r of report.results) {
      const key = `${r.name}\u0000${r.startedAt}`;
      if (!seen.has(key)) seen.set(key, r);
    }
  }
  const results = [...seen.values()].sort(
    (a, b) => a.scenario.localeCompare(b.scenario) || a.name.localeCompare(b.name) || a.startedAt.localeCompare(b.startedAt),
  );
  const runIds = [...new Set(reports.map((r) => r.meta.runId))];
  const meta: ReportMeta = {
    runId: runIds.join('+'),
    // ISO timestamps sort lexically
    startedAt: reports.map((r) => r.meta.startedAt).sort()[0]!,
    finishedAt: reports.map((r) => r.meta.finishedAt).sort().at(-1)!,
    host: first.meta.host,
    argv: first.meta.argv,
  };
  return toJsonReport(results, meta);
}

/** Checks the shape of a parsed report enough to fail early on a wrong file. */
export function parseJsonReport(text: string, source = 'report'): JsonReport {
  const data = JSON.parse(text) as Partial<JsonReport> | null;
  if (!data || data.schema !== JSON_REPORT_SCHEMA || !Array.isArray(data.results) || typeof data.meta !== 'object') {
    throw new Error(`${source}: not a ${JSON_REPORT_SCHEMA} file`);
  }
  return data as JsonReport;
}
