import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { currentOwner } from '../ownership/owner.ts';
import { buildxInUse, cacheUsers, inUseDir, markInUse, type InUseMarker } from './in-use.ts';

const policy = { staleMs: 120_000, graceMs: 600_000 };
let config: { cacheDir: string; ownerPolicy: typeof policy };
beforeEach(() => {
  config = { cacheDir: mkdtempSync(path.join(tmpdir(), 'lab-in-use-')), ownerPolicy: policy };
});
afterEach(() => rmSync(config.cacheDir, { recursive: true, force: true }));

/** A marker as another process wrote it, last touched `ageMs` ago. */
function foreign(runId: string, owner: Partial<InUseMarker['owner']>, buildx: string[], ageMs: number): void {
  mkdirSync(inUseDir(config), { recursive: true });
  const file = path.join(inUseDir(config), `${runId}.json`);
  writeFileSync(file, JSON.stringify({ runId, owner: { ...currentOwner(), ...owner }, buildx }));
  const t = (Date.now() - ageMs) / 1000;
  utimesSync(file, t, t);
}

describe('in-use markers', () => {
  it("holds this run's versions until released", () => {
    const hold = markInUse(config, 'r1', ['v0.21.1', 'v0.21.1-debian']);
    expect(cacheUsers(config)).toEqual([expect.objectContaining({ marker: expect.objectContaining({ runId: 'r1' }), verdict: expect.objectContaining({ state: 'alive' }) })]);
    expect(buildxInUse(config)).toEqual(new Set(['v0.21.1', 'v0.21.1-debian']));
    hold.release();
    expect(cacheUsers(config)).toEqual([]);
  });

  it('judges a marker of another pid namespace by its age, and drops the abandoned ones', () => {
    foreign('fresh', { pidNs: '4026532178', pid: 3 }, ['v0.22.0'], 10_000);
    foreign('stale', { pidNs: '4026532178', pid: 4 }, ['v0.20.1'], 300_000);
    // a local owner that is gone: abandoned at once, whatever the age
    foreign('gone', { pid: 2 ** 22 + 1, start: '1' }, ['v0.19.3'], 0);
    expect(Object.fromEntries(cacheUsers(config).map((u) => [u.marker!.runId, u.verdict.state]))).toEqual({ fresh: 'alive', stale: 'abandoned', gone: 'abandoned' });
    expect(buildxInUse(config)).toEqual(new Set(['v0.22.0']));
    expect(cacheUsers(config).map((u) => u.marker!.runId)).toEqual(['fresh']);
  });

  it('counts every version as used while a marker cannot be read', () => {
    mkdirSync(inUseDir(config), { recursive: true });
    writeFileSync(path.join(inUseDir(config), 'odd.json'), '{"runId": 1');
    expect(buildxInUse(config)).toBe('all');
  });
});
