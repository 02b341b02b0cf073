import { describe, expect, it } from 'vitest';
import { command, makeCell } from '../report/fixtures.test-helpers.ts';
import type { CellResult, Outcome } from '../model.ts';
import { behaviourOf, classifyChange, qualify, renderQualification } from './compare.ts';

const cell = (buildx: string, registry: string, outcome: Outcome, observed?: string, over: Partial<CellResult> = {}) =>
  makeCell({ scenario: 'bake-multiplatform-push', axes: { buildx, engine: '26.1.5', registry }, outcome, ...(observed ? { observed } : {}), ...over });

describe('classifyChange', () => {
  it.each([
    ['reproduced', 'reproduced', undefined],
    ['reproduced', 'fixed', 'improvement'],
    ['fixed', 'reproduced', 'regression'],
    ['control', 'reproduced', 'regression'],
    ['control', 'unexpected', 'regression'],
    ['skipped', 'error', 'regression'],
    ['fixed', 'flaky', 'regression'],
    ['fixed', 'skipped', 'unknown'],
    ['missing', 'fixed', 'unknown'],
    ['error', 'fixed', 'changed'],
    ['fixed', 'control', 'changed'],
  ] as const)('%s -> %s is %s', (b, c, want) => expect(classifyChange(b, c)).toBe(want));
});

describe('behaviourOf', () => {
  it('uses observed, falls back to the outcome, and calls disagreeing repeats flaky', () => {
    expect(behaviourOf([cell('v1', 'plain', 'unexpected', 'fixed')])).toBe('fixed');
    expect(behaviourOf([cell('v1', 'plain', 'error')])).toBe('error');
    expect(behaviourOf([cell('v1', 'plain', 'fixed', 'fixed'), cell('v1', 'plain', 'unexpected', 'reproduced')])).toBe('flaky');
    expect(behaviourOf(undefined)).toBe('missing');
  });
});

describe('qualify', () => {
  it('pairs cells by configuration and says go when only improvements appear', () => {
    const q = qualify(
      [
        cell('v0.21.1', 'plain', 'reproduced', 'reproduced'),
        cell('v0.22.0', 'plain', 'fixed', 'fixed'),
        cell('v0.21.1', 'immutable-tags', 'control', 'control'),
        cell('v0.22.0', 'immutable-tags', 'control', 'control'),
      ],
      'v0.21.1',
      'v0.22.0',
    );
    expect(q).toMatchObject({
      compared: 2,
      verdict: 'go',
      diffs: [{ configuration: 'engine=26.1.5/registry=plain', baseline: 'reproduced', candidate: 'fixed', change: 'improvement' }],
    });
  });

  it("says no-go on a regression, with both sides' evidence and the last error line", () => {
    const failed = {
      summary: 'bake failed',
      evidence: { commands: [command(['docker', 'buildx', 'bake'], 1, 'ERROR: failed to push: 500 Internal Server Error')], journal: [], manifests: {}, facts: [] },
    };
    const q = qualify([cell('v1.0.0', 'plain', 'control', 'control', { summary: 'pushed once' }), cell('v1.1.0', 'plain', 'unexpected', 'unexpected', failed)], 'v1.0.0', 'v1.1.0');
    expect(q.verdict).toBe('no-go');
    expect(q.diffs[0]!.evidence).toEqual(['baseline: pushed once', 'candidate: bake failed | last error: ERROR: failed to push: 500 Internal Server Error']);
    const text = renderQualification(q);
    expect(text).toContain('regressions:\n  bake-multiplatform-push  engine=26.1.5/registry=plain  control -> unexpected\n      baseline: pushed once');
    expect(text).toMatch(/verdict: no-go \(1 regression\)\n$/);
  });

  it('says no-go when nothing could be compared', () => {
    const q = qualify([cell('v1.0.0', 'plain', 'fixed', 'fixed'), cell('v1.1.0', 'plain', 'skipped')], 'v1.0.0', 'v1.1.0');
    expect(q).toMatchObject({ compared: 0, verdict: 'no-go', diffs: [{ change: 'unknown' }] });
    expect(renderQualification(q)).toContain('verdict: no-go (nothing could be compared)');
  });
});
