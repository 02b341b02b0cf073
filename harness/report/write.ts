// The only module here with side effects: writes the four reports of a run into one directory.
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { CellResult } from '../model.ts';
import { toHtml } from './html.ts';
import { parseJsonReport, toJsonReport, type JsonReport, type ReportMeta } from './json.ts';
import { toJUnitXml } from './junit.ts';
import { toMarkdown } from './markdown.ts';

export interface ReportPaths {
  junit: string;
  json: string;
  markdown: string;
  html: string;
}

/** Each run writes to its own directory, so concurrent runs never mix their cells. */
export function defaultReportDir(config: { runId: string }): string {
  return join('reports', config.runId);
}

/** reports/latest -> the newest run directory under reports/ (best effort; a convenience). */
async function linkLatest(dir: string): Promise<void> {
  const parent = dirname(dir);
  if (basename(parent) !== 'reports') return;
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
  // each writer redacts its own input, so no unredacted text reaches disk whichever writer is called
  await Promise.all([
    writeFile(paths.junit, toJUnitXml(results, { suiteName: `buildx-lab ${meta.runId}` })),
    writeFile(paths.json, JSON.stringify(toJsonReport(results, meta), null, 2) + '\n'),
    writeFile(paths.markdown, toMarkdown(results, meta)),
    writeFile(paths.html, toHtml(results, meta)),
  ]);
  return paths;
}

export async function readJsonReport(path: string): Promise<JsonReport> {
  return parseJsonReport(await readFile(path, 'utf8'), path);
}
