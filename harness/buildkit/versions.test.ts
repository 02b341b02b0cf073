// The rows of docs/buildkit-versions.md and `buildx-lab buildkit list`, and the checked-in doc kept current.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadReleases } from '../buildx/spec.ts';
import { loadBuildkitIndex } from './of-its-day.ts';
import { versionsDoc } from './try-builds.ts';
import { classifyBuildError, loadBuildResults, markdownTable, textTable, versionRows } from './versions.ts';

const index = {
  releases: [{ version: 'v0.12.5', date: '2024-01-31T10:00:00Z' }, { version: 'v0.13.0', date: '2024-03-05T10:00:00Z' }, { version: 'v0.13.1' }],
  ofItsDay: {
    'v0.13.0-rc1': { buildkit: 'v0.12.5', day: '2024-03-05T00:00:00Z', basis: 'b' },
    'v0.13.0': { buildkit: 'v0.13.0', day: '2024-03-05T18:02:26Z', basis: 'b' },
    'v0.13.1': { buildkit: 'v0.13.0', day: '2024-03-12T17:32:49Z', basis: 'b' },
  },
};

describe('versionRows', () => {
  const tried = {
    'v0.13.0': { result: 'builds' as const, go: 'go1.26.8', at: '2026-12-07T08:00:00Z' },
    'v0.12.5': { result: 'refused' as const, go: 'go1.26.8', at: '2026-12-07T08:00:00Z', detail: 'the Go module proxy refuses x@y' },
  };
  it('lists releases newest first with their day, what was tried, and the stable Buildx releases whose day each is', () => {
    expect(versionRows(index, tried)).toEqual([
      { version: 'v0.13.1', date: '(no date)', status: 'not tried', ofTheDayOf: [] },
      { version: 'v0.13.0', date: '2024-03-05', status: 'builds (go1.26.8, 2026-12-07)', ofTheDayOf: ['v0.13.0', 'v0.13.1'] },
      { version: 'v0.12.5', date: '2024-01-31', status: 'refused by the module proxy (go1.26.8, 2026-12-07): the Go module proxy refuses x@y', ofTheDayOf: [] },
    ]);
  });
  it("says what this machine's cache holds over what was recorded", () => {
    const rows = versionRows(index, tried, new Map([['v0.13.1', 'go1.26.8']]));
    expect(rows[0]!.status).toBe('builds (go1.26.8, cached here)');
  });
  it('renders Markdown (escaping |) and text', () => {
    const md = markdownTable(versionRows(index, { 'v0.13.1': { result: 'failed', go: 'go', at: '2026', detail: 'a | b' } }));
    expect(md.split('\n')[2]).toBe('| v0.13.1 | (no date) | failed (go, 2026): a \\| b |  |');
    expect(textTable(versionRows(index, tried)).split('\n')[1]).toBe('v0.13.0\t2024-03-05\tbuilds (go1.26.8, 2026-12-07)\tday of Buildx v0.13.0, v0.13.1');
  });
});

describe('classifyBuildError', () => {
  it.each([
    ['the Go module proxy refuses github.com/a/b@v1, which github.com/moby/buildkit@v0.20.0 pins, and serves no release to stand in for it', 'refused'],
    ['the Go module proxy could not provide github.com/moby/buildkit@v0.9.0: not found', 'refused'],
    ['github.com/moby/buildkit@v0.11.6 cannot be built here: ./cmd/buildkitd does not compile with go1.26.8 (x)', 'does-not-compile'],
    ['go build ./cmd/buildkitd with go1.26.8 failed (timeout, exit 1; not recorded as a compile failure)', 'failed'],
  ])('%s: %s', (message, want) => {
    expect(classifyBuildError(message)).toBe(want);
  });
});

describe('the checked-in results and doc', () => {
  it('docs/buildkit-versions.md is what try-builds.ts writes from the checked-in data (rerun it when not)', () => {
    const stable = loadReleases()
      .releases.filter((r) => !r.prerelease)
      .map((r) => r.version);
    expect(readFileSync(new URL('../../docs/buildkit-versions.md', import.meta.url), 'utf8')).toBe(versionsDoc(loadBuildkitIndex(), loadBuildResults(), stable));
  });
  it("records the lab's default as building", () => {
    expect(loadBuildResults()['v0.17.1']?.result).toBe('builds');
  });
});
