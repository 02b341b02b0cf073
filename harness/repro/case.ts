// A bug report as data: `<case-dir>/case.yaml` plus the files it builds, loaded into the case the lab runs.
// This is the case's public face; the work is in three modules beside it:
// - case-schema.ts: the zod schema of case.yaml, YAML positions and messages (line and field);
// - case-build.ts: a validated case.yaml turned into steps, checks and the matrix;
// - case-files.ts: the case directory's file safety (nothing outside it is reached through it).
import { buildCase, type ReproCase } from './case-build.ts';
import { readCaseYaml } from './case-files.ts';
import { parseCaseYaml } from './case-schema.ts';

export type { CaseStep, ReproCase } from './case-build.ts';
export { CASE_FILE, type CaseFile } from './case-files.ts';

/** Reads and validates `<dir>/case.yaml` and lists the files to copy. */
export function loadCase(dir: string): ReproCase {
  const { root, text } = readCaseYaml(dir);
  return parseCase(text, root);
}

/** Validates case.yaml's text against the case directory `root` (a real path). */
export function parseCase(text: string, root: string): ReproCase {
  const { src, input } = parseCaseYaml(text);
  return buildCase(src, input, root);
}
