// The per-cell result files (<report-dir>/cells/*.json): one JSON per cell, written by the cell runner
// as soon as the cell ends, gathered by the CLI into the reports. Written redacted, read validated.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { CellResult } from '../model.ts';
import { redactDeep } from '../redact/redact.ts';
import { cellResultSchema, parseWith, ReportFileError } from './schema.ts';

/** The file content for one cell: every rule of the redactor applied to every field, then JSON. */
export function cellResultJson(result: CellResult): string {
  return JSON.stringify(redactDeep(result), null, 1);
}

/** One cell file's text, validated; the error names `source` and the bad fields. */
export function parseCellResult(text: string, source: string): CellResult {
  return parseWith(cellResultSchema, text, source, 'cell result');
}

/** Every cells/*.json under `reportDir`, validated, in name then start order. */
export function readCellResults(reportDir: string): CellResult[] {
  const dir = path.join(reportDir, 'cells');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => parseCellResult(readCellFile(path.join(dir, f)), path.join(dir, f)))
    .sort((a, b) => a.name.localeCompare(b.name) || a.startedAt.localeCompare(b.startedAt));
}

/** A cell file's text; one that cannot be read (a directory named *.json, say) is named like a bad one. */
function readCellFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new ReportFileError(`${file}: cannot be read as a cell result (${(e as Error).message}); remove it from the report directory`);
  }
}
