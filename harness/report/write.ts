// The only module here with side effects: writes the four reports of a run into one directory.
import { mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { CellResult } from '../model.ts';
import { redactDeep } from '../redact/redact.ts';
import { toHtml } from './html.ts';
import { parseJsonReport, toJsonReport, type JsonReport, type ReportMeta } from './json.ts';
import { toJUnitXml } from './junit.ts';
import { toMarkdown } from './markdown.ts';
import { ReportFileError } from './schema.ts';

export interface ReportPaths {
  junit: string;
  json: string;
  markdown: string;
  html: string;
}

/** Whether `dir` is the reports/latest link's place, which linkLatest rewrites after every run. */
export function isLatestLink(dir: string): boolean {
  return basename(dir) === 'latest' && basename(dirname(dir)) === 'reports';
}

/** reports/latest -> the newest run directory under reports/ (best effort; a convenience). */
async function linkLatest(dir: string): Promise<void> {
  const parent = dirname(dir);
  if (basename(parent) !== 'reports' || isLatestLink(dir)) return;
  const link = join(parent, 'latest');
  await rm(link, { force: true, recursive: false }).catch(() => undefined);
  await symlink(basename(dir), link).catch(() => undefined);
}

export async function writeReports(dir: string, results: readonly CellResult[], meta: ReportMeta): Promise<ReportPaths> {
  await mkdir(dir, { recursive: true });
  await linkLatest(dir);
  const paths: ReportPaths = {
    junit: join(dir, 'junit.xml'),
    json: join(dir, 'results.json'),
    markdown: join(dir, 'summary.md'),
    html: join(dir, 'report.html'),
  };
  // redacted once here; the writers accept only Redacted input, so none can be handed raw evidence
  const safe = redactDeep(results);
  const safeMeta = redactDeep(meta);
  await Promise.all([
    writeFile(paths.junit, toJUnitXml(safe, { suiteName: `buildx-lab ${safeMeta.runId}` })),
    writeFile(paths.json, JSON.stringify(toJsonReport(safe, safeMeta), null, 2) + '\n'),
    writeFile(paths.markdown, toMarkdown(safe, safeMeta)),
    writeFile(paths.html, toHtml(safe, safeMeta)),
  ]);
  return paths;
}

/** Largest results.json read back (a full 388-cell run with whole outputs is a few MB). */
const MAX_REPORT_BYTES = 256 * 1024 * 1024;

/** Reads and validates a results.json (a shard's, for merge-reports); errors name the file and field. */
export async function readJsonReport(path: string): Promise<JsonReport> {
  const fix = 'give the report directory of a run or shard (it holds results.json)';
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new ReportFileError(`${path}: is not a file; ${fix}`);
    size = s.size;
  } catch (e) {
    if (e instanceof ReportFileError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new ReportFileError(`${path}: ${code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist' : (e as Error).message}; ${fix}`);
  }
  if (size > MAX_REPORT_BYTES) throw new ReportFileError(`${path}: ${size} bytes is more than a report can be (${MAX_REPORT_BYTES})`);
  return parseJsonReport(await readFile(path, 'utf8'), path);
}
