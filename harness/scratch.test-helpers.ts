// Scratch directories for tests, removed after the test file (every CI run left its report directories in
// /tmp: 144 of them on this machine by 7 Dec).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

const made: string[] = [];
afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh directory under the temp directory, removed after the test file. */
export function scratchDir(name: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `bxl-${name}-`));
  made.push(dir);
  return dir;
}

/** A path not yet made, for a directory the code under test creates (a run's --report-dir); removed after the test file. */
export function scratchPath(name: string): string {
  return path.join(scratchDir(name), 'report');
}
