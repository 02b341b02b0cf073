// Case directories for the case loader's tests: made in a temporary directory, removed after each test.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect } from 'vitest';
import { UsageError } from '../errors.ts';
import { loadCase } from './case.ts';

const dirs: string[] = [];
// registered in every test file that imports these helpers
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A case with one step and one check: the smallest valid case.yaml. */
export const STEP = 'title: t\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero}\n';

/** A case directory with case.yaml and the usual files; `extra` adds or replaces files. */
export function caseDir(yaml: string, extra: Record<string, string> = {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'repro-case-'));
  dirs.push(dir);
  const files: Record<string, string> = { 'case.yaml': yaml, 'docker-bake.hcl': 'target "app" {}\n', Dockerfile: 'FROM scratch\n', ...extra };
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

/** The UsageError's message loadCase throws for `dir`; fails the test when it loads. */
export function usageError(dir: string): string {
  try {
    loadCase(dir);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error('loadCase accepted the case');
}
