import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CellResult, CommandRecord } from '../model.ts';
import type { VerificationReport } from '../oci/verify.ts';
import { expandScenario } from '../runner/scenario.ts';
import { loadCase } from './case.ts';
import { judgeCase, NO_EXPECTATION, reproLines, reproScenario, type ReproObservation } from './scenario.ts';

const fixtures = new URL('../../fixtures/cases/', import.meta.url).pathname;
const bake = loadCase(path.join(fixtures, '3070-bake-double-push'));
const create = loadCase(path.join(fixtures, '49453-pull-stream'));

const cmd = (stderr: string, exitCode = 0): CommandRecord => ({ argv: ['docker', 'buildx'], exitCode, stdout: '', stderr, durationMs: 1 });
const report = (over: Partial<VerificationReport>): VerificationReport => ({ ref: 'r', ok: true, platforms: [], attestations: 0, problems: [], manifests: {}, ...over });

describe('reproScenario', () => {
  it('expands a case without `expect` into cells that all expect the symptom', () => {
    const cells = expandScenario(reproScenario({ ...bake, expect: [] }), { matrix: 'full', axisFilters: {} });
    expect(cells.map((c) => c.name)).toEqual([
      'buildx=v0.21.1/command=bake/driver=docker/engine=26.1.5/registry=known-index-not-retagged/store=containerd',
      'buildx=v0.22.0/command=bake/driver=docker/engine=26.1.5/registry=known-index-not-retagged/store=containerd',
    ]);
    expect(cells.every((c) => c.expected.outcome === 'reproduced' && c.expected.reason === NO_EXPECTATION)).toBe(true);
  });

  it('uses the declared expectations, and a create case gets a fault axis instead of command', () => {
    const cells = expandScenario(reproScenario(create), { matrix: 'full', axisFilters: {} });
    expect(cells.map((c) => [c.name, c.expected.outcome])).toEqual([
      ['buildx=v0.20.1/driver=docker-container/engine=26.1.5/fault=corrupt/store=containerd', 'reproduced'],
      ['buildx=v0.21.1/driver=docker-container/engine=26.1.5/fault=corrupt/store=containerd', 'fixed'],
    ]);
  });
});

describe('judgeCase', () => {
  const single = report({ ok: false, platforms: ['linux/amd64'], problems: [{ code: 'not-an-index', where: 'x', detail: 'single' }] });
  it('needs every criterion for PRESENT', () => {
    const o: ReproObservation = { commands: [cmd('#12 pushing registry:5000/lab/x:v1 with docker')], exitCode: 0, registry: single };
    expect(judgeCase(bake, o)).toEqual({ observed: 'reproduced', summary: 'symptom PRESENT (output matched "pushing registry:5000/lab/x:v1 with docker"; registry: tag is a single manifest (linux/amd64))' });
    const complete = report({ platforms: ['linux/amd64', 'linux/arm64', 'linux/s390x'] });
    expect(judgeCase(bake, { ...o, registry: complete }).observed).toBe('fixed');
  });

  it('reports ABSENT with what was seen', () => {
    const v = judgeCase(create, { commands: [cmd('ok'), cmd('ERROR: failed commit on ref', 1)], exitCode: 1, faultHits: 1 });
    expect(v).toEqual({ observed: 'fixed', summary: 'symptom ABSENT (output: no match for /No such image/; exit 1: ERROR: failed commit on ref)' });
  });

  it('is inconclusive when the fault was never hit', () => {
    expect(judgeCase(create, { commands: [cmd('')], exitCode: 0, faultHits: 0 }).observed).toBe('unexpected');
  });
});

describe('reproLines', () => {
  const result = (buildx: string, over: Partial<CellResult>): CellResult => ({
    scenario: 's', name: `s > buildx=${buildx}`, axes: { buildx, engine: '26.1.5' }, expected: 'reproduced', expectedReason: NO_EXPECTATION,
    outcome: 'reproduced', summary: '', evidence: { commands: [], journal: [], manifests: {}, facts: [] },
    timings: { startMs: 0, buildxMs: 0, verifyMs: 0, totalMs: 0 }, startedAt: '',
    ...over,
  });
  it('prints the verdict per version, also when the cell did not match an undeclared expectation', () => {
    expect(reproLines([
      result('v0.21.1', { summary: 'symptom PRESENT (output matched "x")' }),
      result('v0.22.0', { outcome: 'unexpected', summary: 'expected reproduced (case has no declared expectation), observed fixed: symptom ABSENT (output: no match for /x/)' }),
      result('v0.9.0', { outcome: 'error', summary: 'the DinD engine died' }),
    ])).toEqual([
      'v0.21.1  symptom PRESENT (output matched "x")',
      'v0.22.0  symptom ABSENT (output: no match for /x/)',
      'v0.9.0   error: the DinD engine died',
    ]);
  });
});
