import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CellResult } from '../model.ts';
import { expandScenario } from '../runner/scenario.ts';
import { loadCase } from './case.ts';
import { caseScenario, caseVerdict, NO_EXPECTATION, reproLines, reproWord, type CaseRun } from './scenario.ts';

const fixtures = new URL('../../fixtures/cases/', import.meta.url).pathname;
const bake = loadCase(path.join(fixtures, '3070-bake-double-push'));
const create = loadCase(path.join(fixtures, '49453-pull-stream'));
const expand = (c: ReturnType<typeof loadCase>) =>
  expandScenario(caseScenario(c), { matrix: 'full', filters: {}, repeat: 1, source: { kind: 'case', dir: c.dir, trust: 'project' } });

describe('caseScenario', () => {
  it('states the symptom in words, one clause a check', () => {
    expect(caseScenario(bake).symptom).toMatch(/output matches \/pushing .* and registry .*/);
  });

  it('expands a case without `expect` into cells that all expect the symptom, with what each needs', () => {
    const { cells, requirements } = expand({ ...bake, expect: [] });
    expect(cells.map((c) => c.name)).toEqual([
      'buildx=v0.21.1/driver=docker/engine=26.1.5/registry=known-index-not-retagged/store=containerd',
      'buildx=v0.22.0/driver=docker/engine=26.1.5/registry=known-index-not-retagged/store=containerd',
    ]);
    expect(cells.every((c) => c.expected.outcome === 'reproduced' && c.expected.reason === NO_EXPECTATION)).toBe(true);
    expect(Object.keys(requirements).sort()).toEqual(['buildx:v0.21.1', 'buildx:v0.22.0', 'engine:26.1.5', 'image:registry']);
  });

  it('uses the declared expectations; a create case gets its fault axis and a BuildKit requirement', () => {
    const { cells } = expand(create);
    expect(cells.map((c) => [c.name, c.expected.outcome])).toEqual([
      ['buildkit=v0.17.1/buildx=v0.20.1/driver=docker-container/engine=26.1.5/fault=corrupt/registry=plain/store=containerd', 'reproduced'],
      ['buildkit=v0.17.1/buildx=v0.21.1/driver=docker-container/engine=26.1.5/fault=corrupt/registry=plain/store=containerd', 'fixed'],
    ]);
    // verified with v0.17.1, which the case names
    expect(cells[0]!.requires).toContain('buildkit:v0.17.1');
    expect(cells[0]!.buildkit?.via).toBe('named');
  });

  it('asks for the rootless BuildKit image for a rootless builder', () => {
    const { cells, requirements } = expand({ ...create, builder: { rootless: true } });
    expect(cells[0]!.requires).toContain('buildkit:v0.17.1-rootless');
    expect(requirements['buildkit:v0.17.1-rootless']).toEqual({ kind: 'buildkit', version: 'v0.17.1', rootless: true });
    expect(Object.keys(requirements)).not.toContain('buildkit:v0.17.1');
  });

  it("gives a case that names no BuildKit the one of each Buildx's day", () => {
    const { cells, requirements } = expand({ ...create, buildkit: [] });
    expect(cells.map((c) => [c.name, c.buildkit?.version, c.buildkit?.via])).toEqual([
      ['buildx=v0.20.1/driver=docker-container/engine=26.1.5/fault=corrupt/registry=plain/store=containerd', 'v0.19.0', 'of-its-day'],
      ['buildx=v0.21.1/driver=docker-container/engine=26.1.5/fault=corrupt/registry=plain/store=containerd', 'v0.20.0', 'of-its-day'],
    ]);
    expect(
      Object.keys(requirements)
        .filter((r) => r.startsWith('buildkit:'))
        .sort(),
    ).toEqual(['buildkit:v0.19.0', 'buildkit:v0.20.0']);
  });
});

describe('caseVerdict', () => {
  const run = (...holds: boolean[]): CaseRun => ({ results: holds.map((h, i) => ({ holds: h, detail: `c${i} ${h}` })) });
  it('needs every check of a run for present', () => {
    expect(caseVerdict([run(true, true)], 'any')).toEqual({ word: 'present', detail: 'c0 true; c1 true' });
    expect(caseVerdict([run(true, false)], 'any').word).toBe('absent');
  });
  it('any: one run of five is enough; majority: more than half', () => {
    const runs = [run(false), run(true), run(false), run(false), run(false)];
    expect(caseVerdict(runs, 'any')).toMatchObject({ word: 'present', detail: expect.stringMatching(/^1 of 5 run\(s\) showed it \(any\)/) });
    expect(caseVerdict(runs, 'majority').word).toBe('absent');
    expect(caseVerdict([run(true), run(true), run(false)], 'majority').word).toBe('present');
  });
  it('is inconclusive when no run could be judged, and skips those that could not', () => {
    expect(caseVerdict([{ results: [], inconclusive: 'the corrupt fault was never hit' }], 'any')).toEqual({ word: 'inconclusive', detail: 'the corrupt fault was never hit' });
    expect(caseVerdict([{ results: [], inconclusive: 'x' }, run(true)], 'majority').word).toBe('present');
  });
});

describe('reproLines and reproWord', () => {
  const result = (buildx: string, over: Partial<CellResult>): CellResult => ({
    scenario: 's',
    name: `s > buildx=${buildx}`,
    axes: { buildx, engine: '26.1.5' },
    expected: 'reproduced',
    expectedReason: NO_EXPECTATION,
    outcome: 'reproduced',
    summary: '',
    evidence: { commands: [], journal: [], manifests: {}, facts: [] },
    timings: { startMs: 0, buildxMs: 0, verifyMs: 0, totalMs: 0 },
    startedAt: '',
    ...over,
  });
  it('prints the verdict per version, also when the cell did not match an undeclared expectation', () => {
    expect(
      reproLines([
        result('v0.21.1', { summary: 'symptom PRESENT (output matched "x")' }),
        result('v0.22.0', { outcome: 'unexpected', summary: 'expected reproduced (case has no declared expectation), observed fixed: symptom ABSENT (output: no match for /x/)' }),
        result('v0.9.0', { outcome: 'error', summary: 'the DinD engine died' }),
      ]),
    ).toEqual(['v0.21.1  symptom PRESENT (output matched "x")', 'v0.22.0  symptom ABSENT (output: no match for /x/)', 'v0.9.0   error: the DinD engine died']);
  });
  it('has its own words: present, absent, inconclusive', () => {
    expect(reproWord({ outcome: 'reproduced', observed: 'reproduced' })).toBe('present');
    expect(reproWord({ outcome: 'unexpected', observed: 'fixed' })).toBe('absent');
    expect(reproWord({ outcome: 'unexpected', observed: 'unexpected' })).toBe('inconclusive');
    expect(reproWord({ outcome: 'skipped' })).toBe('skipped');
  });
});
