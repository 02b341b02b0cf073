// config.home for real: the shipped case of docker/buildx#1919 through the CLI, on the lab's engine, with
// the real Buildx v0.11.0 (bad) and v0.12.0 (fixed). Docker Desktop's marker must be under HOME (util/desktop
// reads $HOME/.docker/desktop-build/.lastaccess), so the cell runs with HOME in its own directory.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import type { CellResult } from '../model.ts';
import { CLI } from '../runner/cli.test-helpers.ts';
import { scratchPath } from '../scratch.test-helpers.ts';

const CASE = new URL('../../fixtures/cases/1919-desktop-build-details-newline', import.meta.url).pathname;

describe("config.home: files under the cell's own HOME", () => {
  it('places the Desktop marker where Buildx looks, and tells the bug (v0.11.0) from the fix (v0.12.0)', async () => {
    const reportDir = scratchPath('home');
    const r = await execa('node', [CLI, 'repro', CASE, '--report-dir', reportDir], { reject: false, all: true, timeout: 1_200_000 });
    const cells = readdirSync(path.join(reportDir, 'cells')).map((f) => JSON.parse(readFileSync(path.join(reportDir, 'cells', f), 'utf8')) as CellResult);
    const by = new Map(cells.map((c) => [c.axes.buildx, c]));
    expect(by.get('v0.11.0')?.observed, r.all).toBe('reproduced');
    expect(by.get('v0.12.0')?.observed, r.all).toBe('fixed');
    for (const c of cells) {
      expect(c.evidence.facts.join('\n')).toMatch(/config\.home: \.docker\/desktop-build\/\.lastaccess placed under the cell's own HOME \(\/tmp\/cells\/c[0-9a-z]+\/home\)/);
      // the marker took effect in both: the link is printed; only the line break after it differs
      const build = c.evidence.commands.find((x) => x.argv.join(' ') === 'docker buildx build .')!;
      expect(build.stderr).toMatch(/View build details: docker-desktop:\/\/dashboard\/build\/default\/default\/\w+/);
      expect(build.stderr.endsWith('\n')).toBe(c.axes.buildx === 'v0.12.0');
    }
    expect(r.exitCode, r.all).toBe(0);
  }, 1_300_000);
});
