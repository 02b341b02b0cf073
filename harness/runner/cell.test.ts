// runCell's refusal of an untrusted case on an engine without isolation: the worker's own check, behind the
// CLI's (runner/trust.ts), made before the cell waits for anything or leases an engine.
import { describe, expect, it } from 'vitest';
import { labConfig } from '../config.ts';
import type { Lab } from '../lab/lab.ts';
import { imageOriginFact, judgedOutcome, runCell, type CellEnvironment } from './cell.ts';
import type { PlannedCell } from './run-spec.ts';
import type { RunnableScenario } from '../scenario/definition.ts';

const scenario = { id: 'case-x', observe: async () => ({}), judge: () => ({ observed: 'reproduced', summary: '' }) } as unknown as RunnableScenario;
const cell = (source: PlannedCell['source']): PlannedCell => ({
  key: 'case-x > buildx=v0.21.1',
  scenario: 'case-x',
  source,
  name: 'buildx=v0.21.1',
  axes: { buildx: 'v0.21.1', engine: '26.1.5', store: 'containerd' },
  expected: { outcome: 'reproduced', reason: 'r' },
  attempt: 0,
  requires: [],
});

/** An environment whose lab and requirements must not be touched. */
function untouched(isolation?: CellEnvironment['isolation']): { env: CellEnvironment; touched: string[] } {
  const touched: string[] = [];
  const lab = new Proxy(
    {},
    {
      get: (_t, p) => {
        touched.push(`lab.${String(p)}`);
        throw new Error('the lab was touched');
      },
    },
  ) as Lab;
  const need = async <T>(id: string): Promise<T> => {
    touched.push(id);
    throw new Error('a requirement was awaited');
  };
  return { env: { config: labConfig(), lab, buildxCacheRoot: '/nonexistent', need, ...(isolation ? { isolation } : {}) }, touched };
}

describe('runCell and trust', () => {
  it.each([
    ['no isolation recorded', undefined, /not checked/],
    ['a rootful engine', { isolated: false, reason: 'rootful engine' }, /\(rootful engine\)/],
  ])('refuses an untrusted case with %s, before waiting for anything or leasing an engine', async (_what, isolation, why) => {
    const { env, touched } = untouched(isolation);
    const r = await runCell(scenario, cell({ kind: 'case', dir: '/tmp/c', trust: 'untrusted' }), env);
    expect(r.outcome).toBe('error');
    expect(r.summary).toMatch(/^refused: an untrusted case runs only on an engine with an isolation boundary/);
    expect(r.summary).toMatch(why);
    expect(touched).toEqual([]);
    expect(r.evidence.facts[0]).toMatch(/^case trust: untrusted/);
  });

  it('lets a trusted case go on to its requirements, its trust in the evidence', async () => {
    const { env, touched } = untouched();
    const r = await runCell(scenario, cell({ kind: 'case', dir: '/tmp/c', trust: 'user' }), env);
    expect(touched).toContain('buildx:v0.21.1');
    expect(r.summary).toBe('a requirement was awaited');
    expect(r.evidence.facts[0]).toMatch(/^case trust: trusted by the user/);
  });
});

describe('judgedOutcome', () => {
  const declared = { outcome: 'reproduced' as const, reason: 'before the fix' };
  const undeclared = { ...declared, undeclared: true as const };
  it.each([
    ['declared and seen', declared, 'reproduced', 'reproduced', undefined],
    ['declared, the other seen', declared, 'fixed', 'unexpected', undefined],
    ['undeclared, present', undeclared, 'reproduced', 'reproduced', 'reproduced'],
    ['undeclared, absent: a finding, not a miss', undeclared, 'fixed', 'fixed', 'fixed'],
    ['undeclared, could not tell', undeclared, 'unexpected', 'unexpected', undefined],
  ] as const)('%s', (_what, expected, observed, outcome, expectedAfter) => {
    const r = judgedOutcome(expected, { observed, summary: 's' });
    expect(r.outcome).toBe(outcome);
    expect(r.expected).toBe(expectedAfter);
    expect(r.observed).toBe(observed);
    if (outcome === 'unexpected') expect(r.summary).toMatch(/^expected reproduced \(before the fix\), observed/);
  });
});

describe('imageOriginFact', () => {
  it("says whether an image is the official one (pulled or present) or the lab's build (and of what)", () => {
    expect(imageOriginFact('engine image', { ref: 'docker:26.1.5-dind', source: 'official-pulled' }, 'source build')).toBe(
      'engine image docker:26.1.5-dind (official image, pulled)',
    );
    expect(imageOriginFact('registry image', { ref: 'registry:3', source: 'official-local' }, "Debian's docker-registry")).toBe(
      'registry image registry:3 (official image, present on the engine)',
    );
    expect(imageOriginFact('BuildKit image', { ref: 'buildx-lab/buildkit-v0.17.1:abc', source: 'local-cached' }, 'source build')).toBe(
      'BuildKit image buildx-lab/buildkit-v0.17.1:abc (source build, built here earlier)',
    );
    expect(imageOriginFact('BuildKit image', { ref: 'b:1', source: 'local-built' }, 'source build')).toBe('BuildKit image b:1 (source build, built here for this run)');
  });
});
