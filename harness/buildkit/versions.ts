// Which BuildKit versions can be had here, and whose day each is: the rows of docs/buildkit-versions.md
// and of `buildx-lab buildkit list`. What was tried is checked in (build-results.json, written by
// try-builds.ts: one build at a time, never all of them); this machine's cache adds what it holds. Pure
// apart from the loaders.
import { readFileSync } from 'node:fs';
import semver from 'semver';
import { z } from 'zod';
import { HarnessError } from '../errors.ts';
import type { BuildkitIndex } from './of-its-day.ts';

export const BUILD_RESULTS = ['builds', 'refused', 'does-not-compile', 'failed'] as const;
export type BuildResult = (typeof BUILD_RESULTS)[number];

const resultSchema = z.object({
  result: z.enum(BUILD_RESULTS),
  /** the Go that tried it: "go1.26.8" */
  go: z.string().max(40),
  at: z.string().max(40),
  /** the first line of the reason, when it did not build */
  detail: z.string().max(2000).optional(),
});
export type TriedBuild = z.infer<typeof resultSchema>;
const resultsSchema = z.record(z.string().regex(/^v\d+\.\d+\.\d+$/), resultSchema);
export type BuildResults = z.infer<typeof resultsSchema>;

/** What failed to build, in the words the provisioner used: refused by the module proxy, a compile failure, or else. */
export function classifyBuildError(message: string): Exclude<BuildResult, 'builds'> {
  if (/the Go module proxy (refuses|could not provide)|too many refused dependencies/.test(message)) return 'refused';
  if (/does not compile with/.test(message)) return 'does-not-compile';
  return 'failed';
}

export interface VersionRow {
  version: string;
  /** tag day, YYYY-MM-DD */
  date: string;
  /** here: what this machine's cache holds; tried: what the checked-in results say; else not tried */
  status: string;
  /** Buildx releases (stable) whose day this BuildKit is */
  ofTheDayOf: string[];
}

const STATUS: Record<BuildResult, string> = { builds: 'builds', refused: 'refused by the module proxy', 'does-not-compile': 'does not compile', failed: 'failed' };

/** Newest first; `cached` maps versions whose binaries this machine holds to the Go that built them. */
export function versionRows(index: Pick<BuildkitIndex, 'releases' | 'ofItsDay'>, tried: BuildResults, cached: ReadonlyMap<string, string> = new Map()): VersionRow[] {
  const ofDay = new Map<string, string[]>();
  for (const [buildx, d] of Object.entries(index.ofItsDay)) if (!semver.prerelease(buildx)) ofDay.set(d.buildkit, [...(ofDay.get(d.buildkit) ?? []), buildx]);
  return [...index.releases]
    .sort((a, b) => semver.rcompare(a.version, b.version))
    .map((r) => {
      const t = Object.hasOwn(tried, r.version) ? tried[r.version] : undefined;
      const here = cached.get(r.version);
      const status = here
        ? `builds (${here}${t?.result === 'builds' ? '' : ', cached here'})`
        : t
          ? `${STATUS[t.result]} (${t.go}, ${t.at.slice(0, 10)})${t.detail ? `: ${t.detail}` : ''}`
          : 'not tried';
      return { version: r.version, date: r.date?.slice(0, 10) ?? '(no date)', status, ofTheDayOf: (ofDay.get(r.version) ?? []).sort(semver.compare) };
    });
}

/** The rows as a Markdown table. */
export function markdownTable(rows: readonly VersionRow[]): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  return [
    '| BuildKit | tagged | here | the BuildKit of the day of Buildx |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.version} | ${r.date} | ${cell(r.status)} | ${r.ofTheDayOf.join(', ')} |`),
  ].join('\n');
}

/** The rows for a terminal: one per line, tab-separated. */
export function textTable(rows: readonly VersionRow[]): string {
  return rows.map((r) => [r.version, r.date, r.status, r.ofTheDayOf.length ? `day of Buildx ${r.ofTheDayOf.join(', ')}` : ''].join('\t')).join('\n');
}

const RESULTS_FILE = new URL('./build-results.json', import.meta.url);

/** The checked-in results of the builds tried (empty when there is no file yet). */
export function loadBuildResults(file: URL = RESULTS_FILE): BuildResults {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  const parsed = resultsSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new HarnessError(`${file.pathname}: ${parsed.error.issues[0]?.message ?? 'invalid'} at ${parsed.error.issues[0]?.path.join('.')}`);
  return parsed.data;
}

export const buildResultsFile = RESULTS_FILE;
